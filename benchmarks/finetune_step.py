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

All four run in paired rounds in one process
(`_references.compare_with_keras_hub`), and the speed-ups are medians of
per-round ratios. A `tf.matmul` of similar shape
gives the machine's roofline, measured before and after the rounds; then the
model FLOP/s utilisation of each variant, as the training log lines give it
(see pretraining_step.py).

keras-hub is optional (the `bench` extra): without it only ours is timed.

    python benchmarks/finetune_step.py [--rounds 5] [--batch_size 8] [--seq_length 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from _references import (
    bert_base_config,
    compare_with_keras_hub,
    encoder_flops,
    keras_hub_backbone,
    keras_hub_features,
    keras_train_step,
    random_batch,
    trainer_step,
)
from pretraining_step import counted_flops_per_example, print_utilisation

from official_bert import throughput
from official_bert.classifier import ClassifierTask
from official_bert.modeling import BertConfig

NUM_LABELS = 2
LEARNING_RATE = 2e-5


def train_step_flops(config: BertConfig, batch_size: int, seq_length: int) -> float:
    """FLOPs of one training step: the forward's matmuls, times 3 (forward + 2x backward)."""
    h = config.hidden_size
    pooler_and_head = 2 * batch_size * h * (h + NUM_LABELS)
    return 3.0 * (encoder_flops(config, batch_size, seq_length) + pooler_and_head)


def make_batch(batch_size: int, seq_length: int, vocab_size: int) -> dict[str, np.ndarray]:
    """A random padded batch (see `random_batch`) with random labels."""
    rng = np.random.default_rng(0)
    batch = random_batch(rng, batch_size, seq_length, vocab_size)
    batch["label_ids"] = rng.integers(0, NUM_LABELS, [batch_size]).astype(np.int32)
    return batch


def ours(config: BertConfig, batch: dict, jit: bool, output_dir: str):
    return trainer_step(ClassifierTask(config, NUM_LABELS), batch, LEARNING_RATE, jit, output_dir)


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
    per_example = counted_flops_per_example(
        ClassifierTask(config, NUM_LABELS),
        batch,
        train_step_flops(config, args.batch_size, args.seq_length),
    )
    rate_before = throughput.matmul_rate("float32")
    with tempfile.TemporaryDirectory() as output_dir:
        times = compare_with_keras_hub(
            lambda jit: ours(config, batch, jit=jit, output_dir=output_dir),
            lambda jit: keras_hub_classifier(config, batch, jit=jit),
            title=(
                f"BERT L{config.num_hidden_layers} H{config.hidden_size} + {NUM_LABELS}-label "
                f"head, batch {args.batch_size}, seq {args.seq_length}"
            ),
            batch_size=args.batch_size,
            flops=per_example * args.batch_size,
            work="step (3x the forward's matmuls)",
            rounds=args.rounds,
        )
    print_utilisation(times, args.batch_size, per_example, rate_before)


if __name__ == "__main__":
    main()
