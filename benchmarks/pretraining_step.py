"""Pretraining step speed: run_pretraining's train step against keras-hub + AdamW (BERT-Small).

One full training step of masked LM pretraining on a batch of random token
ids (BERT-Small shapes by default: L=4, H=512, A=8, intermediate 2048, seq
128, batch 16, 20 masked positions, the uncased vocabulary; random weights,
dropout 0.1 as in pretraining): forward, backward, global-norm clip and
optimizer update.

- **ours**: `official_bert.training.Trainer` with `pretraining.PretrainingTask`,
  the step run_pretraining.py runs (`Trainer.train_steps(iterator, 1)`):
  `BertPretrainer` (masked LM + next sentence heads), the original's loss,
  `create_optimizer` (clip by global norm 1.0, Adam with decoupled weight
  decay); `+xla` is `--jit_compile`.
- **keras_hub**: `keras_hub.models.BertMaskedLM` on a `BertBackbone` of the
  same configuration (dropout 0.1), sparse softmax cross-entropy weighted by
  the masked LM weights, Keras `AdamW(weight_decay=0.01, epsilon=1e-6,
  global_clipnorm=1.0)`, in one `tf.function` (GradientTape +
  apply_gradients); `+xla` compiles that function with `jit_compile=True`.
  It has no next sentence head (2 x H more weights on ours: negligible).

All four run in paired rounds in one process
(`_references.compare_with_keras_hub`); the speed-ups are medians of
per-round ratios. A `tf.matmul` of similar shape
gives the machine's roofline, measured before and after the rounds.

Then the model FLOP/s utilisation (MFU) of each variant, as the training log
lines give it (official_bert.throughput): the step's model FLOPs (3x the
forward's matmuls, counted from our model's graph and checked against the
analytic formula) over the median step time, over the float32 matmul rate
(the higher of `throughput.matmul_rate` before the warm-up and a `tf.matmul`
after the rounds); with the CPU's model and AVX-512/AMX flags.

keras-hub is optional (the `bench` extra): without it only ours is timed.

    python benchmarks/pretraining_step.py [--rounds 7] [--batch_size 16]
        [--num_hidden_layers 4] [--hidden_size 512] [--profile DIR]

`--profile DIR` also writes a TensorFlow profiler trace of 3 steps of each of
ours / ours+xla to DIR (open it with TensorBoard's profile plugin) and prints
the ops that take the most time, summed over threads. The profiler slows the
many small ops of the graph without XLA more than XLA's few big ones.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from _references import (
    compare_with_keras_hub,
    encoder_flops,
    keras_hub_backbone,
    keras_hub_features,
    keras_train_step,
    random_batch,
    trainer_step,
)
from _timing import cpu_description, loadavg, matmul_gflops

from official_bert import throughput
from official_bert.modeling import BertConfig
from official_bert.pretraining import PretrainingTask

LEARNING_RATE = 1e-4


def make_config(args) -> BertConfig:
    return BertConfig(
        vocab_size=30522,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        num_attention_heads=args.hidden_size // 64,
        intermediate_size=4 * args.hidden_size,
        max_position_embeddings=512,
        type_vocab_size=2,
    )


def train_step_flops(config: BertConfig, batch_size: int, seq_length: int, predictions: int):
    """FLOPs of one training step: the forward's matmuls, times 3 (forward + 2x backward)."""
    h, v = config.hidden_size, config.vocab_size
    masked = batch_size * predictions
    heads = 2 * masked * h * h + 2 * masked * h * v  # transform, output embeddings
    heads += 2 * batch_size * h * (h + 2)  # pooler, next sentence classifier
    return 3.0 * (encoder_flops(config, batch_size, seq_length) + heads)


def counted_flops_per_example(task, batch: dict, analytic_step_flops: float) -> float:
    """Training FLOPs per example counted from the task's model graph, as the log lines.

    Prints the count next to `analytic_step_flops` (they must agree).
    """
    import keras

    model = task.build_model(keras.DTypePolicy("float32"), False)
    spec = {k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype)) for k, v in batch.items()}
    per_example = throughput.train_flops_per_example(throughput.training_loss(task, model), spec)
    batch_size = len(next(iter(batch.values())))
    agree = "equal" if per_example * batch_size == analytic_step_flops else "MISMATCH"
    print(
        f"model FLOPs per step: {per_example * batch_size / 1e9:.2f} GFLOP counted from the "
        f"graph (official_bert.throughput), {analytic_step_flops / 1e9:.2f} analytic: {agree}"
    )
    return float(per_example)


def print_utilisation(times, batch_size: int, flops_per_example: float, rate_before: float):
    """Examples/s, model GFLOP/s and MFU of each variant (float32).

    MFU is against the higher of two measurements of the matmul rate:
    `rate_before` (`throughput.matmul_rate`, taken before the warm-up, as the
    training loop takes it before its first step) and the best of 10 calls
    after the rounds. Other load lowers a measurement, and the higher one is
    closer to what the hardware can do.
    """
    m, k, n = throughput.MATMUL_SHAPE
    rate_after = matmul_gflops(m, k, n) * 1e9
    rate = max(rate_before, rate_after)
    print(f"\nCPU: {cpu_description()}")
    print(
        f"matmul rate (float32, {m}x{k}x{n}): {rate_before / 1e9:.0f} GFLOP/s before the "
        f"warm-up (official_bert.throughput, as the training logs), {rate_after / 1e9:.0f} "
        f"after the rounds (load {loadavg()}); MFU against {rate / 1e9:.0f}"
    )
    print("| variant | median ex/s | model GFLOP/s (median) | MFU (median) | MFU (best) |")
    print("| --- | --- | --- | --- | --- |")
    meter = throughput.Throughput(flops_per_example, rate, "float32")
    for name in times.kept[0]:
        examples_per_sec = batch_size / times.median_s(name)
        median = meter.rates(examples_per_sec)
        best = meter.rates(batch_size / times.best_s(name))
        print(
            f"| {name} | {examples_per_sec:.2f} | {median['model_flops_per_sec'] / 1e9:.0f} "
            f"| {100 * median['model_flops_utilization']:.0f}% "
            f"| {100 * best['model_flops_utilization']:.0f}% |"
        )
    print("(keras-hub's variants at our model's FLOPs: theirs differ by the pooler/NSP only)")


def make_batch(batch_size: int, seq_length: int, predictions: int, vocab_size: int):
    """A random padded batch (see `random_batch`) with masked positions inside the text."""
    rng = np.random.default_rng(0)
    batch = random_batch(rng, batch_size, seq_length, vocab_size)
    lengths = batch["input_mask"].sum(axis=1)
    positions = np.stack(
        [np.sort(rng.choice(np.arange(1, n), predictions, replace=False)) for n in lengths]
    ).astype(np.int32)
    num_real = rng.integers(predictions // 2, predictions + 1, [batch_size])
    weights = (np.arange(predictions)[None, :] < num_real[:, None]).astype(np.float32)
    batch.update(
        masked_lm_positions=positions * weights.astype(np.int32),
        masked_lm_ids=rng.integers(0, vocab_size, [batch_size, predictions]).astype(np.int32),
        masked_lm_weights=weights,
        next_sentence_labels=rng.integers(0, 2, [batch_size, 1]).astype(np.int32),
    )
    return batch


def ours(config: BertConfig, batch: dict, jit: bool, output_dir: str):
    return trainer_step(PretrainingTask(config), batch, LEARNING_RATE, jit, output_dir)


def keras_hub_masked_lm(config: BertConfig, batch: dict, jit: bool):
    import keras
    import keras_hub  # optional: pip install keras-hub (the `bench` extra)

    model = keras_hub.models.BertMaskedLM(keras_hub_backbone(config), preprocessor=None)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    features = keras_hub_features(batch, mask_positions=batch["masked_lm_positions"])
    labels = tf.constant(batch["masked_lm_ids"])
    weights = tf.constant(batch["masked_lm_weights"])

    def loss_of():
        logits = model(features, training=True)  # [B, P, vocab]
        return loss_fn(labels, logits, sample_weight=weights)

    return keras_train_step(model, loss_of, LEARNING_RATE, jit)


def profile(variants: dict, log_dir: str, steps: int = 3) -> None:
    """Writes a profiler trace of `steps` calls of each variant; prints the top ops."""
    for name, fn in variants.items():
        if not name.startswith("ours"):
            continue
        path = os.path.join(log_dir, name)
        tf.profiler.experimental.start(path)
        for _ in range(steps):
            fn()
        tf.profiler.experimental.stop()
        print(f"profile of {name}: {path}")
        _print_top_ops(path, steps)


# Events of a profile that only wrap the ops inside them (executor, XLA runtime).
_WRAPPERS = re.compile(
    r"^(ExecutorState::|CpuExecutable::|BlockUntilReady|ThunkExecutor::|ThreadpoolListener::"
    r"|call(\.\d+)?$|end: |ParallelFor)"
)


def _print_top_ops(path: str, steps: int, top: int = 12) -> None:
    """Sums the time of the ops in a profiler trace (TF ops and XLA ops) by op name."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = glob.glob(os.path.join(path, "plugins", "profile", "*", "*.xplane.pb"))
    if not files:
        print("  (no .xplane.pb written)")
        return
    space = xplane_pb2.XSpace()
    with open(files[0], "rb") as f:
        space.ParseFromString(f.read())
    by_op: dict[str, float] = {}
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_numa")):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if _WRAPPERS.search(name):
                    continue
                name = name.rsplit(":", 1)[-1]  # a TF op "scope/name:MatMul" -> MatMul
                name = re.sub(r"\.\d+$", "", name)  # XLA's MatMul.210 -> MatMul
                by_op[name] = by_op.get(name, 0.0) + event.duration_ps / 1e9
    total = sum(by_op.values())
    print(f"  op time summed over threads: {total / steps:.0f} ms/step")
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {op:40s} {ms / steps:8.1f} ms/step  {100 * ms / total:5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--num_hidden_layers", type=int, default=4)
    parser.add_argument("--hidden_size", type=int, default=512)
    parser.add_argument("--profile", default=None, help="Directory for profiler traces.")
    args = parser.parse_args()

    config = make_config(args)
    batch = make_batch(
        args.batch_size, args.seq_length, args.max_predictions_per_seq, config.vocab_size
    )
    step_flops = train_step_flops(
        config, args.batch_size, args.seq_length, args.max_predictions_per_seq
    )
    per_example = counted_flops_per_example(PretrainingTask(config), batch, step_flops)
    rate_before = throughput.matmul_rate("float32")
    with tempfile.TemporaryDirectory() as output_dir:
        times = compare_with_keras_hub(
            lambda jit: ours(config, batch, jit=jit, output_dir=output_dir),
            lambda jit: keras_hub_masked_lm(config, batch, jit=jit),
            title=(
                f"BERT L{config.num_hidden_layers} H{config.hidden_size} "
                f"A{config.num_attention_heads} + masked LM, batch {args.batch_size}, seq "
                f"{args.seq_length}, {args.max_predictions_per_seq} predictions"
            ),
            batch_size=args.batch_size,
            flops=per_example * args.batch_size,
            work="step (3x the forward's matmuls)",
            rounds=args.rounds,
            after_warm_up=(lambda variants: profile(variants, args.profile))
            if args.profile
            else None,
        )
    print_utilisation(times, args.batch_size, per_example, rate_before)


if __name__ == "__main__":
    main()
