"""A training process for the signal tests: `python signal_worker.py OUTPUT_DIR NUM_STEPS`.

Trains the one-layer tiny model on tests/distributed_worker.py's deterministic
data, resuming from OUTPUT_DIR's latest checkpoint; each batch takes at least
10 ms, so a signal reliably lands in the middle of a run. Exits like the entry
points: a TrainingInterrupted prints its message and exits with its code.
"""

import os
import sys
import time

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import distributed_worker as dw  # noqa: E402

from official_bert.errors import TrainingInterrupted  # noqa: E402


def main(output_dir: str, num_steps: int) -> int:
    trainer = dw.make_trainer(
        None, output_dir, num_train_steps=num_steps, save_checkpoints_steps=1000
    )
    start = trainer.global_step

    def pause():
        time.sleep(0.01)
        return 0

    def delayed(batch):
        token = tf.numpy_function(pause, [], tf.int64, stateful=True)
        with tf.control_dependencies([token]):
            return tf.nest.map_structure(tf.identity, batch)

    def data(input_context=None):
        # The batches not yet consumed: a resumed run continues the stream.
        return dw.dataset_fn(input_context).skip(start).map(delayed)

    try:
        trainer.train(data, num_steps)
    except TrainingInterrupted as error:
        print(error, file=sys.stderr, flush=True)
        return error.exit_code
    return 0


if __name__ == "__main__":
    from absl import logging

    logging.set_verbosity(logging.INFO)
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
