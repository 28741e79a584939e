"""BERT's input embeddings (scope `embeddings`).

Word, token-type and position embeddings are summed, layer-normalised and
dropped out, as the original's `embedding_lookup` + `embedding_postprocessor`.
The three tables are plain weights named as in the checkpoints
(`word_embeddings`, `token_type_embeddings`, `position_embeddings`), not
`keras.layers.Embedding`, whose weight would be called `embeddings`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from official_bert.errors import InputError
from official_bert.layers import (
    DEFAULT_INITIALIZER_RANGE,
    LayerNorm,
    create_initializer,
    dropout,
    get_shape_list,
)


@keras.saving.register_keras_serializable(package="official_bert")
class BertEmbeddings(keras.layers.Layer):
    """Sum of word, token-type and position embeddings, then LayerNorm and dropout."""

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        type_vocab_size: int,
        max_position_embeddings: int,
        hidden_dropout_prob: float = 0.0,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        use_one_hot_embeddings: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.type_vocab_size = type_vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_dropout_prob = hidden_dropout_prob
        self.initializer_range = initializer_range
        self.use_one_hot_embeddings = use_one_hot_embeddings
        self.layer_norm = LayerNorm(dtype=self.dtype_policy, name="LayerNorm")

    def build(self, input_shape=None):
        init = create_initializer(self.initializer_range)
        h = self.hidden_size
        self.word_embeddings = self.add_weight(
            name="word_embeddings", shape=(self.vocab_size, h), initializer=init
        )
        self.token_type_embeddings = self.add_weight(
            name="token_type_embeddings", shape=(self.type_vocab_size, h), initializer=init
        )
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(self.max_position_embeddings, h), initializer=init
        )
        self.layer_norm.build((None, None, h))

    def call(
        self, input_ids: tf.Tensor, token_type_ids: tf.Tensor, training: bool | None = None
    ) -> tf.Tensor:
        """Embeds a batch of token ids.

        Args:
          input_ids: int32 Tensor of shape [batch_size, seq_length].
          token_type_ids: int32 Tensor of shape [batch_size, seq_length].
          training: whether dropout is applied.

        Returns:
          float Tensor of shape [batch_size, seq_length, hidden_size].

        Raises:
          errors.InputError: the (static) sequence length exceeds
            `max_position_embeddings`.
        """
        batch_size, seq_length = get_shape_list(input_ids)
        if isinstance(seq_length, int) and seq_length > self.max_position_embeddings:
            raise InputError(
                f"Sequence length {seq_length} is longer than max_position_embeddings "
                f"({self.max_position_embeddings}) of the BERT config; use a shorter "
                "max_seq_length."
            )
        checks = []
        if not isinstance(seq_length, int):
            checks.append(
                tf.debugging.assert_less_equal(
                    seq_length,
                    self.max_position_embeddings,
                    message="Sequence length is longer than max_position_embeddings",
                )
            )
        flat_ids = tf.reshape(input_ids, [-1])  # [B*S]
        if self.use_one_hot_embeddings:
            one_hot = tf.one_hot(flat_ids, depth=self.vocab_size, dtype=self.word_embeddings.dtype)
            words = tf.matmul(one_hot, self.word_embeddings)  # [B*S, hidden]
        else:
            words = tf.gather(self.word_embeddings, flat_ids)  # [B*S, hidden]
        # The original always looks token types up by a one-hot matmul.
        type_one_hot = tf.one_hot(
            tf.reshape(token_type_ids, [-1]),
            depth=self.type_vocab_size,
            dtype=self.token_type_embeddings.dtype,
        )  # [B*S, type_vocab_size]
        types = tf.matmul(type_one_hot, self.token_type_embeddings)  # [B*S, hidden]
        output_shape = [batch_size, seq_length, self.hidden_size]
        output = tf.reshape(words, output_shape)  # [B, S, hidden]
        output += tf.reshape(types, output_shape)
        with tf.control_dependencies(checks):
            positions = self.position_embeddings[:seq_length]  # [S, hidden]
        output += positions[tf.newaxis]  # broadcast over B
        output = self.layer_norm(tf.cast(output, self.compute_dtype))
        return dropout(output, self.hidden_dropout_prob, training)

    @property
    def embedding_table(self) -> keras.Variable:
        """The word embedding table, float32 of shape [vocab_size, hidden_size]."""
        return self.word_embeddings

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "type_vocab_size": self.type_vocab_size,
            "max_position_embeddings": self.max_position_embeddings,
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "initializer_range": self.initializer_range,
            "use_one_hot_embeddings": self.use_one_hot_embeddings,
        }
