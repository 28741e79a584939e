"""Convert BERT checkpoints between the original's TF1 format and Hugging Face's safetensors.

    # Hugging Face -> the original (bert_model.ckpt.*, bert_config.json, vocab.txt)
    python -m official_bert.convert_checkpoint --from_hf=HF_DIR --output_dir=OUT

    # the original (or a checkpoint of this port's runs) -> Hugging Face
    python -m official_bert.convert_checkpoint --from_tf1=DIR/bert_model.ckpt \
      --bert_config_file=DIR/bert_config.json --vocab_file=DIR/vocab.txt --output_dir=OUT

`--from_hf` reads a folder as Hugging Face's `save_pretrained` writes it
(`config.json` and `model.safetensors`, or a sharded
`model.safetensors.index.json`) for a `BertModel`, `BertForPreTraining`,
`BertForMaskedLM`, `BertForNextSentencePrediction` or
`BertForSequenceClassification`, and writes `OUT/bert_model.ckpt.*`,
`OUT/bert_config.json` and `OUT/vocab.txt` (the folder's, or --vocab_file).
`--from_tf1` reads a checkpoint of the original's names (the released
checkpoints, run_pretraining's and run_classifier's `model.ckpt-N`: Adam slots
and `global_step` are skipped) and writes `OUT/model.safetensors`,
`OUT/config.json` and, with --vocab_file, `OUT/vocab.txt` and
`OUT/tokenizer_config.json`, which `transformers.BertForPreTraining` (or the
model the heads make) loads. `official_bert.hf_interchange` has the name table.

Every tensor is checked against the config before anything is written: unknown,
missing, misshapen or non-float tensors give one error listing them all. The
output is written into a hidden folder beside --output_dir and renamed onto it
when complete; --output_dir must not exist or be empty. No torch is needed: the
`safetensors` package reads and writes numpy arrays.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
import tensorflow as tf
from absl import flags, logging

from official_bert import checkpoints, cli, files, hf_interchange, tokenization
from official_bert.errors import InputError, MissingFileError
from official_bert.modeling import BertConfig

# The files of a Hugging Face model folder.
HF_CONFIG_FILENAME = "config.json"
HF_WEIGHTS_FILENAME = "model.safetensors"
HF_INDEX_FILENAME = "model.safetensors.index.json"
HF_TOKENIZER_CONFIG_FILENAME = "tokenizer_config.json"
# The files of a released checkpoint of the original.
TF1_CHECKPOINT_BASENAME = "bert_model.ckpt"
BERT_CONFIG_FILENAME = "bert_config.json"
VOCAB_FILENAME = "vocab.txt"
# HF's from_pretrained refuses a safetensors file without this metadata.
SAFETENSORS_METADATA = {"format": "pt"}
# Exactly one of these flags says which way to convert.
REQUIRED_FLAGS = ("output_dir",)


# --------------------------------------------------------------------------- shared


# One SaveV2 helper for every checkpoint writer (see checkpoints.write_tensors).
write_tensors = checkpoints.write_tensors


def _check_output_dir(output_dir: str) -> None:
    """Refuses an --output_dir that is a file or a folder with anything in it."""
    if not tf.io.gfile.exists(output_dir):
        return
    if not tf.io.gfile.isdir(output_dir):
        raise InputError(f"--output_dir={output_dir} is a file; pass a new folder.")
    if tf.io.gfile.listdir(output_dir):
        raise InputError(
            f"--output_dir={output_dir} is not empty; nothing was written. Pass a new (or "
            "empty) folder: a conversion never mixes its files with others."
        )


@contextlib.contextmanager
def _staged_output_dir(output_dir: str) -> Iterator[str]:
    """Yields a hidden folder beside `output_dir`, renamed onto it when the block succeeds.

    On any exception the staging folder is removed and `output_dir` is left as
    it was (missing, or empty).
    """
    output_dir = os.path.normpath(output_dir)
    _check_output_dir(output_dir)
    parent = os.path.dirname(output_dir)
    if parent:
        tf.io.gfile.makedirs(parent)
    staging = files.temp_path(output_dir)
    tf.io.gfile.makedirs(staging)
    try:
        yield staging
        _check_output_dir(output_dir)  # still missing or empty
        if tf.io.gfile.exists(output_dir):
            tf.io.gfile.rmtree(output_dir)  # empty: replaced by the staging folder
        tf.io.gfile.rename(staging, output_dir)
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)


def _read_json(path: str, what: str) -> Any:
    if not tf.io.gfile.exists(path):
        raise MissingFileError(f"{what} {path} does not exist.")
    try:
        with tf.io.gfile.GFile(path, "rb") as reader:
            return json.loads(reader.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{what} {path} is not valid JSON ({error}).") from None


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def _vocab_size_check(vocab_file: str, config: BertConfig, config_file: str) -> None:
    """Refuses a vocabulary with more ids than the model's embeddings (naming both files)."""
    vocab = tokenization.load_vocab(vocab_file)
    num_ids = max(vocab.values(), default=-1) + 1
    if num_ids > config.vocab_size:
        raise InputError(
            f"Vocabulary {vocab_file} has {num_ids} token ids but {config_file} has "
            f"vocab_size={config.vocab_size}: pass the vocabulary that came with the model."
        )


# --------------------------------------------------------------------------- HF -> TF1


class _SafetensorsFolder:
    """The tensors of an HF folder (one model.safetensors, or the shards of its index)."""

    def __init__(self, hf_dir: str):
        single = os.path.join(hf_dir, HF_WEIGHTS_FILENAME)
        index = os.path.join(hf_dir, HF_INDEX_FILENAME)
        if tf.io.gfile.exists(single):
            self.source = single
            shard_of = None
        elif tf.io.gfile.exists(index):
            self.source = index
            index_json = _read_json(index, "Safetensors index")
            weight_map = index_json.get("weight_map") if isinstance(index_json, dict) else None
            if not isinstance(weight_map, dict):
                raise InputError(f"Safetensors index {index} has no `weight_map` object.")
            shard_of = {name: os.path.join(hf_dir, shard) for name, shard in weight_map.items()}
        else:
            found = tf.io.gfile.listdir(hf_dir) if tf.io.gfile.isdir(hf_dir) else []
            hint = (
                " It has pytorch_model.bin: save the model again with "
                "`model.save_pretrained(DIR, safe_serialization=True)` to get model.safetensors."
                if "pytorch_model.bin" in found
                else ""
            )
            raise MissingFileError(
                f"--from_hf={hf_dir} has no {HF_WEIGHTS_FILENAME} (nor {HF_INDEX_FILENAME}).{hint}"
            )
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, str] = {}
        self._file_of: dict[str, str] = {}
        for path in sorted(set(shard_of.values())) if shard_of else [single]:
            with self._open(path) as reader:
                for name in reader.keys():
                    if shard_of is not None and shard_of.get(name) != path:
                        continue
                    piece = reader.get_slice(name)
                    self.shapes[name] = tuple(piece.get_shape())
                    self.dtypes[name] = piece.get_dtype()
                    self._file_of[name] = path
        if shard_of is not None:
            absent = sorted(set(shard_of) - set(self._file_of))
            if absent:
                raise InputError(
                    f"Safetensors index {index} lists tensors its shards lack: "
                    f"{hf_interchange.list_names(absent)}."
                )

    @staticmethod
    def _open(path: str) -> Any:
        if not tf.io.gfile.exists(path):
            raise MissingFileError(f"Safetensors file {path} does not exist.")
        try:
            return safetensors.safe_open(path, framework="numpy")
        except (safetensors.SafetensorError, OSError, ValueError) as error:
            raise InputError(
                f"{path} is not a readable safetensors file ({error}); save the model again "
                "with Hugging Face's save_pretrained."
            ) from None

    def load(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays of `names`, as stored (dtype kept)."""
        out = {}
        by_file: dict[str, list[str]] = {}
        for name in names:
            by_file.setdefault(self._file_of[name], []).append(name)
        for path, file_names in by_file.items():
            with self._open(path) as reader:
                for name in file_names:
                    try:
                        out[name] = reader.get_tensor(name)
                    except (safetensors.SafetensorError, TypeError, ValueError) as error:
                        raise InputError(
                            f"Tensor {name} of {path} cannot be read ({error})."
                        ) from None
        return out


def convert_hf_to_tf1(hf_dir: str, output_dir: str, vocab_file: str | None = None) -> str:
    """Converts a Hugging Face BERT folder into an original-format checkpoint folder.

    Args:
      hf_dir: folder with `config.json` and `model.safetensors` (or a sharded
        `model.safetensors.index.json`).
      output_dir: the folder to write (must not exist, or be empty).
      vocab_file: vocabulary to copy; default `hf_dir/vocab.txt` when present.

    Returns:
      The checkpoint prefix, `output_dir/bert_model.ckpt`.

    Raises:
      InputError (MissingFileError for a missing file): the config, the
        tensors or the vocabulary do not make an original BERT; nothing is written.
    """
    if not tf.io.gfile.isdir(hf_dir):
        raise MissingFileError(f"--from_hf={hf_dir} is not a folder.")
    config_file = os.path.join(hf_dir, HF_CONFIG_FILENAME)
    hf_config = _read_json(config_file, "Hugging Face config")
    config, notes = hf_interchange.bert_config_from_hf(hf_config, config_file)
    config.validate()  # e.g. hidden_size not a multiple of num_attention_heads
    architecture = hf_interchange.hf_architecture(hf_config, config_file)
    weights = _SafetensorsFolder(hf_dir)
    has_classifier = any(
        hf_interchange.canonical_hf_name(n)[0].startswith("classifier.") for n in weights.shapes
    )
    num_labels = None
    if has_classifier or architecture == "BertForSequenceClassification":
        num_labels = hf_interchange.hf_num_labels(hf_config)
    mapped, tied, skipped = hf_interchange.plan_hf_to_tf1(
        weights.shapes, weights.dtypes, weights.source, config, num_labels, architecture
    )
    if vocab_file is None and tf.io.gfile.exists(os.path.join(hf_dir, VOCAB_FILENAME)):
        vocab_file = os.path.join(hf_dir, VOCAB_FILENAME)
    if vocab_file is not None:
        _vocab_size_check(vocab_file, config, config_file)
    _check_output_dir(output_dir)

    if hf_interchange.POOLER not in {name.group for name in mapped.values()}:
        logging.warning(
            "%s has no pooler (pooler.dense.*): a model built from this checkpoint starts "
            "with a new, random pooler, which run_classifier's head is fed from.",
            hf_dir,
        )
    arrays = weights.load(sorted(mapped) + sorted(tied.values()))
    hf_interchange.check_tied(arrays, mapped, tied, weights.source)
    tensors = {}
    other_dtypes = set()
    for file_name, name in mapped.items():
        value = arrays[file_name]
        if value.dtype != np.float32:
            # The original's checkpoints are float32, and its init_from_checkpoint
            # loads only the variables' own dtype: float16 and bfloat16 widen exactly.
            other_dtypes.add(weights.dtypes[file_name])
            value = value.astype(np.float32)
        tensors[name.tf1] = np.ascontiguousarray(value.T) if name.transpose else value
    if other_dtypes:
        notes.append(
            f"Weights of dtype {', '.join(sorted(other_dtypes))} are written as float32, the "
            "dtype of the original's checkpoints (exact for F16 and BF16; F64 is rounded)."
        )

    for note in notes:
        logging.info(note)
    _log_hf_hints(hf_dir, hf_config, num_labels)
    logging.info("**** Tensors of %s ****", weights.source)
    for file_name, name in sorted(mapped.items(), key=lambda item: item[1].tf1):
        logging.info(
            "  %s -> %s, shape = %s%s",
            file_name,
            name.tf1,
            name.shape,
            " (transposed)" if name.transpose else "",
        )
    for file_name in sorted(tied.values()):
        logging.info("  %s: tied, the same tensor as its source (not stored).", file_name)
    if skipped:
        logging.info("Skipped %d buffers (not weights): %s", len(skipped), ", ".join(skipped))

    with _staged_output_dir(output_dir) as staging:
        write_tensors(os.path.join(staging, TF1_CHECKPOINT_BASENAME), tensors)
        files.write_text_atomically(
            os.path.join(staging, BERT_CONFIG_FILENAME), config.to_json_string()
        )
        if vocab_file is not None:
            tf.io.gfile.copy(vocab_file, os.path.join(staging, VOCAB_FILENAME))
    prefix = os.path.join(output_dir, TF1_CHECKPOINT_BASENAME)
    logging.info(
        "Wrote %s (%d tensors), %s%s.",
        prefix,
        len(tensors),
        os.path.join(output_dir, BERT_CONFIG_FILENAME),
        f" and {os.path.join(output_dir, VOCAB_FILENAME)}" if vocab_file else "",
    )
    return prefix


def _log_hf_hints(hf_dir: str, hf_config: dict, num_labels: int | None) -> None:
    """Logs what the original's flags should say about this model (case, labels)."""
    tokenizer_config = os.path.join(hf_dir, HF_TOKENIZER_CONFIG_FILENAME)
    if tf.io.gfile.exists(tokenizer_config):
        try:
            lower = _read_json(tokenizer_config, "Tokenizer config").get("do_lower_case")
        except (InputError, AttributeError):
            lower = None
        if isinstance(lower, bool):
            logging.info(
                "%s says do_lower_case=%s: pass --do_lower_case=%s with this model.",
                tokenizer_config,
                lower,
                lower,
            )
    if num_labels is not None:
        labels = hf_config.get("id2label")
        if isinstance(labels, dict) and all(str(k).isdigit() for k in labels):
            ordered = [labels[k] for k in sorted(labels, key=int)]
            logging.info(
                "The classifier's labels, in output order: %s; run_classifier takes its "
                "labels from the --task_name processor, whose order must be this one.",
                ordered,
            )
        if num_labels == 1 or hf_config.get("problem_type") in (
            "regression",
            "multi_label_classification",
        ):
            logging.warning(
                "The classifier was trained for %s; run_classifier's head applies a softmax "
                "over the labels: use its logits, not its probabilities.",
                hf_config.get("problem_type") or "regression",
            )


# --------------------------------------------------------------------------- TF1 -> HF


def convert_tf1_to_hf(
    tf1_checkpoint: str,
    bert_config_file: str,
    output_dir: str,
    vocab_file: str | None = None,
    do_lower_case: bool = True,
) -> str:
    """Converts an original-format checkpoint into a Hugging Face model folder.

    Args:
      tf1_checkpoint: checkpoint prefix (`.../bert_model.ckpt`, `.../model.ckpt-N`)
        or a model directory (its latest checkpoint).
      bert_config_file: its bert_config.json.
      output_dir: the folder to write (must not exist, or be empty).
      vocab_file: vocabulary copied as `vocab.txt`, with a `tokenizer_config.json`.
      do_lower_case: the tokenizer_config.json's `do_lower_case`.

    Returns:
      The path of the written `model.safetensors`.

    Raises:
      InputError (MissingFileError for a missing file): the checkpoint does
        not match the config, or a file is missing; nothing is written.
    """
    config = BertConfig.from_json_file(bert_config_file)
    config.validate()
    prefix = checkpoints.resolve_checkpoint(tf1_checkpoint)
    # As the entry points and export: a released cased model with lower-casing is refused.
    tokenization.validate_case_matches_checkpoint(do_lower_case, prefix)
    listing = checkpoints.list_variables(prefix)
    mapped, num_labels = hf_interchange.plan_tf1_to_hf(listing, config, prefix)
    architecture = hf_interchange.architecture_of({name.group for name in mapped.values()})
    if architecture in hf_interchange.HF_WITHOUT_POOLER:
        pooler = sorted(e for e, n in mapped.items() if n.group == hf_interchange.POOLER)
        if pooler:
            logging.info(
                "%s is left out: Hugging Face's %s has no pooler.", ", ".join(pooler), architecture
            )
        mapped = {e: n for e, n in mapped.items() if n.group != hf_interchange.POOLER}
    hf_config = hf_interchange.hf_config_from_bert(config, architecture, num_labels)
    if vocab_file is not None:
        _vocab_size_check(vocab_file, config, bert_config_file)
    _check_output_dir(output_dir)

    reader = checkpoints.load_reader(prefix)
    with_prefix = architecture != "BertModel"
    tensors = {}
    for entry, name in mapped.items():
        try:
            value = reader.get_tensor(entry)
        except (tf.errors.OpError, ValueError, IndexError) as error:
            raise InputError(
                f"Checkpoint {prefix} cannot be read: variable {entry}: {error}. Its .data-* "
                "file is truncated or corrupt."
            ) from None
        tensors[name.hf_name(with_prefix)] = (
            np.ascontiguousarray(value.T) if name.transpose else np.asarray(value)
        )

    skipped = sorted(entry for entry in listing if hf_interchange.is_optimizer_entry(entry))
    logging.info(
        "hidden_act %r of %s is Hugging Face's %r.",
        config.hidden_act,
        bert_config_file,
        hf_config["hidden_act"],
    )
    logging.info("**** Variables of %s (a %s) ****", prefix, architecture)
    for entry, name in sorted(mapped.items()):
        logging.info(
            "  %s -> %s, shape = %s%s",
            entry,
            name.hf_name(with_prefix),
            name.hf_shape,
            " (transposed)" if name.transpose else "",
        )
    if skipped:
        logging.info("Skipped %d optimizer entries (Adam slots, global_step).", len(skipped))

    weights_path = os.path.join(output_dir, HF_WEIGHTS_FILENAME)
    with _staged_output_dir(output_dir) as staging:
        safetensors.numpy.save_file(
            tensors, os.path.join(staging, HF_WEIGHTS_FILENAME), metadata=SAFETENSORS_METADATA
        )
        files.write_text_atomically(
            os.path.join(staging, HF_CONFIG_FILENAME), _json_text(hf_config)
        )
        if vocab_file is not None:
            tf.io.gfile.copy(vocab_file, os.path.join(staging, VOCAB_FILENAME))
            tokenizer_config = {"do_lower_case": do_lower_case, "tokenizer_class": "BertTokenizer"}
            files.write_text_atomically(
                os.path.join(staging, HF_TOKENIZER_CONFIG_FILENAME), _json_text(tokenizer_config)
            )
    logging.info(
        "Wrote %s (%d tensors, a %s) and its config.json.", weights_path, len(tensors), architecture
    )
    return weights_path


# --------------------------------------------------------------------------- command line

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the converter's flags in absl's FLAGS (idempotent)."""
    cli.define_flag(
        "string",
        "output_dir",
        None,
        "The folder to write the converted model to. It must not exist, or be empty.",
    )
    cli.define_flag(
        "string",
        "from_hf",
        None,
        "A Hugging Face model folder (config.json and model.safetensors) to convert to an "
        "original-format checkpoint (bert_model.ckpt, bert_config.json, vocab.txt).",
    )
    cli.define_flag(
        "string",
        "from_tf1",
        None,
        "An original-format checkpoint prefix (e.g. bert_model.ckpt or model.ckpt-N) to "
        "convert to a Hugging Face folder (model.safetensors, config.json). Needs "
        "--bert_config_file.",
    )
    cli.define_flag(
        "string",
        "bert_config_file",
        None,
        "The config json file corresponding to the pre-trained BERT model. "
        "This specifies the model architecture.",
    )
    cli.define_flag(
        "string",
        "vocab_file",
        None,
        "The vocabulary file to copy alongside (with --from_hf, default: the folder's vocab.txt).",
    )
    cli.define_flag(
        "bool",
        "do_lower_case",
        True,
        "Whether to lower case the input text. Should be True for uncased "
        "models and False for cased models. Written to tokenizer_config.json with --from_tf1.",
    )


def main(argv: Sequence[str]) -> None:
    """The command line's main: one conversion, in the direction its flags say."""
    del argv
    if bool(FLAGS.from_hf) == bool(FLAGS.from_tf1):
        raise InputError("Pass exactly one of --from_hf=DIR and --from_tf1=CHECKPOINT.")
    if FLAGS.from_hf:
        if FLAGS.bert_config_file:
            raise InputError(
                "--bert_config_file is for --from_tf1; --from_hf reads the folder's config.json."
            )
        convert_hf_to_tf1(FLAGS.from_hf, FLAGS.output_dir, vocab_file=FLAGS.vocab_file)
    else:
        if not FLAGS.bert_config_file:
            raise InputError(
                "--from_tf1 needs --bert_config_file (the checkpoint's bert_config.json)."
            )
        convert_tf1_to_hf(
            FLAGS.from_tf1,
            FLAGS.bert_config_file,
            FLAGS.output_dir,
            vocab_file=FLAGS.vocab_file,
            do_lower_case=FLAGS.do_lower_case,
        )


if __name__ == "__main__":
    cli.run("official_bert.convert_checkpoint")
