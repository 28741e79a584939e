"""Mixed precision on CPU: the training steps in float32 against mixed_bfloat16.

The steps run_pretraining.py and run_classifier.py run
(`Trainer.train_steps(iterator, 1)`: forward, backward, global-norm clip and
the Adam update, dropout on), on random batches, each in four variants:
`float32`, `float32+xla` (`--jit_compile`), `mixed_bfloat16` and
`mixed_bfloat16+xla`, in paired rounds in one process:

- `small_pretraining`: BERT-Small (L4 H512 A8), masked LM + next sentence,
  batch 16, seq 128, 20 predictions;
- `base_pretraining`: the same with BERT-Base shapes (L12 H768 A12), batch 8;
- `base_finetune`: the classifier of run_classifier.py, BERT-Base shapes,
  batch 8, seq 128, 2 labels.

Speed-ups are medians of per-round ratios: bfloat16 against float32 at the
same XLA setting, and XLA against no XLA at the same dtype. The roofline is
a `tf.matmul` of 1024x768 @ 768x3072 in float32 and in bfloat16, timed before
and after the rounds; "% of roofline" is the step's model FLOP/s (its
matmuls, 3x the forward's) over the rate of its own dtype.

The CPU model and its AVX-512/AMX flags are printed first. Without bfloat16
hardware (neither `avx512_bf16` nor `amx_bf16`) the script prints why and
stops: bfloat16 would be emulated there, and the comparison says nothing.

    python benchmarks/mixed_precision.py [--rounds 5]
        [--steps small_pretraining,base_finetune]   (add base_pretraining: ~4 min more)
        [--small_batch_size 16] [--base_batch_size 8] [--base_layers 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import finetune_step
import numpy as np
import pretraining_step
import tensorflow as tf
from _references import bert_base_config, trainer_step
from _timing import cpu_flags, cpu_model, loadavg, matmul_gflops, timed_rounds

from official_bert.classifier import ClassifierTask
from official_bert.modeling import BertConfig
from official_bert.pretraining import PretrainingTask

STEPS = ("small_pretraining", "base_pretraining", "base_finetune")
# Run by default: about 5 minutes on 2 quiet cores (BERT-Base pretraining adds about 4).
DEFAULT_STEPS = ("small_pretraining", "base_finetune")
POLICIES = ("float32", "mixed_bfloat16")
ROOFLINE_SHAPE = (1024, 768, 3072)
SEQ_LENGTH = 128
PREDICTIONS = 20


def has_bfloat16_hardware(flags: list[str]) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512_BF16 dot products or AMX tiles)."""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bert_small_config() -> BertConfig:
    return BertConfig(
        vocab_size=30522,
        hidden_size=512,
        num_hidden_layers=4,
        num_attention_heads=8,
        intermediate_size=2048,
        max_position_embeddings=512,
        type_vocab_size=2,
    )


def workload(name: str, args) -> tuple[str, object, dict, float, float, int]:
    """(title, task, batch, learning rate, FLOPs per step, batch size) of a named step."""
    if name == "small_pretraining":
        config, batch_size = bert_small_config(), args.small_batch_size
    else:
        config = bert_base_config(num_hidden_layers=args.base_layers)
        batch_size = args.base_batch_size
    shape = (
        f"L{config.num_hidden_layers} H{config.hidden_size} A{config.num_attention_heads}, "
        f"batch {batch_size}, seq {SEQ_LENGTH}"
    )
    if name.endswith("pretraining"):
        batch = pretraining_step.make_batch(batch_size, SEQ_LENGTH, PREDICTIONS, config.vocab_size)
        flops = pretraining_step.train_step_flops(config, batch_size, SEQ_LENGTH, PREDICTIONS)
        return (
            f"pretraining step, {shape}, {PREDICTIONS} predictions",
            PretrainingTask(config),
            batch,
            pretraining_step.LEARNING_RATE,
            flops,
            batch_size,
        )
    batch = finetune_step.make_batch(batch_size, SEQ_LENGTH, config.vocab_size)
    return (
        f"fine-tuning step (classifier), {shape}",
        ClassifierTask(config, finetune_step.NUM_LABELS),
        batch,
        finetune_step.LEARNING_RATE,
        finetune_step.train_step_flops(config, batch_size, SEQ_LENGTH),
        batch_size,
    )


def rooflines() -> dict[str, float]:
    """GFLOP/s of the roofline matmul per dtype."""
    return {
        "float32": matmul_gflops(*ROOFLINE_SHAPE, dtype="float32"),
        "mixed_bfloat16": matmul_gflops(*ROOFLINE_SHAPE, dtype="bfloat16"),
    }


def run_step(name: str, args, output_dir: str) -> None:
    title, task, batch, learning_rate, flops, batch_size = workload(name, args)
    variants = {}
    for policy in POLICIES:
        for jit in (False, True):
            variant = policy + ("+xla" if jit else "")
            variants[variant] = trainer_step(
                task, batch, learning_rate, jit, output_dir, mixed_precision=policy
            )
    print(f"\n## {title}\nload before warm-up: {loadavg()}")
    for fn in variants.values():  # trace and compile
        fn()
        fn()
    before = rooflines()
    times = timed_rounds(variants, args.rounds, rotate=True)
    after = rooflines()
    noisy = " (noisy: every round had other load)" if times.noisy else ""
    print(
        f"{flops / 1e9:.1f} GFLOP per step; roofline {ROOFLINE_SHAPE[0]}x{ROOFLINE_SHAPE[1]}"
        f"x{ROOFLINE_SHAPE[2]}: float32 {before['float32']:.0f} / {after['float32']:.0f}, "
        f"bfloat16 {before['mixed_bfloat16']:.0f} / {after['mixed_bfloat16']:.0f} GFLOP/s "
        f"(before / after); {len(times.kept)} rounds kept, {times.dropped} dropped{noisy}"
    )
    print(
        "| variant | median ms | best ms | ex/s (median) | GFLOP/s | % of its dtype's roofline "
        "| bf16 vs float32, same XLA | XLA vs none, same dtype |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for variant in variants:
        policy, jit = variant.split("+")[0], variant.endswith("+xla")
        median = times.median_s(variant)
        gflops = flops / median / 1e9
        roofline = max(before[policy], after[policy])
        versus_f32 = ""
        if policy != "float32":
            versus_f32 = f"{times.speedup(variant, variant.replace(policy, 'float32')):.2f}x"
        versus_xla = f"{times.speedup(variant, policy):.2f}x" if jit else ""
        print(
            f"| {variant} | {median * 1e3:.0f} | {times.best_s(variant) * 1e3:.0f} "
            f"| {batch_size / median:.2f} | {gflops:.0f} | {100 * gflops / roofline:.0f}% "
            f"| {versus_f32} | {versus_xla} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--steps",
        default=",".join(DEFAULT_STEPS),
        help=f"Comma-separated, of {', '.join(STEPS)}.",
    )
    parser.add_argument("--small_batch_size", type=int, default=16)
    parser.add_argument("--base_batch_size", type=int, default=8)
    parser.add_argument("--base_layers", type=int, default=12)
    args = parser.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown --steps {', '.join(unknown)}; choose from {', '.join(STEPS)}")

    flags = cpu_flags()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; flags: {' '.join(flags) or 'none'}")
    print(
        f"TensorFlow {tf.__version__}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}"
    )
    if not has_bfloat16_hardware(flags):
        print(
            "skipped: this CPU has neither avx512_bf16 nor amx_bf16, so bfloat16 matmuls "
            "are emulated and mixed_bfloat16 cannot be faster than float32 here."
        )
        return
    np.random.seed(0)
    tf.random.set_seed(0)
    with tempfile.TemporaryDirectory() as output_dir:
        for name in steps:
            run_step(name, args, output_dir)


if __name__ == "__main__":
    sys.exit(main())
