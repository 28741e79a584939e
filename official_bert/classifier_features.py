"""Features, TFRecords, input pipeline and output files of the classification tasks.

The port of the feature half of the original `run_classifier.py`:

- `convert_single_example` turns an `InputExample` into `[CLS] A [SEP] B [SEP]` ids,
  mask and segment ids, truncated with `truncate_seq_pair` and zero padded;
- `file_based_convert_examples_to_features` writes them as `tf.train.Example`s with
  the original's int64 features `input_ids`, `input_mask`, `segment_ids`, `label_ids`
  and `is_real_example`;
- `file_based_dataset` (and the original-style `file_based_input_fn_builder`) reads
  them back as int32 batches;
- `pad_examples_for_tpu` pads eval/predict example lists with `PaddingInputExample`s;
- `write_test_results` writes `test_results.tsv` in the original's format (`eval_results.txt`
  is written by `training.write_eval_results`).

Every file is written through `files.atomic_write`: to a hidden temporary file beside
the output, renamed into place only when complete, so an error never leaves a partial
output file and no glob of the outputs matches a file being written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from official_bert import files, records, tokenization
from official_bert.classifier_data import InputExample, InputFeatures, PaddingInputExample
from official_bert.errors import InputError, MissingFileError
from official_bert.tokenization import Tokenizer

# The int64 features of every record, in the order the original builds them.
FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids", "label_ids", "is_real_example")
# Their order inside the original's serialized records: the protobuf map order of
# the library it ran with (every record of tests/golden/glue/original_records has
# it). Any order parses to the same tf.train.Example; this one gives identical bytes.
FEATURE_ORDER = ("is_real_example", "input_mask", "input_ids", "segment_ids", "label_ids")

# The original logs the features of the first examples of every file it writes.
_NUM_EXAMPLES_TO_LOG = 5


def truncate_seq_pair(tokens_a: list[str], tokens_b: list[str], max_length: int) -> None:
    """Truncates a sequence pair in place to at most `max_length` tokens in total.

    Pops one token at a time from the end of the longer sequence (of `tokens_b` on a
    tie): a token of a short sequence likely carries more information than one of a
    long sequence.
    """
    len_a, len_b = _truncated_lengths(len(tokens_a), len(tokens_b), max_length)
    del tokens_a[len_a:]
    del tokens_b[len_b:]


def _truncated_lengths(len_a: int, len_b: int, max_length: int) -> tuple[int, int]:
    """The lengths `truncate_seq_pair` leaves, without touching the token lists."""
    while len_a + len_b > max_length:
        if len_a > len_b:
            len_a -= 1
        else:
            len_b -= 1
    return len_a, len_b


class _Converter:
    """Converts examples of one label list and sequence length into features."""

    def __init__(self, label_list: Sequence[str], max_seq_length: int, tokenizer: Tokenizer):
        if max_seq_length < 3:
            raise InputError(
                f"--max_seq_length must be at least 3 ([CLS] A [SEP] B [SEP] with one token "
                f"per text), got {max_seq_length}."
            )
        self.label_list = list(label_list)
        self.label_map = {label: i for i, label in enumerate(self.label_list)}
        self.max_seq_length = max_seq_length
        self.tokenizer = tokenizer

    def convert(self, ex_index: int, example: InputExample | PaddingInputExample) -> InputFeatures:
        """Returns the features of `example`; logs them for the first examples."""
        max_seq_length = self.max_seq_length
        if isinstance(example, PaddingInputExample):
            zeros = [0] * max_seq_length
            return InputFeatures(zeros, list(zeros), list(zeros), 0, is_real_example=False)

        label_id = self.label_map.get(example.label)
        if label_id is None:
            where = f" ({example.source})" if getattr(example, "source", None) else ""
            raise InputError(
                f"Example {example.guid}{where}: label {example.label!r} is not one of "
                f"the task's labels {self.label_list}."
            )

        tokens_a = self.tokenizer.tokenize(example.text_a)
        tokens_b = self.tokenizer.tokenize(example.text_b) if example.text_b else None
        # Slicing, not popping: the tokenizer's lists are left alone.
        if tokens_b:
            # Room for [CLS], [SEP], [SEP].
            len_a, len_b = _truncated_lengths(len(tokens_a), len(tokens_b), max_seq_length - 3)
            tokens = ["[CLS]", *tokens_a[:len_a], "[SEP]", *tokens_b[:len_b], "[SEP]"]
            segment_ids = [0] * (len_a + 2) + [1] * (len_b + 1)
        else:
            # Room for [CLS] and [SEP].
            tokens = ["[CLS]", *tokens_a[: max_seq_length - 2], "[SEP]"]
            segment_ids = [0] * len(tokens)

        input_ids = list(self.tokenizer.convert_tokens_to_ids(tokens))
        num_padding = max_seq_length - len(input_ids)
        if len(input_ids) != len(tokens):
            raise InputError(
                f"Example {example.guid}: the tokenizer's convert_tokens_to_ids gave "
                f"{len(input_ids)} ids for {len(tokens)} tokens; it must give one id per token."
            )
        # The mask is 1 for the real tokens, which are the only ones attended to.
        input_mask = [1] * len(input_ids) + [0] * num_padding
        input_ids += [0] * num_padding
        segment_ids += [0] * num_padding

        if ex_index < _NUM_EXAMPLES_TO_LOG:
            logging.info("*** Example ***")
            logging.info("guid: %s", example.guid)
            logging.info("tokens: %s", " ".join(tokenization.printable_text(x) for x in tokens))
            logging.info("input_ids: %s", " ".join(str(x) for x in input_ids))
            logging.info("input_mask: %s", " ".join(str(x) for x in input_mask))
            logging.info("segment_ids: %s", " ".join(str(x) for x in segment_ids))
            logging.info("label: %s (id = %d)", example.label, label_id)
        return InputFeatures(input_ids, input_mask, segment_ids, label_id, is_real_example=True)


def convert_single_example(
    ex_index: int,
    example: InputExample | PaddingInputExample,
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer: Tokenizer,
) -> InputFeatures:
    """Converts one example into `InputFeatures` of length `max_seq_length`.

    Args:
      ex_index: The example's index in its file; the first 5 are logged.
      example: An `InputExample`, or a `PaddingInputExample`, which gives all-zero
        features with label 0 and `is_real_example=False`.
      label_list: The task's labels; `label_id` is the index of `example.label`.
      max_seq_length: The length of every feature list, [CLS] and [SEP]s included.
      tokenizer: A `tokenization.FullTokenizer`.

    Raises:
      InputError: the example's label is not in `label_list`.
    """
    return _Converter(label_list, max_seq_length, tokenizer).convert(ex_index, example)


def convert_examples_to_features(
    examples: Sequence[InputExample | PaddingInputExample],
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer: Tokenizer,
) -> list[InputFeatures]:
    """Converts examples into a list of `InputFeatures` (kept for the original's Colab)."""
    converter = _Converter(label_list, max_seq_length, tokenizer)
    features = []
    for ex_index, example in enumerate(examples):
        if ex_index % 10000 == 0:
            logging.info("Writing example %d of %d", ex_index, len(examples))
        features.append(converter.convert(ex_index, example))
    return features


# --- Serialization -------------------------------------------------------------------


class FeatureSerializer:
    """Serializes `InputFeatures` as the original's `tf.train.Example` records, byte for byte.

    The five int64 features are written in FEATURE_ORDER, the order of the original's
    records, by `records.OrderedExampleEncoder`; the default protobuf serialization
    orders the map by a per-process hash, and the deterministic one by key. The parsed
    records are the same either way. Not thread-safe: use one serializer per thread.
    """

    def __init__(self) -> None:
        self._encoder = records.OrderedExampleEncoder(
            [(name, records.INT64) for name in FEATURE_ORDER]
        )

    def __call__(self, feature: InputFeatures) -> bytes:
        """Returns the serialized `tf.train.Example` of `feature`."""
        return self._encoder.encode(
            {
                "input_ids": feature.input_ids,
                "input_mask": feature.input_mask,
                "segment_ids": feature.segment_ids,
                "label_ids": (feature.label_id,),
                "is_real_example": (int(feature.is_real_example),),
            }
        )


def serialize_features(feature: InputFeatures) -> bytes:
    """The `tf.train.Example` record of one example's features (see `FeatureSerializer`)."""
    return FeatureSerializer()(feature)


def file_based_convert_examples_to_features(
    examples: Sequence[InputExample | PaddingInputExample],
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer: Tokenizer,
    output_file: str,
) -> None:
    """Converts examples and writes them to the TFRecord file `output_file`.

    One `tf.train.Example` per example, in order, with the int64 features `input_ids`,
    `input_mask`, `segment_ids` (each `max_seq_length` long), `label_ids` and
    `is_real_example` (one value each), serialized as the original's bytes. The file
    appears only once complete (see `records.write_tfrecords`).

    Raises:
      InputError: an example's label is not in `label_list`; `output_file` is then
        left as it was.
      FileNotFoundError: the folder of `output_file` does not exist.
    """
    converter = _Converter(label_list, max_seq_length, tokenizer)
    serialize = FeatureSerializer()

    def serialized() -> Iterable[bytes]:
        for ex_index, example in enumerate(examples):
            if ex_index % 10000 == 0:
                logging.info("Writing example %d of %d", ex_index, len(examples))
            yield serialize(converter.convert(ex_index, example))

    records.write_tfrecords([output_file], serialized())


# --- Input pipeline ------------------------------------------------------------------


def name_to_features(seq_length: int) -> dict[str, tf.io.FixedLenFeature]:
    """The parsing spec of the records `file_based_convert_examples_to_features` writes."""
    return {
        "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "label_ids": tf.io.FixedLenFeature([], tf.int64),
        "is_real_example": tf.io.FixedLenFeature([], tf.int64),
    }


def file_based_dataset(
    input_file: str | Sequence[str],
    seq_length: int,
    is_training: bool,
    drop_remainder: bool,
    batch_size: int,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Reads the TFRecords of `file_based_convert_examples_to_features` in batches.

    Args:
      input_file: The TFRecord file (or files).
      seq_length: The `max_seq_length` the file was written with.
      is_training: Repeat forever and shuffle with a buffer of 100 records, as the
        original; otherwise read once in file order.
      drop_remainder: Drop a last batch smaller than `batch_size` (for TPUs).
      batch_size: Examples per batch.
      seed: Seed of the shuffle (the original's shuffle is unseeded).

    Returns:
      A dataset of dicts of int32 tensors: `input_ids`, `input_mask`, `segment_ids`
      of shape [batch_size, seq_length], `label_ids` and `is_real_example` of shape
      [batch_size].
    """
    files = [input_file] if isinstance(input_file, str) else list(input_file)
    for path in files:
        if not tf.io.gfile.exists(path):
            raise MissingFileError(f"TFRecord file {path} does not exist.")
    spec = name_to_features(seq_length)

    def decode(records: tf.Tensor) -> dict[str, tf.Tensor]:
        # tf.Example only holds int64, but TPUs only support int32.
        parsed = tf.io.parse_example(records, spec)
        return {name: tf.cast(t, tf.int32) for name, t in parsed.items()}

    d = tf.data.TFRecordDataset(files)
    if is_training:
        d = d.repeat()
        d = d.shuffle(buffer_size=100, seed=seed)
    # Batching the serialized records, then parsing a batch at once, gives the same
    # batches as the original's per-record parse followed by batching.
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    return d.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def file_based_input_fn_builder(
    input_file: str, seq_length: int, is_training: bool, drop_remainder: bool
) -> Callable[[Mapping[str, Any]], tf.data.Dataset]:
    """The original's closure: `input_fn(params)` reads batches of `params["batch_size"]`."""

    def input_fn(params: Mapping[str, Any]) -> tf.data.Dataset:
        return file_based_dataset(
            input_file, seq_length, is_training, drop_remainder, params["batch_size"]
        )

    return input_fn


def pad_examples_for_tpu(
    examples: Sequence[InputExample | PaddingInputExample], batch_size: int
) -> list[InputExample | PaddingInputExample]:
    """Returns `examples` followed by `PaddingInputExample`s up to a multiple of `batch_size`.

    A TPU needs fixed-size batches; the padding examples have `is_real_example=0` and
    so no weight in the eval metrics, and their predictions are not written.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}.")
    num_padding = -len(examples) % batch_size
    return list(examples) + [PaddingInputExample() for _ in range(num_padding)]


# --- Output files --------------------------------------------------------------------


def write_test_results(
    path: str, probabilities: Iterable[Iterable[float]], num_actual_predict_examples: int
) -> int:
    """Writes the class probabilities of each real example as `test_results.tsv`.

    One line per example, its probabilities printed as float32 and separated by tabs;
    rows after the first `num_actual_predict_examples` (TPU padding) are not read.

    Args:
      path: The output file, `{output_dir}/test_results.tsv` in the original.
      probabilities: Per example, the probabilities of the labels in `get_labels()`
        order: a float array of shape [num_examples, num_labels] or an iterable of rows.
      num_actual_predict_examples: The number of real (not padding) examples.

    Returns:
      The number of lines written, `num_actual_predict_examples`.

    Raises:
      ValueError: fewer than `num_actual_predict_examples` rows were given; no file is
        written.
    """
    logging.info("***** Predict results *****")
    lines = []
    for i, row in enumerate(probabilities):
        if i >= num_actual_predict_examples:
            break
        lines.append("\t".join(str(p) for p in np.asarray(row, dtype=np.float32)) + "\n")
    if len(lines) != num_actual_predict_examples:
        raise ValueError(
            f"Got probabilities for {len(lines)} examples, expected "
            f"{num_actual_predict_examples}; {path} not written."
        )
    files.write_text_atomically(path, "".join(lines), make_dirs=False)
    return len(lines)
