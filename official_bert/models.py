"""The models that are trained: BERT with the pretraining heads, and the classifier.

`BertPretrainer` is run_pretraining.py's model (BertModel + masked LM + next
sentence) and `BertClassifier` is run_classifier.py's `create_model`
(BertModel + softmax on the pooled output, with the top-level
`output_weights` / `output_bias`). Both are Keras models for a custom training
loop (`tf.GradientTape` + `optimizer.apply_gradients`): call them on a dict of
the original's feature names; they return the losses, per-example losses and
log-probabilities (float32). Their variables are created at construction, so
every path is the checkpoint name, with no prefix of the wrapping model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from official_bert.errors import InputError
from official_bert.heads import NUM_NEXT_SENTENCE_LABELS, PretrainingHeads, weighted_cross_entropy
from official_bert.layers import DEFAULT_INITIALIZER_RANGE, create_initializer, dropout
from official_bert.modeling import BertBase, BertConfig, BertModel

# Dropout on the pooled output in run_classifier.create_model ("0.1 dropout"),
# fixed there and not taken from the config: the default of
# `BertClassifier(dropout_prob=None)`, read when the classifier is built.
CLASSIFIER_DROPOUT_PROB = 0.1

# Standard deviation of the classifier's output_weights initializer, fixed in
# run_classifier.create_model (0.02, not the config's initializer_range).
CLASSIFIER_INITIALIZER_RANGE = DEFAULT_INITIALIZER_RANGE


@keras.saving.register_keras_serializable(package="official_bert")
class BertPretrainer(BertBase):
    """BertModel + masked LM + next sentence prediction, as run_pretraining.py.

    Variables: `bert/...` and `cls/...` (the released checkpoints' full list).

    Args:
      config: the BertConfig.
      use_one_hot_embeddings: see `BertBase`.
      jit_compile: compile the whole forward pass (BERT and the head) with
        XLA; see `BertBase`.
    """

    def __init__(
        self,
        config: BertConfig,
        use_one_hot_embeddings: bool = False,
        jit_compile: bool = False,
        name: str = "bert_pretrainer",
        **kwargs,
    ):
        super().__init__(config, use_one_hot_embeddings, jit_compile, name=name, **kwargs)
        self.bert = BertModel(self.config, use_one_hot_embeddings, dtype=self.dtype_policy)
        self.cls = PretrainingHeads(self.config, dtype=self.dtype_policy)
        self.built = True

    def call(self, features: Mapping[str, tf.Tensor], training: bool | None = False) -> dict:
        """Computes the pretraining losses of a batch.

        Args:
          features: dict with the original's feature names:
            `input_ids`, `input_mask`, `segment_ids`: int32 [batch_size, seq_length];
            `masked_lm_positions`, `masked_lm_ids`: int32 [batch_size, max_predictions];
            `masked_lm_weights`: float32 [batch_size, max_predictions];
            `next_sentence_labels`: int32 [batch_size, 1] (or [batch_size]).
          training: dropout is applied only when True.

        Returns:
          A dict of float32 Tensors: `total_loss` (scalar, masked LM + next
          sentence), `masked_lm_loss` (scalar), `masked_lm_example_loss`
          [batch_size * max_predictions], `masked_lm_log_probs` [batch_size *
          max_predictions, vocab_size], `next_sentence_loss` (scalar),
          `next_sentence_example_loss` [batch_size], `next_sentence_log_probs`
          [batch_size, 2].
        """
        return self._forward_fn(dict(features), training=bool(training))

    def _forward(self, features: Mapping[str, tf.Tensor], training: bool) -> dict:
        """The computation of `call`, compiled by XLA when `jit_compile`."""
        bert_out = self.bert(
            features["input_ids"],
            features.get("input_mask"),
            features.get("segment_ids"),
            training=training,
        )
        table = tf.convert_to_tensor(self.bert.embedding_table)
        mlm_log_probs, nsp_log_probs = self.cls(
            bert_out["sequence_output"],
            bert_out["pooled_output"],
            features["masked_lm_positions"],
            table,
        )
        mlm_loss, mlm_example_loss = weighted_cross_entropy(
            mlm_log_probs,
            features["masked_lm_ids"],
            self.config.vocab_size,
            features["masked_lm_weights"],
        )
        nsp_loss, nsp_example_loss = weighted_cross_entropy(
            nsp_log_probs, features["next_sentence_labels"], NUM_NEXT_SENTENCE_LABELS
        )
        return {
            "total_loss": mlm_loss + nsp_loss,
            "masked_lm_loss": mlm_loss,
            "masked_lm_example_loss": mlm_example_loss,
            "masked_lm_log_probs": mlm_log_probs,
            "next_sentence_loss": nsp_loss,
            "next_sentence_example_loss": nsp_example_loss,
            "next_sentence_log_probs": nsp_log_probs,
        }


@keras.saving.register_keras_serializable(package="official_bert")
class BertClassifier(BertBase):
    """BertModel + a softmax classifier on the pooled output, as run_classifier.py.

    Variables: `bert/...`, then the top-level `output_weights` [num_labels,
    hidden_size] (truncated normal 0.02) and `output_bias` [num_labels] (zeros).

    Args:
      config: the BertConfig.
      num_labels: number of classes.
      use_one_hot_embeddings: see `BertBase`.
      jit_compile: compile the whole forward pass (BERT and the head) with
        XLA; see `BertBase`.
      name: the model's name (not part of any variable path).
      dropout_prob: dropout on the pooled output when training; None is the
        original's fixed `CLASSIFIER_DROPOUT_PROB` (0.1), read at construction.
    """

    def __init__(
        self,
        config: BertConfig,
        num_labels: int,
        use_one_hot_embeddings: bool = False,
        jit_compile: bool = False,
        name: str = "bert_classifier",
        dropout_prob: float | None = None,
        **kwargs,
    ):
        super().__init__(config, use_one_hot_embeddings, jit_compile, name=name, **kwargs)
        if dropout_prob is None:
            dropout_prob = CLASSIFIER_DROPOUT_PROB
        if not 0.0 <= dropout_prob < 1.0:
            raise InputError(f"dropout_prob must be in [0, 1), got {dropout_prob!r}.")
        self.num_labels = num_labels
        self.dropout_prob = dropout_prob
        self.bert = BertModel(self.config, use_one_hot_embeddings, dtype=self.dtype_policy)
        # Made outside any layer's name scope: their paths are the bare names, as
        # the original creates them outside the `bert` scope.
        self.output_weights = keras.Variable(
            create_initializer(CLASSIFIER_INITIALIZER_RANGE),
            shape=(num_labels, self.config.hidden_size),
            name="output_weights",
        )
        self.output_bias = keras.Variable("zeros", shape=(num_labels,), name="output_bias")
        self.built = True

    def call(self, features: Mapping[str, tf.Tensor], training: bool | None = False) -> dict:
        """Classifies a batch; computes the loss when `label_ids` is given.

        Args:
          features: dict with `input_ids`, `input_mask`, `segment_ids` (int32
            [batch_size, seq_length]) and optionally `label_ids` (int32
            [batch_size]).
          training: dropout (the encoder's and `dropout_prob` on the pooled
            output) is applied only when True.

        Returns:
          A dict of float32 Tensors: `logits`, `probabilities`, `log_probs`
          ([batch_size, num_labels]); with labels also `per_example_loss`
          [batch_size] and `loss` (scalar, their mean).
        """
        return self._forward_fn(dict(features), training=bool(training))

    def _forward(self, features: Mapping[str, tf.Tensor], training: bool) -> dict:
        """The computation of `call`, compiled by XLA when `jit_compile`."""
        bert_out = self.bert(
            features["input_ids"],
            features.get("input_mask"),
            features.get("segment_ids"),
            training=training,
        )
        pooled = dropout(bert_out["pooled_output"], self.dropout_prob, training)
        weights = tf.cast(self.output_weights, pooled.dtype)
        logits = tf.matmul(pooled, weights, transpose_b=True)  # [B, num_labels]
        logits = tf.nn.bias_add(logits, tf.cast(self.output_bias, pooled.dtype))
        logits = tf.cast(logits, tf.float32)
        outputs: dict[str, Any] = {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "log_probs": tf.nn.log_softmax(logits, axis=-1),
        }
        if features.get("label_ids") is not None:
            loss, per_example_loss = weighted_cross_entropy(
                outputs["log_probs"], features["label_ids"], self.num_labels
            )
            outputs.update(loss=loss, per_example_loss=per_example_loss)
        return outputs

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_labels": self.num_labels,
            "dropout_prob": self.dropout_prob,
        }


# The SQuAD head's initializer, fixed in run_squad.create_model (not the config's).
SQUAD_INITIALIZER_RANGE = DEFAULT_INITIALIZER_RANGE


@keras.saving.register_keras_serializable(package="official_bert")
class BertSquad(BertBase):
    """BertModel + span start/end logits, as run_squad.py's `create_model`.

    Variables: `bert/...`, then `cls/squad/output_weights` [2, hidden_size]
    (truncated normal 0.02) and `cls/squad/output_bias` [2] (zeros). The head
    has no dropout, as in the original.

    Args:
      config, use_one_hot_embeddings, jit_compile: see `BertBase`.
      name: the model's name (not part of any variable path).
    """

    def __init__(
        self,
        config: BertConfig,
        use_one_hot_embeddings: bool = False,
        jit_compile: bool = False,
        name: str = "bert_squad",
        **kwargs,
    ):
        super().__init__(config, use_one_hot_embeddings, jit_compile, name=name, **kwargs)
        self.bert = BertModel(self.config, use_one_hot_embeddings, dtype=self.dtype_policy)
        with keras.name_scope("cls"), keras.name_scope("squad"):
            self.output_weights = keras.Variable(
                create_initializer(SQUAD_INITIALIZER_RANGE),
                shape=(2, self.config.hidden_size),
                name="output_weights",
            )
            self.output_bias = keras.Variable("zeros", shape=(2,), name="output_bias")
        self.built = True

    def call(self, features: Mapping[str, tf.Tensor], training: bool | None = False) -> dict:
        """Span logits of a batch; the loss when `start_positions`/`end_positions` are given.

        Args:
          features: dict with `input_ids`, `input_mask`, `segment_ids` (int32
            [batch_size, seq_length]) and optionally `start_positions`,
            `end_positions` (int32 [batch_size] or [batch_size, 1]).
          training: the encoder's dropout is applied only when True.

        Returns:
          A dict of float32 Tensors: `start_logits`, `end_logits` ([batch_size,
          seq_length]); with positions also `per_example_loss` [batch_size]
          (the mean of the start and end cross-entropies) and `loss` (its mean,
          the original's `(start_loss + end_loss) / 2`).
        """
        return self._forward_fn(dict(features), training=bool(training))

    def _forward(self, features: Mapping[str, tf.Tensor], training: bool) -> dict:
        bert_out = self.bert(
            features["input_ids"],
            features.get("input_mask"),
            features.get("segment_ids"),
            training=training,
        )
        sequence = bert_out["sequence_output"]  # [B, S, H]
        weights = tf.cast(self.output_weights, sequence.dtype)
        logits = tf.einsum("bsh,kh->bsk", sequence, weights)  # [B, S, 2]
        logits = tf.nn.bias_add(logits, tf.cast(self.output_bias, sequence.dtype))
        logits = tf.cast(logits, tf.float32)
        outputs: dict[str, Any] = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
        if features.get("start_positions") is not None:
            seq_length = tf.shape(logits)[1]

            def cross_entropy(logits, positions):  # [B, S], [B] -> [B]
                positions = tf.reshape(tf.cast(positions, tf.int32), [-1])
                one_hot = tf.one_hot(positions, depth=seq_length, dtype=tf.float32)
                return -tf.reduce_sum(one_hot * tf.nn.log_softmax(logits, axis=-1), axis=-1)

            start = cross_entropy(outputs["start_logits"], features["start_positions"])
            end = cross_entropy(outputs["end_logits"], features["end_positions"])
            per_example_loss = (start + end) / 2.0
            outputs.update(per_example_loss=per_example_loss, loss=tf.reduce_mean(per_example_loss))
        return outputs
