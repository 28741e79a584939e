"""Tests of official_bert.checkpoints: the original's name-based checkpoints.

Also the training goldens: 3 steps of the original's pretraining and
classifier runs, and resuming from the pretraining run's checkpoint.
"""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_mirrored_strategy
from state_compare import assert_state_close

from official_bert import checkpoints
from official_bert.modeling import BertConfig
from official_bert.models import BertClassifier, BertPretrainer
from official_bert.optimization import create_optimizer

TINY = os.path.join(os.path.dirname(__file__), "golden", "tiny_bert")
RELEASED = os.path.join(TINY, "released", "bert_model.ckpt")
PRETRAINING_RUN = os.path.join(TINY, "pretraining_run", "model.ckpt-3")
CLASSIFIER_RUN = os.path.join(TINY, "classifier_run", "model.ckpt-3")


@pytest.fixture(scope="module")
def golden():
    return dict(np.load(os.path.join(TINY, "model_golden.npz")))


@pytest.fixture(scope="module")
def config():
    return BertConfig.from_json_file(os.path.join(TINY, "bert_config.json"))


@pytest.fixture(scope="module")
def features(golden):
    return {k[len("inputs/") :]: v for k, v in golden.items() if k.startswith("inputs/")}


def make_train_step(model, optimizer, loss_key):
    @tf.function
    def train_step(features):
        with tf.GradientTape() as tape:
            loss = model(features, training=False)[loss_key]
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step


def state_of(model, optimizer):
    """Every checkpoint entry of a model + optimizer, as numpy arrays."""
    state = {v.path: v.numpy() for v in model.weights}
    state.update({k: v.numpy() for k, v in optimizer.slot_variables().items()})
    state["global_step"] = optimizer.iterations.numpy()
    return state


def golden_state(golden, prefix):
    return {k[len(prefix) :]: v for k, v in golden.items() if k.startswith(prefix)}


# ----------------------------------------------------------------- reading


def test_released_checkpoint_initialises_every_pretrainer_variable(config, golden):
    model = BertPretrainer(config)
    result = checkpoints.restore_checkpoint(RELEASED, model, log=False)
    assert sorted(result.initialized) == sorted(v.path for v in model.weights)
    assert result.not_initialized == [] and result.unused == []
    for v in model.weights:
        np.testing.assert_array_equal(v.numpy(), golden[f"pretrain/init/{v.path}"])


def test_released_into_classifier_reports_the_new_output_layer(config, golden, caplog):
    model = BertClassifier(config, num_labels=3)
    with caplog.at_level(logging.INFO):
        result = checkpoints.restore_checkpoint(RELEASED, model)
    assert sorted(result.not_initialized) == sorted(
        golden["classifier/not_initialized_from_checkpoint"]
    )
    assert result.unused == sorted(n for n in checkpoints.list_variables(RELEASED) if "cls/" in n)
    log = caplog.text
    assert "**** Trainable Variables ****" in log
    assert "name = bert/pooler/dense/kernel:0, shape = (32, 32), *INIT_FROM_CKPT*" in log
    assert "name = output_weights:0, shape = (3, 32)\n" in log + "\n"


def test_assignment_map_is_the_shared_names(config):
    model = BertClassifier(config, num_labels=3)
    assignment_map, initialized = checkpoints.get_assignment_map_from_checkpoint(model, RELEASED)
    bert_names = sorted(v.path for v in model.weights if v.path.startswith("bert/"))
    assert sorted(assignment_map) == bert_names
    assert all(assignment_map[n] == n for n in bert_names)
    assert "bert/pooler/dense/bias:0" in initialized and "output_weights" not in initialized


def test_missing_checkpoint_is_named(config, tmp_path):
    missing = str(tmp_path / "model.ckpt-7")
    with pytest.raises(FileNotFoundError, match="model.ckpt-7"):
        checkpoints.restore_checkpoint(missing, BertClassifier(config, 2))


def test_shape_mismatch_names_variable_and_both_shapes(config):
    other = BertConfig.from_dict({**config.to_dict(), "intermediate_size": 40})
    with pytest.raises(
        ValueError, match=r"layer_0/intermediate/dense/kernel.*\[32, 37\].*\[32, 40\]"
    ):
        checkpoints.restore_checkpoint(RELEASED, BertPretrainer(other), log=False)


def test_strict_restore_lists_missing_variables(config):
    model = BertClassifier(config, num_labels=3)
    with pytest.raises(ValueError, match=r"lacks 2 required.*output_weights"):
        checkpoints.restore_checkpoint(RELEASED, model, strict=True, log=False)


def test_strict_restore_with_optimizer_needs_global_step(config):
    # A weights-only (released) checkpoint cannot resume a run: it has no
    # global_step. (Missing Adam slots alone are allowed: the original writes
    # none for variables without a gradient.)
    model = BertPretrainer(config)
    with pytest.raises(ValueError, match="global_step"):
        checkpoints.restore_checkpoint(
            RELEASED, model, create_optimizer(1e-2, 20, 2), strict=True, log=False
        )


def test_pretraining_run_restores_weights_slots_and_global_step(config, golden):
    model, optimizer = BertPretrainer(config), create_optimizer(1e-2, 20, 2)
    result = checkpoints.restore_checkpoint(
        os.path.dirname(PRETRAINING_RUN), model, optimizer, strict=True, log=False
    )
    assert result.unused == [] and result.checkpoint.endswith("model.ckpt-3")
    expected = golden_state(golden, "pretrain/train/final/")
    actual = state_of(model, optimizer)
    assert sorted(actual) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


# ----------------------------------------------------------------- training


def test_three_pretraining_steps_reproduce_the_original(config, features, golden):
    model, optimizer = BertPretrainer(config), create_optimizer(1e-2, 20, 2)
    checkpoints.restore_checkpoint(RELEASED, model, log=False)
    train_step = make_train_step(model, optimizer, "total_loss")
    for step in range(3):
        loss = train_step(features)
        np.testing.assert_allclose(float(loss), golden[f"pretrain/train/step{step}/loss"], 1e-5)
    assert_state_close(state_of(model, optimizer), golden_state(golden, "pretrain/train/final/"))


def test_three_classifier_steps_reproduce_the_original(config, features, golden):
    model, optimizer = BertClassifier(config, num_labels=3), create_optimizer(5e-3, 10, 1)
    checkpoints.restore_checkpoint(RELEASED, model, log=False)
    model.output_weights.assign(golden["classifier/init/output_weights"])
    model.output_bias.assign(golden["classifier/init/output_bias"])
    train_step = make_train_step(model, optimizer, "loss")
    for step in range(3):
        loss = train_step(features)
        np.testing.assert_allclose(float(loss), golden[f"classifier/train/step{step}/loss"], 1e-5)
    expected = golden_state(golden, "classifier/train/final/")
    assert_state_close(state_of(model, optimizer), expected)


def test_resuming_from_step_3_equals_four_steps_from_scratch(config, features):
    scratch, scratch_opt = BertPretrainer(config), create_optimizer(1e-2, 20, 2)
    checkpoints.restore_checkpoint(RELEASED, scratch, log=False)
    step = make_train_step(scratch, scratch_opt, "total_loss")
    for _ in range(4):
        step(features)
    resumed, resumed_opt = BertPretrainer(config), create_optimizer(1e-2, 20, 2)
    checkpoints.restore_checkpoint(PRETRAINING_RUN, resumed, resumed_opt, strict=True, log=False)
    make_train_step(resumed, resumed_opt, "total_loss")(features)
    assert int(resumed_opt.iterations.numpy()) == 4
    assert_state_close(state_of(resumed, resumed_opt), state_of(scratch, scratch_opt))


# ----------------------------------------------------------------- writing


@pytest.mark.parametrize(
    "run, make_model", [(PRETRAINING_RUN, "pretrainer"), (CLASSIFIER_RUN, "classifier")]
)
def test_written_checkpoint_matches_the_original_format(config, tmp_path, run, make_model):
    model = BertPretrainer(config) if make_model == "pretrainer" else BertClassifier(config, 3)
    optimizer = create_optimizer(1e-3, 10, 1)
    checkpoints.restore_checkpoint(run, model, optimizer, strict=True, log=False)
    prefix = checkpoints.save_checkpoint(str(tmp_path), model, optimizer)
    assert prefix == os.path.join(str(tmp_path), "model.ckpt-3")
    original, written = tf.train.load_checkpoint(run), tf.train.load_checkpoint(prefix)
    assert written.get_variable_to_shape_map() == original.get_variable_to_shape_map()
    assert written.get_variable_to_dtype_map() == original.get_variable_to_dtype_map()
    assert written.get_variable_to_dtype_map()["global_step"] == tf.int64
    for name in original.get_variable_to_shape_map():
        np.testing.assert_array_equal(written.get_tensor(name), original.get_tensor(name))
    state = (tmp_path / "checkpoint").read_text()
    assert state.splitlines() == [
        'model_checkpoint_path: "model.ckpt-3"',
        'all_model_checkpoint_paths: "model.ckpt-3"',
    ]


def test_save_keeps_the_last_n_and_leaves_no_temporary_files(config, tmp_path):
    model = BertClassifier(config, num_labels=2)
    for step in (1, 2, 3):
        checkpoints.save_checkpoint(str(tmp_path), model, global_step=step, max_to_keep=2)
    assert checkpoints.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-3")
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "model.ckpt-2.data-00000-of-00001",
        "model.ckpt-2.index",
        "model.ckpt-3.data-00000-of-00001",
        "model.ckpt-3.index",
    ]
    assert tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths == [
        str(tmp_path / "model.ckpt-2"),
        str(tmp_path / "model.ckpt-3"),
    ]


def test_save_without_step_writes_released_style_weights(config, tmp_path):
    model = BertPretrainer(config)
    checkpoints.restore_checkpoint(RELEASED, model, log=False)
    prefix = checkpoints.save_checkpoint(str(tmp_path), model, basename="bert_model.ckpt")
    assert checkpoints.list_variables(prefix) == checkpoints.list_variables(RELEASED)


def test_restore_and_save_under_a_mirrored_strategy(config, tmp_path, golden):
    strategy = two_cpu_mirrored_strategy()
    with strategy.scope():
        model, optimizer = BertClassifier(config, 3), create_optimizer(5e-3, 10, 1)
        checkpoints.restore_checkpoint(CLASSIFIER_RUN, model, optimizer, strict=True, log=False)
    prefix = checkpoints.save_checkpoint(str(tmp_path), model, optimizer)
    written = tf.train.load_checkpoint(prefix)
    for name, value in golden_state(golden, "classifier/train/final/").items():
        np.testing.assert_array_equal(written.get_tensor(name), value, err_msg=name)


def test_variables_without_gradients_get_no_slots_in_the_checkpoint(tmp_path):
    # As the original: SQuAD's pooler gets no gradient, so no NAME/adam_m.
    import keras
    import tensorflow as tf

    used = keras.Variable([1.0, 2.0], name="used")
    unused = keras.Variable([3.0], name="unused")
    optimizer = create_optimizer(1e-2, 20, 2)
    optimizer.build([used, unused])
    optimizer.apply_gradients([(tf.constant([0.5, 0.5]), used), (None, unused)])
    prefix = checkpoints.save_checkpoint(str(tmp_path), [used, unused], optimizer)
    names = sorted(tf.train.load_checkpoint(prefix).get_variable_to_shape_map())
    assert names == ["global_step", "unused", "used", "used/adam_m", "used/adam_v"]
    fresh = create_optimizer(1e-2, 20, 2)
    result = checkpoints.restore_checkpoint(prefix, [used, unused], fresh, strict=True, log=False)
    assert "unused/adam_m" not in result.optimizer_initialized
    assert int(fresh.iterations.numpy()) == 1
