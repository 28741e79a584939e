"""Comparison of training state (weights, Adam slots, global_step) with the original's.

Shared by the tests that replay the original's training steps.
"""

import re

import numpy as np

# The key bias only shifts each query's scores by a constant, which the
# softmax ignores: its gradient is 0, and the golden values are float noise.
ZERO_GRADIENT = re.compile(r"attention/self/key/bias")


def assert_state_close(actual, expected, rtol=1e-5, outlier_rtol=5e-4):
    """Compares every checkpoint entry after a few Adam steps.

    Adam divides by sqrt(v) + 1e-6, so the few elements whose gradients are
    near 1e-6 amplify float rounding (up to 2e-4 of a tensor's largest value
    in the golden runs): all but 3% (or 4) of each tensor's elements must
    agree to `rtol` (of the element and of the tensor's largest value), and
    all to `outlier_rtol`. A wrong rate or update moves every element and
    fails the first check.
    """
    assert sorted(actual) == sorted(expected)
    for name, e in expected.items():
        a = np.asarray(actual[name])
        if name == "global_step":
            assert int(a) == int(e)
            continue
        if ZERO_GRADIENT.search(name):
            assert np.abs(a).max() < 1e-6 and np.abs(e).max() < 1e-6, name
            continue
        scale = np.abs(e).max()
        diff = np.abs(a - e)
        tight = diff <= rtol * (np.abs(e) + scale) + 1e-12
        assert (~tight).sum() <= max(4, 0.03 * tight.size), (name, diff.max(), scale)
        assert (diff <= outlier_rtol * (np.abs(e) + scale) + 1e-12).all(), (name, diff.max())
