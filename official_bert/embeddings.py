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
    dropout_noise,
    dropout_with_noise,
    elementwise_block,
    fusing_elementwise,
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
        # Not autocast: under a mixed policy, reading the whole float32 table
        # as bfloat16 would cast all vocab_size rows every step (and their
        # gradient back); `call` gathers float32 rows and sums in float32.
        self.word_embeddings = self.add_weight(
            name="word_embeddings", shape=(self.vocab_size, h), initializer=init, autocast=False
        )
        self.token_type_embeddings = self.add_weight(
            name="token_type_embeddings",
            shape=(self.type_vocab_size, h),
            initializer=init,
            autocast=False,
        )
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_position_embeddings, h),
            initializer=init,
            autocast=False,
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
        _, seq_length = get_shape_list(input_ids)
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
        table = tf.convert_to_tensor(self.word_embeddings)  # float32 [vocab, hidden]
        if self.use_one_hot_embeddings:
            # A matmul in the compute dtype: the one-hot rows are exact in it.
            one_hot = tf.one_hot(flat_ids, depth=self.vocab_size, dtype=self.compute_dtype)
            words = tf.matmul(one_hot, tf.cast(table, self.compute_dtype))  # [B*S, hidden]
            words = tf.cast(words, tf.float32)
        else:
            words = tf.gather(table, flat_ids)  # float32 [B*S, hidden]
        type_table = tf.convert_to_tensor(self.token_type_embeddings)
        with tf.control_dependencies(checks):
            positions = tf.convert_to_tensor(self.position_embeddings)[:seq_length]  # [S, hidden]

        rate = self.hidden_dropout_prob
        # Inside an XLA block (layers.xla_elementwise) the dropout noise is
        # drawn outside it, by TensorFlow's faster generator.
        noise = dropout_noise(words, rate, training) if fusing_elementwise() else None

        def postprocess(words, token_type_ids, type_table, positions, *noise):
            output_shape = get_shape_list(token_type_ids) + [self.hidden_size]
            # The original always looks token types up by a one-hot matmul.
            type_one_hot = tf.one_hot(
                tf.reshape(token_type_ids, [-1]), depth=self.type_vocab_size, dtype=tf.float32
            )  # [B*S, type_vocab_size]
            types = tf.matmul(type_one_hot, type_table)  # [B*S, hidden]
            output = tf.reshape(words, output_shape)  # [B, S, hidden]
            output += tf.reshape(types, output_shape)
            output += positions[tf.newaxis]  # broadcast over B
            # Summed in float32; layer norm returns the compute dtype.
            output = self.layer_norm(output)
            if noise:
                return dropout_with_noise(output, rate, tf.reshape(noise[0], output_shape))
            return dropout(output, rate, training)

        extra = () if noise is None else (noise,)
        return elementwise_block(postprocess)(words, token_type_ids, type_table, positions, *extra)

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
