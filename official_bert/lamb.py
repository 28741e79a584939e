"""LAMB (You et al., 2020) on the machinery of `AdamWeightDecayOptimizer`.

The update is TensorFlow Addons' `LAMB`, which TF Model Garden copies and
NVIDIA's TF2 BERT uses, per variable `w` with (clipped) gradient `g` at the
1-based step `t`:

    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    r = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)
    r += weight_decay_rate * w            unless excluded from weight decay
    ratio = ||w|| / ||r||                 unless excluded from layer adaptation;
                                          1.0 when either norm is 0
    w -= learning_rate * ratio * r

The original BERT had no LAMB. Everything around the update is the
original's, shared with `AdamWeightDecayOptimizer`: the schedule, the
global-norm clip after the cross-replica sum (gathered gradients counted by
position), exclusion regexes searched in TF1 names, and the slots, exported as
`NAME/adam_m` / `NAME/adam_v` so that checkpoints keep the original's layout
(a naming choice: they hold LAMB's moments).

`exclude_from_layer_adaptation`: regexes searched in TF1 names; None or an
empty list falls back to `exclude_from_weight_decay` (TF Addons' behaviour,
which Model Garden keeps: LayerNorm parameters and biases get no trust ratio).
NVIDIA's BERT passes a list that matches nothing (`["None"]`), so every
variable gets the ratio: pass `ADAPT_EVERY_VARIABLE` (what
`--lamb_layer_adaptation=all` does).

`epsilon=0` becomes `keras.config.epsilon()` (1e-7), as in TF Addons: LAMB
divides by `sqrt(v_hat) + epsilon` where the gradient may be exactly 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras
import tensorflow as tf

from official_bert.optimization import AdamWeightDecayOptimizer, _compile_patterns

# A regex that matches no name: as `exclude_from_layer_adaptation`, every
# variable gets the trust ratio (NVIDIA's BERT; an empty list would fall back
# to the weight-decay exclusions, as in TF Addons).
ADAPT_EVERY_VARIABLE = ("(?!)",)


@keras.saving.register_keras_serializable(package="official_bert")
class LAMBOptimizer(AdamWeightDecayOptimizer):
    """LAMB with the original BERT's clip, schedule, exclusions and slot names.

    Args:
      learning_rate, weight_decay_rate, beta_1, beta_2, epsilon,
        exclude_from_weight_decay, name, **kwargs: as `AdamWeightDecayOptimizer`.
      exclude_from_layer_adaptation: regexes (TF1 names) of variables that get
        no trust ratio; None or `[]` uses `exclude_from_weight_decay` (TF
        Addons); `ADAPT_EVERY_VARIABLE` gives every variable the ratio.
      epsilon: 0 means `keras.config.epsilon()`, as in TF Addons.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay_rate: float = 0.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-6,
        exclude_from_weight_decay: Sequence[str] | None = None,
        exclude_from_layer_adaptation: Sequence[str] | None = None,
        name: str = "LAMBOptimizer",
        **kwargs,
    ):
        kwargs.pop("bias_correction", None)  # LAMB always corrects; not a choice here
        super().__init__(
            learning_rate,
            weight_decay_rate=weight_decay_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon or keras.config.epsilon(),
            exclude_from_weight_decay=exclude_from_weight_decay,
            bias_correction=True,
            name=name,
            **kwargs,
        )
        self._layer_adaptation_patterns: list[re.Pattern] | None = (
            _compile_patterns(exclude_from_layer_adaptation)
            if exclude_from_layer_adaptation
            else None
        )
        self._use_adaptation: list[bool] = []

    def do_layer_adaptation(self, param_name: str) -> bool:
        """Whether the variable named `param_name` (TF1 name) gets the trust ratio."""
        patterns = self._layer_adaptation_patterns
        if patterns is None:
            patterns = self._exclude_patterns
        return not any(p.search(param_name) for p in patterns)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._use_adaptation = [self.do_layer_adaptation(n) for n in self._slot_names]

    def _update_variable(self, variable, gradient, m, v, learning_rate, clip_scale, index):
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        _fused_lamb(
            variable.handle,
            m.handle,
            v.handle,
            tf.cast(gradient, dtype),
            tf.cast(clip_scale, dtype),
            tf.cast(learning_rate, dtype),
            tf.pow(tf.cast(self.beta_1, dtype), step),
            tf.pow(tf.cast(self.beta_2, dtype), step),
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay_rate=self.weight_decay_rate if self._use_decay[index] else 0.0,
            layer_adaptation=self._use_adaptation[index],
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("bias_correction", None)
        patterns = self._layer_adaptation_patterns
        config["exclude_from_layer_adaptation"] = (
            None if patterns is None else [p.pattern for p in patterns]
        )
        return config


def _apply_lamb(
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
    layer_adaptation: bool,
):
    """One variable's LAMB update, in TF Addons' order of operations (compiled with XLA)."""
    dtype = grad.dtype
    grad = grad * clip_scale  # the global-norm clip's multiply (1.0 without a clip)
    param = tf.raw_ops.ReadVariableOp(resource=param_handle, dtype=dtype)
    m = tf.raw_ops.ReadVariableOp(resource=m_handle, dtype=dtype)
    v = tf.raw_ops.ReadVariableOp(resource=v_handle, dtype=dtype)
    next_m = m * beta_1 + grad * (1.0 - beta_1)
    next_v = v * beta_2 + tf.square(grad) * (1.0 - beta_2)
    m_hat = next_m / (1.0 - beta_1_power)
    v_hat = next_v / (1.0 - beta_2_power)
    update = m_hat / (tf.sqrt(v_hat) + epsilon)
    if weight_decay_rate:
        update += weight_decay_rate * param
    ratio = tf.ones([], dtype)
    if layer_adaptation:
        w_norm = tf.norm(param, ord=2)
        r_norm = tf.norm(update, ord=2)
        ratio = tf.where(
            tf.greater(w_norm, 0), tf.where(tf.greater(r_norm, 0), w_norm / r_norm, 1.0), 1.0
        )
    tf.raw_ops.AssignVariableOp(resource=param_handle, value=param - ratio * lr * update)
    tf.raw_ops.AssignVariableOp(resource=m_handle, value=next_m)
    tf.raw_ops.AssignVariableOp(resource=v_handle, value=next_v)


# One compiled update per process, shared by every LAMB optimizer (as
# optimization._fused_adam_weight_decay): handles are arguments, so no trace keeps a
# model alive, and XLA compiles each shape and setting once.
_fused_lamb = tf.function(_apply_lamb, jit_compile=True)
