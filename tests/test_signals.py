"""SIGINT and SIGTERM stop training at a step boundary with a checkpoint (issue 14).

Real signals are sent to a training subprocess (tests/signal_worker.py): SIGINT,
then SIGTERM to the resumed run; the run resumed again must end exactly like an
uninterrupted one (run in this process).
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import signal_worker
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


def _uninterrupted(output_dir):
    """The reference: the same run in this process, never signalled."""
    assert signal_worker.main(str(output_dir), NUM_STEPS) == 0
    return _final_state(output_dir)


def _stop(process, signum, output_dir, first_step):
    """Sends `signum` once `process` trains past `first_step`: (the step it stopped at, its log)."""
    # The first call runs one step (and traces); the next runs the rest.
    lines = _wait_for_line(process, rf"step = {first_step + 1}/")
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
    assert first_step + 1 < step < NUM_STEPS, err
    assert match.group(2) == f"{output_dir}/model.ckpt-{step}"
    assert took < 20, f"took {took:.1f} s to stop"
    return step, err


def test_sigint_then_sigterm_stop_at_step_boundaries_and_the_resumed_run_ends_the_same(
    tmp_path,
):
    # One run stopped twice: by SIGINT from the start, then by SIGTERM after
    # resuming; its second resumption must end exactly like a run never stopped.
    output_dir = tmp_path / "stopped"
    step, _ = _stop(_start(output_dir), signal.SIGINT, output_dir, 0)
    resumed_at = step
    step, err = _stop(_start(output_dir), signal.SIGTERM, output_dir, step)
    assert f"Training from step {resumed_at} to {NUM_STEPS}" in err

    last = _start(output_dir)
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    assert f"Training from step {step} to {NUM_STEPS}" in err
    final = _final_state(output_dir)
    uninterrupted = _uninterrupted(tmp_path / "uninterrupted")
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
