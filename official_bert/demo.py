"""`make demo`: a tiny model trained with the original's optimizer and schedule.

Prints the learning rate (warm-up from 0, then linear decay counted from step
0) and the loss at every step. This grows into the end-to-end demo (create
pretraining data, pretrain, fine-tune) as the entry points land.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from official_bert import optimization


def main(num_train_steps: int = 20, num_warmup_steps: int = 4, init_lr: float = 0.1) -> None:
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.normal(size=(64, 8)), tf.float32)
    targets = tf.constant(inputs.numpy() @ rng.normal(size=(8, 1)), tf.float32)
    with keras.name_scope("demo"):
        hidden = keras.layers.Dense(16, activation="tanh", name="dense")
        head = keras.layers.Dense(1, name="output")
        hidden.build((None, 8))
        head.build((None, 16))
    variables = hidden.trainable_variables + head.trainable_variables
    optimizer = optimization.create_optimizer(init_lr, num_train_steps, num_warmup_steps)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(head(hidden(inputs)) - targets))
        learning_rate = optimizer.learning_rate
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, learning_rate

    print("variables:", ", ".join(v.path for v in variables))
    for _ in range(num_train_steps):
        step = int(optimizer.iterations.numpy())
        loss, learning_rate = train_step()
        print(f"step {step:3d}  learning_rate {float(learning_rate):.5f}  loss {float(loss):.5f}")


if __name__ == "__main__":
    main()
