"""Inference speed of BertModel against keras-hub's BertBackbone (BERT-Base shapes).

Times one forward pass (training=False) of a batch of random token ids, inside
`tf.function`, with and without `jit_compile`, for `official_bert.BertModel`
and for `keras_hub.models.BertBackbone` of the same configuration (random
weights), in paired rounds in one process. Reports examples/s, GFLOP/s, the
median of the per-round ratios to keras-hub at the same XLA setting, and a
`tf.matmul` roofline of similar shape measured in the same run
(`_references.compare_with_keras_hub`; the order of the variants is rotated
from round to round).

keras-hub is optional (the `bench` extra): without it only our model is timed.

    python benchmarks/forward.py [--rounds 5] [--batch_size 8] [--seq_length 128]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from _references import (
    bert_base_config,
    compare_with_keras_hub,
    encoder_flops,
    keras_hub_backbone,
    random_batch,
)

from official_bert.modeling import BertConfig, BertModel


def forward_flops(config: BertConfig, batch_size: int, seq_length: int) -> float:
    """FLOPs of the encoder's matmuls and the pooler's."""
    h = config.hidden_size
    return encoder_flops(config, batch_size, seq_length) + 2 * batch_size * h * h


def make_inputs(batch_size: int, seq_length: int, vocab_size: int):
    batch = random_batch(np.random.default_rng(0), batch_size, seq_length, vocab_size)
    return tuple(tf.constant(batch[k]) for k in ("input_ids", "input_mask", "segment_ids"))


def ours(config: BertConfig, inputs, jit: bool):
    model = BertModel(config)
    ids, mask, types = inputs

    @tf.function(jit_compile=jit)
    def forward():
        out = model(ids, mask, types, training=False)
        return out["sequence_output"], out["pooled_output"]

    return lambda: [t.numpy() for t in forward()]


def keras_hub_forward(config: BertConfig, inputs, jit: bool):
    model = keras_hub_backbone(config)
    ids, mask, types = inputs
    features = {"token_ids": ids, "segment_ids": types, "padding_mask": mask}

    @tf.function(jit_compile=jit)
    def forward():
        out = model(features, training=False)
        return out["sequence_output"], out["pooled_output"]

    return lambda: [t.numpy() for t in forward()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--num_hidden_layers", type=int, default=12)
    args = parser.parse_args()

    config = bert_base_config(num_hidden_layers=args.num_hidden_layers)
    inputs = make_inputs(args.batch_size, args.seq_length, config.vocab_size)
    compare_with_keras_hub(
        lambda jit: ours(config, inputs, jit),
        lambda jit: keras_hub_forward(config, inputs, jit),
        title=(
            f"BERT L{config.num_hidden_layers} H{config.hidden_size}, batch {args.batch_size}, "
            f"seq {args.seq_length}"
        ),
        batch_size=args.batch_size,
        flops=forward_flops(config, args.batch_size, args.seq_length),
        work="forward",
        rounds=args.rounds,
        rotate=True,
    )


if __name__ == "__main__":
    main()
