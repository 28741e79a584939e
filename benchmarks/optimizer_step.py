"""One optimizer step over BERT-Base's variables: ours against Keras' AdamW.

Times `apply_gradients` (global-norm clip included) inside `tf.function` for
`official_bert.optimization.create_optimizer` and for
`keras.optimizers.AdamW(global_clipnorm=1.0)`, on variables with the exact
names and shapes of a BERT-Base pretraining checkpoint (110M parameters),
in paired rounds in one process, and prints the ratio. Keras' AdamW under
`jit_compile=True` is shown too, for reference.

    python benchmarks/optimizer_step.py [--rounds 7] [--layers 12]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from _timing import copy_bandwidth, loadavg, paired_rounds

from official_bert import optimization

BYTES_PER_PARAM = 28  # read param, grad, m, v and write param, m, v: 7 float32s


def bert_base_shapes(layers: int = 12, hidden: int = 768, vocab: int = 30522):
    """(name, shape) of every trainable variable of a BERT-Base pretraining model."""
    inter = 4 * hidden
    shapes = [
        ("bert/embeddings/word_embeddings", (vocab, hidden)),
        ("bert/embeddings/token_type_embeddings", (2, hidden)),
        ("bert/embeddings/position_embeddings", (512, hidden)),
        ("bert/embeddings/LayerNorm/beta", (hidden,)),
        ("bert/embeddings/LayerNorm/gamma", (hidden,)),
    ]
    for i in range(layers):
        p = f"bert/encoder/layer_{i}"
        for part in ("query", "key", "value"):
            shapes += [
                (f"{p}/attention/self/{part}/kernel", (hidden, hidden)),
                (f"{p}/attention/self/{part}/bias", (hidden,)),
            ]
        shapes += [
            (f"{p}/attention/output/dense/kernel", (hidden, hidden)),
            (f"{p}/attention/output/dense/bias", (hidden,)),
            (f"{p}/attention/output/LayerNorm/beta", (hidden,)),
            (f"{p}/attention/output/LayerNorm/gamma", (hidden,)),
            (f"{p}/intermediate/dense/kernel", (hidden, inter)),
            (f"{p}/intermediate/dense/bias", (inter,)),
            (f"{p}/output/dense/kernel", (inter, hidden)),
            (f"{p}/output/dense/bias", (hidden,)),
            (f"{p}/output/LayerNorm/beta", (hidden,)),
            (f"{p}/output/LayerNorm/gamma", (hidden,)),
        ]
    shapes += [
        ("bert/pooler/dense/kernel", (hidden, hidden)),
        ("bert/pooler/dense/bias", (hidden,)),
        ("cls/predictions/transform/dense/kernel", (hidden, hidden)),
        ("cls/predictions/transform/dense/bias", (hidden,)),
        ("cls/predictions/transform/LayerNorm/beta", (hidden,)),
        ("cls/predictions/transform/LayerNorm/gamma", (hidden,)),
        ("cls/predictions/output_bias", (vocab,)),
        ("cls/seq_relationship/output_weights", (2, hidden)),
        ("cls/seq_relationship/output_bias", (2,)),
    ]
    return shapes


def make_variables(shapes, seed):
    rng = np.random.default_rng(seed)
    variables = []
    for path, shape in shapes:
        *scopes, name = path.split("/")
        managers = [keras.name_scope(s) for s in scopes]
        for m in managers:
            m.__enter__()
        value = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
        variables.append(keras.Variable(value, name=name))
        for m in reversed(managers):
            m.__exit__(None, None, None)
    return variables


def step_fn(optimizer, variables, grads, jit_compile=False):
    @tf.function(jit_compile=jit_compile)
    def step():
        optimizer.apply_gradients(zip(grads, variables))

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--layers", type=int, default=12)
    args = parser.parse_args()

    shapes = bert_base_shapes(args.layers)
    num_params = sum(int(np.prod(s)) for _, s in shapes)
    print(f"{len(shapes)} variables, {num_params / 1e6:.1f}M parameters; load {loadavg()}")
    rng = np.random.default_rng(1)
    grads = [tf.constant(rng.standard_normal(s, dtype=np.float32) * 1e-3) for _, s in shapes]

    ours_vars = make_variables(shapes, 0)
    ours = optimization.create_optimizer(1e-4, 10000, 1000)
    keras_vars = make_variables(shapes, 0)
    adamw = keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.01, global_clipnorm=1.0)
    keras_jit_vars = make_variables(shapes, 0)
    adamw_jit = keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.01, global_clipnorm=1.0)

    variants = {
        "keras AdamW": step_fn(adamw, keras_vars, grads),
        "official_bert": step_fn(ours, ours_vars, grads),
        "keras AdamW (jit_compile)": step_fn(adamw_jit, keras_jit_vars, grads, jit_compile=True),
    }
    for name, fn in variants.items():  # trace and compile
        fn()
        fn()
        print(f"warmed up {name}")

    stats = paired_rounds(variants, reference="keras AdamW", rounds=args.rounds)
    bandwidth = copy_bandwidth()
    bound = num_params * BYTES_PER_PARAM / bandwidth
    print(f"\ncopy bandwidth {bandwidth / 1e9:.1f} GB/s; bandwidth bound {bound * 1e3:.0f} ms")
    print(f"{'variant':28s} {'median':>9s} {'best':>9s} {'x bound':>8s} {'ratio to keras':>15s}")
    for name, s in stats.items():
        print(
            f"{name:28s} {s['median_s'] * 1e3:7.0f}ms {s['best_s'] * 1e3:7.0f}ms "
            f"{s['median_s'] / bound:7.2f}x {s['ratio']:14.2f}x"
        )
    print(
        f"\nofficial_bert / keras AdamW (median of {stats['official_bert']['rounds']} paired "
        f"rounds): {stats['official_bert']['ratio']:.2f}x"
    )


if __name__ == "__main__":
    main()
