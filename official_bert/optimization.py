"""BERT's optimizer: Adam with decoupled weight decay, no bias correction.

This reproduces google-research/bert's `optimization.py` as a Keras 3
optimizer:

* `WarmupPolynomialDecay`: linear warm-up to `init_lr`, then linear
  (power 1) decay to zero that is counted from step 0, not from the end of
  warm-up. The step is the optimizer's iteration count *before* the step's
  increment, so step 0 of a warm-up runs at rate 0.
* `AdamWeightDecayOptimizer`: `update = m / (sqrt(v) + epsilon) +
  weight_decay_rate * param`, `param -= lr * update`. Weight decay is skipped
  for variables whose TF1 name (Keras' `variable.path`) matches any of the
  `exclude_from_weight_decay` regular expressions (`re.search`).
* `create_optimizer`: the two together with clipping by global norm 1.0, so
  one `apply_gradients` call is one whole train step of the original.

Under `tf.distribute`, gradients are summed across replicas *before* the
global-norm clip, so N replicas give the update of one device that sees the
same global batch (the per-replica loss must be divided by the global batch
size, as usual for custom training loops).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import tensorflow as tf

# The original excludes these from weight decay: layer-norm parameters and biases.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
# `create_optimizer(optimizer=...)`: the original's Adam, or LAMB (official_bert.lamb).
OPTIMIZERS = ("adamw", "lamb")
# The original clips the gradients by this global norm before every update.
DEFAULT_CLIP_NORM = 1.0


def _check_range(name: str, value: float, low: float, high: float | None, high_open: bool) -> None:
    """Raises ValueError naming `name` unless `low <= value < high` (or `<= high`)."""
    ok = value >= low
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if not ok:
        if high is None:
            allowed = f"[{low}, inf)"
        else:
            allowed = f"[{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"`{name}` must be in {allowed}; got {name}={value!r}.")


def _compile_patterns(patterns: Iterable[str] | str | None) -> list[re.Pattern]:
    """Compiles exclusion regexes, naming the one that is invalid."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(
                "`exclude_from_weight_decay` must be a list of regular-expression strings; "
                f"got the element {pattern!r} of type {type(pattern).__name__}."
            )
        try:
            compiled.append(re.compile(pattern))
        except re.error as e:
            raise ValueError(
                f"`exclude_from_weight_decay` holds {pattern!r}, which is not a valid "
                f"regular expression: {e}. Escape special characters with re.escape()."
            ) from None
    return compiled


def tf1_variable_name(variable: Any) -> str:
    """The TF1 checkpoint name of a variable: Keras' `.path`, else its name without `:0`."""
    path = getattr(variable, "path", None)
    if path:
        return path
    return re.sub(r":\d+$", "", variable.name)


@keras.saving.register_keras_serializable(package="official_bert")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The original's learning rate: linear warm-up, then linear decay from step 0.

    For `step < num_warmup_steps` the rate is `init_lr * step / num_warmup_steps`;
    otherwise it is `(init_lr - end_learning_rate) * (1 - min(step, num_train_steps) /
    num_train_steps) ** power + end_learning_rate`. Right after warm-up the rate is
    therefore `init_lr * (1 - num_warmup_steps / num_train_steps)`, not `init_lr`, and
    past `num_train_steps` it stays at `end_learning_rate`.
    """

    def __init__(
        self,
        init_lr: float,
        num_train_steps: int,
        num_warmup_steps: int = 0,
        end_learning_rate: float = 0.0,
        power: float = 1.0,
    ):
        super().__init__()
        _check_range("init_lr", init_lr, 0.0, None, False)
        _check_range("end_learning_rate", end_learning_rate, 0.0, None, False)
        if int(num_train_steps) != num_train_steps or num_train_steps < 1:
            raise ValueError(
                f"`num_train_steps` must be a positive integer; got {num_train_steps!r}."
            )
        if int(num_warmup_steps) != num_warmup_steps or num_warmup_steps < 0:
            raise ValueError(
                f"`num_warmup_steps` must be an integer >= 0; got {num_warmup_steps!r}."
            )
        if num_warmup_steps > num_train_steps:
            raise ValueError(
                f"`num_warmup_steps` ({num_warmup_steps}) must not exceed `num_train_steps` "
                f"({num_train_steps}): it must be in [0, num_train_steps]."
            )
        self.init_lr = float(init_lr)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)

    def __call__(self, step):
        # Same float32 operations, in the same order, as the original graph
        # (tf.train.polynomial_decay followed by the warm-up blend).
        step = tf.cast(step, tf.float32)
        decay_steps = tf.constant(float(self.num_train_steps), tf.float32)
        fraction = tf.minimum(step, decay_steps) / decay_steps
        decayed = (self.init_lr - self.end_learning_rate) * tf.pow(
            1.0 - fraction, self.power
        ) + self.end_learning_rate
        if not self.num_warmup_steps:
            return decayed
        step_int = tf.cast(step, tf.int32)
        warmup_steps_int = tf.constant(self.num_warmup_steps, tf.int32)
        warmup_rate = self.init_lr * (
            tf.cast(step_int, tf.float32) / tf.cast(warmup_steps_int, tf.float32)
        )
        is_warmup = tf.cast(step_int < warmup_steps_int, tf.float32)
        return (1.0 - is_warmup) * decayed + is_warmup * warmup_rate

    def get_config(self) -> dict:
        return {
            "init_lr": self.init_lr,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
        }


@keras.saving.register_keras_serializable(package="official_bert")
class AdamWeightDecayOptimizer(keras.optimizers.Optimizer):
    """Adam with decoupled L2 weight decay and, by default, no bias correction.

    Per variable and step, with `g` the (clipped) gradient:

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        update = m / (sqrt(v) + epsilon) + weight_decay_rate * param
        param = param - learning_rate * update

    The weight-decay term is left out for variables whose TF1 name (Keras'
    `variable.path`, e.g. `bert/encoder/layer_0/output/LayerNorm/gamma`) is
    matched by `re.search` with any pattern of `exclude_from_weight_decay`.

    With `bias_correction=True` the Adam term becomes Kingma & Ba's bias-corrected
    `m_hat / (sqrt(v_hat) + epsilon)`, `m_hat = m / (1 - beta_1**t)`, `v_hat = v /
    (1 - beta_2**t)`, `t` the 1-based step: the variant Mosbach et al. (ICLR 2021)
    recommend for stable fine-tuning. It is off by default, as in the original.

    `global_clipnorm` clips by global norm like the original's
    `tf.clip_by_global_norm` on the raw gradients: a gradient passed as
    `tf.IndexedSlices` (from `tf.gather`, e.g. the word embeddings without
    one-hot lookups) counts in the norm by position, its repeated rows not
    summed, while the update uses the summed gradient, exactly as the
    original's GPU/CPU path. Under `tf.distribute` the clip is applied to the
    gradients summed across replicas, and the positions' squares are summed
    over all replicas' rows, so the clip and the update are those of one
    device that sees the whole global batch, whatever the number of replicas.

    Slot variables are exported under the original's names by `slot_variables()`:
    `NAME/adam_m` and `NAME/adam_v`; `iterations` is the original's `global_step`.

    Args:
      learning_rate: float, or a `LearningRateSchedule` called with the iteration
        count before the step's increment.
      weight_decay_rate: decoupled weight decay, >= 0.
      beta_1, beta_2: moment decay rates, in [0, 1).
      epsilon: added to `sqrt(v)`, >= 0.
      exclude_from_weight_decay: regular expressions; a match anywhere in the
        variable's TF1 name excludes it from weight decay.
      bias_correction: use bias-corrected Adam (see above).
      name: the optimizer's name.
      **kwargs: base `keras.optimizers.Optimizer` arguments (`global_clipnorm`,
        as above; `clipnorm`, `clipvalue`, `use_ema`, `loss_scale_factor`,
        `gradient_accumulation_steps`, ...). Use `weight_decay_rate`, not Keras'
        `weight_decay`.
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
        weight_decay_rate: float = 0.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-6,
        exclude_from_weight_decay: Sequence[str] | None = None,
        bias_correction: bool = False,
        name: str = "AdamWeightDecayOptimizer",
        **kwargs,
    ):
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                "AdamWeightDecayOptimizer takes `weight_decay_rate` (the original's decoupled "
                f"decay), not Keras' `weight_decay`; got weight_decay={kwargs['weight_decay']!r}."
            )
        kwargs.pop("weight_decay", None)
        if isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            _check_range("learning_rate", learning_rate, 0.0, None, False)
            learning_rate = float(learning_rate)
        _check_range("weight_decay_rate", weight_decay_rate, 0.0, None, False)
        _check_range("beta_1", beta_1, 0.0, 1.0, True)
        _check_range("beta_2", beta_2, 0.0, 1.0, True)
        _check_range("epsilon", epsilon, 0.0, None, False)
        # The global-norm clip is this class's (after the cross-replica sum,
        # with the original's norm for gathered gradients), not the base
        # class's, which would clip each replica's gradients before the sum.
        clip_norm = kwargs.pop("global_clipnorm", None)
        if clip_norm is not None:
            if kwargs.get("clipnorm") is not None or kwargs.get("clipvalue") is not None:
                raise ValueError(
                    "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; got "
                    f"global_clipnorm={clip_norm!r}, clipnorm={kwargs.get('clipnorm')!r}, "
                    f"clipvalue={kwargs.get('clipvalue')!r}."
                )
            _check_range("global_clipnorm", clip_norm, 0.0, None, False)
            clip_norm = float(clip_norm)
        patterns = _compile_patterns(exclude_from_weight_decay)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.clip_norm = clip_norm
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.bias_correction = bool(bias_correction)
        self._exclude_patterns = patterns
        self._slot_names: list[str] = []
        self._use_decay: list[bool] = []
        self._updated_indices: set[int] = set()

    # ----------------------------------------------------------------- weight decay

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Adds exclusions before `build`: variables, or regexes searched in TF1 names.

        Unlike Keras' method, `var_names` are regular expressions searched in the
        full TF1 name (`variable.path`), as in the original.
        """
        if self.built:
            raise ValueError(
                "exclude_from_weight_decay() must be called before the optimizer is built."
            )
        self._exclude_patterns.extend(_compile_patterns(var_names))
        for variable in var_list or ():
            self._exclude_patterns.append(
                re.compile("^" + re.escape(tf1_variable_name(variable)) + "$")
            )

    def do_use_weight_decay(self, param_name: str) -> bool:
        """Whether the variable named `param_name` (TF1 name) gets weight decay."""
        if not self.weight_decay_rate:
            return False
        return not any(p.search(param_name) for p in self._exclude_patterns)

    # ----------------------------------------------------------------- building

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # Decide per-variable facts here, where `.path` is still available: on the
        # TF backend `update_step` receives the bare tf.Variable.
        self._slot_names = [tf1_variable_name(v) for v in var_list]
        self._use_decay = [self.do_use_weight_decay(n) for n in self._slot_names]
        self._adam_m, self._adam_v = self.add_optimizer_variables(var_list, ["adam_m", "adam_v"])

    def slot_variables(self, updated_only: bool = False) -> dict[str, keras.Variable]:
        """Slot variables under the original's checkpoint names.

        Args:
          updated_only: leave out the variables no step has updated yet (once
            any step has run): the original creates slots only for variables
            that get a gradient (SQuAD's pooler gets none), so its checkpoints
            have none for them.

        Returns:
          `{"NAME/adam_m": m, "NAME/adam_v": v}` for every variable the optimizer
          was built with (or was updated, see above), `NAME` being its TF1 name
          (`variable.path`).
        """
        if not self.built:
            raise ValueError(
                "The optimizer has no slots yet: call optimizer.build(model.trainable_variables) "
                "or apply gradients once first."
            )
        slots = {}
        skip = updated_only and bool(self._updated_indices)
        for index, (name, m, v) in enumerate(zip(self._slot_names, self._adam_m, self._adam_v)):
            if m is None or (skip and index not in self._updated_indices):
                continue
            slots[f"{name}/adam_m"] = m
            slots[f"{name}/adam_v"] = v
        return slots

    # ----------------------------------------------------------------- the update
    #
    # Keras' `apply` filters `None` gradients, unscales, clips (`_clip_gradients`,
    # a no-op here because the global-norm clip is kept out of the base class's
    # hands, see `__init__`), then calls `_backend_update_step` once per step:
    # the one private hook this class overrides. It sums the gradients over
    # replicas, clips them by global norm as the original, and updates every
    # variable on its own device. `tests/test_optimization.py` checks that Keras
    # still calls the hook and has the helpers used here.

    def apply_gradients(self, grads_and_vars, gathered_half_norms=None):
        """One train step: clip (the original's norm), update, increment `iterations`.

        Args:
          grads_and_vars: (gradient, variable) pairs; a gradient may be
            `tf.IndexedSlices` (see the class docstring).
          gathered_half_norms: optional (variable, float32 scalar) pairs for
            gradients already densified by the caller (gradient accumulation):
            the half squared norm over positions that the variable's
            IndexedSlices gradients had, `tf.nn.l2_loss(values)` summed over
            the micro-batches, to stand in for the dense gradient's term of
            the clip norm.
        """
        self._pending_half_norms = list(gathered_half_norms or ())
        try:
            return super().apply_gradients(grads_and_vars)
        finally:
            self._pending_half_norms = []

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        variables = [_tf_variable(v) for v in trainable_variables]
        grads, gathered_half_norms = _densify(grads)
        pending = {self._var_key(v): h for v, h in getattr(self, "_pending_half_norms", ())}
        if pending:
            for i, variable in enumerate(variables):
                if self._var_key(variable) in pending:
                    gathered_half_norms[i] = pending[self._var_key(variable)]
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # One all-reduce for the dense gradients and the gathered norms.
            gathered = [i for i, h in enumerate(gathered_half_norms) if h is not None]
            grads, norms = context.all_reduce(
                tf.distribute.ReduceOp.SUM, (grads, [gathered_half_norms[i] for i in gathered])
            )
            for i, norm in zip(gathered, norms):
                gathered_half_norms[i] = norm
        grads, clip_scale = self._clip_reduced_gradients(grads, gathered_half_norms)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._update_variables,
            self._distribution_strategy,
            list(zip(grads, variables)),
            learning_rate,
            clip_scale,
        )

    def _clip_reduced_gradients(self, grads, gathered_half_norms):
        """The original's global-norm clip of the replica-summed gradients.

        `gathered_half_norms[i]` is None for a dense gradient, else the
        half squared norm over *positions* of a gathered table's gradient (see
        `_densify`), which stands in for the table's term of the norm.

        Returns:
          (gradients, float32 scale): the clip's multiply `g * scale` is left
          to the fused update (one pass over each gradient fewer); the scale
          is 1.0 without the original's clip (Keras' own `clipnorm` /
          `clipvalue`, if given, are applied to the returned gradients).
        """
        one = tf.constant(1.0, tf.float32)
        if self.clip_norm is not None:
            if not self.clip_norm > 0:
                return grads, one
            return grads, _global_norm_clip_scale(grads, gathered_half_norms, self.clip_norm)
        return super()._clip_gradients(grads), one

    def _update_variables(self, distribution, grads_and_vars, learning_rate, clip_scale):
        """Updates every variable on its own device(s) with its slots."""
        for grad, var in grads_and_vars:
            index = self._get_variable_index(var)
            self._updated_indices.add(index)  # at trace time: the variables with gradients
            distribution.extended.update(
                var,
                self._update_variable,
                args=(
                    grad,
                    _tf_variable(self._adam_m[index]),
                    _tf_variable(self._adam_v[index]),
                    learning_rate,
                    clip_scale,
                    index,
                ),
                group=False,
            )

    def _update_variable(self, variable, gradient, m, v, learning_rate, clip_scale, index):
        """Updates `variable` and its slots `m`, `v` (all local tf.Variables) with the
        gradient `gradient * clip_scale`."""
        dtype = variable.dtype
        if self.bias_correction:
            step = tf.cast(self.iterations + 1, dtype)
            beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), step)
            beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), step)
        else:
            beta_1_power = beta_2_power = tf.zeros([], dtype)
        _fused_adam_weight_decay(
            variable.handle,
            m.handle,
            v.handle,
            tf.cast(gradient, dtype),
            tf.cast(clip_scale, dtype),
            tf.cast(learning_rate, dtype),
            beta_1_power,
            beta_2_power,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay_rate=self.weight_decay_rate if self._use_decay[index] else 0.0,
            bias_correction=self.bias_correction,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "weight_decay_rate": self.weight_decay_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "exclude_from_weight_decay": [p.pattern for p in self._exclude_patterns],
                "bias_correction": self.bias_correction,
                "global_clipnorm": self.clip_norm,
            }
        )
        return config


def _apply_adam_weight_decay(
    param_handle,
    m_handle,
    v_handle,
    grad,
    clip_scale,
    lr,
    beta_1_power,
    beta_2_power,
    *,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    weight_decay_rate: float,
    bias_correction: bool,
):
    """The per-variable update, in the original's order of operations.

    Compiled with XLA (once per process: `_fused_adam_weight_decay`) so that reading the
    parameter, `m`, `v` and the gradient and writing the three results is one
    fused loop instead of about fifteen passes over memory. The variables come
    in as resource handles: under tf.distribute, `.handle` inside an update is
    the current device's copy, and handles (unlike variables) are ordinary
    arguments, so one trace serves every variable. The Python floats are baked
    into the trace, with `1 - beta` computed in double precision like the
    original's Python constants.
    """
    dtype = grad.dtype
    grad = grad * clip_scale  # the global-norm clip's multiply (1.0 without a clip)
    param = tf.raw_ops.ReadVariableOp(resource=param_handle, dtype=dtype)
    m = tf.raw_ops.ReadVariableOp(resource=m_handle, dtype=dtype)
    v = tf.raw_ops.ReadVariableOp(resource=v_handle, dtype=dtype)
    next_m = beta_1 * m + (1.0 - beta_1) * grad
    next_v = beta_2 * v + (1.0 - beta_2) * tf.square(grad)
    if bias_correction:
        update = (next_m / (1.0 - beta_1_power)) / (
            tf.sqrt(next_v / (1.0 - beta_2_power)) + epsilon
        )
    else:
        update = next_m / (tf.sqrt(next_v) + epsilon)
    if weight_decay_rate:
        update += weight_decay_rate * param
    tf.raw_ops.AssignVariableOp(resource=param_handle, value=param - lr * update)
    tf.raw_ops.AssignVariableOp(resource=m_handle, value=next_m)
    tf.raw_ops.AssignVariableOp(resource=v_handle, value=next_v)


# One compiled update per process, shared by every optimizer: the variables come
# in as handles (arguments, not captures), so its traces keep no model alive, and
# each (shape, dtype, hyperparameters) is traced and compiled by XLA once, not
# again for each new optimizer (a new Trainer, a resumed run in the same process).
_fused_adam_weight_decay = tf.function(_apply_adam_weight_decay, jit_compile=True)


def _densify(grads):
    """Dense gradients, and the half squared norms over positions of gathered ones.

    A gradient that reaches the optimizer as `tf.IndexedSlices` comes from a
    `tf.gather` (the word embeddings when `use_one_hot_embeddings=False`): one
    row per looked-up position, repeated ids not summed. The original passes
    such gradients to `tf.clip_by_global_norm`, whose norm squares the rows as
    they are, so it is smaller than the norm of the summed gradient when a
    batch repeats an id; the update itself uses the summed (densified)
    gradient. This returns the densified gradients and, for each gathered one,
    `l2_loss(values)` (half the squared norm over positions; None for the
    dense ones), computed before any cross-replica sum: each replica's rows are
    rows of the global batch, so the sum over replicas equals one device's.

    Returns:
      (dense gradients, list of float32 scalars or None), both of len(grads).
    """
    dense, half_norms = [], []
    for grad in grads:
        if isinstance(grad, tf.IndexedSlices):
            half_norms.append(tf.nn.l2_loss(tf.cast(grad.values, tf.float32)))
            # Summing repeated rows, as the original's update does; every
            # row's moments then decay every step.
            grad = tf.convert_to_tensor(grad)
        else:
            half_norms.append(None)
        dense.append(grad)
    return dense, half_norms


def _global_norm_clip_scale(grads, gathered_half_norms, clip_norm):
    """The factor `tf.clip_by_global_norm` multiplies every gradient by, as a float32 scalar.

    The norm is `sqrt(2 * sum(half squared norms))` over the dense gradients'
    `l2_loss` and the given gathered terms (None for a dense gradient: see
    `_densify`), and the factor `clip_norm * min(1 / norm, 1 / clip_norm)`
    (NaN when the norm is not finite): the operations of
    `tf.clip_by_global_norm`, in its order. The fused update multiplies.
    """
    half_squared_norms = [
        tf.nn.l2_loss(tf.cast(g, tf.float32)) if h is None else h
        for g, h in zip(grads, gathered_half_norms)
    ]
    norm = tf.sqrt(tf.reduce_sum(tf.stack(half_squared_norms)) * 2.0)
    clip_norm = tf.constant(clip_norm, tf.float32)
    scale_for_finite = clip_norm * tf.minimum(1.0 / norm, 1.0 / clip_norm)
    return tf.where(tf.math.is_finite(norm), scale_for_finite, tf.constant(float("nan")))


def _tf_variable(variable):
    """The tf.Variable behind a keras.Variable (or the variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def create_optimizer(
    init_lr: float,
    num_train_steps: int,
    num_warmup_steps: int,
    weight_decay_rate: float = 0.01,
    exclude_from_weight_decay: Sequence[str] | None = DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    clip_norm: float | None = DEFAULT_CLIP_NORM,
    bias_correction: bool = False,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
    optimizer: str = "adamw",
    exclude_from_layer_adaptation: Sequence[str] | None = None,
    **kwargs,
) -> AdamWeightDecayOptimizer:
    """The original's whole train-step optimizer.

    `optimizer.apply_gradients(zip(grads, variables))` clips `grads` by global
    norm `clip_norm`, takes the learning rate of `WarmupPolynomialDecay` at the
    current `iterations` (the original's `global_step` before its increment),
    applies `AdamWeightDecayOptimizer`'s update and increments `iterations`.

    Args:
      init_lr: peak learning rate.
      num_train_steps: steps over which the rate decays linearly to 0.
      num_warmup_steps: steps of linear warm-up from 0, in [0, num_train_steps].
      weight_decay_rate: decoupled weight decay.
      exclude_from_weight_decay: regexes searched in TF1 variable names.
      clip_norm: global-norm clip; None or 0 disables it.
      bias_correction: bias-corrected Adam instead of the original's update
        (`adamw` only; LAMB always corrects).
      beta_1, beta_2, epsilon: Adam's constants (the original's defaults).
      optimizer: `adamw` (the original's `AdamWeightDecayOptimizer`) or `lamb`
        (`official_bert.lamb.LAMBOptimizer`, same schedule, clip and exclusions).
      exclude_from_layer_adaptation: `lamb` only: regexes of variables without
        the trust ratio; None or `[]` uses `exclude_from_weight_decay` (TF
        Addons); `lamb.ADAPT_EVERY_VARIABLE` adapts every variable.
      **kwargs: further optimizer / Keras optimizer arguments.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer={optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
    schedule = WarmupPolynomialDecay(init_lr, num_train_steps, num_warmup_steps)
    common = dict(
        learning_rate=schedule,
        weight_decay_rate=weight_decay_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        exclude_from_weight_decay=list(exclude_from_weight_decay or ()),
        global_clipnorm=clip_norm if clip_norm else None,
        **kwargs,
    )
    if optimizer == "lamb":
        from official_bert.lamb import LAMBOptimizer

        return LAMBOptimizer(exclude_from_layer_adaptation=exclude_from_layer_adaptation, **common)
    if exclude_from_layer_adaptation is not None:
        raise ValueError("exclude_from_layer_adaptation applies to optimizer='lamb' only.")
    return AdamWeightDecayOptimizer(bias_correction=bias_correction, **common)
