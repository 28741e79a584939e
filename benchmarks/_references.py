"""The references the model benchmarks time ours against: keras-hub's BERT and Keras' AdamW.

keras-hub is optional (`pip install -e ".[bench]"`); `keras_hub_backbone` raises
ImportError without it, and the scripts then time our side only.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import _benchpath
import keras
import tensorflow as tf

from official_bert.modeling import BertConfig

BERT_BASE_CONFIG = os.path.join(
    _benchpath.ROOT, "configs", "uncased_L-12_H-768_A-12", "bert_config.json"
)


def bert_base_config(**overrides) -> BertConfig:
    """The released BERT-Base config, with `overrides` (e.g. num_hidden_layers)."""
    config = BertConfig.from_json_file(BERT_BASE_CONFIG).to_dict()
    config.update(overrides)
    return BertConfig.from_dict(config)


def keras_hub_backbone(config: BertConfig):
    """keras-hub's `BertBackbone` with the same shapes and dropout as `config`."""
    import keras_hub  # optional: the `bench` extra

    return keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size,
    )


def keras_hub_features(batch: dict, **extra) -> dict[str, tf.Tensor]:
    """keras-hub's input names for a batch in the original's feature names."""
    features = {
        "token_ids": tf.constant(batch["input_ids"]),
        "segment_ids": tf.constant(batch["segment_ids"]),
        "padding_mask": tf.constant(batch["input_mask"]),
    }
    features.update({k: tf.constant(v) for k, v in extra.items()})
    return features


def keras_train_step(
    model: keras.Model, loss_of: Callable[[], tf.Tensor], learning_rate: float, jit: bool
) -> Callable[[], float]:
    """One step of Keras `AdamW` (BERT's decay, epsilon and clip) on `loss_of()`."""
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0
    )
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_of()
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: float(train_step().numpy())
