"""What the README promises of `--strategy=multi_worker_mirrored` when a worker dies.

Two workers of tests/distributed_worker.py train the one-layer tiny model on
localhost, a checkpoint every step. One is killed (SIGKILL, as a lost machine):
the other must stop on its own (TensorFlow's coordination service notices the
missing heartbeats and aborts the collectives) rather than wait forever.
Started again with the same model dir, both workers resume from the last
checkpoint and end exactly where an uninterrupted run of the same steps ends
on one device: the check that two workers (both phases) train like one device.
"""

import glob
import os
import re
import signal
import sys
import time

import distributed_worker as dw
import numpy as np
import pytest
from state_compare import assert_state_close

from official_bert import checkpoints

# The survivor must have stopped this long after the kill (TensorFlow's
# heartbeat timeout is 10 s; a hang would never end).
SURVIVOR_TIMEOUT_SECONDS = 60
# Long enough that phase 1 never ends on its own.
PHASE_1_STEPS = 100_000
# Kill once the chief has written this step's checkpoint.
KILL_AFTER_STEP = 3
# Steps trained after the restart.
MORE_STEPS = 4


def _checkpoint_steps(model_dir):
    steps = []
    for index in glob.glob(os.path.join(model_dir, "model.ckpt-*.index")):
        match = re.search(r"model\.ckpt-(\d+)\.index$", index)
        if match:
            steps.append(int(match.group(1)))
    return steps


@pytest.mark.slow
@pytest.mark.localhost_cluster
def test_killed_worker_stops_the_run_and_a_restart_resumes_from_the_last_checkpoint(tmp_path):
    model_dir = str(tmp_path / "model")
    logs = [str(tmp_path / f"phase1_worker{i}.log") for i in range(2)]
    args = ["multi_worker_mirrored", str(PHASE_1_STEPS), str(tmp_path / "unused{index}.npz")]
    workers = dw.start_workers(2, [*args, model_dir, "1"], logs)
    try:
        deadline = time.monotonic() + 180
        while max(_checkpoint_steps(model_dir), default=0) < KILL_AFTER_STEP:
            assert all(w.poll() is None for w in workers), dw.log_tail(logs[0]) + dw.log_tail(
                logs[1]
            )
            assert time.monotonic() < deadline, "no checkpoint written: " + dw.log_tail(logs[0])
            time.sleep(0.05)
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait()
        try:
            workers[0].wait(timeout=SURVIVOR_TIMEOUT_SECONDS)
        except Exception:
            pytest.fail(f"worker 0 still runs {SURVIVOR_TIMEOUT_SECONDS} s after worker 1 died")
    finally:
        dw.kill_workers(workers)
    assert workers[0].returncode not in (0, None), dw.log_tail(logs[0])

    latest = checkpoints.latest_checkpoint(model_dir)
    resume_step = checkpoints.checkpoint_step(latest)
    assert resume_step >= KILL_AFTER_STEP
    target = resume_step + MORE_STEPS

    logs = [str(tmp_path / f"phase2_worker{i}.log") for i in range(2)]
    outputs = [str(tmp_path / f"worker{i}.npz") for i in range(2)]
    args = ["multi_worker_mirrored", str(target), str(tmp_path / "worker{index}.npz")]
    workers = dw.start_workers(2, [*args, model_dir, "1"], logs)
    dw.wait_for_workers(workers, logs, timeout=180)
    for log in logs:
        assert f"start step {resume_step}\n" in dw.log_tail(log)  # resumed, not from scratch
    assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(model_dir)) == target

    # An uninterrupted run of `target` steps on one device, the same batches.
    reference = dw.make_trainer(
        None,
        str(tmp_path / "reference"),
        save_checkpoints_steps=target,
        iterations_per_loop=target,
        log_every_n_steps=target,
    )
    reference.train(dw.step_aligned_dataset_fn(reference), target)
    expected = dw.state(reference)
    for output in outputs:
        state = dict(np.load(output))
        assert int(state["global_step"]) == target
        assert_state_close(state, expected)


def test_a_worker_that_dies_fails_the_wait_at_once_and_its_peers_are_killed(tmp_path):
    # As a worker whose port was taken: it exits at start while its peer would wait forever.
    script = "import sys, time; time.sleep(600) if sys.argv[1] == '0' else sys.exit(3)"
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    workers = dw.start_workers(2, ["{index}"], logs, command=[sys.executable, "-c", script])
    started = time.monotonic()
    with pytest.raises(AssertionError, match="worker 1 exited with 3"):
        dw.wait_for_workers(workers, logs, timeout=300)
    assert time.monotonic() - started < 60
    assert workers[0].returncode == -signal.SIGKILL


def test_free_ports_are_outside_the_range_of_outgoing_connections():
    low, _ = dw._ephemeral_port_range()
    ports = dw.free_ports(4)
    assert len(set(ports)) == 4 and all(1024 <= p < low for p in ports)
