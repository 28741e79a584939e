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

All four run in paired rounds in one process (`_timing.paired_rounds`); the
speed-ups are medians of per-round ratios. A `tf.matmul` of similar shape
gives the machine's roofline, measured before and after the rounds.

keras-hub is optional (the `bench` extra): without it only ours is timed.

    python benchmarks/pretraining_step.py [--rounds 7] [--batch_size 16]
        [--num_hidden_layers 4] [--hidden_size 512] [--profile DIR]

`--profile DIR` also writes a TensorFlow profiler trace of 3 steps of each of
ours / ours+xla to DIR (open it with TensorBoard's profile plugin) and prints
the ops that take the most time, summed over threads. The profiler slows the
many small ops of the graph without XLA more than XLA's few big ones.
"""

# ruff: noqa: I001  (_benchpath must be imported first)
from __future__ import annotations

import _benchpath  # noqa: F401  (first: puts the repository root on sys.path)

import argparse
import glob
import os
import re
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from _references import keras_hub_backbone, keras_hub_features, keras_train_step
from _timing import loadavg, matmul_gflops, paired_rounds

from official_bert.modeling import BertConfig
from official_bert.pretraining import PretrainingTask
from official_bert.training import Trainer, TrainerConfig

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
    tokens = batch_size * seq_length
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    per_layer = (
        2 * tokens * h * h * 4  # query, key, value, attention output
        + 2 * tokens * seq_length * h * 2  # scores and context
        + 2 * tokens * h * i * 2  # intermediate and output
    )
    masked = batch_size * predictions
    heads = 2 * masked * h * h + 2 * masked * h * v  # transform, output embeddings
    return 3.0 * (config.num_hidden_layers * per_layer + heads)


def make_batch(batch_size: int, seq_length: int, predictions: int, vocab_size: int):
    """Random ids padded to random lengths, two segments, masked positions inside the text."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(seq_length // 2, seq_length + 1, [batch_size])
    mask = (np.arange(seq_length)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(0, vocab_size, [batch_size, seq_length]).astype(np.int32) * mask
    types = (np.arange(seq_length)[None, :] >= lengths[:, None] // 2).astype(np.int32) * mask
    positions = np.stack(
        [np.sort(rng.choice(np.arange(1, n), predictions, replace=False)) for n in lengths]
    ).astype(np.int32)
    num_real = rng.integers(predictions // 2, predictions + 1, [batch_size])
    weights = (np.arange(predictions)[None, :] < num_real[:, None]).astype(np.float32)
    return {
        "input_ids": ids,
        "input_mask": mask,
        "segment_ids": types,
        "masked_lm_positions": positions * weights.astype(np.int32),
        "masked_lm_ids": rng.integers(0, vocab_size, [batch_size, predictions]).astype(np.int32),
        "masked_lm_weights": weights,
        "next_sentence_labels": rng.integers(0, 2, [batch_size, 1]).astype(np.int32),
    }


def ours(config: BertConfig, batch: dict, jit: bool, output_dir: str):
    trainer = Trainer(
        PretrainingTask(config),
        TrainerConfig(
            output_dir=output_dir,
            learning_rate=LEARNING_RATE,
            num_train_steps=1_000_000,
            num_warmup_steps=0,
            jit_compile=jit,
        ),
    )
    iterator = iter(trainer.distribute(tf.data.Dataset.from_tensors(batch).repeat()))
    return lambda: trainer.train_steps(iterator, 1)


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
    with tempfile.TemporaryDirectory() as output_dir:
        variants = {
            "ours": ours(config, batch, jit=False, output_dir=output_dir),
            "ours+xla": ours(config, batch, jit=True, output_dir=output_dir),
        }
        reference = "ours"
        try:
            variants["keras_hub"] = keras_hub_masked_lm(config, batch, jit=False)
            variants["keras_hub+xla"] = keras_hub_masked_lm(config, batch, jit=True)
            reference = "keras_hub"
        except ImportError:
            print("keras-hub is not installed (pip install keras-hub): timing ours only")
        print(f"load before warm-up: {loadavg()}")
        for fn in variants.values():  # trace and compile
            fn()
            fn()
        if args.profile:
            profile(variants, args.profile)
        roofline = matmul_gflops()
        stats = paired_rounds(variants, reference, rounds=args.rounds)
        roofline_after = matmul_gflops()

    flops = train_step_flops(config, args.batch_size, args.seq_length, args.max_predictions_per_seq)
    print(
        f"\nBERT L{config.num_hidden_layers} H{config.hidden_size} A"
        f"{config.num_attention_heads} + masked LM, batch {args.batch_size}, seq "
        f"{args.seq_length}, {args.max_predictions_per_seq} predictions: "
        f"{flops / 1e9:.1f} GFLOP per step (3x the forward's matmuls); tf.matmul "
        f"1024x768x3072: {roofline:.0f} GFLOP/s before the rounds, {roofline_after:.0f} "
        f"after; {stats[reference]['rounds']} rounds kept"
    )
    print(
        "| variant | median ex/s | best ex/s | GFLOP/s (median) | speed-up vs keras-hub, same XLA |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, s in stats.items():
        speedup = ""
        counterpart = name.replace("ours", "keras_hub")
        if name.startswith("ours") and counterpart in stats:
            # Both ratios are medians over rounds of time / time(keras_hub).
            speedup = f"{stats[counterpart]['ratio'] / s['ratio']:.2f}x"
        print(
            f"| {name} | {args.batch_size / s['median_s']:.2f} | "
            f"{args.batch_size / s['best_s']:.2f} | {flops / s['median_s'] / 1e9:.0f} | {speedup} |"
        )
    if "keras_hub" in stats:
        print(
            "median per-round speed-up vs keras_hub without XLA: "
            + ", ".join(f"{n} {1 / s['ratio']:.2f}x" for n, s in stats.items())
        )


if __name__ == "__main__":
    main()
