"""With a seed, a resumed pretraining run sees the data and draws the dropout masks an
uninterrupted one would (issue 13; `layers.seeded_dropout`)."""

import functools
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from official_bert import checkpoints, pretraining_input
from official_bert.modeling import BertConfig
from official_bert.pretraining import PretrainingTask
from official_bert.training import Trainer, TrainerConfig

RECORDS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "golden", "pretraining_data", "demo.tfrecord"
)
SEQ, PREDICTIONS, BATCH = 128, 20, 4


def _config(dropout=0.0):
    return BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=128, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )  # fmt: skip


def _run(output_dir, until, seed, dropout=0.0, dropout_seed=None, **trainer_settings):
    config = TrainerConfig(
        output_dir=str(output_dir), learning_rate=1e-3, num_train_steps=6, num_warmup_steps=1,
        save_checkpoints_steps=3, log_every_n_steps=3, dropout_seed=dropout_seed,
        **trainer_settings,
    )  # fmt: skip
    tf.keras.utils.set_random_seed(7)  # the same random init in every run
    trainer = Trainer(PretrainingTask(_config(dropout)), config)
    trainer.restore(None)
    start = trainer.global_step
    data = pretraining_input.dataset_fn_builder(
        [RECORDS], SEQ, PREDICTIONS, is_training=True, global_batch_size=BATCH,
        seed=seed, start_step=lambda: trainer.global_step,
    )  # fmt: skip
    trainer.train(data, until)
    return start, {v.path: v.numpy() for v in trainer.model.weights}


def _copy_checkpoint(model_dir, step, output_dir):
    """`model_dir`'s model.ckpt-`step` as the only (and latest) checkpoint of `output_dir`."""
    os.makedirs(output_dir)
    for name in os.listdir(model_dir):
        if name.startswith(f"model.ckpt-{step}."):
            shutil.copy(os.path.join(model_dir, name), output_dir)
    checkpoints.keep_only(str(output_dir), os.path.join(str(output_dir), f"model.ckpt-{step}"))


@pytest.mark.parametrize(
    "settings",
    [{}, {"mixed_precision": "mixed_bfloat16", "jit_compile": True}],
    ids=["float32", "mixed_bfloat16+xla_elementwise"],
)
def test_a_seeded_run_killed_after_3_steps_resumes_like_an_uninterrupted_one(tmp_path, settings):
    # Dropout on: the resumed run must see the same batches (the input stream
    # skips what the checkpoint consumed) and draw the same dropout masks (they
    # are keyed by the seed and the global step), so the weights are identical.
    run = functools.partial(_run, seed=11, dropout=0.1, dropout_seed=11, **settings)
    _, uninterrupted = run(tmp_path / "whole", 6)
    # A run "killed" after its step-3 checkpoint leaves that checkpoint, the
    # uninterrupted run's (a seeded run is deterministic): resume from a copy.
    _copy_checkpoint(tmp_path / "whole", 3, tmp_path / "resumed")
    if not settings:
        shutil.copytree(tmp_path / "resumed", tmp_path / "unseeded")  # for the control below
    start, resumed = run(tmp_path / "resumed", 6)
    assert start == 3
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    if not settings:
        # The control: with TensorFlow's stateful generator (no dropout seed)
        # the resumed steps draw other masks, and the weights move elsewhere.
        _, unseeded = _run(tmp_path / "unseeded", 6, seed=11, dropout=0.1, dropout_seed=None)
        name = next(n for n in uninterrupted if "word_embeddings" in n)
        assert np.abs(unseeded[name] - uninterrupted[name]).max() > 1e-6


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
