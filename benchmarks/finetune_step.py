"""Fine-tuning step speed: run_classifier's train step against keras-hub + AdamW (BERT-Base).

One full training step of a sentence classifier on a batch of random token
ids (BERT-Base shapes, 2 labels, random weights, dropout on as in
fine-tuning): forward, backward, global-norm clip and optimizer update.

- **ours**: `official_bert.training.Trainer` with `classifier.ClassifierTask`,
  the step run_classifier.py runs (`Trainer.train_steps(iterator, 1)`):
  `BertClassifier`, the original's loss, `create_optimizer` (clip by global
  norm 1.0, Adam with decoupled weight decay); `+xla` is `--jit_compile`.
- **keras_hub**: `keras_hub.models.BertBackbone` of the same configuration,
  dropout 0.1 and a dense head on the pooled output (as keras-hub's
  `BertTextClassifier`), sparse softmax cross-entropy, Keras
  `AdamW(weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0)`, in one
  `tf.function` (GradientTape + apply_gradients); `+xla` compiles that
  function with `jit_compile=True`.

All four run in paired rounds in one process (`_timing.paired_rounds`), and
the figures are medians of per-round ratios. A `tf.matmul` of similar shape
gives the machine's roofline, measured before and after the rounds.

keras-hub is optional (the `bench` extra): without it only ours is timed.

    python benchmarks/finetune_step.py [--rounds 5] [--batch_size 8] [--seq_length 128]
"""

# ruff: noqa: I001  (_benchpath must be imported first)
from __future__ import annotations

import _benchpath  # noqa: F401  (first: puts the repository root on sys.path)

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from _references import bert_base_config, keras_hub_backbone, keras_hub_features, keras_train_step
from _timing import loadavg, matmul_gflops, paired_rounds

from official_bert.classifier import ClassifierTask
from official_bert.modeling import BertConfig
from official_bert.training import Trainer, TrainerConfig

NUM_LABELS = 2
LEARNING_RATE = 2e-5


def train_step_flops(config: BertConfig, batch_size: int, seq_length: int) -> float:
    """FLOPs of one training step: the forward's matmuls, times 3 (forward + 2x backward)."""
    tokens = batch_size * seq_length
    h, i = config.hidden_size, config.intermediate_size
    per_layer = (
        2 * tokens * h * h * 4  # query, key, value, attention output
        + 2 * tokens * seq_length * h * 2  # scores and context
        + 2 * tokens * h * i * 2  # intermediate and output
    )
    forward = config.num_hidden_layers * per_layer + 2 * batch_size * h * (h + NUM_LABELS)
    return 3.0 * forward


def make_batch(batch_size: int, seq_length: int, vocab_size: int) -> dict[str, np.ndarray]:
    """Random ids, padded to random lengths, two segments, random labels."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab_size, [batch_size, seq_length]).astype(np.int32)
    lengths = rng.integers(seq_length // 2, seq_length + 1, [batch_size])
    mask = (np.arange(seq_length)[None, :] < lengths[:, None]).astype(np.int32)
    types = (np.arange(seq_length)[None, :] >= lengths[:, None] // 2).astype(np.int32) * mask
    labels = rng.integers(0, NUM_LABELS, [batch_size]).astype(np.int32)
    return {
        "input_ids": ids * mask,
        "input_mask": mask,
        "segment_ids": types,
        "label_ids": labels,
    }


def ours(config: BertConfig, batch: dict, jit: bool, output_dir: str):
    trainer = Trainer(
        ClassifierTask(config, NUM_LABELS),
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


def keras_hub_classifier(config: BertConfig, batch: dict, jit: bool):
    import keras

    backbone = keras_hub_backbone(config)
    pooled = backbone.output["pooled_output"]
    pooled = keras.layers.Dropout(0.1)(pooled)
    logits = keras.layers.Dense(
        NUM_LABELS, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02)
    )(pooled)
    model = keras.Model(backbone.input, logits)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    features = keras_hub_features(batch)
    labels = tf.constant(batch["label_ids"])
    return keras_train_step(
        model, lambda: loss_fn(labels, model(features, training=True)), LEARNING_RATE, jit
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--num_hidden_layers", type=int, default=12)
    args = parser.parse_args()

    config = bert_base_config(num_hidden_layers=args.num_hidden_layers)
    batch = make_batch(args.batch_size, args.seq_length, config.vocab_size)
    with tempfile.TemporaryDirectory() as output_dir:
        variants = {
            "ours": ours(config, batch, jit=False, output_dir=output_dir),
            "ours+xla": ours(config, batch, jit=True, output_dir=output_dir),
        }
        reference = "ours"
        try:
            variants["keras_hub"] = keras_hub_classifier(config, batch, jit=False)
            variants["keras_hub+xla"] = keras_hub_classifier(config, batch, jit=True)
            reference = "keras_hub"
        except ImportError:
            print("keras-hub is not installed (pip install keras-hub): timing ours only")
        print(f"load before warm-up: {loadavg()}")
        for fn in variants.values():  # trace and compile
            fn()
            fn()
        roofline = matmul_gflops()
        stats = paired_rounds(variants, reference, rounds=args.rounds)
        roofline_after = matmul_gflops()

    flops = train_step_flops(config, args.batch_size, args.seq_length)
    print(
        f"\nBERT L{config.num_hidden_layers} H{config.hidden_size} + {NUM_LABELS}-label head, "
        f"batch {args.batch_size}, seq {args.seq_length}: {flops / 1e9:.1f} GFLOP per step "
        f"(3x the forward's matmuls); tf.matmul 1024x768x3072: {roofline:.0f} GFLOP/s before "
        f"the rounds, {roofline_after:.0f} after; {stats[reference]['rounds']} rounds kept"
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
            f"| {name} | {args.batch_size / s['median_s']:.2f} | {args.batch_size / s['best_s']:.2f} "
            f"| {flops / s['median_s'] / 1e9:.0f} | {speedup} |"
        )
    print(
        f"median per-round speed-up vs {reference}: "
        + ", ".join(f"{n} {1 / s['ratio']:.2f}x" for n, s in stats.items())
    )


if __name__ == "__main__":
    main()
