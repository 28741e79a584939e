"""Trains (one layer of) the tiny golden BERT a few steps under a strategy; saves the variables.

Used by tests/test_training.py and others in process (its data and `train`),
and as a script by the multi-worker tests (tests/test_distributed_worker_failure.py),
where two copies run with TF_CONFIG set:

    TF_CONFIG=... python tests/distributed_worker.py STRATEGY NUM_STEPS OUTPUT.npz MODEL_DIR

(`start_workers` starts such a cluster of processes on localhost.)

The input is deterministic: 16 examples made from the golden batch, global
batches of 4 in order ([0..3], [4..7], ..., [12..15], [0..3], ...). However the strategy
splits them (replicas take consecutive per-replica batches; workers take
every other record), each step's global batch is the same set of examples.
The masked LM weights differ per example, so the masked LM loss is only right
if its denominator is summed over all replicas.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

TESTS = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(TESTS, "golden", "tiny_bert")
GLOBAL_BATCH_SIZE = 4
NUM_EXAMPLES = 16


def examples() -> dict[str, np.ndarray]:
    """16 pretraining examples (the 3 golden ones, varied), as arrays [16, ...]."""
    golden = np.load(os.path.join(TINY, "model_golden.npz"))
    rows = [i % 3 for i in range(NUM_EXAMPLES)]
    out = {
        name: golden[f"inputs/{name}"][rows].copy()
        for name in (
            "input_ids",
            "input_mask",
            "segment_ids",
            "masked_lm_positions",
            "masked_lm_ids",
            "masked_lm_weights",
            "next_sentence_labels",
        )
    }
    # Vary the examples so that no two global batches are the same.
    out["input_ids"] = (out["input_ids"] + np.arange(NUM_EXAMPLES)[:, None] * 7) % 99
    out["masked_lm_weights"][[3, 9]] = [1, 0, 0, 0]
    out["masked_lm_weights"][[6, 13]] = [0, 0, 0, 0]
    out["next_sentence_labels"][4:10] = 1 - out["next_sentence_labels"][4:10]
    return out


def dataset_fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Per-replica batches, sharded by input pipeline (worker), in order, forever."""
    batch_size = GLOBAL_BATCH_SIZE
    d = tf.data.Dataset.from_tensor_slices(examples())
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(GLOBAL_BATCH_SIZE)
        d = d.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return d.repeat().batch(batch_size, drop_remainder=True)


def tiny_config():
    from official_bert.modeling import BertConfig

    config = BertConfig.from_json_file(os.path.join(TINY, "bert_config.json"))
    # The golden numbers were made with is_training=False: no dropout.
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0
    return config


def one_layer_config():
    """The tiny config with only layer_0: traces faster, for the tests that need no goldens."""
    config = tiny_config()
    config.num_hidden_layers = 1
    return config


def make_trainer(
    strategy, model_dir: str, num_train_steps: int = 20, bert_config=None, **config_kwargs
):
    """A Trainer of the (one-layer) tiny model, restored from the released golden checkpoint."""
    from official_bert.pretraining import PretrainingTask
    from official_bert.training import Trainer, TrainerConfig

    config = TrainerConfig(
        output_dir=model_dir,
        learning_rate=1e-2,
        num_train_steps=num_train_steps,
        num_warmup_steps=2,
        **config_kwargs,
    )
    trainer = Trainer(PretrainingTask(bert_config or one_layer_config()), config, strategy)
    trainer.restore(os.path.join(TINY, "released", "bert_model.ckpt"))
    return trainer


def state(trainer) -> dict[str, np.ndarray]:
    """Every checkpoint entry of the trainer's model and optimizer, as numpy arrays."""
    out = {v.path: np.asarray(v.numpy()) for v in trainer.model.weights}
    out.update({k: np.asarray(v.numpy()) for k, v in trainer.optimizer.slot_variables().items()})
    out["global_step"] = np.asarray(trainer.global_step)
    return out


def step_aligned_dataset_fn(trainer):
    """`dataset_fn`, starting at the trainer's global step: step k always sees batch k.

    The loop, like the original's Estimator, restarts its input on resume;
    skipping the batches of the steps already trained makes a resumed run see
    what an uninterrupted one would.
    """

    def fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        return dataset_fn(input_context).skip(trainer.global_step)

    return fn


def _ephemeral_port_range() -> tuple[int, int]:
    """The ports the kernel hands to bind(port 0) and to outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_ports(count: int) -> list[int]:
    """`count` TCP ports of localhost that are free now, below the ephemeral range.

    A port from bind(port 0) is an ephemeral one: between our check and the
    worker's own bind, any outgoing connection on the machine (pip, another
    test's subprocess) may be given it, and the worker then dies with "Could
    not start gRPC server" while its peers wait for it forever. Ports below the
    ephemeral range are only taken by a process that asks for them by number.
    """
    low, _ = _ephemeral_port_range()
    candidates = list(range(max(1024, low - 12_000), low))
    random.SystemRandom().shuffle(candidates)
    ports = []
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"fewer than {count} free ports below {low}")


def start_workers(
    num_workers: int,
    args: list[str],
    log_paths: list[str],
    command: list[str] | None = None,
) -> list[subprocess.Popen]:
    """Starts the workers of a localhost cluster (TF_CONFIG per process).

    Args:
      num_workers: the cluster's size; worker 0 is the chief.
      args: the command's arguments, with `{index}` replaced by each worker's index.
      log_paths: one file per worker for its stdout and stderr.
      command: what each worker runs (default: this script).
    """
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(num_workers)]}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.path.dirname(TESTS))
    workers = []
    for index in range(num_workers):
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        with open(log_paths[index], "w") as log:
            workers.append(
                subprocess.Popen(
                    [
                        *(command or [sys.executable, __file__]),
                        *(a.format(index=index) for a in args),
                    ],
                    env=dict(env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return workers


def log_tail(path: str, chars: int = 3000) -> str:
    with open(path, errors="replace") as f:
        return f.read()[-chars:]


def wait_for_workers(workers: list[subprocess.Popen], log_paths: list[str], timeout: float) -> None:
    """Waits until every worker has exited 0; fails as soon as one fails, or at `timeout`.

    A worker that dies leaves its peers waiting for it forever (TensorFlow's
    collectives wait for every worker to join), so the others are killed at
    once and the failure shows the dead worker's log. Whatever happens, no
    worker outlives this call.
    """
    deadline = time.monotonic() + timeout
    try:
        while True:
            codes = [worker.poll() for worker in workers]
            for index, code in enumerate(codes):
                if code not in (None, 0):
                    raise AssertionError(
                        f"worker {index} exited with {code}:\n{log_tail(log_paths[index])}"
                    )
            if all(code == 0 for code in codes):
                return
            if time.monotonic() > deadline:
                running = [i for i, code in enumerate(codes) if code is None]
                raise AssertionError(
                    f"workers {running} still running after {timeout} s:\n"
                    + "\n".join(f"--- worker {i}:\n{log_tail(log_paths[i])}" for i in running)
                )
            time.sleep(0.1)
    finally:
        kill_workers(workers)


def kill_workers(workers: list[subprocess.Popen]) -> None:
    """Kills (SIGKILL) and reaps every worker that still runs."""
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait()


def main(argv: list[str]) -> None:
    """STRATEGY NUM_STEPS OUTPUT.npz MODEL_DIR [SAVE_CHECKPOINTS_STEPS]

    With SAVE_CHECKPOINTS_STEPS, a checkpoint (and a tf.function call) every
    that many steps, and input aligned with the global step, so that a run
    resumed from a checkpoint sees the batches an uninterrupted one would.
    """
    strategy_name, num_steps, output, model_dir = argv[1], int(argv[2]), argv[3], argv[4]
    from official_bert import distribute

    strategy = distribute.get_strategy(strategy_name)
    if len(argv) > 5:
        every = int(argv[5])
        trainer = make_trainer(
            strategy,
            model_dir,
            save_checkpoints_steps=every,
            iterations_per_loop=every,
            log_every_n_steps=every,
        )
        print(f"start step {trainer.global_step}", flush=True)
        trainer.train(step_aligned_dataset_fn(trainer), num_steps)
    else:
        trainer = make_trainer(strategy, model_dir, save_checkpoints_steps=1000)
        trainer.train(dataset_fn, num_steps)
    np.savez(output, **state(trainer))


if __name__ == "__main__":
    main(sys.argv)
