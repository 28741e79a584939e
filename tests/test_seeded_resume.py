"""With a seed, a resumed pretraining run sees the data an uninterrupted one would (issue 13)."""

import os

import numpy as np
import tensorflow as tf

from official_bert import pretraining_input
from official_bert.modeling import BertConfig
from official_bert.pretraining import PretrainingTask
from official_bert.training import Trainer, TrainerConfig

RECORDS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "golden", "pretraining_data", "demo.tfrecord"
)
SEQ, PREDICTIONS, BATCH = 128, 20, 4


def _config():
    return BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=128, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )  # fmt: skip


def _run(output_dir, until, seed):
    config = TrainerConfig(
        output_dir=str(output_dir), learning_rate=1e-3, num_train_steps=6, num_warmup_steps=1,
        save_checkpoints_steps=3, log_every_n_steps=3,
    )  # fmt: skip
    tf.keras.utils.set_random_seed(7)  # the same random init in every run
    trainer = Trainer(PretrainingTask(_config()), config)
    trainer.restore(None)
    data = pretraining_input.dataset_fn_builder(
        [RECORDS], SEQ, PREDICTIONS, is_training=True, global_batch_size=BATCH,
        seed=seed, start_step=lambda: trainer.global_step,
    )  # fmt: skip
    trainer.train(data, until)
    return {v.path: v.numpy() for v in trainer.model.weights}


def test_a_seeded_run_killed_after_3_steps_resumes_like_an_uninterrupted_one(tmp_path):
    uninterrupted = _run(tmp_path / "whole", 6, seed=11)
    _run(tmp_path / "resumed", 3, seed=11)  # "killed" after its step-3 checkpoint
    resumed = _run(tmp_path / "resumed", 6, seed=11)
    for name, value in uninterrupted.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_seeded_streams_skip_exactly_the_consumed_batches():
    def batches(seed, skip, n):
        d = pretraining_input.make_dataset(
            [RECORDS], SEQ, PREDICTIONS, True, BATCH, seed=seed, skip_batches=skip
        )
        return [b["input_ids"].numpy() for b in d.take(n)]

    whole = batches(5, 0, 6)
    tail = batches(5, 4, 2)
    np.testing.assert_array_equal(np.stack(tail), np.stack(whole[4:6]))
    other = batches(6, 0, 6)
    assert not all(np.array_equal(a, b) for a, b in zip(whole, other))
