"""LAMB (official_bert.lamb) against a float64 NumPy reference of TF Addons' formula."""

import copy
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_optimization import make_variable

from official_bert import optimization
from official_bert.errors import InputError
from official_bert.flags_common import trainer_config_from_flags
from official_bert.lamb import ADAPT_EVERY_VARIABLE, LAMBOptimizer

NAMES = {
    "bert/encoder/layer_0/attention/self/query/kernel": (4, 3),
    "bert/encoder/layer_0/attention/self/query/bias": (3,),
    "bert/encoder/layer_0/output/LayerNorm/gamma": (3,),
    "cls/predictions/output_bias": (5,),
    "output_weights": (2, 4),
}


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    init = {n: rng.normal(size=s) for n, s in NAMES.items()}
    init["cls/predictions/output_bias"][:] = 0.0  # a zero-norm variable: ratio 1
    grads = [{n: rng.normal(size=s) * (1 + 3 * t) for n, s in NAMES.items()} for t in range(10)]
    return init, grads


def _reference(
    init,
    grads,
    lr,
    wd,
    decay_excluded,
    adapt_excluded,
    clip_norm=None,
    b1=0.9,
    b2=0.999,
    eps=1e-6,
    schedule=None,
):
    w = {n: v.copy() for n, v in init.items()}
    m = {n: np.zeros_like(v) for n, v in init.items()}
    v = {n: np.zeros_like(x) for n, x in init.items()}
    for t, g in enumerate(grads, start=1):
        if clip_norm:
            norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
            g = {n: x * clip_norm / max(norm, clip_norm) for n, x in g.items()}
        rate = schedule(t - 1) if schedule else lr
        for n in w:
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            v[n] = b2 * v[n] + (1 - b2) * g[n] ** 2
            r = (m[n] / (1 - b1**t)) / (np.sqrt(v[n] / (1 - b2**t)) + eps)
            if not decay_excluded(n):
                r = r + wd * w[n]
            ratio = 1.0
            if not adapt_excluded(n):
                wn, rn = np.linalg.norm(w[n]), np.linalg.norm(r)
                ratio = wn / rn if wn > 0 and rn > 0 else 1.0
            w[n] = w[n] - rate * ratio * r
    return w, m, v


def _run(opt, init, grads):
    kvars = [make_variable(n, init[n]) for n in NAMES]
    assert [kv.path for kv in kvars] == list(NAMES)
    for g in grads:
        opt.apply_gradients([(tf.constant(g[n], tf.float32), kv) for kv, n in zip(kvars, NAMES)])
    return {n: kv.numpy() for kv, n in zip(kvars, NAMES)}, opt


def _excluded_by(patterns):
    import re

    return lambda name: any(re.search(p, name) for p in patterns)


@pytest.mark.parametrize(
    "adaptation, adapt_excluded",
    [
        (None, _excluded_by(["LayerNorm", "layer_norm", "bias"])),
        # An empty list falls back to the weight-decay exclusions, as in TF Addons.
        ([], _excluded_by(["LayerNorm", "layer_norm", "bias"])),
        (ADAPT_EVERY_VARIABLE, lambda n: False),
        (["None"], lambda n: False),  # NVIDIA's spelling of "adapt everything"
        (["output_weights"], _excluded_by(["output_weights"])),
    ],
    ids=["model_garden", "empty_falls_back", "every_variable", "nvidia_none", "own_list"],
)
def test_ten_steps_match_the_float64_reference(adaptation, adapt_excluded):
    init, grads = _problem()
    opt = LAMBOptimizer(
        0.01,
        weight_decay_rate=0.01,
        exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
        exclude_from_layer_adaptation=adaptation,
    )
    got, opt = _run(opt, init, grads)
    want, m, v = _reference(
        init, grads, 0.01, 0.01, _excluded_by(["LayerNorm", "layer_norm", "bias"]), adapt_excluded
    )
    # float32 arithmetic against float64: measured below 2e-6 relative here.
    for n in NAMES:
        np.testing.assert_allclose(got[n], want[n], rtol=1e-5, atol=1e-6, err_msg=n)
    slots = opt.slot_variables()
    for n in NAMES:
        np.testing.assert_allclose(slots[f"{n}/adam_m"].numpy(), m[n], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(slots[f"{n}/adam_v"].numpy(), v[n], rtol=1e-5, atol=1e-7)


def test_create_optimizer_lamb_has_the_original_schedule_and_clip():
    init, grads = _problem(1)
    opt = optimization.create_optimizer(0.05, 10, 3, optimizer="lamb")
    got, _ = _run(opt, init, grads)
    schedule = optimization.WarmupPolynomialDecay(0.05, 10, 3)
    want, _, _ = _reference(
        init, grads, None, 0.01, _excluded_by(["LayerNorm", "layer_norm", "bias"]),
        _excluded_by(["LayerNorm", "layer_norm", "bias"]), clip_norm=1.0,
        schedule=lambda step: float(schedule(step)),
    )  # fmt: skip
    for n in NAMES:
        np.testing.assert_allclose(got[n], want[n], rtol=1e-5, atol=1e-6, err_msg=n)
    assert int(opt.iterations.numpy()) == 10


def test_agrees_with_keras_lamb_without_weight_decay_and_with_every_variable_adapted():
    # Keras' Lamb: bias-corrected moments, trust ratio on every variable, no
    # decoupled decay. The two coincide with weight_decay_rate=0 and
    # exclude_from_layer_adaptation=ADAPT_EVERY_VARIABLE (no clip).
    init, grads = _problem(2)
    ours, _ = _run(
        LAMBOptimizer(0.02, exclude_from_layer_adaptation=ADAPT_EVERY_VARIABLE), init, grads
    )
    theirs, _ = _run(keras.optimizers.Lamb(0.02, epsilon=1e-6), init, grads)
    for n in NAMES:
        np.testing.assert_allclose(ours[n], theirs[n], rtol=1e-5, atol=1e-6, err_msg=n)


def test_config_round_trips_and_bad_optimizer_names_are_refused():
    opt = optimization.create_optimizer(1e-3, 100, 10, optimizer="lamb",
                                        exclude_from_layer_adaptation=ADAPT_EVERY_VARIABLE)  # fmt: skip
    config = opt.get_config()
    assert config["exclude_from_layer_adaptation"] == list(ADAPT_EVERY_VARIABLE)
    clone = LAMBOptimizer.from_config(copy.deepcopy(config))
    assert clone.get_config() == config
    with pytest.raises(ValueError, match="--optimizer='sgd'"):
        optimization.create_optimizer(1e-3, 10, 1, optimizer="sgd")
    with pytest.raises(ValueError, match="lamb"):
        optimization.create_optimizer(1e-3, 10, 1, exclude_from_layer_adaptation=[])


def test_epsilon_zero_means_the_keras_epsilon_as_in_tf_addons():
    init, grads = _problem(3)
    for g in grads:
        g["output_weights"][0, :] = 0.0  # exactly zero gradients: 0 / (0 + epsilon)
    opt = LAMBOptimizer(0.01, weight_decay_rate=0.01, epsilon=0.0)
    assert opt.epsilon == pytest.approx(keras.config.epsilon())
    got, _ = _run(opt, init, grads)
    want, _, _ = _reference(
        init, grads, 0.01, 0.01, lambda n: False, lambda n: False, eps=keras.config.epsilon()
    )
    for n in NAMES:
        assert np.isfinite(got[n]).all(), n
        np.testing.assert_allclose(got[n], want[n], rtol=1e-5, atol=1e-6, err_msg=n)


def test_lamb_layer_adaptation_flag_maps_to_the_exclusions():
    base = dict(
        output_dir="out", learning_rate=1e-4, save_checkpoints_steps=10, iterations_per_loop=10,
        jit_compile=False, mixed_precision="float32", bias_correction=False, optimizer="lamb",
    )  # fmt: skip
    every = trainer_config_from_flags(SimpleNamespace(**base, lamb_layer_adaptation="all"))
    opt = LAMBOptimizer(0.01, exclude_from_weight_decay=["LayerNorm", "bias"],
                        exclude_from_layer_adaptation=every.exclude_from_layer_adaptation)  # fmt: skip
    assert all(opt.do_layer_adaptation(n) for n in NAMES)
    like = trainer_config_from_flags(
        SimpleNamespace(**base, lamb_layer_adaptation="exclude_like_weight_decay")
    )
    assert like.exclude_from_layer_adaptation is None
    adamw = trainer_config_from_flags(
        SimpleNamespace(**{**base, "optimizer": "adamw"}, lamb_layer_adaptation="all")
    )
    with pytest.raises(InputError, match="--lamb_layer_adaptation .* --optimizer=lamb only"):
        adamw.validate()
