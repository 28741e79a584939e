"""SQuAD features and their TFRecords: the windows the model reads.

- `convert_examples_to_features` turns each `SquadExample` into one or more windows
  `[CLS] question [SEP] document piece [SEP]`, zero padded to `max_seq_length`:
  the question is cut to `max_query_length` word pieces, the windows slide by
  `min(length, doc_stride)`, each document token is marked as having its "max
  context" in the window where `min(left, right) + 0.01 * length` is largest (the
  first such window on a tie), `unique_id`s count from 1000000000, and for
  training the answer span is narrowed by `_improve_answer_span`. A training
  window that does not contain the answer is kept with start = end = 0 (the
  original's comment says such windows are thrown out; its code keeps them).
- `FeatureWriter` writes the features as the original's `tf.train.Example`s, with
  the original's feature names and their order inside each record, so the files
  equal the original's byte for byte; `name_to_features` is their parse spec.

What is faster than the original (the output is the same): examples that share a
document (the questions of one paragraph, consecutive as `read_squad_examples`
returns them) tokenize it once, the max-context flags are computed once per
document and window length instead of scanning every window for every token,
ids are looked up once per document, and records are encoded straight to the
protobuf wire format.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from official_bert import files, records, tokenization
from official_bert.errors import InputError
from official_bert.squad_data import NUM_SPECIAL_TOKENS, SquadExample
from official_bert.tokenization import Tokenizer

# The first feature's unique_id; the next ones count up from it.
UNIQUE_ID_START = 1000000000
# The original logs every window of the first 20 examples.
NUM_LOGGED_EXAMPLES = 20
# Seconds between progress lines of a long conversion.
PROGRESS_INTERVAL_SECONDS = 10.0
# The max-context score is min(left, right) plus this times the window length, so
# that of two windows giving a token the same context the longer one wins.
WINDOW_LENGTH_WEIGHT = 0.01

# The features of the records, as the original builds them (and its parse order).
TRAIN_FEATURE_NAMES = (
    "unique_ids",
    "input_ids",
    "input_mask",
    "segment_ids",
    "start_positions",
    "end_positions",
    "is_impossible",
)
EVAL_FEATURE_NAMES = TRAIN_FEATURE_NAMES[:4]
# Their order inside the original's serialized records: the protobuf map order of
# the library it ran with (every record of tests/golden/squad/features has it). Any
# order parses to the same tf.train.Example; these give the original's bytes.
TRAIN_FEATURE_ORDER = (
    "is_impossible",
    "input_ids",
    "end_positions",
    "unique_ids",
    "start_positions",
    "input_mask",
    "segment_ids",
)
EVAL_FEATURE_ORDER = ("unique_ids", "input_mask", "input_ids", "segment_ids")


class InputFeatures:
    """One window of one example, padded to max_seq_length.

    Attributes:
      unique_id: int, from 1000000000 in emission order.
      example_index: index of the example in the list given to the conversion.
      doc_span_index: index of this window among the example's windows.
      tokens: [CLS] question [SEP] document piece [SEP], unpadded.
      token_to_orig_map: position in `tokens` -> index in the example's doc_tokens,
        for every document token of the window.
      token_is_max_context: position in `tokens` -> whether this window gives the
        token its max context, for every document token of the window.
      input_ids, input_mask, segment_ids: int lists of length max_seq_length.
      start_position, end_position: training only: the answer's positions in
        `tokens`, 0 and 0 if the window does not contain it or there is none.
      is_impossible: the example's is_impossible.
    """

    __slots__ = (
        "unique_id",
        "example_index",
        "doc_span_index",
        "tokens",
        "token_to_orig_map",
        "token_is_max_context",
        "input_ids",
        "input_mask",
        "segment_ids",
        "start_position",
        "end_position",
        "is_impossible",
    )

    def __init__(
        self,
        unique_id: int,
        example_index: int,
        doc_span_index: int,
        tokens: list[str],
        token_to_orig_map: dict[int, int],
        token_is_max_context: dict[int, bool],
        input_ids: list[int],
        input_mask: list[int],
        segment_ids: list[int],
        start_position: int | None = None,
        end_position: int | None = None,
        is_impossible: bool | None = None,
    ):
        self.unique_id = unique_id
        self.example_index = example_index
        self.doc_span_index = doc_span_index
        self.tokens = tokens
        self.token_to_orig_map = token_to_orig_map
        self.token_is_max_context = token_is_max_context
        self.input_ids = input_ids
        self.input_mask = input_mask
        self.segment_ids = segment_ids
        self.start_position = start_position
        self.end_position = end_position
        self.is_impossible = is_impossible


# ---------------------------------------------------------------------------
# Features.
# ---------------------------------------------------------------------------


class _Document:
    """A document's word pieces, their ids and word indexes, and its windows."""

    __slots__ = (
        "doc_tokens",
        "all_doc_tokens",
        "doc_ids",
        "tok_to_orig_index",
        "orig_to_tok_index",
        "windows",
    )

    def __init__(self, doc_tokens: list[str], tokenizer: Tokenizer):
        self.doc_tokens = doc_tokens
        all_doc_tokens: list[str] = []
        tok_to_orig_index: list[int] = []
        orig_to_tok_index: list[int] = []
        tokenize = tokenizer.tokenize
        for i, token in enumerate(doc_tokens):
            orig_to_tok_index.append(len(all_doc_tokens))
            sub_tokens = tokenize(token)
            all_doc_tokens.extend(sub_tokens)
            tok_to_orig_index.extend([i] * len(sub_tokens))
        self.all_doc_tokens = all_doc_tokens
        self.doc_ids = list(tokenizer.convert_tokens_to_ids(all_doc_tokens))
        self.tok_to_orig_index = tok_to_orig_index
        self.orig_to_tok_index = orig_to_tok_index
        # max_tokens_for_doc -> [(start, length, is_max_context flags)].
        self.windows: dict[int, list[tuple[int, int, list[bool]]]] = {}

    def spans(self, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int, list[bool]]]:
        """The sliding windows of at most `max_tokens_for_doc` pieces, with their flags."""
        windows = self.windows.get(max_tokens_for_doc)
        if windows is None:
            starts_lengths = _doc_spans(len(self.all_doc_tokens), max_tokens_for_doc, doc_stride)
            flags = _max_context_flags(starts_lengths, len(self.all_doc_tokens))
            windows = [(s, n, f) for (s, n), f in zip(starts_lengths, flags)]
            self.windows[max_tokens_for_doc] = windows
        return windows


def _doc_spans(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """(start, length) of each window; the next starts min(length, doc_stride) later."""
    spans = []
    start_offset = 0
    while start_offset < num_tokens:
        length = min(num_tokens - start_offset, max_tokens_for_doc)
        spans.append((start_offset, length))
        if start_offset + length == num_tokens:
            break
        start_offset += min(length, doc_stride)
    return spans


def _max_context_flags(spans: list[tuple[int, int]], num_tokens: int) -> list[list[bool]]:
    """For each window, whether it is each of its tokens' max-context window.

    The same decision as `_check_is_max_context` for every (window, token), in
    one pass per window: the score min(left, right) + 0.01 * length is computed
    with the same float operations, and the first window with the highest score
    wins.
    """
    if len(spans) == 1:
        return [[True] * spans[0][1]]
    best_score = np.full(num_tokens, -np.inf)
    best_span = np.full(num_tokens, -1, dtype=np.int64)
    for span_index, (start, length) in enumerate(spans):
        offsets = np.arange(length)
        score = np.minimum(offsets, length - 1 - offsets) + WINDOW_LENGTH_WEIGHT * length
        window = slice(start, start + length)
        better = score > best_score[window]
        best_score[window] = np.where(better, score, best_score[window])
        best_span[window] = np.where(better, span_index, best_span[window])
    return [
        (best_span[start : start + length] == span_index).tolist()
        for span_index, (start, length) in enumerate(spans)
    ]


def _improve_answer_span(
    doc_tokens: Sequence[str],
    input_start: int,
    input_end: int,
    tokenizer: Tokenizer,
    orig_answer_text: str,
) -> tuple[int, int]:
    """Returns tokenized answer spans that better match the annotated answer.

    The annotation is a character span, projected onto whitespace words; after
    WordPiece a sub-span of those words' pieces may match the answer exactly
    ("(1895-1943)." -> "( 1895 - 1943 ) ." holds the answer "1895"). The first
    start, then the longest end, whose pieces join to the tokenized answer wins;
    if none does (the answer "Japan" inside the word "Japanese"), the input span
    is kept.
    """
    tok_answer_text = " ".join(tokenizer.tokenize(orig_answer_text))
    for new_start in range(input_start, input_end + 1):
        for new_end in range(input_end, new_start - 1, -1):
            text_span = " ".join(doc_tokens[new_start : new_end + 1])
            if text_span == tok_answer_text:
                return new_start, new_end
    return input_start, input_end


def _check_is_max_context(doc_spans: Sequence[Any], cur_span_index: int, position: int) -> bool:
    """Whether window `cur_span_index` is the "max context" window of token `position`.

    A token in several windows is scored in each by min(left context, right
    context) + 0.01 * window length; the first window with the highest score is
    its max-context window. `doc_spans` are objects with `start` and `length`
    (or (start, length) pairs).
    """
    best_score = None
    best_span_index = None
    for span_index, doc_span in enumerate(doc_spans):
        start, length = (
            (doc_span.start, doc_span.length) if hasattr(doc_span, "start") else doc_span
        )
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + WINDOW_LENGTH_WEIGHT * length
        if best_score is None or score > best_score:
            best_score = score
            best_span_index = span_index
    return cur_span_index == best_span_index


class _Progress:
    """Logs a progress line at most every PROGRESS_INTERVAL_SECONDS."""

    def __init__(self, total: int | None):
        self.total = total
        self.start = time.monotonic()
        self.next = self.start + PROGRESS_INTERVAL_SECONDS

    def update(self, num_examples: int, num_features: int) -> None:
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + PROGRESS_INTERVAL_SECONDS
        of_total = f" of {self.total:,}" if self.total is not None else ""
        logging.info(
            "[%.0f s] converted %s%s examples into %s features (%s examples/s)",
            now - self.start,
            f"{num_examples:,}",
            of_total,
            f"{num_features:,}",
            f"{num_examples / max(now - self.start, 1e-9):,.0f}",
        )


def convert_examples_to_features(
    examples: Iterable[SquadExample],
    tokenizer: Tokenizer,
    max_seq_length: int,
    doc_stride: int,
    max_query_length: int,
    is_training: bool,
    output_fn: Callable[[InputFeatures], Any],
) -> int:
    """Calls `output_fn` with every window of every example, in the original's order.

    Args:
      examples: `SquadExample`s (from `read_squad_examples`; for training, with
        answers). Examples sharing one `doc_tokens` list tokenize it once; the
        list must not change during the call.
      tokenizer: the `FullTokenizer` (anything with tokenize and
        convert_tokens_to_ids); its vocabulary must have [CLS] and [SEP].
      max_seq_length: the length of input_ids, input_mask and segment_ids.
      doc_stride: how far the document windows slide.
      max_query_length: questions are cut to this many word pieces.
      is_training: set start_position and end_position.
      output_fn: called with each `InputFeatures`, e.g. `FeatureWriter.process_feature`.

    Returns:
      The number of features (the original returns None).

    Raises:
      InputError: the vocabulary lacks [CLS] or [SEP], or a question leaves no room
        for the document (max_seq_length <= its pieces + 3), or doc_stride < 1.
    """
    if doc_stride < 1:
        raise InputError(f"--doc_stride must be at least 1, got {doc_stride}.")
    try:
        cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    except KeyError as e:
        raise InputError(
            f"The vocabulary has no {e.args[0]} token, which SQuAD features need; check "
            "--vocab_file."
        ) from e
    total = len(examples) if hasattr(examples, "__len__") else None
    progress = _Progress(total)
    # The last document, by identity: the questions of a paragraph come together (in
    # training they are shuffled, and keeping more documents would rarely help).
    document: _Document | None = None
    unique_id = UNIQUE_ID_START
    num_features = 0
    # input_mask depends only on the number of tokens: one list per length, copied.
    masks: dict[int, list[int]] = {}
    example_index = -1
    for example_index, example in enumerate(examples):
        query_tokens = tokenizer.tokenize(example.question_text)[:max_query_length]
        if document is None or document.doc_tokens is not example.doc_tokens:
            document = _Document(example.doc_tokens, tokenizer)

        tok_start_position = tok_end_position = None
        if is_training and example.is_impossible:
            tok_start_position = tok_end_position = -1
        if is_training and not example.is_impossible:
            tok_start_position = document.orig_to_tok_index[example.start_position]
            if example.end_position < len(example.doc_tokens) - 1:
                tok_end_position = document.orig_to_tok_index[example.end_position + 1] - 1
            else:
                tok_end_position = len(document.all_doc_tokens) - 1
            tok_start_position, tok_end_position = _improve_answer_span(
                document.all_doc_tokens,
                tok_start_position,
                tok_end_position,
                tokenizer,
                example.orig_answer_text,
            )

        num_query = len(query_tokens)
        max_tokens_for_doc = max_seq_length - num_query - NUM_SPECIAL_TOKENS
        if max_tokens_for_doc < 1:
            raise InputError(
                f"Question {example.qas_id!r} has {num_query} word pieces, which leave no room "
                f"for the document in --max_seq_length={max_seq_length}; --max_seq_length must "
                "be greater than --max_query_length + 3."
            )
        doc_offset = num_query + 2
        prefix_tokens = ["[CLS]", *query_tokens, "[SEP]"]
        prefix_ids = [cls_id, *tokenizer.convert_tokens_to_ids(query_tokens), sep_id]
        all_doc_tokens = document.all_doc_tokens
        for doc_span_index, (start, length, flags) in enumerate(
            document.spans(max_tokens_for_doc, doc_stride)
        ):
            end = start + length
            positions = range(doc_offset, doc_offset + length)
            tokens = [*prefix_tokens, *all_doc_tokens[start:end], "[SEP]"]
            num_tokens = len(tokens)
            num_padding = max_seq_length - num_tokens
            input_ids = [*prefix_ids, *document.doc_ids[start:end], sep_id]
            input_ids += [0] * num_padding
            mask = masks.get(num_tokens)
            if mask is None:
                mask = masks[num_tokens] = [1] * num_tokens + [0] * num_padding
            segment_ids = [0] * doc_offset + [1] * (length + 1) + [0] * num_padding

            start_position = end_position = None
            if is_training and not example.is_impossible:
                if tok_start_position >= start and tok_end_position <= end - 1:
                    start_position = tok_start_position - start + doc_offset
                    end_position = tok_end_position - start + doc_offset
                else:
                    # Kept with start = end = 0 (the original's comment says such
                    # windows are thrown out; its code keeps them).
                    start_position = end_position = 0
            if is_training and example.is_impossible:
                start_position = end_position = 0

            feature = InputFeatures(
                unique_id=unique_id,
                example_index=example_index,
                doc_span_index=doc_span_index,
                tokens=tokens,
                token_to_orig_map=dict(zip(positions, document.tok_to_orig_index[start:end])),
                token_is_max_context=dict(zip(positions, flags)),
                input_ids=input_ids,
                input_mask=list(mask),
                segment_ids=segment_ids,
                start_position=start_position,
                end_position=end_position,
                is_impossible=example.is_impossible,
            )
            if example_index < NUM_LOGGED_EXAMPLES:
                _log_feature(feature, is_training)
            output_fn(feature)
            unique_id += 1
            num_features += 1
        progress.update(example_index + 1, num_features)
    logging.info(
        "Converted %d examples into %d features (%d windows beyond the first)",
        example_index + 1,
        num_features,
        num_features - (example_index + 1),
    )
    return num_features


def _log_feature(feature: InputFeatures, is_training: bool) -> None:
    """Logs a feature as the original logs those of its first 20 examples."""
    logging.info("*** Example ***")
    logging.info("unique_id: %s", feature.unique_id)
    logging.info("example_index: %s", feature.example_index)
    logging.info("doc_span_index: %s", feature.doc_span_index)
    logging.info("tokens: %s", " ".join(tokenization.printable_text(x) for x in feature.tokens))
    logging.info(
        "token_to_orig_map: %s",
        " ".join(f"{x}:{y}" for x, y in feature.token_to_orig_map.items()),
    )
    logging.info(
        "token_is_max_context: %s",
        " ".join(f"{x}:{y}" for x, y in feature.token_is_max_context.items()),
    )
    logging.info("input_ids: %s", " ".join(str(x) for x in feature.input_ids))
    logging.info("input_mask: %s", " ".join(str(x) for x in feature.input_mask))
    logging.info("segment_ids: %s", " ".join(str(x) for x in feature.segment_ids))
    if is_training and feature.is_impossible:
        logging.info("impossible example")
    if is_training and not feature.is_impossible:
        answer = " ".join(feature.tokens[feature.start_position : feature.end_position + 1])
        logging.info("start_position: %d", feature.start_position)
        logging.info("end_position: %d", feature.end_position)
        logging.info("answer: %s", tokenization.printable_text(answer))


# ---------------------------------------------------------------------------
# Records.
# ---------------------------------------------------------------------------


def name_to_features(seq_length: int, is_training: bool) -> dict:
    """The parse spec of the records, as the original's input_fn_builder.

    unique_ids is an int64 scalar; input_ids, input_mask and segment_ids are int64
    [seq_length]; for training also start_positions and end_positions (scalars).
    The records also hold is_impossible (training), which the original does not
    parse.
    """
    spec = {
        "unique_ids": tf.io.FixedLenFeature([], tf.int64),
        "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
    }
    if is_training:
        spec["start_positions"] = tf.io.FixedLenFeature([], tf.int64)
        spec["end_positions"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


class FeatureEncoder:
    """Serializes `InputFeatures` as the original's tf.train.Example bytes.

    The features come in the order of the original's records (TRAIN_FEATURE_ORDER
    or EVAL_FEATURE_ORDER), so the bytes are the original's. Not thread-safe.
    """

    def __init__(self, is_training: bool):
        self.is_training = is_training
        order = TRAIN_FEATURE_ORDER if is_training else EVAL_FEATURE_ORDER
        self._encoder = records.OrderedExampleEncoder([(name, records.INT64) for name in order])
        if is_training:
            self._flag_entries = {
                value: self._encoder.entry("is_impossible", bytes([value])) for value in (0, 1)
            }

    def __call__(self, feature: InputFeatures) -> bytes:
        """The serialized tf.train.Example of `feature`."""
        encoder = self._encoder
        entry = encoder.entry
        int64_values = encoder.int64_values
        mask_entry = entry("input_mask", int64_values(feature.input_mask))
        unique_ids = entry("unique_ids", records.varint(feature.unique_id))
        input_ids = entry("input_ids", int64_values(feature.input_ids))
        segment_ids = entry("segment_ids", int64_values(feature.segment_ids))
        if not self.is_training:
            return encoder.example((unique_ids, mask_entry, input_ids, segment_ids))
        return encoder.example(
            (
                self._flag_entries[1 if feature.is_impossible else 0],
                input_ids,
                entry("end_positions", records.varint(feature.end_position)),
                unique_ids,
                entry("start_positions", records.varint(feature.start_position)),
                mask_entry,
                segment_ids,
            )
        )


class FeatureWriter:
    """Writes `InputFeatures` to a TFRecord file as the original's tf.train.Examples.

    The file is written to a hidden temporary name beside `filename` and renamed
    onto it by `close()` (see `files.atomic_write`); `abort()`, or leaving a `with`
    block by an exception, removes it and leaves `filename` as it was.

        with FeatureWriter(path, is_training=True) as writer:
            convert_examples_to_features(..., output_fn=writer.process_feature)

    Attributes:
      filename: the output file.
      is_training: whether the records have start_positions, end_positions and
        is_impossible.
      num_features: how many features have been written.
    """

    def __init__(self, filename: str, is_training: bool):
        self.filename = filename
        self.is_training = is_training
        self.num_features = 0
        self._encode = FeatureEncoder(is_training)
        directory, basename = os.path.split(filename)
        files.remove_stale_temp_files(directory, basename)
        self._stack = contextlib.ExitStack()
        try:
            temp = self._stack.enter_context(files.atomic_write(filename))
            self._writer = self._stack.enter_context(tf.io.TFRecordWriter(temp))
        except BaseException:
            self._stack.close()
            raise

    def process_feature(self, feature: InputFeatures) -> None:
        """Writes one feature."""
        self._writer.write(self._encode(feature))
        self.num_features += 1

    def close(self) -> None:
        """Finishes the file and renames it onto `filename`."""
        self._stack.close()

    def abort(self) -> None:
        """Removes the unfinished file; `filename` is left as it was."""
        self._stack.__exit__(_Aborted, _Aborted(), None)

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _Aborted(Exception):
    """Passed to the writer's atomic write to make it remove its temporary file."""
