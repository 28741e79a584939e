"""What the benchmarks time ours against, and the set-up the model benchmarks share.

- `reference_port(name)`: a plain port of one of the original's modules, from
  `tests/reference/` (the tests check those ports against the original's
  golden outputs; tests never import benchmarks, benchmarks import them).
- keras-hub's BERT and Keras' AdamW, for the model benchmarks. keras-hub is
  optional (`pip install -e ".[bench]"`); `keras_hub_backbone` raises
  ImportError without it, and `compare_with_keras_hub` then times ours only.
- For the model benchmarks: a random padded batch, the encoder's FLOPs, our
  training step, and `compare_with_keras_hub`, which times and reports.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType

import keras
import numpy as np
import tensorflow as tf
from _timing import Rounds, loadavg, matmul_gflops, timed_rounds

from official_bert.modeling import BertConfig
from official_bert.training import Trainer, TrainerConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "golden")
BERT_BASE_CONFIG = os.path.join(REPO, "configs", "uncased_L-12_H-768_A-12", "bert_config.json")

# The shape of the tf.matmul whose rate is the roofline of the model benchmarks.
ROOFLINE_SHAPE = (1024, 768, 3072)


def reference_port(name: str) -> ModuleType:
    """Imports `tests/reference/<name>.py`, e.g. "original_tokenization"."""
    tests = os.path.join(REPO, "tests")
    if tests not in sys.path:
        sys.path.append(tests)  # last, so that nothing in tests/ shadows another module
    return importlib.import_module(f"reference.{name}")


def bert_base_config(**overrides) -> BertConfig:
    """The released BERT-Base config, with `overrides` (e.g. num_hidden_layers)."""
    config = BertConfig.from_json_file(BERT_BASE_CONFIG).to_dict()
    config.update(overrides)
    return BertConfig.from_dict(config)


def random_batch(
    rng: np.random.Generator, batch_size: int, seq_length: int, vocab_size: int
) -> dict[str, np.ndarray]:
    """Random ids padded to random lengths (half to all of `seq_length`), in two segments.

    Returns:
      int32 arrays of shape [batch_size, seq_length]: "input_ids" (0 on
      padding), "input_mask" and "segment_ids" (the second half of the text is
      segment 1).
    """
    lengths = rng.integers(seq_length // 2, seq_length + 1, [batch_size])
    positions = np.arange(seq_length)[None, :]
    mask = (positions < lengths[:, None]).astype(np.int32)
    ids = rng.integers(0, vocab_size, [batch_size, seq_length]).astype(np.int32) * mask
    types = (positions >= lengths[:, None] // 2).astype(np.int32) * mask
    return {"input_ids": ids, "input_mask": mask, "segment_ids": types}


def encoder_flops(config: BertConfig, batch_size: int, seq_length: int) -> float:
    """FLOPs (2 per multiply-add) of the encoder's matmuls in one forward pass."""
    tokens = batch_size * seq_length
    h, i = config.hidden_size, config.intermediate_size
    per_layer = (
        2 * tokens * h * h * 4  # query, key, value, attention output
        + 2 * tokens * seq_length * h * 2  # scores and context
        + 2 * tokens * h * i * 2  # intermediate and output
    )
    return config.num_hidden_layers * per_layer


def trainer_step(
    task,
    batch: dict[str, np.ndarray],
    learning_rate: float,
    jit: bool,
    output_dir: str,
    mixed_precision: str = "float32",
) -> Callable[[], object]:
    """Our training step: `Trainer.train_steps(iterator, 1)` of `task` on `batch`, repeated.

    This is the step run_pretraining.py and run_classifier.py run (`jit` and
    `mixed_precision` are their `--jit_compile` and `--mixed_precision`).
    """
    trainer = Trainer(
        task,
        TrainerConfig(
            output_dir=output_dir,
            learning_rate=learning_rate,
            num_train_steps=1_000_000,
            num_warmup_steps=0,
            jit_compile=jit,
            mixed_precision=mixed_precision,
        ),
    )
    iterator = iter(trainer.distribute(tf.data.Dataset.from_tensors(batch).repeat()))
    return lambda: trainer.train_steps(iterator, 1)


def keras_hub_backbone(config: BertConfig):
    """keras-hub's `BertBackbone` with the same shapes and dropout as `config`."""
    import keras_hub  # optional: the `bench` extra

    return keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size,
    )


def keras_hub_features(batch: dict, **extra) -> dict[str, tf.Tensor]:
    """keras-hub's input names for a batch in the original's feature names."""
    features = {
        "token_ids": tf.constant(batch["input_ids"]),
        "segment_ids": tf.constant(batch["segment_ids"]),
        "padding_mask": tf.constant(batch["input_mask"]),
    }
    features.update({k: tf.constant(v) for k, v in extra.items()})
    return features


def keras_train_step(
    model: keras.Model, loss_of: Callable[[], tf.Tensor], learning_rate: float, jit: bool
) -> Callable[[], float]:
    """One step of Keras `AdamW` (BERT's decay, epsilon and clip) on `loss_of()`."""
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0
    )
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_of()
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: float(train_step().numpy())


def compare_with_keras_hub(
    ours: Callable[[bool], Callable[[], object]],
    keras_hub: Callable[[bool], Callable[[], object]],
    *,
    title: str,
    batch_size: int,
    flops: float,
    work: str,
    rounds: int,
    rotate: bool = False,
    after_warm_up: Callable[[dict[str, Callable[[], object]]], None] | None = None,
) -> Rounds:
    """Times ours and keras-hub, each with and without XLA, and prints the figures.

    Warms every variant up (two calls: trace and compile), measures the
    `tf.matmul` roofline, runs the paired rounds, measures the roofline again,
    and prints examples/s, GFLOP/s and the speed-ups (medians of per-round
    ratios) against keras-hub at the same XLA setting and without XLA.

    Args:
      ours, keras_hub: given `jit_compile`, build the function that runs one
        batch. `keras_hub` raises ImportError when keras-hub is not installed.
      title: the model and shapes, e.g. "BERT L12 H768, batch 8, seq 128".
      batch_size: examples per call, for examples/s.
      flops: FLOPs of one call, for GFLOP/s.
      work: what one call is, after "GFLOP per", e.g. "forward".
      rounds: number of paired rounds.
      rotate: rotate the order of the variants from round to round.
      after_warm_up: called with the variants after the warm-up (e.g. to profile).
    """
    variants = {"ours": ours(False), "ours+xla": ours(True)}
    try:
        variants["keras_hub"] = keras_hub(False)
        variants["keras_hub+xla"] = keras_hub(True)
    except ImportError:
        print("keras-hub is not installed (pip install keras-hub): timing ours only")
    print(f"load before warm-up: {loadavg()}")
    for fn in variants.values():  # trace and compile
        fn()
        fn()
    if after_warm_up is not None:
        after_warm_up(variants)
    roofline = matmul_gflops(*ROOFLINE_SHAPE)
    times = timed_rounds(variants, rounds, rotate=rotate)
    roofline_after = matmul_gflops(*ROOFLINE_SHAPE)

    shape = "x".join(str(d) for d in ROOFLINE_SHAPE)
    print(
        f"\n{title}: {flops / 1e9:.1f} GFLOP per {work}; tf.matmul {shape}: {roofline:.0f} "
        f"GFLOP/s before the rounds, {roofline_after:.0f} after; {len(times.kept)} rounds kept"
    )
    print(
        "| variant | median ex/s | best ex/s | GFLOP/s (median) | speed-up vs keras-hub, same XLA |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in variants:
        median = times.median_s(name)
        counterpart = name.replace("ours", "keras_hub")
        speedup = ""
        if name.startswith("ours") and counterpart in variants:
            speedup = f"{times.speedup(name, counterpart):.2f}x"
        print(
            f"| {name} | {batch_size / median:.2f} | {batch_size / times.best_s(name):.2f} "
            f"| {flops / median / 1e9:.0f} | {speedup} |"
        )
    if "keras_hub" in variants:
        print(
            "median per-round speed-up vs keras_hub without XLA: "
            + ", ".join(f"{n} {times.speedup(n, 'keras_hub'):.2f}x" for n in variants)
        )
    return times
