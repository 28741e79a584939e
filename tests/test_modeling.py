"""Tests of BertConfig, BertModel and the heads against the original's numbers.

The golden values (tests/golden/tiny_bert) come from the original TF1 code run
with is_training=False on a 2-layer, hidden-32 BERT.
"""

import contextlib
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from official_bert import heads, layers, models
from official_bert.errors import InputError, MissingFileError
from official_bert.heads import gather_indexes
from official_bert.modeling import BertConfig, BertModel, check_max_seq_length
from official_bert.models import BertClassifier, BertPretrainer

TINY = os.path.join(os.path.dirname(__file__), "golden", "tiny_bert")
CONFIG_FILE = os.path.join(TINY, "bert_config.json")
RELEASED = os.path.join(TINY, "released", "bert_model.ckpt")


@pytest.fixture(scope="module")
def golden():
    return dict(np.load(os.path.join(TINY, "model_golden.npz")))


@pytest.fixture(scope="module")
def config():
    return BertConfig.from_json_file(CONFIG_FILE)


@pytest.fixture(scope="module")
def features(golden):
    return {k[len("inputs/") :]: v for k, v in golden.items() if k.startswith("inputs/")}


def load_released(model):
    reader = tf.train.load_checkpoint(RELEASED)
    for v in model.weights:
        v.assign(reader.get_tensor(v.path))
    return model


@pytest.fixture(scope="module")
def released_pretrainer(config):
    return load_released(BertPretrainer(config))


def write_config(directory, **overrides):
    """Writes the tiny config with `overrides` to DIRECTORY/bert_config.json; returns its path."""
    with open(CONFIG_FILE) as f:
        values = {**json.load(f), **overrides}
    path = os.path.join(str(directory), "bert_config.json")
    with open(path, "w") as f:
        json.dump(values, f)
    return path


def assert_close(actual, expected, what, rtol=1e-5):
    expected = np.asarray(expected)
    # atol scales with the tensor: values that are ~0 in both are noise.
    atol = 1e-5 * float(np.abs(expected).max()) + 1e-9
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol, err_msg=what)


# ----------------------------------------------------------------- BertConfig


def test_config_reads_the_original_json_keys(config):
    with open(CONFIG_FILE) as f:
        assert config.to_dict() == json.load(f)
    assert config.hidden_size == 32 and config.num_hidden_layers == 2


def test_config_round_trips_json_with_extra_keys():
    config = BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, pooler_type="x")
    again = BertConfig.from_dict(json.loads(config.to_json_string()))
    assert again == config and again.pooler_type == "x"
    assert config.to_json_string().endswith("}\n")


def test_config_of_the_originals_test_is_accepted_until_a_model_is_built():
    config = BertConfig(vocab_size=99, hidden_size=37)  # 37 is not a multiple of 12 heads
    again = BertConfig.from_dict(json.loads(config.to_json_string()))
    assert again == config and again.hidden_size == 37
    with pytest.raises(InputError, match=r"hidden size \(37\).*attention heads \(12\)"):
        BertModel(again)


def test_heads_not_dividing_hidden_size_name_both_numbers_and_the_file(tmp_path):
    path = write_config(tmp_path, hidden_size=30, num_attention_heads=4)
    config = BertConfig.from_json_file(path)  # reading is fine: the check is the model's
    assert config.source_file == path
    with pytest.raises(InputError, match=r"hidden size \(30\).*attention heads \(4\)") as error:
        BertPretrainer(config)
    assert path in str(error.value)


def test_source_file_is_not_written_back(tmp_path):
    path = write_config(tmp_path)
    config = BertConfig.from_json_file(path)
    assert "source" not in config.to_json_string() and path not in config.to_json_string()
    with open(CONFIG_FILE) as f:
        assert config.to_dict() == json.load(f)
    assert BertModel(config).config.source_file == path  # kept by the model's copy


def test_config_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(MissingFileError, match="nope.json"):
        BertConfig.from_json_file(missing)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"vocab_size"', ""])
def test_config_file_that_is_not_a_json_object_is_named(tmp_path, text):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(InputError, match="bad.json"):
        BertConfig.from_json_file(str(bad))


@pytest.mark.parametrize(
    "key, value",
    [
        ("hidden_size", "32"),
        ("hidden_size", 2.5),
        ("hidden_size", 32.0),
        ("hidden_size", True),
        ("hidden_size", None),
        ("num_hidden_layers", -1),
        ("num_hidden_layers", 0),
        ("vocab_size", -5),
        ("num_attention_heads", 0),
        ("intermediate_size", "37"),
        ("max_position_embeddings", 0),
        ("type_vocab_size", -2),
        ("hidden_dropout_prob", 1.0),
        ("hidden_dropout_prob", -0.1),
        ("attention_probs_dropout_prob", "0.1"),
        ("attention_probs_dropout_prob", 1.5),
        ("initializer_range", 0),
        ("initializer_range", "0.02"),
        ("hidden_act", "swish"),
        ("hidden_act", 3),
    ],
)
def test_config_file_value_of_wrong_type_or_range_names_key_and_file(tmp_path, key, value):
    path = write_config(tmp_path, **{key: value})
    with pytest.raises(InputError, match=f"`{key}`") as error:
        BertConfig.from_json_file(path)
    assert path in str(error.value) and repr(value) in str(error.value)


@pytest.mark.parametrize("key, value", [("hidden_act", "RELU"), ("hidden_act", "linear")])
def test_config_file_accepts_the_originals_activation_names(tmp_path, key, value):
    assert BertConfig.from_json_file(write_config(tmp_path, **{key: value})).hidden_act == value


def test_config_file_missing_a_key_uses_the_default_with_a_warning(tmp_path, caplog):
    with open(CONFIG_FILE) as f:
        values = json.load(f)
    del values["num_hidden_layers"]
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(values))
    with caplog.at_level("WARNING"):
        config = BertConfig.from_json_file(str(path))
    assert config.num_hidden_layers == 12
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "num_hidden_layers" in warnings[0] and "12" in warnings[0] and str(path) in warnings[0]


def test_config_file_without_vocab_size_is_refused(tmp_path):
    with open(CONFIG_FILE) as f:
        values = json.load(f)
    del values["vocab_size"]
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(
        InputError, match=r"`vocab_size`.*bert_config.json|bert_config.json.*`vocab_size`"
    ):
        BertConfig.from_json_file(str(path))


def test_config_built_in_python_is_checked_when_a_model_is_built():
    config = BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, hidden_act="swish")
    with pytest.raises(InputError, match="`hidden_act`.*swish"):
        BertModel(config)
    config = BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, num_hidden_layers=-1)
    with pytest.raises(InputError, match="`num_hidden_layers`"):
        BertClassifier(config, num_labels=2)


def test_check_max_seq_length_names_flag_numbers_and_file(config):
    check_max_seq_length(config, 64)  # max_position_embeddings is 64
    with pytest.raises(InputError) as error:
        check_max_seq_length(config, 65)
    message = str(error.value)
    assert "--max_seq_length=65" in message and "64" in message and CONFIG_FILE in message
    with pytest.raises(InputError, match=r"--seq=70.*other.json"):
        check_max_seq_length(config, 70, config_file="other.json", flag="--seq")


# ----------------------------------------------------------------- numerics


def test_activation_names_map_to_the_originals():
    x = tf.constant([-2.0, -0.5, 0.0, 1.5])
    assert layers.get_activation("linear") is None and layers.get_activation("") is None
    np.testing.assert_allclose(layers.get_activation("RELU")(x), [0, 0, 0, 1.5])
    np.testing.assert_allclose(layers.get_activation("tanh")(x), np.tanh(x), rtol=1e-6)
    xs = x.numpy()
    tanh_gelu = 0.5 * xs * (1 + np.tanh(np.sqrt(2 / np.pi) * (xs + 0.044715 * xs**3)))
    gelu = layers.get_activation("gelu")(x).numpy()
    np.testing.assert_allclose(gelu, tanh_gelu, rtol=1e-5)
    exact_gelu = 1.5 * 0.9331927987311419  # x * Phi(x) at x = 1.5: not what BERT uses
    assert abs(gelu[3] - exact_gelu) > 1e-4


@pytest.mark.parametrize(
    "scope", ["plain", "xla_compiled", "xla_elementwise"], ids=lambda scope: scope
)
def test_gelu_and_its_gradient_are_those_of_the_originals_pow_formula(scope):
    """Where XLA compiles it, layers.gelu cubes by multiplies (XLA runs pow's
    gradient slowly): values and gradients within float32 rounding of
    TensorFlow's for the original's formula; elsewhere exactly them."""

    def original(x):
        return x * (0.5 * (1.0 + tf.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * tf.pow(x, 3)))))

    x = tf.random.stateless_normal([4096], seed=[3, 4]) * 3.0
    dy = tf.random.stateless_normal([4096], seed=[5, 6])
    context = {
        "plain": contextlib.nullcontext,
        "xla_compiled": layers.xla_compiled,
        "xla_elementwise": layers.xla_elementwise,
    }[scope]

    def value_and_grad(fn):
        def f(x, dy):
            with context(), tf.GradientTape() as tape:
                tape.watch(x)
                y = fn(x)
            return y, tape.gradient(y, x, output_gradients=dy)

        return tf.function(f, jit_compile=scope != "plain")(x, dy)

    y, dx = value_and_grad(layers.gelu)
    y_ref, dx_ref = value_and_grad(original)
    if scope == "plain":
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
        np.testing.assert_array_equal(dx.numpy(), dx_ref.numpy())
    else:
        np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(dx.numpy(), dx_ref.numpy(), rtol=1e-5, atol=1e-6)


def test_layer_norm_uses_epsilon_1e_12_over_last_axis():
    ln = layers.LayerNorm(name="LayerNorm")  # named: auto names depend on earlier tests
    # Variance 5e-11: epsilon 1e-12 barely matters, Keras' default 1e-3 would
    # shrink the output ~4000 times.
    x = np.array([[0.0, 1e-5, -1e-5, 0.0], [1.0, 2.0, 3.0, 6.0]], np.float32)
    y = ln(x).numpy()
    x64 = x.astype(np.float64)
    mean, var = x64.mean(-1, keepdims=True), x64.var(-1, keepdims=True)
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-12), rtol=1e-5, atol=1e-6)
    assert [w.path for w in ln.weights] == ["LayerNorm/beta", "LayerNorm/gamma"]


def test_attention_mask_adds_minus_10000_to_padding():
    adder = layers.attention_mask_adder(tf.constant([[1, 1, 0]]), tf.float32)
    assert adder.shape == (1, 1, 1, 3)
    np.testing.assert_array_equal(adder.numpy().ravel(), [0.0, 0.0, -10000.0])


def test_new_model_initialises_like_the_original():
    config = BertConfig(vocab_size=50, hidden_size=64, num_attention_heads=4, num_hidden_layers=1)
    model = BertPretrainer(config)
    for v in model.weights:
        value = v.numpy()
        if v.path.endswith(("bias", "beta")):
            assert not value.any(), v.path
        elif v.path.endswith("gamma"):
            assert (value == 1).all(), v.path
        else:  # truncated normal, stddev 0.02, cut at 2 stddevs
            assert np.abs(value).max() <= 0.04 + 1e-6, v.path
            assert 0.012 < value.std() < 0.024, v.path


# ----------------------------------------------------------------- variables


def test_pretrainer_variables_are_the_released_checkpoint_list(config):
    model = BertPretrainer(config)
    reader = tf.train.load_checkpoint(RELEASED)
    expected = {k: list(s) for k, s in reader.get_variable_to_shape_map().items()}
    actual = {v.path: list(v.shape) for v in model.weights}
    assert actual == expected
    assert all(v.dtype == "float32" for v in model.weights)


def test_classifier_adds_top_level_output_weights_and_bias(config):
    model = BertClassifier(config, num_labels=3)
    extra = {v.path: list(v.shape) for v in model.weights if not v.path.startswith("bert/")}
    assert extra == {"output_weights": [3, 32], "output_bias": [3]}
    assert len(model.trainable_variables) == 41


def test_paths_stay_clean_when_called_in_tf_function_and_inside_a_model(config, features):
    class Wrapper(keras.Model):  # builds nothing itself; calls the pretrainer in `call`
        def __init__(self):
            super().__init__(name="wrapper")
            self.inner = BertPretrainer(config)

        def call(self, f):
            return self.inner(f)

    wrapper = Wrapper()
    before = [v.path for v in wrapper.weights]
    tf.function(lambda f: wrapper(f))(features)
    wrapper(features)
    assert [v.path for v in wrapper.weights] == before
    assert all(p.startswith(("bert/", "cls/")) for p in before)


# ----------------------------------------------------------------- forward


def test_forward_reproduces_the_original(released_pretrainer, features, golden):
    bert_out = released_pretrainer.bert(
        features["input_ids"], features["input_mask"], features["segment_ids"]
    )
    for key in ("embedding_output", "sequence_output", "pooled_output"):
        assert_close(bert_out[key], golden[f"pretrain/forward/{key}"], key)
    for i, layer in enumerate(bert_out["all_encoder_layers"]):
        assert_close(layer, golden[f"pretrain/forward/all_encoder_layers/{i}"], f"layer {i}")
    out = released_pretrainer(features)
    keys = [k for k in golden if k.startswith("pretrain/forward/") and "/all_encoder" not in k]
    for key in keys:
        name = key[len("pretrain/forward/") :]
        if name in out:
            assert_close(out[name], golden[key], name)
    assert set(out) <= {k[len("pretrain/forward/") :] for k in keys}


def test_gradients_reproduce_the_original(released_pretrainer, features, golden):
    variables = released_pretrainer.trainable_variables
    with tf.GradientTape() as tape:
        loss = released_pretrainer(features)["total_loss"]
    grads = tape.gradient(loss, variables)
    assert len(variables) == len([k for k in golden if k.startswith("pretrain/grad/")])
    for v, g in zip(variables, grads):
        assert_close(tf.convert_to_tensor(g), golden[f"pretrain/grad/{v.path}"], v.path)


def test_xla_compiled_model_reproduces_the_original(config, features, golden):
    model = load_released(BertPretrainer(config, jit_compile=True))
    with tf.GradientTape() as tape:
        out = model(features)
    assert_close(out["total_loss"], golden["pretrain/forward/total_loss"], "total_loss")
    assert_close(out["masked_lm_log_probs"], golden["pretrain/forward/masked_lm_log_probs"], "lm")
    variables = model.trainable_variables
    grads = tape.gradient(out["total_loss"], variables)
    for v, g in zip(variables, grads):
        assert_close(tf.convert_to_tensor(g), golden[f"pretrain/grad/{v.path}"], v.path)
    bert = BertModel(config, jit_compile=True)
    assert [v.path for v in bert.weights] == [v.path for v in model.bert.weights]


def test_classifier_forward_reproduces_the_original(config, features, golden):
    model = BertClassifier(config, num_labels=3)
    for v in model.weights:
        v.assign(golden[f"classifier/init/{v.path}"])
    out = model(features)
    for key in ("logits", "probabilities", "per_example_loss", "loss"):
        assert_close(out[key], golden[f"classifier/forward/{key}"], key)
    assert "loss" not in model({k: v for k, v in features.items() if k != "label_ids"})


def test_default_mask_is_all_ones_and_default_type_ids_zero(released_pretrainer, features):
    bert = released_pretrainer.bert
    ids = features["input_ids"]
    default = bert(ids)["sequence_output"]
    explicit = bert(ids, tf.ones_like(ids), tf.zeros_like(ids))["sequence_output"]
    np.testing.assert_array_equal(default, explicit)


def test_one_hot_word_embeddings_match_gather(config, released_pretrainer, features):
    one_hot = BertModel(config, use_one_hot_embeddings=True)
    for a, b in zip(one_hot.weights, released_pretrainer.bert.weights):
        a.assign(b)
    ids, mask = features["input_ids"], features["input_mask"]
    assert_close(
        one_hot(ids, mask)["sequence_output"],
        released_pretrainer.bert(ids, mask)["sequence_output"],
        "one-hot",
    )


def test_sequence_longer_than_max_position_embeddings_raises(released_pretrainer):
    too_long = np.zeros([1, 65], np.int32)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        released_pretrainer.bert(too_long)
    dynamic = tf.function(
        lambda ids: released_pretrainer.bert(ids)["pooled_output"],
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    assert dynamic(np.zeros([2, 64], np.int32)).shape == (2, 32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        dynamic(too_long)


def test_dropout_only_when_training(released_pretrainer, features):
    bert = released_pretrainer.bert
    ids = features["input_ids"]
    eval_a = bert(ids, training=False)["sequence_output"]
    eval_b = bert(ids)["sequence_output"]
    train = bert(ids, training=True)["sequence_output"]
    np.testing.assert_array_equal(eval_a, eval_b)
    assert not np.allclose(eval_a, train)


def test_dropout_keeps_no_seed_state(released_pretrainer):
    # keras.layers.Dropout would add a `seed_generator_state` per layer to
    # `.variables` (not to `.weights`), and so to every checkpoint.
    variables = [v.path for v in released_pretrainer.variables]
    assert variables == [v.path for v in released_pretrainer.weights]
    assert not [p for p in variables if "seed" in p]


NUMPY_ACTIVATIONS = {
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "linear": lambda x: x,
    # Hugging Face's `gelu`, the exact erf form (official_bert.layers.gelu_exact).
    "gelu_exact": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2.0))),
}


@pytest.mark.parametrize("act", sorted(NUMPY_ACTIVATIONS))
def test_hidden_act_is_applied_in_feed_forward_and_masked_lm_transform(act):
    config = BertConfig(
        vocab_size=20, hidden_size=8, num_attention_heads=2, num_hidden_layers=1,
        intermediate_size=12, hidden_act=act, max_position_embeddings=8,
    )  # fmt: skip
    model = BertPretrainer(config)
    x = np.random.default_rng(0).standard_normal([6, 8]).astype(np.float32) * 20
    for block in (
        model.bert.encoder.transformer_layers[0].intermediate,
        model.cls.predictions.transform,
    ):
        kernel, bias = block.dense.kernel.numpy(), block.dense.bias.numpy()
        expected = NUMPY_ACTIVATIONS[act](x.astype(np.float64) @ kernel + bias)
        if block.layer_norm is not None:  # the transform normalises after the activation
            mean, var = expected.mean(-1, keepdims=True), expected.var(-1, keepdims=True)
            expected = (expected - mean) / np.sqrt(var + 1e-12)
        assert_close(block(x), expected, f"{act} in {block.path}", rtol=1e-4)
    out = model.bert(np.ones([2, 5], np.int32))
    assert out["sequence_output"].shape == (2, 5, 8)


def test_get_shape_list_builds_a_shape_op_only_for_unknown_dimensions():
    def trace(signature):
        graph = tf.function(lambda x: tf.constant(0)).get_concrete_function(signature).graph
        with graph.as_default():
            shape = layers.get_shape_list(graph.inputs[0])
        return shape, [op.type for op in graph.get_operations()]

    shape, ops = trace(tf.TensorSpec([2, 3], tf.float32))
    assert shape == [2, 3] and "Shape" not in ops
    shape, ops = trace(tf.TensorSpec([None, 3], tf.float32))
    assert isinstance(shape[0], tf.Tensor) and shape[1] == 3 and ops.count("Shape") == 1


# ----------------------------------------------------------------- heads


def test_gather_indexes_picks_positions_per_sequence():
    seq = tf.reshape(tf.range(2 * 4 * 3, dtype=tf.float32), [2, 4, 3])
    got = gather_indexes(seq, tf.constant([[0, 3], [1, 1]]))
    np.testing.assert_array_equal(got, tf.gather(tf.reshape(seq, [8, 3]), [0, 3, 5, 5]))


def test_masked_lm_loss_of_all_padding_is_zero():
    log_probs = tf.math.log(tf.fill([2, 5], 0.2))
    loss, per_example = heads.weighted_cross_entropy(log_probs, [1, 2], 5, [0.0, 0.0])
    assert float(loss) == 0.0 and per_example.shape == (2,)
    loss, _ = heads.weighted_cross_entropy(log_probs, [1, 2], 5, [1.0, 0.0])
    np.testing.assert_allclose(float(loss), -np.log(0.2) / (1 + 1e-5), rtol=1e-6)


def test_pretraining_heads_are_callable_and_give_both_log_probs(released_pretrainer, features):
    model = released_pretrainer
    bert_out = model.bert(features["input_ids"], features["input_mask"], features["segment_ids"])
    positions = features["masked_lm_positions"]
    mlm, nsp = model.cls(
        bert_out["sequence_output"],
        bert_out["pooled_output"],
        positions,
        model.bert.embedding_table,
    )
    out = model(features)
    np.testing.assert_array_equal(mlm, out["masked_lm_log_probs"])
    np.testing.assert_array_equal(nsp, out["next_sentence_log_probs"])
    assert mlm.shape == (positions.size, model.config.vocab_size) and nsp.shape == (
        len(positions),
        2,
    )


def test_classifier_dropout_prob_is_an_argument_defaulting_to_the_originals(config, features):
    assert BertClassifier(config, 3).dropout_prob == models.CLASSIFIER_DROPOUT_PROB == 0.1
    # No dropout in the encoder: only the classifier's can change the logits.
    values = {**config.to_dict(), "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model = BertClassifier(BertConfig.from_dict(values), 3, dropout_prob=0.0)
    np.testing.assert_array_equal(
        model(features, training=True)["logits"], model(features, training=False)["logits"]
    )
    model.dropout_prob = 0.5
    assert not np.allclose(
        model(features, training=True)["logits"], model(features, training=False)["logits"]
    )
    with pytest.raises(InputError, match="dropout_prob"):
        BertClassifier(config, 3, dropout_prob=1.0)


def test_classifier_default_dropout_follows_the_module_constant(config, monkeypatch):
    monkeypatch.setattr(models, "CLASSIFIER_DROPOUT_PROB", 0.0)
    assert BertClassifier(config, 3).dropout_prob == 0.0


def test_mixed_precision_keeps_float32_variables_and_losses(config, features):
    model = BertPretrainer(config, dtype="mixed_float16")
    assert all(v.dtype == "float32" for v in model.weights)
    out = model(features)
    assert out["total_loss"].dtype == tf.float32
    assert out["masked_lm_log_probs"].dtype == tf.float32
    assert model.bert(features["input_ids"])["sequence_output"].dtype == tf.float16


def test_models_rebuild_from_get_config(config):
    for model in (BertModel(config), BertPretrainer(config), BertClassifier(config, 3)):
        again = type(model).from_config(model.get_config())
        assert [(v.path, v.shape) for v in again.weights] == [
            (v.path, v.shape) for v in model.weights
        ]
        assert again.get_config() == model.get_config()
