"""Extract pre-computed feature vectors from BERT (the original's extract_features.py).

    python extract_features.py \
      --input_file=input.txt --output_file=output.jsonl \
      --vocab_file=vocab.txt --bert_config_file=bert_config.json \
      --init_checkpoint=bert_model.ckpt --layers=-1,-2,-3,-4 --max_seq_length=128

Each input line is `text_a` or `text_a ||| text_b`. Each output line is the
JSON the original writes: `{"linex_index": i, "features": [{"token": ...,
"layers": [{"index": -1, "values": [...]}, ...]}, ...]}` with values rounded to
6 decimals, for the tokens of the example (not the padding). The output file
is written under a temporary name and renamed when complete.

The same command runs as `python -m official_bert.extract_features` and, from
an installed package, `bert-extract-features`. Before the model runs, the
checks of run_classifier: the vocabulary fits the config's vocab_size, and
--max_seq_length its max_position_embeddings; input that is not UTF-8 is
refused with its file and line.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import flags, logging

from official_bert import checkpoints, cli, distribute, files, flags_common, tokenization
from official_bert.classifier_features import truncate_seq_pair
from official_bert.errors import InputError, MissingFileError
from official_bert.modeling import BertConfig, BertModel, check_max_seq_length

# Decimals kept for each value in the output, as in the original.
OUTPUT_DECIMALS = 6
# Separator of the two texts of an input line (with one space either side).
_PAIR_PATTERN = re.compile(r"^(.*) \|\|\| (.*)$")
# [CLS] and [SEP], the fewest tokens of a sequence, plus one word piece.
MIN_MAX_SEQ_LENGTH = 3
# The flags a command line must give (as the original's __main__).
REQUIRED_FLAGS = ("input_file", "vocab_file", "bert_config_file", "init_checkpoint", "output_file")


@dataclasses.dataclass
class InputExample:
    unique_id: int
    text_a: str
    text_b: str | None


@dataclasses.dataclass
class InputFeatures:
    """One example as model inputs; `tokens` are the unpadded word pieces."""

    unique_id: int
    tokens: list[str]
    input_ids: list[int]
    input_mask: list[int]
    input_type_ids: list[int]


def read_examples(input_file: str) -> list[InputExample]:
    """Reads one example per line: `text_a`, or `text_a ||| text_b`.

    Raises:
      MissingFileError: `input_file` does not exist.
      InputError: a line is not valid UTF-8 (naming the file and the line).
    """
    if not tf.io.gfile.exists(input_file):
        raise MissingFileError(f"--input_file {input_file} does not exist.")
    examples = []
    with tf.io.gfile.GFile(input_file, "rb") as reader:
        for unique_id, raw_line in enumerate(reader):
            source = f"--input_file {input_file}, line {unique_id + 1}"
            line = tokenization.decode_utf8_strict(raw_line, source=source).strip()
            match = _PAIR_PATTERN.match(line)
            text_a, text_b = (line, None) if match is None else (match.group(1), match.group(2))
            examples.append(InputExample(unique_id, text_a, text_b))
    return examples


def convert_examples_to_features(
    examples: Sequence[InputExample], seq_length: int, tokenizer: tokenization.FullTokenizer
) -> list[InputFeatures]:
    """Tokenizes, truncates and pads examples: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.

    Type ids are 0 for `[CLS]`, text_a and its `[SEP]`, 1 for text_b and its
    `[SEP]`; padding is id 0, mask 0, type 0.
    """
    features = []
    for example in examples:
        tokens_a = tokenizer.tokenize(example.text_a)
        tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
        if tokens_b:
            truncate_seq_pair(tokens_a, tokens_b, seq_length - 3)  # [CLS], [SEP], [SEP]
        else:
            tokens_a = tokens_a[: seq_length - 2]  # [CLS], [SEP]
        tokens = ["[CLS]", *tokens_a, "[SEP]"]
        type_ids = [0] * len(tokens)
        if tokens_b:
            tokens += [*tokens_b, "[SEP]"]
            type_ids += [1] * (len(tokens_b) + 1)
        input_ids = tokenizer.convert_tokens_to_ids(tokens)
        padding = [0] * (seq_length - len(input_ids))
        features.append(
            InputFeatures(
                unique_id=example.unique_id,
                tokens=tokens,
                input_ids=input_ids + padding,
                input_mask=[1] * len(input_ids) + padding,
                input_type_ids=type_ids + padding,
            )
        )
        if example.unique_id < 5:
            logging.info("*** Example ***")
            logging.info("unique_id: %s", example.unique_id)
            logging.info("tokens: %s", " ".join(tokenization.printable_text(t) for t in tokens))
    return features


def extract(
    model: BertModel,
    features: Sequence[InputFeatures],
    layer_indexes: Sequence[int],
    batch_size: int,
    strategy: tf.distribute.Strategy | None = None,
) -> Iterator[tuple[InputFeatures, list[np.ndarray]]]:
    """Runs the model; yields (feature, [float32 array [seq_length, hidden] per layer index]).

    Features come out in input order. The last batch is padded to the full
    batch size with all-padding rows (dropped here), so every batch has the
    same shape, as TPUs need; the batches are split across the replicas of
    `strategy` (default: the current one).
    """
    strategy = strategy or tf.distribute.get_strategy()
    num_rows = -(-len(features) // batch_size) * batch_size
    seq_length = len(features[0].input_ids)
    index = np.full([num_rows], -1, np.int32)  # -1 marks padding rows
    index[: len(features)] = np.arange(len(features))
    columns = []
    for name in ("input_ids", "input_mask", "input_type_ids"):
        column = np.zeros([num_rows, seq_length], np.int32)
        column[: len(features)] = [getattr(f, name) for f in features]
        columns.append(column)
    dataset = tf.data.Dataset.from_tensor_slices((index, *columns))
    dataset = dataset.batch(batch_size, drop_remainder=True)

    @tf.function
    def predict(rows, input_ids, input_mask, input_type_ids):
        outputs = model(input_ids, input_mask, input_type_ids, training=False)
        return rows, [outputs["all_encoder_layers"][i] for i in layer_indexes]

    def gather(per_replica) -> np.ndarray:
        return np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])

    for batch in strategy.experimental_distribute_dataset(dataset):
        rows, layers = strategy.run(predict, args=batch)
        rows, layers = gather(rows), [gather(layer) for layer in layers]
        for position in np.argsort(rows, kind="stable"):
            if rows[position] >= 0:
                yield features[rows[position]], [layer[position] for layer in layers]


def feature_json(
    feature: InputFeatures, layer_indexes: Sequence[int], layer_outputs: Sequence[np.ndarray]
) -> str:
    """The original's output line for one example (without the newline)."""
    all_features = []
    for i, token in enumerate(feature.tokens):
        layers = []
        for layer_index, output in zip(layer_indexes, layer_outputs):
            layer = collections.OrderedDict()
            layer["index"] = layer_index
            layer["values"] = [round(float(x), OUTPUT_DECIMALS) for x in output[i : i + 1].flat]
            layers.append(layer)
        token_features = collections.OrderedDict()
        token_features["token"] = token
        token_features["layers"] = layers
        all_features.append(token_features)
    output_json = collections.OrderedDict()
    output_json["linex_index"] = feature.unique_id
    output_json["features"] = all_features
    return json.dumps(output_json)


def parse_layers(layers: str, num_hidden_layers: int) -> list[int]:
    """Parses --layers ("-1,-2,-3,-4") and checks each index exists."""
    try:
        indexes = [int(x) for x in layers.split(",")]
    except ValueError:
        raise InputError(f"--layers must be comma-separated integers, got {layers!r}.") from None
    for index in indexes:
        if not -num_hidden_layers <= index < num_hidden_layers:
            raise InputError(
                f"--layers has {index}, but the model has {num_hidden_layers} layers "
                f"(valid: {-num_hidden_layers}..{num_hidden_layers - 1})."
            )
    return indexes


def run(
    input_file: str,
    output_file: str,
    bert_config_file: str,
    init_checkpoint: str,
    vocab_file: str,
    layers: str = "-1,-2,-3,-4",
    max_seq_length: int = 128,
    do_lower_case: bool = True,
    batch_size: int = 32,
    use_one_hot_embeddings: bool = False,
    strategy: tf.distribute.Strategy | None = None,
) -> int:
    """Writes the features of every line of `input_file`; returns the number of lines.

    Raises:
      InputError (MissingFileError for a missing file): a flag, the config,
        the vocabulary, the input or the checkpoint is wrong (the message
        names it); nothing is written.
    """
    bert_config = BertConfig.from_json_file(bert_config_file)
    layer_indexes = parse_layers(layers, bert_config.num_hidden_layers)
    check_max_seq_length(bert_config, max_seq_length, bert_config_file)
    if max_seq_length < MIN_MAX_SEQ_LENGTH:
        raise InputError(
            f"--max_seq_length must be at least {MIN_MAX_SEQ_LENGTH}, got {max_seq_length}."
        )
    if batch_size < 1:
        raise InputError(f"--batch_size must be at least 1, got {batch_size}.")
    try:  # before the model runs, not after
        files.check_directory_exists(output_file)
    except FileNotFoundError as error:
        raise MissingFileError(f"--output_file: {error}") from None
    tokenizer = tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)
    flags_common.check_vocab_fits(tokenizer, bert_config, vocab_file, bert_config_file)
    examples = read_examples(input_file)
    features = convert_examples_to_features(examples, max_seq_length, tokenizer)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = BertModel(bert_config, use_one_hot_embeddings=use_one_hot_embeddings)
    _restore(init_checkpoint, model)

    with files.atomic_write(output_file) as tmp_file:
        with tf.io.gfile.GFile(tmp_file, "w") as writer:
            if features:
                for feature, outputs in extract(
                    model, features, layer_indexes, batch_size, strategy
                ):
                    writer.write(feature_json(feature, layer_indexes, outputs) + "\n")
    return len(features)


def _restore(init_checkpoint: str, model: BertModel) -> None:
    """Restores the model from --init_checkpoint; refuses one of another model."""
    try:
        result = checkpoints.restore_checkpoint(init_checkpoint, model)
    except InputError:
        raise
    except ValueError as error:  # a shape or dtype that differs, naming the variable
        raise InputError(f"{error} (--init_checkpoint={init_checkpoint})") from None
    if not result.initialized:
        raise InputError(
            f"--init_checkpoint={init_checkpoint} shares no variable name with the model: "
            "is it a BERT checkpoint in the original's format?"
        )


FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the original's flags, with its defaults, in absl's FLAGS (idempotent)."""
    ## Required parameters
    cli.define_flag("string", "input_file", None, "Input text, one example per line: a ||| b.")
    cli.define_flag("string", "output_file", None, "Output JSON lines file.")
    cli.define_flag(
        "string",
        "bert_config_file",
        None,
        "The config json file corresponding to the pre-trained BERT model. "
        "This specifies the model architecture.",
    )
    cli.define_flag(
        "string",
        "init_checkpoint",
        None,
        "Initial checkpoint (usually from a pre-trained BERT model).",
    )
    cli.define_flag(
        "string", "vocab_file", None, "The vocabulary file that the BERT model was trained on."
    )
    ## Other parameters
    cli.define_flag("string", "layers", "-1,-2,-3,-4", "Encoder layers to output, comma-separated.")
    cli.define_flag(
        "integer",
        "max_seq_length",
        128,
        "The maximum total input sequence length after WordPiece tokenization. "
        "Sequences longer than this will be truncated, and sequences shorter "
        "than this will be padded.",
    )
    cli.define_flag(
        "bool",
        "do_lower_case",
        True,
        "Whether to lower case the input text. Should be True for uncased "
        "models and False for cased models.",
    )
    cli.define_flag("integer", "batch_size", 32, "Batch size for predictions.")
    cli.define_flag(
        "bool",
        "use_one_hot_embeddings",
        False,
        "If True, tf.one_hot will be used for embedding lookups, otherwise "
        "a gather will be used. On TPUs, this should be True since it is much faster.",
    )
    ## TPU parameters
    cli.define_flag("bool", "use_tpu", False, "Whether to use TPU or GPU/CPU.", group=cli.TPU)
    cli.define_flag(
        "string", "master", None, "If using a TPU, the address of the master.", group=cli.TPU
    )
    cli.define_flag(
        "integer",
        "num_tpu_cores",
        8,
        "Only used if `use_tpu` is True. The number of TPU cores expected: a TPUStrategy "
        "uses every core of the TPU, and a warning is logged if their number differs.",
        group=cli.TPU,
    )


def main(argv: Sequence[str]) -> None:
    """The command line's main: `run` with absl's parsed flags."""
    del argv
    run(
        input_file=FLAGS.input_file,
        output_file=FLAGS.output_file,
        bert_config_file=FLAGS.bert_config_file,
        init_checkpoint=FLAGS.init_checkpoint,
        vocab_file=FLAGS.vocab_file,
        layers=FLAGS.layers,
        max_seq_length=FLAGS.max_seq_length,
        do_lower_case=FLAGS.do_lower_case,
        batch_size=FLAGS.batch_size,
        use_one_hot_embeddings=FLAGS.use_one_hot_embeddings,
        # The original ran TPUEstimator on --master with --num_tpu_cores
        # shards; a TPUStrategy uses every core and warns if that differs.
        strategy=distribute.get_strategy(
            use_tpu=FLAGS.use_tpu, master=FLAGS.master, num_tpu_cores=FLAGS.num_tpu_cores
        ),
    )


if __name__ == "__main__":
    cli.run("official_bert.extract_features")
