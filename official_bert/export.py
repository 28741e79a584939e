"""Export a trained BERT as a SavedModel that serves raw text (needs only tensorflow + tensorflow_text).

(A little over 600 lines: the command and the three SavedModels it writes, which
share the variable naming, the checks of the inputs and the atomic write.)

    python -m official_bert.export --model=classifier --task_name=MRPC \
      --bert_config_file=bert_config.json --vocab_file=vocab.txt --do_lower_case=True \
      --max_seq_length=128 --init_checkpoint=output_dir/model.ckpt-343 --export_dir=mrpc_model

An export loads without this project. **Import tensorflow_text before loading
one that tokenizes** (the import registers the in-graph tokenizer's ops):

    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    model = tf.saved_model.load("mrpc_model")
    model.signatures["serving_default"](text_a=tf.constant([...]), text_b=tf.constant([...]))

`--model=classifier` (a run_classifier checkpoint) writes one SavedModel:
`serving_default` takes strings `text_a`, `text_b` ([B]; no `text_b` for a
single-sentence task) and gives `probabilities` and `logits` (float32 [B,
num_labels]) from the features run_classifier builds (`preprocessing`);
`classify_ids` takes `input_ids`, `input_mask`, `segment_ids` (int32 [B, T]);
`assets/labels.txt` lists the labels in the processor's order (the columns),
beside `vocab.txt` and `bert_config.json`.

`--model=encoder` writes two SavedModels in the TF Hub conventions of Model
Garden's BERT exports: `EXPORT_DIR/encoder`, whose `__call__({"input_word_ids",
"input_mask", "input_type_ids"}, training=False)` (int32 [B, T]) gives
`pooled_output` [B, H], `sequence_output` [B, T, H], `encoder_outputs` (one [B,
T, H] per layer) and `default` (= pooled_output), its `serving_default` the same
with `encoder_outputs_0` ... `encoder_outputs_{L-1}`, plus `vocab_file` and
`do_lower_case`; and `EXPORT_DIR/preprocessing`, with `tokenize` (string [B] ->
int32 RaggedTensor [B, (tokens)]), `bert_pack_inputs([ids_a] or [ids_a, ids_b],
seq_length=max_seq_length)` (the original's truncation, not Hub's round robin)
and a default signature `text` -> the three int32 [B, max_seq_length] inputs.

Variables keep the original's names: the SavedModel's `variables/variables`
stores `bert/.../kernel` as `bert/.../kernel/.ATTRIBUTES/VARIABLE_VALUE`
(`tf1_variables`, `write_tf1_checkpoint` read them back as a TF1 checkpoint).

Serving: bytes that are not UTF-8 are dropped, as the original's
`convert_to_unicode` (errors="ignore"), so such a request is answered, not
failed; an empty `text_b` gives its `text_a`'s single-text features, as in
run_classifier; the text signatures run the encoder on chunks of 8 rows of
similar length, each on its longest row's columns rather than `max_seq_length`
columns of (masked) padding: the same outputs to float rounding, faster for
short texts.

The export is written to a hidden temporary folder beside `--export_dir` and
renamed onto it when complete (nothing is left on an error); an existing,
non-empty `--export_dir` is refused.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import flags, logging

from official_bert import checkpoints, classifier_data, cli, files, flags_common, tokenization
from official_bert.errors import InputError, MissingFileError
from official_bert.modeling import BertConfig, BertModel, check_max_seq_length
from official_bert.models import BertClassifier
from official_bert.optimization import tf1_variable_name
from official_bert.preprocessing import MIN_SEQ_LENGTH, BertPreprocessor

MODELS = ("classifier", "encoder")
# Tasks whose examples have no text_b (the others are pairs), unless --single_sentence says.
SINGLE_SENTENCE_TASKS = frozenset({"cola"})
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "bert_config.json"
# The two SavedModels of --model=encoder, inside --export_dir.
ENCODER_DIR = "encoder"
PREPROCESSING_DIR = "preprocessing"
CLASSIFY_IDS_SIGNATURE = "classify_ids"
# Rows per model call of the text signatures (see `_by_length`): enough for efficient
# matmuls (8 x ~50 tokens), few enough that chunks of a batch differ in length.
SERVING_CHUNK_ROWS = 8
# TF Hub's names of the encoder's inputs, and the original's feature names they stand for.
HUB_INPUT_NAMES = {
    "input_word_ids": "input_ids",
    "input_mask": "input_mask",
    "input_type_ids": "segment_ids",
}
# How tf.saved_model stores a variable that is the attribute NAME of an object:
# the key of a variable reached by attributes `bert`, `encoder`, ... is the TF1 name plus this.
VARIABLE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Variables of an export that are not model weights (TF Hub's encoder metadata).
METADATA_VARIABLES = frozenset({"do_lower_case"})
LOAD_NOTE = (
    "Load it with `import tensorflow_text` first (that import registers the ops of the "
    'in-graph tokenizer; without it loading fails with "Op type not registered"), then '
    "`tf.saved_model.load(path)`; this project need not be installed."
)
REQUIRED_FLAGS = ("bert_config_file", "vocab_file", "init_checkpoint", "export_dir")


# --------------------------------------------------------------------------- variables


def _attach_variables(root: tf.Module, variables: Sequence[Any]) -> None:
    """Makes each variable reachable from `root` by the attributes of its TF1 name.

    `bert/encoder/layer_0/.../kernel` becomes `root.bert.encoder.layer_0. ... .kernel`,
    so the SavedModel's checkpoint key is that name + VARIABLE_SUFFIX.
    """
    for variable in variables:
        name = tf1_variable_name(variable)
        value = variable.value  # the tf.Variable behind the Keras variable
        if not isinstance(value, tf.Variable):
            raise TypeError(f"Variable {name} is not backed by a tf.Variable: {type(value)}.")
        *scopes, leaf = name.split("/")
        node = root
        for scope in scopes:
            child = getattr(node, scope, None)
            if child is None:
                child = tf.__internal__.tracking.AutoTrackable()
                setattr(node, scope, child)
            elif isinstance(child, tf.Variable) or scope.startswith("_"):
                raise ValueError(f"Variable {name}: {scope!r} cannot be a scope of the export.")
            node = child
        if hasattr(node, leaf):
            raise ValueError(f"Variable {name}: {leaf!r} is taken in the export.")
        setattr(node, leaf, value)


def tf1_variables(saved_model_dir: str) -> dict[str, np.ndarray]:
    """The model weights of an export of this module, by their original (TF1) names.

    Args:
      saved_model_dir: a classifier export, or the `encoder` folder of an encoder export.

    Returns:
      TF1 name (`bert/...`, `output_weights`, ...) -> value.
    """
    prefix = os.path.join(saved_model_dir, "variables", "variables")
    if not tf.io.gfile.exists(prefix + ".index"):
        raise MissingFileError(f"{saved_model_dir} is not a SavedModel ({prefix}.index not found).")
    reader = checkpoints.load_reader(prefix)
    out = {}
    for key in reader.get_variable_to_shape_map():
        if key.endswith(VARIABLE_SUFFIX):
            name = key[: -len(VARIABLE_SUFFIX)]
            if name not in METADATA_VARIABLES:
                out[name] = reader.get_tensor(key)
    return out


def write_tf1_checkpoint(
    saved_model_dir: str, output_dir: str, basename: str = "bert_model.ckpt"
) -> str:
    """Writes an export's weights as an original-format checkpoint `output_dir/basename`.

    Returns:
      The checkpoint prefix (readable by `checkpoints.restore_checkpoint` and the original).
    """
    weights = [
        tf.Variable(value, name=name) for name, value in tf1_variables(saved_model_dir).items()
    ]
    return checkpoints.save_checkpoint(output_dir, weights, basename=basename, max_to_keep=None)


# --------------------------------------------------------------------------- the modules

# The exported functions have no Python control flow on tensors: nothing for autograph to do.
_function = functools.partial(tf.function, autograph=False)


def _assets(staging: str, vocab_file: str, bert_config: BertConfig, labels=None) -> dict:
    """Copies the vocabulary, the config (and labels) into `staging`; returns name -> Asset."""
    assets = {"vocab_file": os.path.join(staging, VOCAB_FILE)}
    tf.io.gfile.copy(vocab_file, assets["vocab_file"], overwrite=True)
    assets["bert_config_file"] = os.path.join(staging, CONFIG_FILE)
    with tf.io.gfile.GFile(assets["bert_config_file"], "w") as writer:
        writer.write(bert_config.to_json_string())
    if labels is not None:
        assets["labels_file"] = os.path.join(staging, LABELS_FILE)
        with tf.io.gfile.GFile(assets["labels_file"], "w") as writer:
            writer.write("".join(f"{label}\n" for label in labels))
    return {name: tf.saved_model.Asset(path) for name, path in assets.items()}


def _trim_to_longest(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Drops the columns that are padding in every row (the mask is a prefix of ones)."""
    longest = tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))
    longest = tf.maximum(longest, 1)  # an empty batch
    return {name: value[:, :longest] for name, value in features.items()}


def _by_length(features: dict[str, tf.Tensor], classify: Callable, num_labels: int) -> dict:
    """`classify` on chunks of SERVING_CHUNK_ROWS rows of similar length, each trimmed.

    Rows are sorted by length, cut into chunks, each chunk runs on its own
    longest row's columns, and the outputs come back in the input order: a
    short text does not pay for the longest of its batch. Rows do not interact
    in the model, so the outputs are those of one call, to float rounding.
    """
    order = tf.argsort(tf.reduce_sum(features["input_mask"], axis=1), stable=True)
    rows = {name: tf.gather(value, order) for name, value in features.items()}
    num_chunks = tf.maximum((tf.size(order) + SERVING_CHUNK_ROWS - 1) // SERVING_CHUNK_ROWS, 1)

    def body(i, arrays):
        chunk = {
            k: v[i * SERVING_CHUNK_ROWS : (i + 1) * SERVING_CHUNK_ROWS] for k, v in rows.items()
        }
        outputs = classify(_trim_to_longest(chunk))
        return i + 1, {name: array.write(i, outputs[name]) for name, array in arrays.items()}

    arrays = {
        name: tf.TensorArray(tf.float32, num_chunks, element_shape=[None, num_labels])
        for name in ("probabilities", "logits")
    }
    _, arrays = tf.while_loop(lambda i, _: i < num_chunks, body, (tf.constant(0), arrays))
    inverse = tf.math.invert_permutation(order)
    return {name: tf.gather(array.concat(), inverse) for name, array in arrays.items()}


def classifier_module(
    model: BertClassifier, preprocessor: BertPreprocessor, single_sentence: bool, assets: dict
) -> tuple[tf.Module, dict]:
    """The classifier's SavedModel root and its signatures (see the module doc)."""
    root = tf.Module()
    _attach_variables(root, model.weights)
    for name, asset in assets.items():
        setattr(root, name, asset)

    def classify(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = model(features, training=False)
        return {"probabilities": outputs["probabilities"], "logits": outputs["logits"]}

    text = tf.TensorSpec([None], tf.string)
    if single_sentence:

        @_function(input_signature=[text])
        def classify_text(text_a):
            return _by_length(preprocessor(text_a), classify, model.num_labels)

    else:

        @_function(input_signature=[text, text])
        def classify_text(text_a, text_b):
            check = tf.debugging.assert_equal(
                tf.size(text_a),
                tf.size(text_b),
                message="text_a and text_b must hold the same number of strings",
            )
            with tf.control_dependencies([check]):
                return _by_length(preprocessor(text_a, text_b), classify, model.num_labels)

    ids = tf.TensorSpec([None, None], tf.int32)

    @_function(input_signature=[ids, ids, ids])
    def classify_ids(input_ids, input_mask, segment_ids):
        return classify(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        )

    root.classify_text = classify_text
    root.classify_ids = classify_ids
    return root, {"serving_default": classify_text, CLASSIFY_IDS_SIGNATURE: classify_ids}


def encoder_module(model: BertModel, do_lower_case: bool, assets: dict) -> tuple[tf.Module, dict]:
    """The encoder's SavedModel root (TF Hub's reusable-SavedModel API) and signatures."""
    root = tf.Module()
    _attach_variables(root, model.weights)
    for name, asset in assets.items():
        setattr(root, name, asset)
    root.do_lower_case = tf.Variable(do_lower_case, trainable=False, name="do_lower_case")

    def encode(input_word_ids, input_mask, input_type_ids, training):
        outputs = model(input_word_ids, input_mask, input_type_ids, training=training)
        return {
            "pooled_output": outputs["pooled_output"],
            "sequence_output": outputs["sequence_output"],
            "encoder_outputs": list(outputs["all_encoder_layers"]),
            "default": outputs["pooled_output"],
        }

    specs = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in HUB_INPUT_NAMES}

    @_function()
    def call(inputs, training=False):
        return encode(
            inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], training
        )

    for training in (False, True):
        call.get_concrete_function(specs, training=training)

    @_function(input_signature=list(specs.values()))
    def serve(input_word_ids, input_mask, input_type_ids):
        outputs = encode(input_word_ids, input_mask, input_type_ids, False)
        flat = {name: value for name, value in outputs.items() if name != "encoder_outputs"}
        for i, layer in enumerate(outputs["encoder_outputs"]):
            flat[f"encoder_outputs_{i}"] = layer
        return flat

    root.__call__ = call
    root.serve = serve
    return root, {"serving_default": serve}


def preprocessing_module(preprocessor: BertPreprocessor, assets: dict) -> tuple[tf.Module, dict]:
    """The encoder's preprocessing SavedModel root (TF Hub's API) and its signature."""
    root = tf.Module()
    for name, asset in assets.items():
        setattr(root, name, asset)

    def hub_names(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {hub: features[ours] for hub, ours in HUB_INPUT_NAMES.items()}

    @_function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(strings):
        return preprocessor.tokenize(strings)

    @_function()
    def bert_pack_inputs(inputs, seq_length=preprocessor.max_seq_length):
        return hub_names(preprocessor.bert_pack_inputs(inputs, seq_length))

    ragged = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1, row_splits_dtype=tf.int64)
    for num_segments in (1, 2):
        bert_pack_inputs.get_concrete_function([ragged] * num_segments)
        bert_pack_inputs.get_concrete_function(
            [ragged] * num_segments, seq_length=tf.TensorSpec([], tf.int32)
        )

    @_function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def preprocess(text):
        return hub_names(preprocessor(text))

    root.tokenize = tokenize
    root.bert_pack_inputs = bert_pack_inputs
    root.__call__ = preprocess
    return root, {"serving_default": preprocess}


# --------------------------------------------------------------------------- writing


def _check_export_dir(export_dir: str) -> str:
    """The export folder without a trailing slash; refuses one that holds files."""
    if not export_dir:
        raise InputError("--export_dir must name the folder to write.")
    export_dir = export_dir.rstrip("/") or "/"
    if tf.io.gfile.exists(export_dir):
        if not tf.io.gfile.isdir(export_dir):
            raise InputError(f"--export_dir={export_dir} is a file; name a new folder.")
        if tf.io.gfile.listdir(export_dir):
            raise InputError(
                f"--export_dir={export_dir} already exists and is not empty; it is not "
                "overwritten. Remove it or name a new folder (e.g. a new version number)."
            )
    return export_dir


def _write_atomically(export_dir: str, write: Callable[[str], None]) -> None:
    """Runs `write(tmp_dir)`, then renames tmp_dir onto `export_dir`; removes tmp_dir on failure."""
    parent = os.path.dirname(export_dir)
    if parent:
        tf.io.gfile.makedirs(parent)
    tmp_dir = files.temp_path(export_dir)
    try:
        write(tmp_dir)
        if tf.io.gfile.isdir(export_dir):
            _check_export_dir(export_dir)  # still empty: replaced
            tf.io.gfile.rmtree(export_dir)
        tf.io.gfile.rename(tmp_dir, export_dir)
    finally:
        if tf.io.gfile.exists(tmp_dir):
            tf.io.gfile.rmtree(tmp_dir)


def _save(root: tf.Module, signatures: dict, path: str) -> None:
    tf.saved_model.save(root, path, signatures=signatures)


# --------------------------------------------------------------------------- the command


def _read_inputs(
    bert_config_file: str,
    vocab_file: str,
    init_checkpoint: str,
    max_seq_length: int,
    do_lower_case: bool,
) -> tuple[BertConfig, str]:
    """Checks the flags shared by both exports; returns the config and the checkpoint prefix."""
    bert_config = BertConfig.from_json_file(bert_config_file)
    check_max_seq_length(bert_config, max_seq_length, bert_config_file)
    if max_seq_length < MIN_SEQ_LENGTH:
        raise InputError(
            f"--max_seq_length must be at least {MIN_SEQ_LENGTH}, got {max_seq_length}."
        )
    vocab = tokenization.load_vocab(vocab_file)
    flags_common.check_vocab_fits(vocab, bert_config, vocab_file, bert_config_file)
    tokenization.validate_case_matches_checkpoint(do_lower_case, init_checkpoint)
    if not init_checkpoint:
        raise InputError("--init_checkpoint must name the checkpoint to export.")
    return bert_config, checkpoints.resolve_checkpoint(init_checkpoint)


def _restore(prefix: str, model: Any, init_checkpoint: str) -> None:
    """Restores every variable of `model` from `prefix`, or raises an InputError naming it."""
    try:
        result = checkpoints.restore_checkpoint(prefix, model, strict=True, log=False)
    except InputError:
        raise
    except ValueError as error:  # missing names, or a shape or dtype that differs
        raise InputError(f"{error} (--init_checkpoint={init_checkpoint})") from None
    logging.info("Restored %d variables from %s.", len(result.initialized), prefix)


def export_classifier(
    export_dir: str,
    bert_config_file: str,
    vocab_file: str,
    init_checkpoint: str,
    task_name: str,
    max_seq_length: int = 128,
    do_lower_case: bool = True,
    single_sentence: bool | None = None,
) -> str:
    """Exports a run_classifier checkpoint as a SavedModel serving raw text (see the module doc).

    Args:
      export_dir: the SavedModel folder to write (must not hold files).
      bert_config_file, vocab_file, do_lower_case, max_seq_length: as for run_classifier.
      init_checkpoint: the checkpoint prefix (`output_dir/model.ckpt-N`) or its folder.
      task_name: the processor whose labels the model was trained on.
      single_sentence: whether the task has no text_b; None decides from the task
        (a processor's `single_sentence` attribute, else CoLA only).

    Returns:
      `export_dir`.

    Raises:
      InputError (MissingFileError for a missing file): a flag, file or the
        checkpoint is wrong; nothing is written.
    """
    export_dir = _check_export_dir(export_dir)
    if not task_name:
        raise InputError("--task_name must name the task of the classifier (e.g. MRPC).")
    processor = classifier_data.get_processor(task_name)
    labels = list(processor.get_labels())
    single = single_sentence
    if single is None:  # a processor may say; else the known single-sentence tasks
        single = getattr(processor, "single_sentence", task_name.lower() in SINGLE_SENTENCE_TASKS)
    bert_config, prefix = _read_inputs(
        bert_config_file, vocab_file, init_checkpoint, max_seq_length, do_lower_case
    )
    shapes = {name: shape for name, (shape, _) in checkpoints.list_variables(prefix).items()}
    if "output_weights" not in shapes:
        raise InputError(
            f"--init_checkpoint={init_checkpoint} has no classifier (no output_weights): "
            "export a checkpoint that run_classifier wrote (its output_dir/model.ckpt-N), "
            "or use --model=encoder for a pretrained model."
        )
    if shapes["output_weights"][0] != len(labels):
        raise InputError(
            f"--init_checkpoint={init_checkpoint} classifies into {shapes['output_weights'][0]} "
            f"labels but --task_name={task_name} has {len(labels)} ({', '.join(labels)}): "
            "pass the task the checkpoint was trained on."
        )
    model = BertClassifier(bert_config, num_labels=len(labels))
    _restore(prefix, model, init_checkpoint)
    preprocessor = BertPreprocessor(vocab_file, do_lower_case, max_seq_length)

    def write(tmp_dir: str) -> None:
        with tempfile.TemporaryDirectory() as staging:
            assets = _assets(staging, vocab_file, bert_config, labels)
            _save(*classifier_module(model, preprocessor, single, assets), tmp_dir)

    _write_atomically(export_dir, write)
    signature = "text_a" if single else "text_a, text_b"
    logging.info(
        f"Exported the {task_name} classifier of {prefix} to {export_dir}: serving_default "
        f"({signature} -> probabilities, logits over the labels {', '.join(labels)}, listed "
        f"in assets/{LABELS_FILE}) and {CLASSIFY_IDS_SIGNATURE} (input_ids, input_mask, "
        "segment_ids -> probabilities, logits)."
    )
    logging.info(LOAD_NOTE)
    return export_dir


def export_encoder(
    export_dir: str,
    bert_config_file: str,
    vocab_file: str,
    init_checkpoint: str,
    max_seq_length: int = 128,
    do_lower_case: bool = True,
) -> str:
    """Exports BERT as `export_dir/encoder` and `export_dir/preprocessing` (TF Hub's conventions).

    Args: as `export_classifier` (`init_checkpoint` may be any checkpoint with
      the `bert/...` variables: a released model, a pretraining or classifier run).

    Returns:
      `export_dir`.
    """
    export_dir = _check_export_dir(export_dir)
    bert_config, prefix = _read_inputs(
        bert_config_file, vocab_file, init_checkpoint, max_seq_length, do_lower_case
    )
    model = BertModel(bert_config)
    _restore(prefix, model, init_checkpoint)
    preprocessor = BertPreprocessor(vocab_file, do_lower_case, max_seq_length)

    def write(tmp_dir: str) -> None:
        with tempfile.TemporaryDirectory() as staging:
            assets = _assets(staging, vocab_file, bert_config)
            _save(*encoder_module(model, do_lower_case, assets), os.path.join(tmp_dir, ENCODER_DIR))
            _save(
                *preprocessing_module(preprocessor, {"vocab_file": assets["vocab_file"]}),
                os.path.join(tmp_dir, PREPROCESSING_DIR),
            )

    _write_atomically(export_dir, write)
    logging.info(
        f"Exported the encoder of {prefix} to {export_dir}/{ENCODER_DIR} (input_word_ids, "
        "input_mask, input_type_ids -> pooled_output, sequence_output, encoder_outputs) and "
        f"its preprocessing to {export_dir}/{PREPROCESSING_DIR} (text -> input_word_ids, "
        f"input_mask, input_type_ids of length {max_seq_length}; tokenize, bert_pack_inputs)."
    )
    logging.info(LOAD_NOTE.replace("Load it", "Load the preprocessing"))
    return export_dir


def run(model: str = "classifier", **kwargs: Any) -> str:
    """`export_classifier` or `export_encoder` by `model`; returns the export folder."""
    if model == "classifier":
        return export_classifier(**kwargs)
    if model == "encoder":
        for name in ("task_name", "single_sentence"):
            kwargs.pop(name, None)
        return export_encoder(**kwargs)
    raise InputError(f"--model must be one of {', '.join(MODELS)}, got {model!r}.")


FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the export's flags in absl's FLAGS (idempotent)."""
    ## Required parameters
    cli.define_flag(
        "string",
        "bert_config_file",
        None,
        "The config json file corresponding to the pre-trained BERT model. "
        "This specifies the model architecture.",
    )
    cli.define_flag(
        "string", "vocab_file", None, "The vocabulary file that the BERT model was trained on."
    )
    cli.define_flag(
        "string",
        "init_checkpoint",
        None,
        "The checkpoint to export: a run_classifier output_dir's model.ckpt-N for "
        "--model=classifier; any checkpoint with the bert/ variables for --model=encoder.",
    )
    cli.define_flag(
        "string",
        "export_dir",
        None,
        "The folder to write (must not exist or be empty): the SavedModel for "
        "--model=classifier; encoder/ and preprocessing/ SavedModels for --model=encoder.",
    )
    ## Other parameters
    cli.define_flag(
        "enum",
        "model",
        "classifier",
        "What to export: `classifier` (text -> probabilities, from a run_classifier "
        "checkpoint) or `encoder` (TF Hub-style BERT encoder and preprocessing).",
        enum_values=list(MODELS),
    )
    cli.define_flag(
        "string",
        "task_name",
        None,
        "The name of the task the classifier was trained on (its labels; required for "
        "--model=classifier).",
    )
    cli.define_flag(
        "bool",
        "do_lower_case",
        True,
        "Whether to lower case the input text. Should be True for uncased models and False "
        "for cased models.",
    )
    cli.define_flag(
        "integer",
        "max_seq_length",
        128,
        "The maximum total input sequence length after WordPiece tokenization. Sequences "
        "longer than this will be truncated, and sequences shorter than this will be padded.",
    )
    cli.define_flag(
        "bool",
        "single_sentence",
        None,
        "Whether the classifier's task has no text_b (its serving signature then takes "
        "text_a only). Default: from the task (CoLA is single-sentence, the others pairs).",
        group=cli.PORT,
    )


# The flags of the command line, by the argument of `run` each gives.
_RUN_FLAGS = (
    "model",
    "export_dir",
    "bert_config_file",
    "vocab_file",
    "init_checkpoint",
    "task_name",
    "max_seq_length",
    "do_lower_case",
    "single_sentence",
)


def main(argv: Sequence[str]) -> None:
    """The command line's main: `run` with absl's parsed flags."""
    del argv
    run(**{name: getattr(FLAGS, name) for name in _RUN_FLAGS})


if __name__ == "__main__":
    cli.run("official_bert.export")
