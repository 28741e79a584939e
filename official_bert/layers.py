"""Numerical building blocks of BERT, each defined once.

Every number the original `modeling.py` fixes lives here under a name: the tanh
approximation of GELU, the layer-norm epsilon, the attention-mask adder and the
initializer. The layers in `transformer.py`, `modeling.py` and `heads.py` use
these and nothing else, so a question such as "which epsilon?" has one answer.

All layers here are Keras 3 layers running on the TensorFlow backend. Variables
are float32; computation follows the layer's dtype policy, except layer norm,
which always normalises in float32.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

# Variance epsilon of the original's layer norm (tf.contrib.layers.layer_norm).
# Keras' LayerNormalization defaults to 1e-3, which would change every output.
LAYER_NORM_EPSILON = 1e-12

# Added to the attention scores of masked-out keys before the softmax: large
# enough to zero their probability, small enough to stay finite in float16.
ATTENTION_MASK_ADDER = -10000.0

# Standard deviation of the truncated normal of every weight matrix of the
# original: the default of BertConfig.initializer_range, and the fixed value of
# run_classifier's output_weights. The one spelling of 0.02 in the library.
DEFAULT_INITIALIZER_RANGE = 0.02

# sqrt(2 / pi) and the cubic coefficient of the tanh approximation of GELU
# (Hendrycks & Gimpel, 2016), as used by the original rather than the erf form.
_GELU_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC_COEFFICIENT = 0.044715
# 1 / sqrt(2): Phi(x) = (1 + erf(x / sqrt(2))) / 2 in the exact GELU.
_GELU_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


def gelu(x: tf.Tensor) -> tf.Tensor:
    """Gaussian Error Linear Unit, tanh approximation (the original's `gelu`).

    Args:
      x: float Tensor of any shape.

    Returns:
      float Tensor of the same shape and dtype as `x`.
    """
    cdf = 0.5 * (1.0 + tf.tanh(_GELU_SQRT_2_OVER_PI * (x + _GELU_CUBIC_COEFFICIENT * _cube(x))))
    return x * cdf


def _cube(x: tf.Tensor) -> tf.Tensor:
    """x**3: the original's `tf.pow(x, 3)`, or `x * x * x` where XLA compiles it.

    XLA's CPU backend runs TensorFlow's gradient of `pow` (`dy * 3 * pow(x, 2)`
    and the exponent's `log(x)` terms) about 5x slower than multiplies (28 vs
    6 ms for 4M values), which made every GELU gradient of a `--jit_compile`
    step slow. Inside XLA (`xla_elementwise` blocks, `xla_compiled` traces)
    the cube is two multiplies (within an ulp of pow's); elsewhere it is the
    original's op.
    """
    if fusing_elementwise() or _XLA_COMPILED.get():
        return x * x * x
    return tf.pow(x, 3)


def gelu_exact(x: tf.Tensor) -> tf.Tensor:
    """Gaussian Error Linear Unit, exact form x * Phi(x) with erf (`hidden_act: "gelu_exact"`).

    Not the original's `gelu` (the tanh approximation): this is Hugging Face's
    `gelu`, for models trained with it (converted by `convert_checkpoint`).

    Args:
      x: float Tensor of any shape.

    Returns:
      float Tensor of the same shape and dtype as `x`.
    """
    return 0.5 * x * (1.0 + tf.math.erf(x * _GELU_INV_SQRT_2))


def get_activation(activation: str | Callable | None) -> Callable | None:
    """Maps an activation name of `BertConfig.hidden_act` to a function.

    Args:
      activation: "gelu", "gelu_exact", "relu", "tanh" or "linear" (case-insensitive), a
        callable (returned unchanged), or None / "" (no activation).

    Returns:
      A function of one tensor, or None for a linear activation.

    Raises:
      ValueError: the name is not one of the supported activations.
    """
    if activation is None or callable(activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"Unsupported activation: {activation!r}")
    if not activation:
        return None
    name = activation.lower()
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"Unsupported activation: {name!r}; hidden_act must be one of {ACTIVATION_NAMES}."
        )
    return _ACTIVATIONS[name]


# The activations `BertConfig.hidden_act` may name (case-insensitive), as the original's.
_ACTIVATIONS: dict[str, Callable | None] = {
    "gelu": gelu,
    "gelu_exact": gelu_exact,  # not in the original: Hugging Face's exact `gelu`
    "linear": None,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
}
ACTIVATION_NAMES = tuple(sorted(_ACTIVATIONS))


def create_initializer(
    initializer_range: float = DEFAULT_INITIALIZER_RANGE,
) -> keras.initializers.Initializer:
    """Truncated normal (cut at two standard deviations), as the original's."""
    return keras.initializers.TruncatedNormal(stddev=initializer_range)


def dropout(x: tf.Tensor, rate: float, training: bool | None) -> tf.Tensor:
    """Drops a fraction `rate` of `x` when training, like the original's `dropout`.

    `tf.nn.dropout` keeps no state, so no seed variables enter the model's
    variable list (keras.layers.Dropout would add one per layer).

    A float32 `x` goes through `tf.nn.dropout`, as in the original. A bfloat16
    or float16 `x` does not: `tf.nn.dropout` would draw its noise and compute
    its scale in x's dtype, and in bfloat16 that drops 10.16% instead of 10%
    (uniform noise on a 1/128 grid) and scales by 1.109375 instead of 1/0.9, so
    every dropout would shrink its input's mean by 0.3% (Keras' Dropout layer
    does the same). Here the noise is float32 and the kept values are scaled
    in float32 before rounding to x's dtype (`dropout_with_noise`).

    Inside `seeded_dropout` the noise is drawn statelessly from the scope's
    key (`tf.nn.experimental.stateless_dropout`: the same rule).

    Args:
      x: float Tensor of any shape.
      rate: probability of dropping a value (not of keeping it).
      training: dropout only happens when this is True.

    Returns:
      float Tensor of the same shape and dtype as `x`.
    """
    if not training or not rate:
        return x
    if x.dtype in (tf.float32, tf.float64):
        seed = _next_dropout_seed()
        if seed is not None:
            return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seed)
        return tf.nn.dropout(x, rate=rate)
    return dropout_with_noise(x, rate, dropout_noise(x, rate, training))


def dropout_noise(x: tf.Tensor, rate: float, training: bool | None) -> tf.Tensor | None:
    """The uniform noise `dropout_with_noise` needs for `x`, or None when nothing is dropped.

    Drawn by TensorFlow's RandomUniform kernel (float32, whatever x's dtype),
    outside any XLA block: XLA's CPU random number generator is about 3x
    slower per number.

    Args:
      x: float Tensor of any shape.
      rate: probability of dropping a value.
      training: whether dropout is applied.

    Returns:
      float32 Tensor of x's shape, uniform in [0, 1); or None.
    """
    if not training or not rate:
        return None
    seed = _next_dropout_seed()
    if seed is not None:
        return tf.random.stateless_uniform(tf.shape(x), seed=seed, dtype=tf.float32)
    return tf.random.uniform(tf.shape(x), dtype=tf.float32)


class _DropoutSeeds:
    """The key of one forward pass's dropout masks, and how many masks it has drawn."""

    def __init__(self, key: tf.Tensor):
        self.key = key
        self.drawn = 0

    def next(self) -> tf.Tensor:
        seed = tf.random.experimental.stateless_fold_in(self.key, self.drawn)
        self.drawn += 1
        return seed


# The `_DropoutSeeds` of the forward pass being traced (see `seeded_dropout`).
_DROPOUT_SEEDS = contextvars.ContextVar("official_bert_dropout_seeds", default=None)


@contextlib.contextmanager
def seeded_dropout(key: tf.Tensor | None) -> Iterator[None]:
    """Within this scope, every dropout mask is a function of `key` and of its place.

    The n-th dropout traced in the scope draws its uniform noise statelessly
    from `stateless_fold_in(key, n)`, with the same keep rule and scale as
    unseeded dropout: the same key gives the same masks in any process. The
    `Trainer` of a seeded run derives the key from `--random_seed`, the
    global step, the replica and the micro-batch, so a run resumed from a
    checkpoint draws the masks the uninterrupted run drew. A key of None, or
    a trace compiled whole by XLA (`xla_compiled`: XLA's CPU stateless
    generator is about 10x slower than its stateful one), keeps TensorFlow's
    stateful generator.

    Args:
      key: int64 Tensor of shape [2], or None.
    """
    token = _DROPOUT_SEEDS.set(_DropoutSeeds(key) if key is not None else None)
    try:
        yield
    finally:
        _DROPOUT_SEEDS.reset(token)


def _next_dropout_seed() -> tf.Tensor | None:
    """The stateless seed of the next dropout mask, or None for the stateful generator."""
    seeds = _DROPOUT_SEEDS.get()
    if seeds is None or _XLA_COMPILED.get():
        return None
    return seeds.next()


def dropout_with_noise(x: tf.Tensor, rate: float, noise: tf.Tensor | None) -> tf.Tensor:
    """`dropout` with its float32 uniform noise given (from `dropout_noise`): the same rule.

    A value is kept where `noise >= rate` and then scaled by 1 / (1 - rate),
    as tf.nn.dropout does; None noise keeps everything. A bfloat16 or float16
    `x` is scaled in float32 and rounded back once (1 / 0.9 is 1.109375 in
    bfloat16), so the expected output equals the input (see `dropout`).

    Returns:
      float Tensor of the shape and dtype of `x`.
    """
    if noise is None:
        return x
    keep = noise >= rate
    if x.dtype in (tf.float32, tf.float64):
        return x * tf.cast(1.0 / (1.0 - rate), x.dtype) * tf.cast(keep, x.dtype)
    scaled = tf.cast(x, tf.float32) * (1.0 / (1.0 - rate))
    return tf.cast(tf.where(keep, scaled, tf.zeros_like(scaled)), x.dtype)


def get_shape_list(x: tf.Tensor) -> list:
    """The shape of `x` as a list: Python ints where static, scalar Tensors where not.

    As the original, `tf.shape(x)` is built only when some dimension is not
    static, so a fully static shape leaves no unused `Shape` op in the graph.
    """
    shape = x.shape.as_list()
    unknown = [i for i, dim in enumerate(shape) if dim is None]
    if unknown:
        dynamic = tf.shape(x)
        for i in unknown:
            shape[i] = dynamic[i]
    return shape


def maybe_jit_compile(fn: Callable, jit_compile: bool) -> Callable:
    """`fn`, or `fn` compiled by XLA as one cluster (traced in `xla_compiled()`) when
    `jit_compile` is True.

    Used by the models for their forward pass, per instance (a `tf.function`
    shared between instances would hold on to the variables of the first).
    Inside an outer `tf.function(jit_compile=True)` it is simply inlined.
    """
    if not jit_compile:
        return fn

    def compiled(*args, **kwargs):
        with xla_compiled():
            return fn(*args, **kwargs)

    return tf.function(compiled, jit_compile=True)


# Whether the layers compile their elementwise blocks as XLA clusters (see
# `xla_elementwise`): read while a model's forward pass is traced.
_XLA_ELEMENTWISE = contextvars.ContextVar("official_bert_xla_elementwise", default=False)
# Whether the trace under way is compiled whole by XLA (see `xla_compiled`).
_XLA_COMPILED = contextvars.ContextVar("official_bert_xla_compiled", default=False)


@contextlib.contextmanager
def xla_compiled() -> Iterator[None]:
    """Within this scope, the layers traced are compiled whole by XLA (`--jit_compile`).

    Only the GELU's cube reads it (see `_cube`): the rest of the math is the same.
    """
    token = _XLA_COMPILED.set(True)
    try:
        yield
    finally:
        _XLA_COMPILED.reset(token)


@contextlib.contextmanager
def xla_elementwise(enabled: bool = True) -> Iterator[None]:
    """Within this scope, models traced compile their elementwise blocks, not their matmuls.

    XLA's CPU backend runs a bfloat16 dot as a float32 dot between converts
    (its float normalisation upcasts every bf16 `dot`), so a bfloat16 model
    compiled whole by XLA runs its matmuls at the float32 rate, while
    TensorFlow's own oneDNN kernels run them on AMX. In this scope the layers
    leave every matmul to TensorFlow and compile each run of elementwise work
    between two matmuls (bias, activation, softmax, dropout, residual, layer
    norm) as one small XLA computation, and so does its gradient: the
    `--jit_compile` of `mixed_bfloat16` on CPU (see `Trainer`).
    """
    token = _XLA_ELEMENTWISE.set(bool(enabled))
    try:
        yield
    finally:
        _XLA_ELEMENTWISE.reset(token)


def fusing_elementwise() -> bool:
    """True inside `xla_elementwise()`: the layers compile their elementwise blocks."""
    return _XLA_ELEMENTWISE.get()


def elementwise_block(fn: Callable) -> Callable:
    """`fn` as one XLA computation inside `xla_elementwise()`, else `fn` itself.

    Made at trace time, once per traced call: the `tf.function` lives in the
    graph of its caller.
    """
    return tf.function(fn, jit_compile=True, autograph=False) if fusing_elementwise() else fn


def attention_mask_adder(input_mask: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Turns a [B, T] 1/0 input mask into the additive mask of the scores.

    The original builds a [B, F, T] mask of ones times the input mask and adds
    `(1 - mask) * -10000.0`; broadcasting over F (and the heads) gives the
    same numbers without the [B, F, T] tensor.

    Args:
      input_mask: int32 Tensor of shape [batch_size, seq_length], 1 for tokens
        that may be attended to and 0 for padding.
      dtype: dtype of the attention scores.

    Returns:
      Tensor of shape [batch_size, 1, 1, seq_length] and dtype `dtype`: 0 for
      kept positions, -10000 for masked ones.
    """
    mask = tf.cast(input_mask, dtype)[:, tf.newaxis, tf.newaxis, :]  # [B, 1, 1, T]
    return (1.0 - mask) * tf.cast(ATTENTION_MASK_ADDER, dtype)


@keras.saving.register_keras_serializable(package="official_bert")
class LayerNorm(keras.layers.Layer):
    """Layer normalisation over the last axis with the original's epsilon.

    The variables are `gamma` (ones) and `beta` (zeros), as in
    tf.contrib.layers.layer_norm. The input is taken in float32 (a float32
    input is not rounded to the compute dtype first) and so are the
    statistics, whatever the compute dtype; the result is cast back to the
    compute dtype.
    """

    def __init__(self, epsilon: float = LAYER_NORM_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    @property
    def input_dtype(self) -> str:
        """Keras casts the input to this: float32, so a float32 sum is not rounded first."""
        return "float32"

    def build(self, input_shape):
        width = input_shape[-1]
        self.beta = self.add_weight(name="beta", shape=(width,), initializer="zeros")
        self.gamma = self.add_weight(name="gamma", shape=(width,), initializer="ones")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        """Normalises `x`, a float Tensor of shape [..., width]."""
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
        inv = tf.math.rsqrt(variance + self.epsilon) * tf.cast(self.gamma, tf.float32)
        out = x32 * inv + (tf.cast(self.beta, tf.float32) - mean * inv)
        return tf.cast(out, self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="official_bert")
class DenseBlock(keras.layers.Layer):
    """A named scope holding `dense` and optionally `LayerNorm`.

    This is the recurring pattern of the original's variable scopes:
    `intermediate` (dense + activation), `attention/output` and `output`
    (dense, dropout, add the residual, layer norm), `cls/predictions/transform`
    (dense + activation, layer norm) and `pooler` (dense + tanh).
    """

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_layer_norm: bool = False,
        dropout_rate: float = 0.0,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activation
        self.use_layer_norm = use_layer_norm
        self.dropout_rate = dropout_rate
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            units,
            activation=get_activation(activation),
            kernel_initializer=create_initializer(initializer_range),
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="dense",
        )
        self.layer_norm = (
            LayerNorm(dtype=self.dtype_policy, name="LayerNorm") if use_layer_norm else None
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        if self.layer_norm is not None:
            self.layer_norm.build(tuple(input_shape[:-1]) + (self.units,))

    def call(
        self, x: tf.Tensor, residual: tf.Tensor | None = None, training: bool | None = None
    ) -> tf.Tensor:
        """Applies dense, dropout, `+ residual` and layer norm, as configured.

        Args:
          x: float Tensor of shape [..., in_width].
          residual: optional float Tensor of shape [..., units] added after
            dropout and before layer norm.
          training: whether dropout is applied.

        Returns:
          float Tensor of shape [..., units].
        """
        if fusing_elementwise() and x.shape.rank == 2:
            return self._fused_call(x, residual, training)
        y = self.dense(x)
        y = dropout(y, self.dropout_rate, training)
        if residual is not None:
            y = y + residual
        if self.layer_norm is not None:
            y = self.layer_norm(y)
        return y

    def _fused_call(
        self, x: tf.Tensor, residual: tf.Tensor | None, training: bool | None
    ) -> tf.Tensor:
        """`call` as TensorFlow's matmul, then everything after it as one XLA block."""
        dtype = self.compute_dtype
        y = tf.matmul(x, tf.cast(self.dense.kernel, dtype))  # [n, units]
        activation = self.dense.activation
        noise = dropout_noise(y, self.dropout_rate, training)
        # Only tensors cross into the block; None stands for "absent".
        extra = [t for t in (noise, residual) if t is not None]

        def tail(y: tf.Tensor, *extra: tf.Tensor) -> tf.Tensor:
            extra = list(extra)
            if self.dense.bias is not None:
                y = tf.nn.bias_add(y, tf.cast(self.dense.bias, dtype))
            if activation is not None:
                y = activation(y)
            y = dropout_with_noise(
                y, self.dropout_rate, extra.pop(0) if noise is not None else None
            )
            if residual is not None:
                y = y + extra.pop(0)
            if self.layer_norm is not None:
                y = self.layer_norm(y)
            return y

        return elementwise_block(tail)(y, *extra)

    def get_config(self) -> dict:
        if callable(self.activation):
            raise TypeError("DenseBlock.get_config needs a named activation, not a callable.")
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_layer_norm": self.use_layer_norm,
            "dropout_rate": self.dropout_rate,
            "initializer_range": self.initializer_range,
        }
