"""The Transformer encoder of BERT: self-attention, layers and the layer stack.

Layer names follow the original's variable scopes, so variable paths are the
checkpoint names: `encoder/layer_3/attention/self/query/kernel`,
`.../attention/output/dense/kernel`, `.../intermediate/dense/kernel`,
`.../output/LayerNorm/beta`. Query, key and value are plain `[hidden, hidden]`
dense kernels, as in the original.

Like the original, the encoder keeps its activations as matrices of shape
[batch_size * seq_length, hidden_size] between layers, so every projection is a
single 2-D matmul (and so is its gradient).

Attention legend (the original's):
  B = batch size (number of sequences)
  F = `from_tensor` sequence length
  T = `to_tensor` sequence length
  N = number of attention heads
  H = size per head
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from official_bert.layers import (
    DEFAULT_INITIALIZER_RANGE,
    DenseBlock,
    create_initializer,
    dropout,
    dropout_noise,
    dropout_with_noise,
    elementwise_block,
    fusing_elementwise,
    get_shape_list,
)


@keras.saving.register_keras_serializable(package="official_bert")
class BertSelfAttention(keras.layers.Layer):
    """Multi-headed scaled dot-product self-attention (scope `self`).

    Holds the `query`, `key` and `value` dense layers, each [N*H, N*H].
    """

    def __init__(
        self,
        num_attention_heads: int,
        size_per_head: int,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_attention_heads = num_attention_heads
        self.size_per_head = size_per_head
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        width = num_attention_heads * size_per_head

        def projection(name: str) -> keras.layers.Dense:
            return keras.layers.Dense(
                width,
                kernel_initializer=create_initializer(initializer_range),
                dtype=self.dtype_policy,
                name=name,
            )

        self.query = projection("query")
        self.key = projection("key")
        self.value = projection("value")

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)

    def call(
        self,
        x: tf.Tensor,
        mask_adder: tf.Tensor,
        batch_size: tf.Tensor | int,
        seq_length: tf.Tensor | int,
        training: bool | None = None,
    ) -> tf.Tensor:
        """Attends from every position of `x` to every position of `x`.

        Args:
          x: float Tensor of shape [B*F, N*H] (F = T: self-attention).
          mask_adder: float Tensor of shape [B, 1, 1, T], added to the scores
            (see `layers.attention_mask_adder`).
          batch_size: B, static or dynamic.
          seq_length: F (= T), static or dynamic.
          training: whether attention-probability dropout is applied.

        Returns:
          float Tensor of shape [B*F, N*H].
        """
        n, h = self.num_attention_heads, self.size_per_head

        def split_heads(t: tf.Tensor) -> tf.Tensor:
            t = tf.reshape(t, [batch_size, seq_length, n, h])  # [B, F, N, H]
            return tf.transpose(t, [0, 2, 1, 3])  # [B, N, F, H]

        query = split_heads(self.query(x))  # [B, N, F, H]
        key = split_heads(self.key(x))  # [B, N, T, H]
        value = split_heads(self.value(x))  # [B, N, T, H]

        scores = tf.matmul(query, key, transpose_b=True)  # [B, N, F, T]

        rate = self.attention_probs_dropout_prob
        # Inside an XLA block (layers.xla_elementwise) the dropout noise is
        # drawn outside it, by TensorFlow's faster generator.
        noise = dropout_noise(scores, rate, training) if fusing_elementwise() else None

        def probabilities(scores: tf.Tensor, mask_adder: tf.Tensor, *noise: tf.Tensor):
            # The softmax is taken in float32 whatever the compute dtype (as
            # Keras' mixed precision keeps it); the probabilities go back to
            # the compute dtype for the matmul with the values.
            scores = tf.cast(scores, tf.float32)
            scores = scores * (1.0 / math.sqrt(float(h)))
            scores += tf.cast(mask_adder, tf.float32)  # [B, 1, 1, T] broadcast
            probs = tf.nn.softmax(scores)  # [B, N, F, T]
            if noise:
                probs = dropout_with_noise(probs, rate, noise[0])
            else:
                probs = dropout(probs, rate, training)
            return tf.cast(probs, value.dtype)

        extra = () if noise is None else (noise,)
        probs = elementwise_block(probabilities)(scores, mask_adder, *extra)
        context = tf.matmul(probs, value)  # [B, N, F, H]
        context = tf.transpose(context, [0, 2, 1, 3])  # [B, F, N, H]
        return tf.reshape(context, [batch_size * seq_length, n * h])  # [B*F, N*H]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_attention_heads": self.num_attention_heads,
            "size_per_head": self.size_per_head,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
            "initializer_range": self.initializer_range,
        }


@keras.saving.register_keras_serializable(package="official_bert")
class BertAttention(keras.layers.Layer):
    """Self-attention and its output projection (scope `attention`).

    Sublayers: `self` (BertSelfAttention) and `output` (dense, dropout,
    residual, LayerNorm).
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int,
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads != 0:
            raise ValueError(
                f"The hidden size ({hidden_size}) is not a multiple of the number of "
                f"attention heads ({num_attention_heads})."
            )
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.self_attention = BertSelfAttention(
            num_attention_heads,
            hidden_size // num_attention_heads,
            attention_probs_dropout_prob,
            initializer_range,
            dtype=self.dtype_policy,
            name="self",
        )
        self.output_block = DenseBlock(
            hidden_size,
            use_layer_norm=True,
            dropout_rate=hidden_dropout_prob,
            initializer_range=initializer_range,
            dtype=self.dtype_policy,
            name="output",
        )

    def build(self, input_shape=None):
        self.self_attention.build((None, self.hidden_size))
        self.output_block.build((None, self.hidden_size))

    def call(
        self,
        x: tf.Tensor,
        mask_adder: tf.Tensor,
        batch_size: tf.Tensor | int,
        seq_length: tf.Tensor | int,
        training: bool | None = None,
    ) -> tf.Tensor:
        """Maps `x` [B*S, hidden] to `layer_norm(x + dropout(dense(attention(x))))`."""
        context = self.self_attention(
            x, mask_adder, batch_size=batch_size, seq_length=seq_length, training=training
        )
        return self.output_block(context, residual=x, training=training)  # [B*S, hidden]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
            "initializer_range": self.initializer_range,
        }


@keras.saving.register_keras_serializable(package="official_bert")
class TransformerLayer(keras.layers.Layer):
    """One encoder block (scope `layer_i`): attention, then feed-forward.

    Sublayers: `attention` (BertAttention), `intermediate` (dense +
    activation) and `output` (dense, dropout, residual, LayerNorm): post-layer
    norm, as in the original.
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int,
        intermediate_size: int,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        policy = self.dtype_policy
        self.attention = BertAttention(
            hidden_size,
            num_attention_heads,
            hidden_dropout_prob,
            attention_probs_dropout_prob,
            initializer_range,
            dtype=policy,
            name="attention",
        )
        self.intermediate = DenseBlock(
            intermediate_size,
            activation=hidden_act,
            initializer_range=initializer_range,
            dtype=policy,
            name="intermediate",
        )
        self.output_block = DenseBlock(
            hidden_size,
            use_layer_norm=True,
            dropout_rate=hidden_dropout_prob,
            initializer_range=initializer_range,
            dtype=policy,
            name="output",
        )

    def build(self, input_shape=None):
        self.attention.build()
        self.intermediate.build((None, self.hidden_size))
        self.output_block.build((None, self.intermediate_size))

    def call(
        self,
        x: tf.Tensor,
        mask_adder: tf.Tensor,
        batch_size: tf.Tensor | int,
        seq_length: tf.Tensor | int,
        training: bool | None = None,
    ) -> tf.Tensor:
        """Runs one block on `x`, a float Tensor of shape [B*S, hidden_size].

        `mask_adder` is [B, 1, 1, S]; returns a float Tensor of shape
        [B*S, hidden_size].
        """
        attention_output = self.attention(
            x, mask_adder, batch_size=batch_size, seq_length=seq_length, training=training
        )
        intermediate = self.intermediate(attention_output)  # [B*S, intermediate]
        return self.output_block(intermediate, residual=attention_output, training=training)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
            "initializer_range": self.initializer_range,
        }


@keras.saving.register_keras_serializable(package="official_bert")
class BertEncoder(keras.layers.Layer):
    """The stack of `TransformerLayer`s (scope `encoder`, layers `layer_0`...)."""

    def __init__(
        self,
        hidden_size: int,
        num_hidden_layers: int,
        num_attention_heads: int,
        intermediate_size: int,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.layer_kwargs = {
            "hidden_size": hidden_size,
            "num_attention_heads": num_attention_heads,
            "intermediate_size": intermediate_size,
            "hidden_act": hidden_act,
            "hidden_dropout_prob": hidden_dropout_prob,
            "attention_probs_dropout_prob": attention_probs_dropout_prob,
            "initializer_range": initializer_range,
        }
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.transformer_layers = [
            TransformerLayer(**self.layer_kwargs, dtype=self.dtype_policy, name=f"layer_{i}")
            for i in range(num_hidden_layers)
        ]

    def build(self, input_shape=None):
        for layer in self.transformer_layers:
            layer.build()

    def call(
        self, x: tf.Tensor, mask_adder: tf.Tensor, training: bool | None = None
    ) -> list[tf.Tensor]:
        """Runs every layer and returns all their outputs.

        Args:
          x: float Tensor of shape [batch_size, seq_length, hidden_size], the
            embedding output.
          mask_adder: float Tensor of shape [batch_size, 1, 1, seq_length].
          training: whether dropout is applied.

        Returns:
          A list of `num_hidden_layers` float Tensors of shape
          [batch_size, seq_length, hidden_size], first layer first.
        """
        batch_size, seq_length, _ = get_shape_list(x)
        hidden = tf.reshape(x, [-1, self.hidden_size])  # [B*S, hidden]
        outputs = []
        for layer in self.transformer_layers:
            hidden = layer(
                hidden, mask_adder, batch_size=batch_size, seq_length=seq_length, training=training
            )
            outputs.append(tf.reshape(hidden, [batch_size, seq_length, self.hidden_size]))
        return outputs

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self.layer_kwargs,
            "num_hidden_layers": self.num_hidden_layers,
        }
