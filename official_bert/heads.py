"""Pretraining heads of BERT: masked LM and next sentence prediction.

Names and math follow `get_masked_lm_output`, `get_next_sentence_output` and
`gather_indexes` of the original run_pretraining.py, so the variables are
`cls/predictions/transform/dense/kernel`, `cls/predictions/output_bias`,
`cls/seq_relationship/output_weights`, ... Log-probabilities and losses are
float32 whatever the compute dtype. `official_bert.models` puts these heads
(and the classifier of run_classifier.py) on top of `BertModel`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from official_bert.layers import DenseBlock, create_initializer, get_shape_list
from official_bert.modeling import BertConfig

# Denominator guard of the masked LM loss: a batch whose predictions are all
# padding (weights 0) gets loss 0 rather than 0/0.
MASKED_LM_LOSS_EPSILON = 1e-5

# Labels of the next sentence task: 0 "is next", 1 "random sentence".
NUM_NEXT_SENTENCE_LABELS = 2


def gather_indexes(sequence_tensor: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Gathers the vectors at `positions` of each sequence of the batch.

    Args:
      sequence_tensor: float Tensor of shape [batch_size, seq_length, width].
      positions: int32 Tensor of shape [batch_size, num_positions].

    Returns:
      float Tensor of shape [batch_size * num_positions, width].
    """
    batch_size, seq_length, width = get_shape_list(sequence_tensor)
    flat_offsets = tf.reshape(tf.range(batch_size, dtype=positions.dtype) * seq_length, [-1, 1])
    flat_positions = tf.reshape(positions + flat_offsets, [-1])  # [B*P]
    flat_sequence = tf.reshape(sequence_tensor, [-1, width])  # [B*S, width]
    return tf.gather(flat_sequence, flat_positions)


def weighted_cross_entropy(
    log_probs: tf.Tensor, label_ids: tf.Tensor, depth: int, label_weights: tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """The original's losses: -sum(one_hot * log_probs), then a (weighted) mean.

    Args:
      log_probs: float32 Tensor of shape [n, depth].
      label_ids: int Tensor with n elements (any shape).
      depth: number of classes.
      label_weights: optional float Tensor with n elements. With weights the
        loss is sum(w * loss) / (sum(w) + 1e-5) (masked LM); without, the mean.

    Returns:
      (loss, per_example_loss): a float32 scalar and a float32 Tensor [n].
    """
    one_hot = tf.one_hot(tf.reshape(label_ids, [-1]), depth=depth, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(log_probs * one_hot, axis=-1)
    if label_weights is None:
        return tf.reduce_mean(per_example_loss), per_example_loss
    weights = tf.cast(tf.reshape(label_weights, [-1]), tf.float32)
    numerator = tf.reduce_sum(weights * per_example_loss)
    denominator = tf.reduce_sum(weights) + MASKED_LM_LOSS_EPSILON
    return numerator / denominator, per_example_loss


class _ConfigLayer(keras.layers.Layer):
    """A layer made from a BertConfig, which `get_config` / `from_config` carry as a dict."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def get_config(self) -> dict:
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> _ConfigLayer:
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="official_bert")
class MaskedLMHead(_ConfigLayer):
    """Masked LM head (scope `predictions`): transform, then tied output embeddings.

    Variables: `transform/dense/{kernel,bias}`, `transform/LayerNorm/{gamma,beta}`
    and `output_bias` [vocab_size]. The output weights are the word embedding
    table, passed to `call`.
    """

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.transform = DenseBlock(
            config.hidden_size,
            activation=config.hidden_act,
            use_layer_norm=True,
            initializer_range=config.initializer_range,
            dtype=self.dtype_policy,
            name="transform",
        )

    def build(self, input_shape=None):
        self.transform.build((None, self.config.hidden_size))
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.config.vocab_size,), initializer="zeros"
        )

    def call(
        self, sequence_output: tf.Tensor, positions: tf.Tensor, embedding_table: tf.Tensor
    ) -> tf.Tensor:
        """Log-probabilities of the vocabulary at the masked positions.

        Args:
          sequence_output: float Tensor [batch_size, seq_length, hidden_size].
          positions: int32 Tensor [batch_size, max_predictions_per_seq].
          embedding_table: float Tensor [vocab_size, hidden_size].

        Returns:
          float32 Tensor [batch_size * max_predictions_per_seq, vocab_size].
        """
        x = gather_indexes(sequence_output, positions)  # [B*P, hidden]
        x = self.transform(x)
        table = tf.cast(embedding_table, x.dtype)
        logits = tf.matmul(x, table, transpose_b=True)  # [B*P, vocab]
        logits = tf.nn.bias_add(logits, tf.cast(self.output_bias, x.dtype))
        return tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)


@keras.saving.register_keras_serializable(package="official_bert")
class NextSentenceHead(_ConfigLayer):
    """Next sentence head (scope `seq_relationship`): `output_weights` [2, hidden], `output_bias` [2]."""

    def build(self, input_shape=None):
        self.output_weights = self.add_weight(
            name="output_weights",
            shape=(NUM_NEXT_SENTENCE_LABELS, self.config.hidden_size),
            initializer=create_initializer(self.config.initializer_range),
        )
        self.output_bias = self.add_weight(
            name="output_bias", shape=(NUM_NEXT_SENTENCE_LABELS,), initializer="zeros"
        )

    def call(self, pooled_output: tf.Tensor) -> tf.Tensor:
        """float Tensor [batch_size, hidden] -> float32 log-probs [batch_size, 2]."""
        weights = tf.cast(self.output_weights, pooled_output.dtype)
        logits = tf.matmul(pooled_output, weights, transpose_b=True)
        logits = tf.nn.bias_add(logits, tf.cast(self.output_bias, pooled_output.dtype))
        return tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)


@keras.saving.register_keras_serializable(package="official_bert")
class PretrainingHeads(_ConfigLayer):
    """The `cls` scope: `predictions` (masked LM) and `seq_relationship` (next sentence).

    Builds its variables at construction, so their paths are `cls/...`.
    """

    def __init__(self, config: BertConfig, name: str = "cls", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.predictions = MaskedLMHead(config, dtype=self.dtype_policy, name="predictions")
        self.seq_relationship = NextSentenceHead(
            config, dtype=self.dtype_policy, name="seq_relationship"
        )
        self.build()

    def build(self, input_shape=None):
        self.predictions.build()
        self.seq_relationship.build()

    def call(
        self,
        sequence_output: tf.Tensor,
        pooled_output: tf.Tensor,
        masked_lm_positions: tf.Tensor,
        embedding_table: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Log-probabilities of both pretraining tasks.

        Args:
          sequence_output: float Tensor [batch_size, seq_length, hidden_size].
          pooled_output: float Tensor [batch_size, hidden_size].
          masked_lm_positions: int32 Tensor [batch_size, max_predictions_per_seq].
          embedding_table: float Tensor [vocab_size, hidden_size], the word
            embeddings (the masked LM's output weights).

        Returns:
          (masked_lm_log_probs, next_sentence_log_probs): float32 Tensors
          [batch_size * max_predictions_per_seq, vocab_size] and [batch_size, 2].
        """
        masked_lm_log_probs = self.predictions(
            sequence_output, masked_lm_positions, embedding_table
        )
        next_sentence_log_probs = self.seq_relationship(pooled_output)
        return masked_lm_log_probs, next_sentence_log_probs
