"""Gradient accumulation (issue 17): N micro-batches of b equal one step on N * b."""

import os
from unittest import mock

import distributed_worker as dw  # noqa: I001  (tests/ is on sys.path)
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_mirrored_strategy
from state_compare import ZERO_GRADIENT, assert_state_close

from official_bert import models
from official_bert.classifier import ClassifierTask
from official_bert.errors import InputError
from official_bert.training import Trainer, TrainerConfig, check_batch_size

GLOBAL_BATCH = 8


def _classifier_batch():
    rng = np.random.default_rng(3)
    ids = rng.integers(5, 30, size=(GLOBAL_BATCH, 12)).astype(np.int32)
    ids[:, 0] = 2  # [CLS]-like: repeated in every example
    ids[:, 6] = 3
    return {
        "input_ids": ids,
        "input_mask": np.ones_like(ids),
        "segment_ids": np.concatenate([np.zeros((8, 6)), np.ones((8, 6))], 1).astype(np.int32),
        "label_ids": rng.integers(0, 3, size=(GLOBAL_BATCH,)).astype(np.int32),
    }


def _pretraining_batch():
    return {k: v[:GLOBAL_BATCH] for k, v in dw.examples().items()}


def _state(trainer):
    out = {v.path: v.numpy() for v in trainer.model.weights}
    out.update({k: v.numpy() for k, v in trainer.optimizer.slot_variables().items()})
    return out


def _train(task_name, accumulation, tmp_path, strategy=None):
    config = TrainerConfig(
        output_dir=str(tmp_path),
        learning_rate=5e-3,
        num_train_steps=10,
        num_warmup_steps=1,
        gradient_accumulation_steps=accumulation,
    )
    with mock.patch.object(models, "CLASSIFIER_DROPOUT_PROB", 0.0):
        if task_name == "pretraining":
            from official_bert.pretraining import PretrainingTask

            task, batch = PretrainingTask(dw.one_layer_config()), _pretraining_batch()
        else:
            task, batch = ClassifierTask(dw.one_layer_config(), 3), _classifier_batch()
        keras.utils.set_random_seed(1234)  # the same new classifier head in every run
        trainer = Trainer(task, config, strategy)
        trainer.restore(os.path.join(dw.TINY, "released", "bert_model.ckpt"))
        iterator = iter(trainer.distribute(tf.data.Dataset.from_tensors(batch).repeat()))
        losses = [trainer.train_steps(iterator, 1)["loss"] for _ in range(3)]
    assert trainer.global_step == 3  # updates, not micro-batches
    return losses, _state(trainer)


def _assert_same(a, b):
    """Losses to 1e-6; every variable and slot to 1e-5 of the element plus the
    tensor's largest value, but for at most 3% of a tensor's elements, which may
    differ up to 1e-4. Measured after 3 updates: at most 8.8e-6 of that scale
    (3% of attention/output/dense/kernel above 1e-6): summing micro-batch
    gradients orders float additions differently, and Adam's
    m / (sqrt(v) + 1e-6) amplifies the difference where gradients are tiny."""
    (losses_a, state_a), (losses_b, state_b) = a, b
    np.testing.assert_allclose(losses_a, losses_b, rtol=1e-6)
    assert_state_close(state_a, state_b, rtol=1e-5, outlier_rtol=1e-4)
    # And per tensor: |a - b| / |b| (Frobenius norms) at most 1e-5. Measured: at most
    # 4.8e-6 (pretraining, the query kernel's adam_v) and 2.4e-6 (classifier), on one
    # device and on two replicas. Not the key bias: its gradient is 0 (float noise).
    for name, expected in state_b.items():
        if ZERO_GRADIENT.search(name):
            continue
        expected = np.asarray(expected, np.float64)
        difference = np.linalg.norm(np.asarray(state_a[name], np.float64) - expected)
        assert difference <= 1e-5 * np.linalg.norm(expected), (name, difference)


@pytest.mark.parametrize("task_name", ["pretraining", "classifier"])
def test_four_micro_batches_of_two_equal_one_batch_of_eight(task_name, tmp_path):
    whole = _train(task_name, 1, tmp_path / "whole")
    accumulated = _train(task_name, 4, tmp_path / "accumulated")
    _assert_same(accumulated, whole)


@pytest.mark.parametrize("task_name", ["pretraining", "classifier"])
def test_accumulation_on_two_replicas_equals_one_device(task_name, tmp_path):
    strategy = two_cpu_mirrored_strategy()
    whole = _train(task_name, 1, tmp_path / "whole")
    accumulated = _train(task_name, 2, tmp_path / "mirrored", strategy)
    _assert_same(accumulated, whole)


def test_a_batch_that_does_not_split_into_micro_batches_is_refused():
    strategy = tf.distribute.get_strategy()
    check_batch_size("train_batch_size", 8, strategy, 4)
    with pytest.raises(
        InputError, match=r"--train_batch_size=6 .* --gradient_accumulation_steps=4"
    ):
        check_batch_size("train_batch_size", 6, strategy, 4)


@pytest.mark.parametrize("steps", [0, -2])
def test_accumulation_steps_below_one_are_refused_naming_the_flag(steps):
    with pytest.raises(
        InputError, match=rf"^--gradient_accumulation_steps must be at least 1; got {steps}\.$"
    ):
        check_batch_size("train_batch_size", 8, tf.distribute.get_strategy(), steps)
