"""SIGINT and SIGTERM stop training at a step boundary with a checkpoint (issue 14).

A real signal is sent to a training subprocess (tests/signal_worker.py); the
resumed run must end exactly like an uninterrupted one.
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

TESTS = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(TESTS, "signal_worker.py")
NUM_STEPS = 120


def _start(output_dir):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, WORKER, str(output_dir), str(NUM_STEPS)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _wait_for_line(process, pattern, timeout=120):
    deadline = time.monotonic() + timeout
    lines = []
    for line in process.stderr:
        lines.append(line)
        if re.search(pattern, line):
            return lines
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(lines)}")


def _final_state(output_dir):
    reader = tf.train.load_checkpoint(str(output_dir / f"model.ckpt-{NUM_STEPS}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    process = _start(output_dir)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return _final_state(output_dir)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_at_a_step_boundary_and_the_resumed_run_ends_the_same(
    signum, uninterrupted, tmp_path
):
    process = _start(tmp_path)
    # The first call runs one step (and traces); the next runs the rest.
    lines = _wait_for_line(process, r"step = 1/")
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(signum)
    _, rest = process.communicate(timeout=60)
    took = time.monotonic() - sent
    err = "".join(lines) + rest
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    match = re.search(
        rf"training stopped at step (\d+) of {NUM_STEPS}, checkpoint (\S+) written", err
    )
    assert match, err
    step = int(match.group(1))
    assert 1 < step < NUM_STEPS, err
    assert match.group(2) == f"{tmp_path}/model.ckpt-{step}"
    assert took < 20, f"took {took:.1f} s to stop"

    resumed = _start(tmp_path)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"Training from step {step} to {NUM_STEPS}" in err
    final = _final_state(tmp_path)
    assert sorted(final) == sorted(uninterrupted)
    for name, value in uninterrupted.items():
        np.testing.assert_allclose(final[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_second_sigint_exits_at_once_and_keeps_the_last_checkpoint(tmp_path):
    process = _start(tmp_path)
    _wait_for_line(process, r"step = 1/")
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err
    leftovers = [name for name in os.listdir(tmp_path) if ".tmp-" in name]
    # A checkpoint write cut short leaves at most a hidden temp file, which the
    # next run removes; any checkpoint named in the state file is whole.
    state = tf.train.get_checkpoint_state(str(tmp_path))
    if state is not None:
        tf.train.load_checkpoint(state.model_checkpoint_path).get_variable_to_shape_map()
    assert all(name.startswith(".") for name in leftovers)
