"""Tests of official_bert.training (and distribute): the shared training loop.

The model is the tiny golden BERT (tests/golden/tiny_bert) with dropout off,
as the golden numbers were made with is_training=False; tests that compare no
golden numbers use only its first layer, which traces faster. Multi-replica tests
use the deterministic data of tests/distributed_worker.py: whatever the
strategy, each step's global batch is the same set of examples.
"""

import importlib.util
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_mirrored_strategy
from state_compare import assert_state_close

from official_bert import checkpoints, distribute
from official_bert.modeling import BertConfig
from official_bert.pretraining import PretrainingTask
from official_bert.training import (
    Trainer,
    TrainerConfig,
    accuracy_sums,
    mean_sums,
    write_eval_results,
)

TESTS = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(TESTS, "golden", "tiny_bert")
RELEASED = os.path.join(TINY, "released", "bert_model.ckpt")
WORKER_SCRIPT = os.path.join(TESTS, "distributed_worker.py")

_spec = importlib.util.spec_from_file_location("distributed_worker", WORKER_SCRIPT)
dw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dw)


@pytest.fixture(scope="module")
def golden():
    return dict(np.load(os.path.join(TINY, "model_golden.npz")))


@pytest.fixture(scope="module")
def golden_batch(golden):
    names = [k for k in golden if k.startswith("inputs/") and k != "inputs/label_ids"]
    return {k[len("inputs/") :]: golden[k] for k in names}


def golden_state(golden, prefix="pretrain/train/final/"):
    return {k[len(prefix) :]: v for k, v in golden.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def two_cpu_strategy():
    """One MirroredStrategy over 2 logical CPUs, shared by this module's tests.

    Every MirroredStrategy of a process numbers its collectives from the same
    keys (TF's `_collective_key_base` is never advanced), so a second strategy
    can collide with collectives of an earlier one (another test module's)
    with other shapes. Advancing the base gives this one keys of its own.
    """
    return two_cpu_mirrored_strategy()


# ----------------------------------------------------------------- golden steps


def test_three_golden_steps_of_the_training_loop_reproduce_the_original(
    golden, golden_batch, tmp_path
):
    trainer = dw.make_trainer(None, str(tmp_path), bert_config=dw.tiny_config())
    iterator = iter(trainer.distribute(tf.data.Dataset.from_tensors(golden_batch).repeat()))
    for step in range(3):
        logs = trainer.train_steps(iterator, 1)
        np.testing.assert_allclose(logs["loss"], golden[f"pretrain/train/step{step}/loss"], 1e-5)
        np.testing.assert_allclose(
            logs["learning_rate"], golden[f"pretrain/train/step{step}/learning_rate"], 1e-6
        )
        assert logs["examples"] == 3
    assert_state_close(dw.state(trainer), golden_state(golden))


def test_three_golden_steps_in_one_xla_compiled_call_reproduce_the_original(
    golden, golden_batch, tmp_path
):
    trainer = dw.make_trainer(None, str(tmp_path), bert_config=dw.tiny_config(), jit_compile=True)
    iterator = iter(trainer.distribute(tf.data.Dataset.from_tensors(golden_batch).repeat()))
    logs = trainer.train_steps(iterator, 3)
    expected_mean = np.mean([golden[f"pretrain/train/step{s}/loss"] for s in range(3)])
    np.testing.assert_allclose(logs["loss"], expected_mean, 1e-5)
    np.testing.assert_allclose(logs["learning_rate"], golden["pretrain/train/step2/learning_rate"])
    assert_state_close(dw.state(trainer), golden_state(golden))


def test_released_checkpoint_initialises_every_variable_and_logs_the_listing(tmp_path, caplog):
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    trainer = Trainer(PretrainingTask(dw.tiny_config()), TrainerConfig(output_dir=str(tmp_path)))
    with caplog.at_level("INFO", logger="absl"):
        result = trainer.restore(RELEASED)
    assert result.not_initialized == [] and trainer.global_step == 0
    assert "bert/pooler/dense/kernel:0, shape = (32, 32), *INIT_FROM_CKPT*" in caplog.text


# ----------------------------------------------------------------- distribution


# The reference run: 5 steps on one device, a schedule of 20 steps, a
# checkpoint and a log line every 2 steps (and at the end).
RUN_SETTINGS = {
    "num_train_steps": 20,
    "save_checkpoints_steps": 2,
    "iterations_per_loop": 2,
    "log_every_n_steps": 2,
}
RUN_STEPS = 5


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory):
    """The reference run's directory, final state and eval of 2 batches."""
    model_dir = tmp_path_factory.mktemp("one_device")
    trainer = dw.make_trainer(None, str(model_dir), **RUN_SETTINGS)
    trainer.train(dw.dataset_fn, RUN_STEPS)
    return model_dir, dw.state(trainer), trainer.evaluate(dw.dataset_fn, steps=2)


def test_mirrored_over_two_replicas_trains_and_evaluates_like_one_device(
    one_device_run, two_cpu_strategy, tmp_path
):
    trainer = dw.make_trainer(two_cpu_strategy, str(tmp_path), **RUN_SETTINGS)
    trainer.train(dw.dataset_fn, RUN_STEPS)
    _, expected_state, expected_eval = one_device_run
    assert_state_close(dw.state(trainer), expected_state)
    # Both replicas hold the same values (every slot updated on every device).
    for variable in trainer.optimizer.variables + trainer.model.weights:
        values = [t.numpy() for t in variable.value.values]
        np.testing.assert_array_equal(values[0], values[1], err_msg=variable.path)
    result = trainer.evaluate(dw.dataset_fn, steps=2)
    assert sorted(result) == sorted(expected_eval)
    for key in expected_eval:
        np.testing.assert_allclose(result[key], expected_eval[key], rtol=1e-5, err_msg=key)


# ----------------------------------------------------------------- checkpoints and resuming


def step_aligned(trainer, num_batches=None):
    """dw's data, starting at the trainer's global step: batch k is always step k's batch.

    The loop, like the original's Estimator, restarts its input on resume; the
    test makes the input depend only on the step, so an interrupted run sees
    the same batches as an uninterrupted one.
    """

    def dataset_fn(input_context):
        d = dw.dataset_fn(input_context).skip(trainer.global_step)
        return d.take(num_batches) if num_batches is not None else d

    return dataset_fn


def test_a_crashed_run_resumes_from_its_last_checkpoint_and_ends_like_an_uninterrupted_one(
    one_device_run, tmp_path
):
    crashed = dw.make_trainer(None, str(tmp_path), **RUN_SETTINGS)
    with pytest.raises(tf.errors.OutOfRangeError):  # the input dies during step 4
        crashed.train(step_aligned(crashed, num_batches=3), RUN_STEPS)
    # Steps 1-2 were saved; step 3 is lost: at most save_checkpoints_steps steps.
    assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-2")

    resumed = dw.make_trainer(None, str(tmp_path), **RUN_SETTINGS)
    assert resumed.global_step == 2
    resumed.train(step_aligned(resumed), RUN_STEPS)
    assert resumed.global_step == RUN_STEPS
    _, expected_state, _ = one_device_run
    assert_state_close(dw.state(resumed), expected_state, rtol=1e-6, outlier_rtol=1e-5)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
        "model.ckpt-2",
        "model.ckpt-4",
        "model.ckpt-5",
    ]

    # Restarted once more, the finished run trains and writes nothing.
    files = sorted(os.listdir(tmp_path))
    again = dw.make_trainer(None, str(tmp_path), **RUN_SETTINGS)
    assert again.train(step_aligned(again), RUN_STEPS) == {}
    assert again.global_step == RUN_STEPS
    assert sorted(os.listdir(tmp_path)) == files


def test_training_writes_loss_rate_and_speed_summaries(one_device_run):
    model_dir, _, _ = one_device_run
    seen = {}
    for path in model_dir.glob("events.out.tfevents*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                seen.setdefault(value.tag, []).append(event.step)
    for tag in ("loss", "learning_rate", "examples/sec", "global_step/sec"):
        assert seen[tag] == [2, 4, 5], tag


def test_output_dir_with_a_checkpoint_of_another_config_names_the_variable_and_shapes(tmp_path):
    output_dir = tmp_path / "run"
    shutil.copytree(os.path.join(TINY, "pretraining_run"), output_dir)
    config = dw.tiny_config()
    config.intermediate_size = 48
    trainer = Trainer(PretrainingTask(config), TrainerConfig(output_dir=str(output_dir)))
    with pytest.raises(ValueError) as error:
        trainer.restore()
    message = str(error.value)
    assert "bert/encoder/layer_0/intermediate/dense/kernel" in message
    assert "[32, 37]" in message and "[32, 48]" in message and "--output_dir" in message


def test_init_checkpoint_of_another_config_names_the_variable(tmp_path):
    config = dw.tiny_config()
    config.max_position_embeddings = 32
    trainer = Trainer(PretrainingTask(config), TrainerConfig(output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"bert/embeddings/position_embeddings.*\[64, 32\]"):
        trainer.restore(RELEASED)


# ----------------------------------------------------------------- evaluation


def test_evaluate_computes_the_original_metrics_over_partial_batches(tmp_path):
    trainer = dw.make_trainer(None, str(tmp_path))
    data = tf.data.Dataset.from_tensor_slices(dw.examples()).batch(6)  # 6, 6, 4
    result = trainer.evaluate(data)

    correct = weights = loss_sum = 0.0
    nsp_correct = nsp_loss = count = 0.0
    batch_losses = []
    for batch in data:
        out = trainer.model(batch, training=False)
        w = batch["masked_lm_weights"].numpy().reshape(-1)
        predicted = out["masked_lm_log_probs"].numpy().argmax(-1)
        correct += np.sum(w * (predicted == batch["masked_lm_ids"].numpy().reshape(-1)))
        weights += w.sum()
        loss_sum += np.sum(w * out["masked_lm_example_loss"].numpy())
        labels = batch["next_sentence_labels"].numpy().reshape(-1)
        nsp_correct += np.sum(out["next_sentence_log_probs"].numpy().argmax(-1) == labels)
        nsp_loss += out["next_sentence_example_loss"].numpy().sum()
        count += len(labels)
        batch_losses.append(float(out["total_loss"]))
    expected = {
        "masked_lm_accuracy": correct / weights,
        "masked_lm_loss": loss_sum / weights,
        "next_sentence_accuracy": nsp_correct / count,
        "next_sentence_loss": nsp_loss / count,
        "loss": np.mean(batch_losses),
    }
    assert sorted(result) == sorted(list(expected) + ["global_step"])
    for key, value in expected.items():
        assert isinstance(result[key], np.float32), key
        np.testing.assert_allclose(result[key], value, rtol=1e-5, err_msg=key)
    assert isinstance(result["global_step"], np.int64) and result["global_step"] == 0


def test_predict_returns_the_outputs_of_every_example_in_order(tmp_path):
    trainer = dw.make_trainer(None, str(tmp_path))
    examples = dw.examples()
    result = trainer.predict(
        tf.data.Dataset.from_tensor_slices(examples).batch(5), ["next_sentence_log_probs"]
    )
    expected = trainer.model(examples, training=False)["next_sentence_log_probs"]
    np.testing.assert_allclose(result["next_sentence_log_probs"], expected, rtol=1e-5, atol=1e-6)


def test_metric_sums_follow_tf_metrics_weighting():
    num, den = accuracy_sums(
        tf.constant([1, 2, 3]), tf.constant([1, 0, 3]), tf.constant([1.0, 1.0, 0.0])
    )
    assert (float(num), float(den)) == (1.0, 2.0)
    num, den = mean_sums(tf.constant([2.0, 4.0]))
    assert (float(num), float(den)) == (6.0, 2.0)


def test_eval_results_are_written_sorted_in_the_original_format(tmp_path):
    path = tmp_path / "eval_results.txt"
    write_eval_results(
        str(path), {"loss": np.float32(0.25), "global_step": np.int64(7), "b": np.float32(1 / 3)}
    )
    assert path.read_text() == "b = 0.33333334\nglobal_step = 7\nloss = 0.25\n"
    assert os.listdir(tmp_path) == ["eval_results.txt"]


# ----------------------------------------------------------------- precision and flags


def test_mixed_float16_on_two_replicas_trains_with_float32_variables(two_cpu_strategy, tmp_path):
    trainer = dw.make_trainer(two_cpu_strategy, str(tmp_path), mixed_precision="mixed_float16")
    trainer.train(dw.dataset_fn, 3)
    assert trainer.global_step == 3
    # No step was skipped: the loss scale was never halved.
    assert float(trainer._train_optimizer.dynamic_scale.numpy()) == 2.0**15
    assert {v.dtype for v in trainer.model.weights} == {"float32"}
    assert trainer.model.dtype_policy.compute_dtype == "float16"
    assert all(np.isfinite(v.numpy()).all() for v in trainer.model.weights)


def test_strategy_and_precision_names_are_checked():
    assert distribute.resolve_strategy_name("default", use_tpu=True) == "tpu"
    with pytest.raises(ValueError, match="--use_tpu=True.*--strategy=mirrored"):
        distribute.resolve_strategy_name("mirrored", use_tpu=True)
    with pytest.raises(ValueError, match="--strategy='gpu'"):
        distribute.get_strategy("gpu")
    with pytest.raises(ValueError, match="--mixed_precision='float16'"):
        distribute.dtype_policy("float16")
    assert distribute.is_chief(tf.distribute.get_strategy())


def test_bias_correction_reaches_the_optimizer(tmp_path):
    trainer = Trainer(
        PretrainingTask(BertConfig.from_json_file(os.path.join(TINY, "bert_config.json"))),
        TrainerConfig(output_dir=str(tmp_path), num_train_steps=10, bias_correction=True),
    )
    assert trainer.optimizer.bias_correction and trainer.optimizer.weight_decay_rate == 0.01


def test_a_folder_without_its_state_file_resumes_instead_of_overwriting(tmp_path):
    first = dw.make_trainer(None, str(tmp_path), num_train_steps=2, save_checkpoints_steps=2)
    first.train(dw.dataset_fn, 2)
    saved = (tmp_path / "model.ckpt-2.data-00000-of-00001").read_bytes()
    os.remove(tmp_path / "checkpoint")
    resumed = dw.make_trainer(None, str(tmp_path), num_train_steps=2, save_checkpoints_steps=2)
    assert resumed.global_step == 2
    assert resumed.train(dw.dataset_fn, 2) == {}
    assert (tmp_path / "model.ckpt-2.data-00000-of-00001").read_bytes() == saved


def test_progress_lines_come_every_n_steps_with_an_eta(tmp_path, caplog):
    trainer = dw.make_trainer(
        None, str(tmp_path), num_train_steps=6, iterations_per_loop=100, log_every_n_steps=3
    )
    with caplog.at_level("INFO", logger="absl"):
        trainer.train(dw.dataset_fn, 6)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step = ")]
    assert [line.split(",")[0] for line in lines] == ["step = 3/6", "step = 6/6"]
    assert re.search(
        r"loss = \S+, learning_rate = \S+, examples/sec = \S+, model GFLOP/s = \S+, "
        r"MFU = \S+%, ETA = 0s$",
        lines[1],
    )


def test_automatic_logging_runs_one_step_first_then_sizes_calls_by_time(tmp_path, caplog):
    trainer = dw.make_trainer(None, str(tmp_path), num_train_steps=7, iterations_per_loop=4)
    assert trainer.config.log_every_n_steps == 0
    with caplog.at_level("INFO", logger="absl"):
        trainer.train(dw.dataset_fn, 7)
    steps = [
        r.getMessage().split(",")[0] for r in caplog.records if r.getMessage().startswith("step = ")
    ]
    # Step 1 alone (it traces); then calls of up to iterations_per_loop steps,
    # since a tiny step takes far less than AUTO_LOG_SECONDS.
    assert steps == ["step = 1/7", "step = 4/7", "step = 7/7"]


def test_eval_metrics_are_written_as_scalars_under_eval(tmp_path):
    trainer = dw.make_trainer(None, str(tmp_path), num_train_steps=2)
    trainer.train(dw.dataset_fn, 2)
    result = trainer.evaluate(dw.dataset_fn, steps=2)
    seen = {}
    for path in (tmp_path / "eval").glob("events.out.tfevents*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                seen[value.tag] = (event.step, float(tf.make_ndarray(value.tensor)))
    assert sorted(seen) == sorted(k for k in result if k != "global_step")
    for key, (step, value) in seen.items():
        assert step == 2
        np.testing.assert_allclose(value, result[key], rtol=1e-6)
