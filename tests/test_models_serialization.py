"""`model.save("x.keras")` and `keras.saving.load_model` for the project's models and layers.

No `custom_objects`: the models and their layers are registered as
`official_bert>NAME`, and `get_config` / `from_config` rebuild the same
variables under the same paths, so the weights come back bit for bit.
"""

import keras
import numpy as np
import pytest

from official_bert import embeddings, heads, layers, transformer
from official_bert.modeling import BertConfig, BertModel
from official_bert.models import BertClassifier, BertPretrainer

# Keras' weight writer calls np.array() on TF variables, which numpy 2 warns about
# once per variable; nothing of this project is involved.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

CONFIG = BertConfig(
    vocab_size=30,
    hidden_size=8,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=12,
    max_position_embeddings=16,
    type_vocab_size=2,
)
BATCH, SEQ, PREDICTIONS = 3, 6, 2

MODELS = {
    "bert": lambda: BertModel(CONFIG),
    "bert_jit_compile": lambda: BertModel(CONFIG, jit_compile=True),
    "pretrainer": lambda: BertPretrainer(CONFIG),
    "pretrainer_mixed_float16": lambda: BertPretrainer(CONFIG, dtype="mixed_float16"),
    "classifier": lambda: BertClassifier(CONFIG, num_labels=3, dropout_prob=0.2),
    "classifier_one_hot": lambda: BertClassifier(CONFIG, num_labels=2, use_one_hot_embeddings=True),
}


def features():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, CONFIG.vocab_size, [BATCH, SEQ], dtype=np.int32)
    mask = np.ones([BATCH, SEQ], np.int32)
    mask[0, 4:] = 0
    return {
        "input_ids": ids,
        "input_mask": mask,
        "segment_ids": rng.integers(0, 2, [BATCH, SEQ], dtype=np.int32),
        "masked_lm_positions": rng.integers(0, SEQ, [BATCH, PREDICTIONS], dtype=np.int32),
        "masked_lm_ids": rng.integers(0, CONFIG.vocab_size, [BATCH, PREDICTIONS], dtype=np.int32),
        "masked_lm_weights": np.ones([BATCH, PREDICTIONS], np.float32),
        "next_sentence_labels": rng.integers(0, 2, [BATCH, 1], dtype=np.int32),
        "label_ids": rng.integers(0, 2, [BATCH], dtype=np.int32),
    }


def run(model):
    """The model's outputs (eval mode) as a flat dict of numpy arrays."""
    f = features()
    if isinstance(model, BertModel):
        out = model(f["input_ids"], f["input_mask"], f["segment_ids"])
        layers_out = out.pop("all_encoder_layers")
        out.update({f"all_encoder_layers/{i}": x for i, x in enumerate(layers_out)})
    else:
        out = model(f)
    return {key: np.asarray(value) for key, value in out.items()}


def by_path(model):
    return {v.path: (v.dtype, v.numpy()) for v in model.weights}


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_saved_model_loads_without_custom_objects_with_identical_weights(tmp_path, make):
    model = make()
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)

    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert loaded.dtype_policy.name == model.dtype_policy.name
    expected, actual = by_path(model), by_path(loaded)
    assert list(actual) == list(expected)
    for name, (dtype, value) in expected.items():
        assert actual[name][0] == dtype, name
        np.testing.assert_array_equal(actual[name][1], value, err_msg=name)
    expected_out, actual_out = run(model), run(loaded)
    assert sorted(actual_out) == sorted(expected_out)
    for key, value in expected_out.items():
        np.testing.assert_array_equal(actual_out[key], value, err_msg=key)


def test_loaded_weights_are_the_saved_ones_not_a_fresh_initialisation(tmp_path):
    model = BertClassifier(CONFIG, num_labels=3)
    path = str(tmp_path / "model.keras")
    model.save(path)
    fresh = BertClassifier(CONFIG, num_labels=3)
    assert not np.array_equal(fresh.output_weights.numpy(), model.output_weights.numpy())
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.output_weights.numpy(), model.output_weights.numpy())
    assert loaded.dropout_prob == model.dropout_prob == 0.1


LAYERS = {
    "LayerNorm": lambda: layers.LayerNorm(name="LayerNorm"),
    "DenseBlock": lambda: layers.DenseBlock(
        8, activation="gelu", use_layer_norm=True, dropout_rate=0.1, name="output"
    ),
    "BertEmbeddings": lambda: embeddings.BertEmbeddings(30, 8, 2, 16, 0.1, name="embeddings"),
    "BertSelfAttention": lambda: transformer.BertSelfAttention(2, 4, 0.1, name="self"),
    "BertAttention": lambda: transformer.BertAttention(8, 2, 0.1, 0.1, name="attention"),
    "TransformerLayer": lambda: transformer.TransformerLayer(8, 2, 12, name="layer_0"),
    "BertEncoder": lambda: transformer.BertEncoder(8, 2, 2, 12, name="encoder"),
    "MaskedLMHead": lambda: heads.MaskedLMHead(CONFIG, name="predictions"),
    "NextSentenceHead": lambda: heads.NextSentenceHead(CONFIG, name="seq_relationship"),
    "PretrainingHeads": lambda: heads.PretrainingHeads(CONFIG),
}


def build(layer):
    if not layer.built:
        if isinstance(layer, (layers.LayerNorm, layers.DenseBlock, transformer.BertSelfAttention)):
            layer.build((None, 4 if isinstance(layer, layers.DenseBlock) else 8))
        else:
            layer.build()
    return layer


@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_layers_are_registered_and_rebuild_the_same_variable_paths(make):
    layer = build(make())
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"official_bert>{type(layer).__name__}"
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(layer) and again.built
    assert again.get_config() == layer.get_config()
    assert [(v.path, tuple(v.shape)) for v in again.weights] == [
        (v.path, tuple(v.shape)) for v in layer.weights
    ]
    assert layer.weights  # every layer here holds variables
