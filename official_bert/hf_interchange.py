"""Hugging Face's BERT next to the original's: tensor names, shapes and config keys.

Hugging Face's PyTorch BERT (`transformers.BertModel` and its models with
heads) holds every tensor of the original under another name, and stores dense
layers transposed (torch's `nn.Linear.weight` is [out, in]; the original's
`kernel` is [in, out]). Its config.json uses the original's key names and adds
a few. This module states the correspondence once, built from a `BertConfig`,
and `convert_checkpoint` uses it in both directions. P is `bert.` in the models
with heads and nothing in a bare `BertModel`; (T) marks a transposed tensor.

The original (TF1 checkpoint), with `L/` for `bert/encoder/layer_N/`, and
Hugging Face (safetensors), with `l.` for `P encoder.layer.N.`:

    bert/embeddings/word_embeddings [V, H]     P embeddings.word_embeddings.weight
    bert/embeddings/token_type_embeddings      P embeddings.token_type_embeddings.weight
    bert/embeddings/position_embeddings        P embeddings.position_embeddings.weight
    bert/embeddings/LayerNorm/{gamma,beta}     P embeddings.LayerNorm.{weight,bias}
    L/attention/self/{query,key,value}/kernel  l.attention.self.{query,key,value}.weight (T)
    L/attention/output/dense/kernel            l.attention.output.dense.weight (T)
    L/attention/output/LayerNorm/{gamma,beta}  l.attention.output.LayerNorm.{weight,bias}
    L/intermediate/dense/kernel                l.intermediate.dense.weight (T)
    L/output/dense/kernel                      l.output.dense.weight (T)
    L/output/LayerNorm/{gamma,beta}            l.output.LayerNorm.{weight,bias}
    bert/pooler/dense/kernel                   P pooler.dense.weight (T)
    cls/predictions/transform/dense/kernel     cls.predictions.transform.dense.weight (T)
    cls/predictions/transform/LayerNorm/...    cls.predictions.transform.LayerNorm.{weight,bias}
    cls/predictions/output_bias [V]            cls.predictions.bias (= ...decoder.bias, tied)
    (the word embeddings, tied)                cls.predictions.decoder.weight
    cls/seq_relationship/output_weights [2, H] cls.seq_relationship.weight (not transposed)
    output_weights [num_labels, H]             classifier.weight (not transposed)

Every `.../bias` (and `cls/seq_relationship/output_bias`, run_classifier's
`output_bias`) is the HF `....bias` of the same layer.

HF files also hold buffers that are not weights (`embeddings.position_ids`,
`embeddings.token_type_ids`), skipped; old files spell LayerNorm's weight and
bias `gamma` and `beta`, read as well. HF's `save_pretrained` leaves the tied
`cls.predictions.decoder.{weight,bias}` out of a safetensors file, and so does
the conversion to HF.

`hidden_act` keeps the math: the original's `gelu` is the tanh approximation,
HF's `gelu_new`; HF's `gelu` is the exact erf form, this port's `gelu_exact`.

`plan_hf_to_tf1` and `plan_tf1_to_hf` match a file's names and shapes against
the table with no I/O, and raise one error listing every unknown, missing,
misshapen or non-float tensor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from official_bert.checkpoints import GLOBAL_STEP_NAME
from official_bert.errors import InputError
from official_bert.heads import NUM_NEXT_SENTENCE_LABELS
from official_bert.layers import LAYER_NORM_EPSILON
from official_bert.modeling import BertConfig

# Groups of tensors: a checkpoint holds all of a group or none of it.
ENCODER = "encoder"  # embeddings and Transformer layers: every model
POOLER = "pooler"
MASKED_LM = "masked LM head"
NEXT_SENTENCE = "next sentence head"
CLASSIFIER = "classifier head"
QUESTION_ANSWERING = "SQuAD head"  # run_squad's cls/squad/output_*: HF's qa_outputs
# Heads that sit on the pooled output.
_NEEDS_POOLER = (NEXT_SENTENCE, CLASSIFIER)

# The HF models convertible, and the groups each one has. (HF's BertForMaskedLM
# has no pooler; a BertModel may have none, `add_pooling_layer=False`.)
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "BertModel": (ENCODER,),
    "BertForPreTraining": (ENCODER, POOLER, MASKED_LM, NEXT_SENTENCE),
    "BertForMaskedLM": (ENCODER, MASKED_LM),
    "BertForNextSentencePrediction": (ENCODER, POOLER, NEXT_SENTENCE),
    "BertForSequenceClassification": (ENCODER, POOLER, CLASSIFIER),
    "BertForQuestionAnswering": (ENCODER, QUESTION_ANSWERING),
}
# HF models built without a pooler (`add_pooling_layer=False`): a checkpoint's
# pooler (a run_squad one has its init checkpoint's, untrained) is left out.
HF_WITHOUT_POOLER = ("BertForMaskedLM", "BertForQuestionAnswering")
# run_squad's logits: start and end.
NUM_SQUAD_LOGITS = 2
# The prefix of the encoder's names in HF's models with heads (`base_model_prefix`).
HF_BASE_PREFIX = "bert."
# HF's buffers (position and token type ids), which are not weights.
HF_BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")
# The masked LM's decoder: tied to the word embeddings and to `cls.predictions.bias`.
HF_DECODER_WEIGHT = "cls.predictions.decoder.weight"
HF_DECODER_BIAS = "cls.predictions.decoder.bias"
HF_MLM_BIAS = "cls.predictions.bias"
HF_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"

# hidden_act: the HF name -> this port's name of the same function.
HF_TO_TF1_ACTIVATION = {
    "gelu_new": "gelu",  # the tanh approximation: the original's gelu
    "gelu_pytorch_tanh": "gelu",  # the same approximation in torch's kernel
    "gelu": "gelu_exact",  # exact erf: not the original's gelu
    "gelu_python": "gelu_exact",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
# hidden_act: this port's name -> the HF name of the same function.
TF1_TO_HF_ACTIVATION = {
    "gelu": "gelu_new",
    "gelu_exact": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
# config.json keys that are the original's keys under the same name; the
# sizes and hidden_act must be there, the others default as in HF's BertConfig
# (which are the original's defaults).
_SIZE_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
_REQUIRED_HF_KEYS = (*_SIZE_KEYS, "hidden_act")
_DEFAULTED_HF_KEYS = {
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
}
# HF's number of labels when config.json names none (PretrainedConfig's default).
HF_DEFAULT_NUM_LABELS = 2


@dataclasses.dataclass(frozen=True)
class TensorName:
    """One tensor under both names.

    Attributes:
      tf1: the original's variable name (`bert/encoder/layer_0/...`).
      hf: the HF name, without `bert.` (`encoder.layer.0...`, `cls.predictions.bias`).
      shape: the original's shape.
      group: the group the tensor belongs to (`ENCODER`, `POOLER`, ...).
      transpose: HF stores it transposed ([out, in] for a kernel [in, out]).
      in_base_model: under `bert.` in HF's models with heads.
    """

    tf1: str
    hf: str
    shape: tuple[int, ...]
    group: str
    transpose: bool = False
    in_base_model: bool = True

    @property
    def hf_shape(self) -> tuple[int, ...]:
        return self.shape[::-1] if self.transpose else self.shape

    def hf_name(self, with_base_prefix: bool) -> str:
        """The HF name, with `bert.` when the tensor is the encoder's in a model with heads."""
        return (HF_BASE_PREFIX if with_base_prefix and self.in_base_model else "") + self.hf


def _dense(tf1: str, hf: str, fan_in: int, fan_out: int, group: str, base: bool = True) -> list:
    return [
        TensorName(f"{tf1}/kernel", f"{hf}.weight", (fan_in, fan_out), group, True, base),
        TensorName(f"{tf1}/bias", f"{hf}.bias", (fan_out,), group, False, base),
    ]


def _layer_norm(tf1: str, hf: str, width: int, group: str, base: bool = True) -> list:
    return [
        TensorName(f"{tf1}/gamma", f"{hf}.weight", (width,), group, False, base),
        TensorName(f"{tf1}/beta", f"{hf}.bias", (width,), group, False, base),
    ]


def tensor_names(config: BertConfig, num_labels: int | None = None) -> list[TensorName]:
    """Every tensor of a BERT of `config` with all heads (the classifier's if `num_labels`).

    Args:
      config: the model's config.
      num_labels: the classifier's number of labels; None leaves it out.

    Returns:
      The tensors in the original's order (embeddings, layers, pooler, heads).
    """
    hidden, inner = config.hidden_size, config.intermediate_size
    emb, enc, mlm = "bert/embeddings", ENCODER, MASKED_LM
    names = [
        TensorName(f"{emb}/word_embeddings", HF_WORD_EMBEDDINGS, (config.vocab_size, hidden), enc),
        TensorName(
            f"{emb}/token_type_embeddings",
            "embeddings.token_type_embeddings.weight",
            (config.type_vocab_size, hidden),
            enc,
        ),
        TensorName(
            f"{emb}/position_embeddings",
            "embeddings.position_embeddings.weight",
            (config.max_position_embeddings, hidden),
            enc,
        ),
        *_layer_norm(f"{emb}/LayerNorm", "embeddings.LayerNorm", hidden, enc),
    ]
    for i in range(config.num_hidden_layers):
        tf1, hf = f"bert/encoder/layer_{i}", f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            names += _dense(
                f"{tf1}/attention/self/{part}", f"{hf}.attention.self.{part}", hidden, hidden, enc
            )
        names += _dense(
            f"{tf1}/attention/output/dense", f"{hf}.attention.output.dense", hidden, hidden, enc
        )
        names += _layer_norm(
            f"{tf1}/attention/output/LayerNorm", f"{hf}.attention.output.LayerNorm", hidden, enc
        )
        names += _dense(f"{tf1}/intermediate/dense", f"{hf}.intermediate.dense", hidden, inner, enc)
        names += _dense(f"{tf1}/output/dense", f"{hf}.output.dense", inner, hidden, enc)
        names += _layer_norm(f"{tf1}/output/LayerNorm", f"{hf}.output.LayerNorm", hidden, enc)
    names += _dense("bert/pooler/dense", "pooler.dense", hidden, hidden, POOLER)
    # The heads are outside `bert.` in HF. Their output_weights are not transposed:
    # the original multiplies by them transposed, as torch's nn.Linear does.
    transform, head = "cls/predictions/transform", "cls.predictions.transform"
    names += _dense(f"{transform}/dense", f"{head}.dense", hidden, hidden, mlm, base=False)
    names += _layer_norm(f"{transform}/LayerNorm", f"{head}.LayerNorm", hidden, mlm, base=False)
    nsp, nsp_hf = "cls/seq_relationship", "cls.seq_relationship"
    heads = [
        ("cls/predictions/output_bias", HF_MLM_BIAS, (config.vocab_size,), mlm),
        (
            f"{nsp}/output_weights",
            f"{nsp_hf}.weight",
            (NUM_NEXT_SENTENCE_LABELS, hidden),
            NEXT_SENTENCE,
        ),
        (f"{nsp}/output_bias", f"{nsp_hf}.bias", (NUM_NEXT_SENTENCE_LABELS,), NEXT_SENTENCE),
        # run_squad's [2, hidden] head is HF's nn.Linear(hidden, 2) as it is.
        (
            "cls/squad/output_weights",
            "qa_outputs.weight",
            (NUM_SQUAD_LOGITS, hidden),
            QUESTION_ANSWERING,
        ),
        ("cls/squad/output_bias", "qa_outputs.bias", (NUM_SQUAD_LOGITS,), QUESTION_ANSWERING),
    ]
    if num_labels is not None:
        heads += [
            ("output_weights", "classifier.weight", (num_labels, hidden), CLASSIFIER),
            ("output_bias", "classifier.bias", (num_labels,), CLASSIFIER),
        ]
    names += [TensorName(*entry, in_base_model=False) for entry in heads]
    return names


def required_groups(present: set[str], architecture: str | None = None) -> set[str]:
    """The groups a checkpoint must hold in full: the encoder, those it has any tensor of,
    the pooler under a head that needs it, and all groups of `architecture`."""
    required = {ENCODER, *present}
    if architecture is not None:
        required.update(ARCHITECTURES[architecture])
    if required & set(_NEEDS_POOLER):
        required.add(POOLER)
    return required


def architecture_of(groups: set[str]) -> str:
    """The HF model that holds exactly these groups (a pooler or not).

    Raises:
      InputError: a classifier together with a pretraining head (no HF model has both).
    """
    heads = groups - {ENCODER, POOLER}
    for name, model_groups in ARCHITECTURES.items():
        if heads == set(model_groups) - {ENCODER, POOLER}:
            return name
    raise InputError(
        f"The checkpoint holds the {' and the '.join(sorted(heads))}: no Hugging Face BERT "
        "model has these heads together. Convert a checkpoint of one model (the pretraining "
        "heads, run_classifier's classifier or run_squad's head)."
    )


def canonical_hf_name(name: str) -> tuple[str, bool]:
    """(name without `bert.`, whether it had it), with old `LayerNorm.gamma/beta` spelled
    `LayerNorm.weight/bias` as HF reads them."""
    prefixed = name.startswith(HF_BASE_PREFIX)
    if prefixed:
        name = name[len(HF_BASE_PREFIX) :]
    if name.endswith("LayerNorm.gamma"):
        name = name[: -len("gamma")] + "weight"
    elif name.endswith("LayerNorm.beta"):
        name = name[: -len("beta")] + "bias"
    return name, prefixed


def is_hf_buffer(name: str) -> bool:
    """Whether an HF name (without `bert.`) is a buffer, not a weight."""
    return name in HF_BUFFER_SUFFIXES


# --------------------------------------------------------------------------- configs


def hf_num_labels(hf_config: dict) -> int:
    """The number of labels HF's config gives a classifier (`id2label`, else `num_labels`)."""
    if isinstance(hf_config.get("id2label"), dict):
        return len(hf_config["id2label"])
    num_labels = hf_config.get("num_labels", HF_DEFAULT_NUM_LABELS)
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise InputError(f"`num_labels` of the Hugging Face config is {num_labels!r}, not a count.")
    return num_labels


def bert_config_from_hf(hf_config: Any, source: str) -> tuple[BertConfig, list[str]]:
    """The original's config of an HF config.json, refusing what would change the math.

    Args:
      hf_config: the parsed config.json.
      source: its file, for messages.

    Returns:
      (config, notes): the BertConfig (the original's keys only) and lines to log.

    Raises:
      InputError: one error listing every problem: a key missing, a `hidden_act`
        without an exact counterpart, a model type, position embedding type,
        layer norm epsilon, decoder or cross-attention the original has not.
    """
    if not isinstance(hf_config, dict):
        raise InputError(f"{source} must be a JSON object (Hugging Face's config.json).")
    problems, notes = [], []
    missing = [key for key in _REQUIRED_HF_KEYS if key not in hf_config]
    if missing:
        problems.append(f"it has no {', '.join(f'`{key}`' for key in missing)}")
    model_type = hf_config.get("model_type", "bert")
    if model_type != "bert":
        problems.append(
            f"`model_type` is {model_type!r}, not 'bert' (only BERT's names and math convert)"
        )
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        problems.append(
            f"`position_embedding_type` is {position_type!r}; the original has only 'absolute'"
        )
    epsilon = hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON)
    # 1e-12 that went through float32 (9.999999960041972e-13) is the same epsilon.
    if not (
        isinstance(epsilon, (int, float))
        and not isinstance(epsilon, bool)
        and abs(epsilon - LAYER_NORM_EPSILON) <= 1e-6 * LAYER_NORM_EPSILON
    ):
        problems.append(
            f"`layer_norm_eps` is {epsilon!r}; the original's layer norm uses {LAYER_NORM_EPSILON}"
        )
    for key in ("is_decoder", "add_cross_attention"):
        if hf_config.get(key):
            problems.append(f"`{key}` is true; the original is an encoder only")
    hf_act = hf_config.get("hidden_act")
    act = HF_TO_TF1_ACTIVATION.get(hf_act) if isinstance(hf_act, str) else None
    if "hidden_act" in hf_config and act is None:
        problems.append(
            f"`hidden_act` is {hf_act!r}, which this port does not compute; it converts "
            f"{', '.join(sorted(HF_TO_TF1_ACTIVATION))}"
        )
    if problems:
        raise InputError(
            f"Cannot convert the Hugging Face config {source}: {'; '.join(problems)}. "
            "Nothing was written."
        )
    values = {key: hf_config[key] for key in _SIZE_KEYS}
    values["hidden_act"] = act
    for key, default in _DEFAULTED_HF_KEYS.items():
        values[key] = hf_config.get(key, default)
        if key not in hf_config:
            notes.append(f"{source} has no `{key}`: HF's default {default} is written.")
    if act == "gelu_exact":
        notes.append(
            f"hidden_act: {hf_act!r} of {source} is the exact (erf) GELU, not the original's "
            "tanh approximation: bert_config.json says 'gelu_exact', which this port computes "
            "exactly (the original's code does not know that name)."
        )
    else:
        notes.append(f"hidden_act: {hf_act!r} of {source} is the original's {act!r}.")
    return BertConfig.from_dict(values, source=source), notes


def hf_config_from_bert(
    config: BertConfig, architecture: str, num_labels: int | None = None
) -> dict:
    """HF's config.json for a model of `config` (`architectures`, `model_type`, ...).

    Raises:
      InputError: `hidden_act` has no HF counterpart (a callable).
    """
    act = config.hidden_act
    hf_act = TF1_TO_HF_ACTIVATION.get((act or "linear").lower()) if isinstance(act, str) else None
    if hf_act is None:
        raise InputError(
            f"hidden_act {act!r} of the BERT config has no Hugging Face name; use one of "
            f"{', '.join(sorted(TF1_TO_HF_ACTIVATION))}."
        )
    extra = {
        key: value
        for key, value in config.to_dict().items()
        if key not in (*_REQUIRED_HF_KEYS, *_DEFAULTED_HF_KEYS)
    }
    hf_config = {
        "architectures": [architecture],
        "model_type": "bert",
        **extra,
        **{key: getattr(config, key) for key in (*_SIZE_KEYS, *_DEFAULTED_HF_KEYS)},
        "hidden_act": hf_act,
        "layer_norm_eps": LAYER_NORM_EPSILON,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }
    if num_labels is not None:
        hf_config["id2label"] = {str(i): f"LABEL_{i}" for i in range(num_labels)}
        hf_config["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
    return dict(sorted(hf_config.items()))


# --------------------------------------------------------------------------- matching names

# safetensors dtypes of weights that convert (written as float32, the original's dtype).
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
# The optimizer's entries of a training checkpoint, which are not weights.
_OPTIMIZER_SLOT_SUFFIXES = ("/adam_m", "/adam_v")
# At most this many names of each kind of problem are listed in an error.
_MAX_LISTED = 20


def list_names(names: Sequence[str]) -> str:
    """The names, comma-separated, cut after the first few."""
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _raise_problems(source: str, problems: dict[str, list[str]]) -> None:
    """Raises one InputError listing every problem of every kind, if there are any."""
    lines = [
        f"{kind} ({len(names)}): {list_names(names)}" for kind, names in problems.items() if names
    ]
    if lines:
        raise InputError(f"Cannot convert {source}; nothing was written.\n  " + "\n  ".join(lines))


def _shape_problem(name: str, got: Sequence[int], expected: Sequence[int]) -> str:
    return f"{name} is {list(got)}, the config makes it {list(expected)}"


def hf_architecture(hf_config: dict, source: str) -> str | None:
    """The one supported architecture config.json names, or None when it names none."""
    architectures = hf_config.get("architectures")
    if not architectures:
        return None
    if not isinstance(architectures, list) or len(architectures) != 1:
        raise InputError(f"`architectures` of {source} must name one model, got {architectures!r}.")
    name = architectures[0]
    if name not in ARCHITECTURES:
        raise InputError(
            f"{source} is a {name}, which does not convert: its head is not one of the "
            "original's. Convertible: " + ", ".join(ARCHITECTURES) + "."
        )
    return name


def plan_hf_to_tf1(
    shapes: dict[str, tuple[int, ...]],
    dtypes: dict[str, str],
    source: str,
    config: BertConfig,
    num_labels: int | None,
    architecture: str | None,
) -> tuple[dict[str, TensorName], dict[str, str], list[str]]:
    """Matches the file's names with the model's, or raises one error listing every problem.

    Returns:
      (mapped, tied, skipped): file name -> its tensor; the tied decoder's
      file names by canonical name (`cls.predictions.decoder.weight`, ...);
      the file names skipped (buffers).
    """
    names = tensor_names(config, num_labels)
    by_hf = {name.hf: name for name in names}
    mapped: dict[str, TensorName] = {}
    found: dict[str, str] = {}  # canonical HF name -> file name
    tied: dict[str, str] = {}
    skipped, unknown, duplicated, misshapen, not_float = [], [], [], [], []
    encoder_prefixes = set()
    for file_name in sorted(shapes):
        canonical, prefixed = canonical_hf_name(file_name)
        if is_hf_buffer(canonical):
            skipped.append(file_name)
            continue
        if canonical in (HF_DECODER_WEIGHT, HF_DECODER_BIAS):
            expected = by_hf[
                HF_WORD_EMBEDDINGS if canonical == HF_DECODER_WEIGHT else HF_MLM_BIAS
            ].hf_shape
            if prefixed:
                unknown.append(file_name)
            elif shapes[file_name] != expected:
                misshapen.append(_shape_problem(file_name, shapes[file_name], expected))
            else:
                tied[canonical] = file_name
            continue
        name = by_hf.get(canonical)
        if name is None or (prefixed and not name.in_base_model):
            unknown.append(file_name)
            continue
        if canonical in found:
            duplicated.append(f"{found[canonical]} and {file_name}")
            continue
        if name.in_base_model:
            encoder_prefixes.add(prefixed)
        found[canonical] = file_name
        mapped[file_name] = name
        if shapes[file_name] != name.hf_shape:
            misshapen.append(_shape_problem(file_name, shapes[file_name], name.hf_shape))
        if dtypes[file_name] not in _FLOAT_DTYPES:
            not_float.append(f"{file_name} is {dtypes[file_name]}")
    # A file with only the tied copy of the masked LM's bias: that is the bias.
    decoder_bias = tied.get(HF_DECODER_BIAS)
    if decoder_bias is not None and HF_MLM_BIAS not in found:
        found[HF_MLM_BIAS] = decoder_bias
        mapped[decoder_bias] = by_hf[HF_MLM_BIAS]
        del tied[HF_DECODER_BIAS]
    if len(encoder_prefixes) > 1:
        duplicated.append("encoder names both with and without `bert.`")
    with_prefix = True in encoder_prefixes or (
        architecture is not None and architecture != "BertModel"
    )
    present = {name.group for name in mapped.values()}
    required = required_groups(present, architecture)
    missing = [
        name.hf_name(with_prefix)
        for name in names
        if name.group in required and name.hf not in found
    ]
    _raise_problems(
        source,
        {
            "unknown tensors (not in a BERT of config.json)": unknown,
            "missing tensors": missing,
            "tensors with a wrong shape": misshapen,
            "tensors that are not floats": not_float,
            "tensors given twice": duplicated,
        },
    )
    return mapped, tied, skipped


def check_tied(arrays: dict[str, np.ndarray], mapped: dict, tied: dict, source: str) -> None:
    """Refuses a decoder that is not tied: the original has one table for both."""
    tf1_of = {name.hf: file_name for file_name, name in mapped.items()}
    pairs = {
        HF_DECODER_WEIGHT: HF_WORD_EMBEDDINGS,
        HF_DECODER_BIAS: HF_MLM_BIAS,
    }
    for decoder, source_name in pairs.items():
        if decoder in tied and source_name in tf1_of:
            if not np.array_equal(arrays[tied[decoder]], arrays[tf1_of[source_name]]):
                raise InputError(
                    f"{tied[decoder]} of {source} differs from {tf1_of[source_name]}: the "
                    "original's masked LM uses the word embeddings (and one bias) for its output "
                    "layer, so a model with an untied decoder cannot be converted. Nothing was "
                    "written."
                )


def is_optimizer_entry(name: str) -> bool:
    return name == GLOBAL_STEP_NAME or name.endswith(_OPTIMIZER_SLOT_SUFFIXES)


def plan_tf1_to_hf(
    variables: dict[str, tuple[list[int], Any]], config: BertConfig, source: str
) -> tuple[dict[str, TensorName], int | None]:
    """Matches the checkpoint's names with the model's, or raises one error listing them.

    Returns:
      (mapped, num_labels): checkpoint name -> its tensor, and the
      classifier's number of labels (None without a classifier).
    """
    num_labels = None
    for name in ("output_weights", "output_bias"):
        if name in variables and variables[name][0]:
            num_labels = int(variables[name][0][0])
            break
    by_tf1 = {name.tf1: name for name in tensor_names(config, num_labels)}
    mapped, unknown, misshapen, not_float = {}, [], [], []
    for entry, (shape, dtype) in sorted(variables.items()):
        if is_optimizer_entry(entry):
            continue
        name = by_tf1.get(entry)
        if name is None:
            unknown.append(entry)
            continue
        mapped[entry] = name
        if tuple(shape) != name.shape:
            misshapen.append(_shape_problem(entry, shape, name.shape))
        if not dtype.is_floating:
            not_float.append(f"{entry} is {dtype.name}")
    present = {name.group for name in mapped.values()}
    required = required_groups(present)
    missing = [n.tf1 for n in by_tf1.values() if n.group in required and n.tf1 not in mapped]
    _raise_problems(
        f"checkpoint {source}",
        {
            "unknown variables (not in a BERT of --bert_config_file)": unknown,
            "missing variables": missing,
            "variables with a wrong shape": misshapen,
            "variables that are not floats": not_float,
        },
    )
    return mapped, num_labels
