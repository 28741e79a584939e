"""Choosing a `tf.distribute` strategy and a Keras dtype policy from the flags.

The original ran on TPUEstimator: `--use_tpu` picked a TPU (named by
`--tpu_name`, `--tpu_zone`, `--gcp_project` or `--master`), and anything else
ran on one CPU or GPU. This port keeps those flags and adds `--strategy`:

* `default`: one device (the strategy of no strategy);
* `mirrored`: `tf.distribute.MirroredStrategy` over the local GPUs (or CPUs);
* `multi_worker_mirrored`: `tf.distribute.MultiWorkerMirroredStrategy`, the
  cluster read from the `TF_CONFIG` environment variable;
* `tpu`: `tf.distribute.TPUStrategy` (also chosen by `--use_tpu=True`).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from absl import logging

from official_bert.errors import InputError

# How far each new MirroredStrategy's collective keys are moved (see get_strategy).
_COLLECTIVE_KEYS_PER_STRATEGY = 1_000_000
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
MIXED_PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def resolve_strategy_name(strategy: str, use_tpu: bool = False) -> str:
    """The strategy to build: `tpu` when `use_tpu`, else `strategy`.

    Raises:
      InputError: `strategy` is unknown, or `use_tpu` contradicts it.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy={strategy!r} is not one of {', '.join(STRATEGIES)}.")
    if use_tpu:
        if strategy not in ("default", "tpu"):
            raise InputError(
                f"--use_tpu=True asks for a TPU but --strategy={strategy}; drop one of the two "
                "(--use_tpu=True is the same as --strategy=tpu)."
            )
        return "tpu"
    return strategy


def get_strategy(
    strategy: str = "default",
    *,
    use_tpu: bool = False,
    tpu_name: str | None = None,
    tpu_zone: str | None = None,
    gcp_project: str | None = None,
    master: str | None = None,
    num_tpu_cores: int | None = None,
    devices: list[str] | None = None,
) -> tf.distribute.Strategy:
    """Builds the `tf.distribute.Strategy` named by the flags.

    Args:
      strategy: one of `STRATEGIES`.
      use_tpu: the original's flag; True means `tpu`.
      tpu_name, tpu_zone, gcp_project, master: where the TPU is, as in the
        original (`tpu_name` or else `master` is the TPU's name or grpc:// address).
      num_tpu_cores: the number of TPU cores expected; a warning is logged if
        the TPU has another number (TPUStrategy uses all of them).
      devices: devices for `mirrored` (default: every local GPU, else the CPU).

    Returns:
      The strategy. For `multi_worker_mirrored` this must be called before any
      other TensorFlow op runs in the process.
    """
    name = resolve_strategy_name(strategy, use_tpu)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # Every MirroredStrategy of a process numbers its collectives from the
        # same keys (TensorFlow never advances `_collective_key_base`), so a
        # second strategy in one process (a notebook, a sweep) can collide with
        # the first's collectives ("Shape mismatch in the collective instance").
        # Give each strategy keys of its own; test_distribute checks the name.
        tf.distribute.MirroredStrategy._collective_key_base += _COLLECTIVE_KEYS_PER_STRATEGY
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu_name or master or "", zone=tpu_zone, project=gcp_project
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    tpu_strategy = tf.distribute.TPUStrategy(resolver)
    replicas = tpu_strategy.num_replicas_in_sync
    if num_tpu_cores and replicas != num_tpu_cores:
        logging.warning(
            "--num_tpu_cores=%d but the TPU has %d cores; all %d are used.",
            num_tpu_cores,
            replicas,
            replicas,
        )
    return tpu_strategy


def is_tpu_strategy(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` runs on TPUs: fixed batch shapes and one-hot embeddings."""
    return isinstance(strategy, tf.distribute.TPUStrategy)


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """The number of worker processes of the strategy's cluster (1 without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(job, ())) for job in ("chief", "worker")))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints, summaries and results.

    True except on the non-chief workers of a multi-worker strategy (the chief
    is task `chief`, or `worker` 0 when the cluster has no `chief`).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def dtype_policy(mixed_precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy of `--mixed_precision` (variables stay float32).

    Raises:
      InputError: the name is not one of `MIXED_PRECISION_POLICIES`.
    """
    if mixed_precision not in MIXED_PRECISION_POLICIES:
        raise InputError(
            f"--mixed_precision={mixed_precision!r} is not one of "
            f"{', '.join(MIXED_PRECISION_POLICIES)}."
        )
    return keras.DTypePolicy(mixed_precision)


def xla_compiles_matmuls(policy: keras.DTypePolicy, strategy: tf.distribute.Strategy) -> bool:
    """Whether `--jit_compile` should compile the matmuls too, or only what lies between them.

    False for a bfloat16 compute dtype on CPU: XLA's CPU backend runs a
    bfloat16 `dot` as a float32 dot between two converts, while TensorFlow's
    oneDNN MatMul runs it in bfloat16 (on AMX where the CPU has it, about 4.8x
    its float32 rate). There `Trainer` compiles the elementwise blocks between
    the matmuls instead (`layers.xla_elementwise`). True otherwise (float32,
    float16, any GPU or TPU).
    """
    if policy.compute_dtype != "bfloat16" or is_tpu_strategy(strategy):
        return True
    return bool(tf.config.list_logical_devices("GPU"))  # the model runs on a GPU
