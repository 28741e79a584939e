"""Model FLOPs of a training step, the machine's matmul rate, and the utilisation.

The training loop's progress lines give, next to examples/s, the model's
FLOP/s and its **model FLOP/s utilisation** (MFU): the FLOPs the model needs
per second of training divided by the rate at which this machine runs one
large matmul in the model's compute dtype. 100% would be a step that does
nothing but matmuls at the speed of a single big `tf.matmul`.

The FLOP convention is the usual one of MFU ("model FLOPs"):
- a training step costs 3x the matmul FLOPs of the forward pass (the
  forward, plus two matmuls of the same size per matmul in the backward pass:
  the gradients of its two operands); no recomputation is counted;
- a matmul of [m, k] by [k, n] is 2*m*k*n FLOPs (a multiply and an add);
- only matmuls count (`MatMul`, `BatchMatMul*`, two-operand `Einsum`):
  element-wise ops, softmax, layer norm, the optimizer update and the
  embedding look-ups do not. A matmul by a one-hot matrix is a look-up (the
  token-type embeddings, or the word embeddings with
  `use_one_hot_embeddings`) and does not count either, so the figure does not
  depend on how the look-up is implemented.

The forward's matmuls are read from the graph that the model actually runs:
`train_flops_per_example` traces the training loss,
`task.replica_loss(model(features, training=True), ...)`, for one example of
the training data's shapes and sums the matmul FLOPs of the ops the loss
depends on from their static shapes (recursing into nested functions, e.g. a
forward compiled with `jit_compile`). Counted this way the figure follows the model
and head that run (masked LM over `max_predictions_per_seq` positions, the
pooler and classifier, the SQuAD span head, or a user's own `Task`), with no
formula per task to keep in sync; `tests/test_throughput.py` checks it against
BERT's analytic formula. Every matmul of BERT is linear in the batch size, so
one example's count times the examples of a step is the step's count.

`matmul_rate(dtype)` measures, once per process and dtype, a
`tf.matmul` of a BERT-like shape (1024x768 @ 768x3072, BERT-Base's feed-forward
layer on 8 sequences of 128 tokens): a warm-up, then the best of a few calls
within about `MEASURE_SECONDS`. In bfloat16 on a CPU with AMX it measures the
AMX rate; on a CPU without bfloat16 support it measures whatever TensorFlow
does instead (slow: then MFU is against that slow rate).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf

# A training step costs 3x the forward's matmuls: the forward, and in the
# backward the gradients of both operands of each matmul.
TRAIN_FLOPS_PER_FORWARD_FLOP = 3

# The matmul whose rate is the machine's roofline: [m, k] @ [k, n], BERT-Base's
# intermediate layer on 1024 tokens.
MATMUL_SHAPE = (1024, 768, 3072)

# About how long one rate measurement may take (seconds): the tests run many
# tiny trainings, each process measures once per dtype.
MEASURE_SECONDS = 0.25
_MAX_REPEATS = 10

_MATMULS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
# Ops between a OneHot and the matmul that uses it as a look-up table's selector.
_PASS_THROUGH = ("Cast", "Identity", "Reshape", "ExpandDims", "Squeeze")

_rates: dict[tuple[str, tuple[int, int, int]], float] = {}


# --------------------------------------------------------------------------- FLOPs


def matmul_flops(graph: tf.Graph) -> int:
    """The FLOPs (2 per multiply-add) of the matmuls `graph`'s outputs depend on.

    Ops whose results are not used (TensorFlow prunes them before running the
    graph, e.g. the pooler of a SQuAD model) do not count; nor do matmuls
    with a one-hot operand (look-ups). Functions the graph calls (a forward
    compiled with `jit_compile`, control flow) are counted inside.

    Raises:
      ValueError: a matmul whose shapes are not static, naming the op.
    """
    total = 0
    for op in _used_ops(graph):
        if op.type in _MATMULS:
            if not any(_is_one_hot(t) for t in op.inputs):
                total += _matmul_op_flops(op)
        elif op.type == "Einsum":
            if len(op.inputs) == 2 and not any(_is_one_hot(t) for t in op.inputs):
                total += _einsum_flops(op)
        for function_graph in _called_graphs(op):
            total += matmul_flops(function_graph)
    return total


def _used_ops(graph: tf.Graph) -> list[tf.Operation]:
    """The ops of `graph` its outputs (and control outputs) depend on, in graph order."""
    pending = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    seen: set[str] = set()
    while pending:
        op = pending.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        pending.extend(t.op for t in op.inputs)
        pending.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in seen]


def _is_one_hot(tensor: tf.Tensor) -> bool:
    op = tensor.op
    while op.type in _PASS_THROUGH:
        op = op.inputs[0].op
    return op.type == "OneHot"


def _static(shape: tf.TensorShape, op: tf.Operation) -> list[int]:
    if not shape.is_fully_defined():
        raise ValueError(
            f"{op.type} op {op.name} has a shape that is not static ({shape}): its FLOPs are "
            "unknown. Give the training data static shapes (fixed sequence lengths)."
        )
    return shape.as_list()


def _product(values) -> int:
    result = 1
    for v in values:
        result *= v
    return result


def _matmul_op_flops(op: tf.Operation) -> int:
    x = _static(op.inputs[0].shape, op)
    out = _static(op.outputs[0].shape, op)
    if op.type == "MatMul":
        k = x[0] if op.get_attr("transpose_a") else x[1]
    else:
        k = x[-2] if op.get_attr("adj_x") else x[-1]
    return 2 * _product(out) * k


def _einsum_flops(op: tf.Operation) -> int:
    """2 x the product of the sizes of every index of a two-operand einsum."""
    equation = op.get_attr("equation").decode().replace(" ", "")
    inputs, output = equation.split("->")
    sizes: dict[str, int] = {}
    for labels, tensor in zip(inputs.split(","), op.inputs):
        shape = _static(tensor.shape, op)
        if "..." in labels:
            head, tail = labels.split("...")
            shape = shape[: len(head)] + shape[len(shape) - len(tail) :]
            labels = head + tail
        sizes.update(zip(labels, shape))
    out_shape = _static(op.outputs[0].shape, op)
    broadcast = 1
    if "..." in output:
        head, tail = output.split("...")
        broadcast = _product(out_shape[len(head) : len(out_shape) - len(tail)])
    return 2 * _product(sizes.values()) * broadcast


def _called_graphs(op: tf.Operation) -> list[tf.Graph]:
    """The graphs of the functions `op` calls (PartitionedCall, control flow)."""
    graphs = []
    for name in ("f", "then_branch", "else_branch", "body"):
        try:
            attr = op.get_attr(name)
        except ValueError:
            continue
        function = op.graph._get_function(attr.name)  # noqa: SLF001 (no public lookup)
        if function is not None and getattr(function, "graph", None) is not None:
            graphs.append(function.graph)
    return graphs


def _one_example_spec(element_spec: Any) -> Any:
    """The spec of one example: replica 0's spec (under a strategy) with batch size 1."""

    def one(spec):
        if hasattr(spec, "_value_specs"):  # PerReplicaSpec of a distributed dataset
            spec = spec._value_specs[0]  # noqa: SLF001
        return tf.TensorSpec([1, *spec.shape[1:]], spec.dtype)

    return tf.nest.map_structure(one, element_spec)


def forward_flops(fn: Callable[[Any], Any], feature_spec: Any) -> int:
    """Matmul FLOPs of `fn(features)` (e.g. a training loss) for features of `feature_spec`.

    Args:
      fn: features -> Tensor(s): what a training step computes before its
        backward pass, typically `task.replica_loss(model(features,
        training=True), ...)`; only what its results depend on counts.
      feature_spec: a structure of `tf.TensorSpec` with static shapes.
    """
    concrete = tf.function(fn).get_concrete_function(feature_spec)
    return matmul_flops(concrete.graph)


def training_loss(task: Any, model: Any) -> Callable[[Any], tf.Tensor]:
    """features -> the loss a training step of `task` computes with `model` (its forward).

    `task` is an `official_bert.training.Task`; the global totals are the
    batch's own (one replica).
    """

    def loss(features):
        outputs = model(features, training=True)
        return task.replica_loss(outputs, features, task.global_totals(features))

    return loss


def train_flops_per_example(fn: Callable[[Any], Any], element_spec: Any) -> int:
    """Model FLOPs of training on one example: 3x the forward's matmul FLOPs.

    Args:
      fn: features -> the training loss (`training_loss`; see `forward_flops`).
      element_spec: the `element_spec` of the training data (batches, or a
        distributed iterator's per-replica specs); the batch dimension is
        replaced by 1, the other dimensions must be static.

    Raises:
      ValueError: a matmul's shape is not static.
    """
    return TRAIN_FLOPS_PER_FORWARD_FLOP * forward_flops(fn, _one_example_spec(element_spec))


# --------------------------------------------------------------------------- the machine


def matmul_rate(dtype: str = "float32", shape: tuple[int, int, int] = MATMUL_SHAPE) -> float:
    """FLOP/s of a `tf.matmul` of `shape` (m, k, n) in `dtype` on the default device.

    Measured once per process, dtype and shape (about `MEASURE_SECONDS`): a
    warm-up call, then the best of up to 10 calls while the budget lasts (at
    least one). When the warm-up alone exceeds the budget (a dtype the
    hardware does not support), the warm-up is the measurement.
    """
    key = (tf.as_dtype(dtype).name, tuple(shape))
    if key not in _rates:
        _rates[key] = _measure_matmul_rate(tf.as_dtype(dtype), shape)
    return _rates[key]


def _measure_matmul_rate(dtype: tf.DType, shape: tuple[int, int, int]) -> float:
    m, k, n = shape
    with tf.init_scope():  # eager, even if called while tracing
        a = tf.cast(tf.random.stateless_normal([m, k], seed=[1, 2]), dtype)
        b = tf.cast(tf.random.stateless_normal([k, n], seed=[3, 4]), dtype)

        def call() -> float:
            start = time.perf_counter()
            tf.matmul(a, b)[0, 0].numpy()  # one element: no copy of the product
            return time.perf_counter() - start

        best = call()  # warm-up (oneDNN builds its kernel)
        spent = best
        if spent < MEASURE_SECONDS:
            best = float("inf")
            for _ in range(_MAX_REPEATS):
                seconds = call()
                best = min(best, seconds)
                spent += seconds
                if spent >= MEASURE_SECONDS:
                    break
    return 2.0 * m * k * n / best


def compute_dtype(policy: Any) -> str:
    """The compute dtype of a Keras dtype policy (or its name): `float32`, `bfloat16`, ..."""
    name = policy if isinstance(policy, str) else policy.name
    if name.startswith("mixed_"):
        return name[len("mixed_") :]
    return name


def machine_flops(strategy: tf.distribute.Strategy, rate: float) -> float:
    """The roofline of a strategy's devices, from one device's matmul `rate`.

    CPU replicas of one worker share that worker's cores (a matmul already uses
    all of them): the roofline is `rate` per worker. Accelerator replicas
    (GPU, TPU) each have their own: `rate` per replica.
    """
    replicas = strategy.num_replicas_in_sync
    try:
        local = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy: one device
        return rate
    if all("CPU" in device.upper().rsplit("/", 1)[-1] for device in local):
        return rate * max(1, replicas // max(1, len(local)))
    return rate * replicas


# --------------------------------------------------------------------------- the meter


@dataclasses.dataclass(frozen=True)
class Throughput:
    """Turns examples/s into model FLOP/s and utilisation.

    Attributes:
      flops_per_example: model FLOPs of training on one example
        (`train_flops_per_example`).
      peak_flops: the FLOP/s of the matmul roofline of all devices
        (`machine_flops` of `matmul_rate`).
      dtype: the compute dtype the rate was measured in.
    """

    flops_per_example: float
    peak_flops: float
    dtype: str

    def rates(self, examples_per_sec: float) -> dict[str, float]:
        """`model_flops_per_sec` and `model_flops_utilization` (a fraction) of a speed."""
        flops = self.flops_per_example * examples_per_sec
        return {
            "model_flops_per_sec": flops,
            "model_flops_utilization": flops / self.peak_flops,
        }


def measure(
    fn: Callable[[Any], Any], element_spec: Any, strategy: tf.distribute.Strategy, policy: Any
) -> Throughput | None:
    """A `Throughput` for training `fn` (features -> loss) on data of `element_spec`.

    Counts the FLOPs (`train_flops_per_example`), measures the matmul rate of
    the policy's compute dtype (`matmul_rate`, once per process) and logs both.

    Returns None, with a warning, when the model's FLOPs cannot be counted
    (shapes that are not static): progress lines then give examples/s only.
    """
    from absl import logging

    try:
        per_example = train_flops_per_example(fn, element_spec)
    except ValueError as error:
        logging.warning("Model FLOPs unknown, no FLOP/s in the progress lines: %s", error)
        return None
    dtype = compute_dtype(policy)
    rate = matmul_rate(dtype)
    peak = machine_flops(strategy, rate)
    m, k, n = MATMUL_SHAPE
    logging.info(
        "Model FLOPs: %.4g GFLOP per training example (3 x the forward's matmuls); "
        "matmul rate: %.4g GFLOP/s (%s, %dx%dx%d)%s",
        per_example / 1e9,
        rate / 1e9,
        dtype,
        m,
        k,
        n,
        f", x{peak / rate:g} devices" if peak != rate else "",
    )
    return Throughput(float(per_example), peak, dtype)


__all__ = [
    "MATMUL_SHAPE",
    "TRAIN_FLOPS_PER_FORWARD_FLOP",
    "Throughput",
    "compute_dtype",
    "forward_flops",
    "machine_flops",
    "matmul_flops",
    "matmul_rate",
    "measure",
    "train_flops_per_example",
    "training_loss",
]
