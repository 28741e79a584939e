"""Tests of run_pretraining.py, official_bert.pretraining and pretraining_input.

The end-to-end test runs the CLI on the golden pretraining data
(tests/golden/pretraining_data/demo.tfrecord, written by the original
create_pretraining_data.py with the flags in demo.json) with a tiny config of
the uncased vocabulary's size. The write-back test trains the tiny golden
model on records made from the golden batch and compares the checkpoint with
the original's (tests/golden/tiny_bert/pretraining_run/model.ckpt-3).
"""

import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from official_bert import pretraining, pretraining_input

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
TINY = os.path.join(TESTS, "golden", "tiny_bert")
DEMO = os.path.join(TESTS, "golden", "pretraining_data", "demo")
FEATURES = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)

# run_pretraining.py's flags and their defaults, as in the original.
ORIGINAL_DEFAULTS = {
    "bert_config_file": None,
    "input_file": None,
    "output_dir": None,
    "init_checkpoint": None,
    "max_seq_length": 128,
    "max_predictions_per_seq": 20,
    "do_train": False,
    "do_eval": False,
    "train_batch_size": 32,
    "eval_batch_size": 8,
    "learning_rate": 5e-5,
    "num_train_steps": 100000,
    "num_warmup_steps": 10000,
    "save_checkpoints_steps": 1000,
    "iterations_per_loop": 1000,
    "max_eval_steps": 100,
    "use_tpu": False,
    "tpu_name": None,
    "tpu_zone": None,
    "gcp_project": None,
    "master": None,
    "num_tpu_cores": 8,
}
TF2_DEFAULTS = {
    "strategy": "default",
    "jit_compile": False,
    "mixed_precision": "float32",
    "bias_correction": False,
    "log_every_n_steps": 0,
}


def run_flags(**overrides):
    """The flag values of run_pretraining.py (defaults + overrides), for `pretraining.run`."""
    values = {**ORIGINAL_DEFAULTS, **TF2_DEFAULTS}
    unknown = set(overrides) - set(values)
    assert not unknown, unknown
    values.update(overrides)
    return types.SimpleNamespace(**values)


def write_records(path, examples):
    """Writes a dict of arrays [n, ...] as pretraining tf.train.Examples."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(len(examples["input_ids"])):
            feature = {}
            for name in FEATURES:
                values = np.asarray(examples[name][i]).reshape(-1)
                if name == "masked_lm_weights":
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
                else:
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def golden_records(tmp_path_factory):
    """The 3 golden examples (seq 16, 4 predictions) as a TFRecord file."""
    golden = np.load(os.path.join(TINY, "model_golden.npz"))
    path = tmp_path_factory.mktemp("records") / "golden.tfrecord"
    write_records(path, {name: golden[f"inputs/{name}"] for name in FEATURES})
    return str(path)


@pytest.fixture(scope="module")
def demo_instances():
    with open(DEMO + ".json") as f:
        return json.load(f)["instances"]


# ----------------------------------------------------------------- the CLI


def test_cli_trains_evaluates_and_writes_checkpoints_and_eval_results(tmp_path):
    with open(os.path.join(TINY, "bert_config.json")) as f:
        config = json.load(f)
    config.update(vocab_size=30522, max_position_embeddings=128)  # the demo data's vocabulary
    config_file = tmp_path / "bert_config.json"
    config_file.write_text(json.dumps(config))
    output_dir = tmp_path / "out"
    command = [
        sys.executable,
        os.path.join(ROOT, "run_pretraining.py"),
        f"--bert_config_file={config_file}",
        f"--input_file={DEMO}.tfrecord",
        f"--output_dir={output_dir}",
        "--do_train",
        "--do_eval",
        "--train_batch_size=4",
        "--eval_batch_size=4",
        "--num_train_steps=3",
        "--num_warmup_steps=1",
        "--save_checkpoints_steps=2",
        "--iterations_per_loop=2",
        "--max_eval_steps=2",
        "--max_seq_length=128",
        "--max_predictions_per_seq=20",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"step = 2\b[^\n]*, loss = ", done.stderr), done.stderr[-3000:]
    assert "***** Eval results *****" in done.stderr

    state = tf.train.get_checkpoint_state(str(output_dir))
    assert os.path.basename(state.model_checkpoint_path) == "model.ckpt-3"
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
        "model.ckpt-2",
        "model.ckpt-3",
    ]
    lines = (output_dir / "eval_results.txt").read_text().splitlines()
    keys = [line.split(" = ")[0] for line in lines]
    assert keys == [
        "global_step",
        "loss",
        "masked_lm_accuracy",
        "masked_lm_loss",
        "next_sentence_accuracy",
        "next_sentence_loss",
    ]
    results = dict(line.split(" = ") for line in lines)
    assert results["global_step"] == "3"
    for key in keys[1:]:
        assert 0.0 <= float(results[key]) < 20.0, (key, results[key])


# ----------------------------------------------------------------- pretraining.run


def test_written_checkpoint_has_the_variables_of_the_original_run(golden_records, tmp_path):
    output_dir = tmp_path / "out"
    pretraining.run(
        run_flags(
            bert_config_file=os.path.join(TINY, "bert_config.json"),
            input_file=golden_records,
            output_dir=str(output_dir),
            init_checkpoint=os.path.join(TINY, "released", "bert_model.ckpt"),
            do_train=True,
            train_batch_size=3,
            num_train_steps=3,
            num_warmup_steps=2,
            learning_rate=1e-2,
            max_seq_length=16,
            max_predictions_per_seq=4,
        )
    )
    ours = tf.train.load_checkpoint(str(output_dir / "model.ckpt-3"))
    theirs = tf.train.load_checkpoint(os.path.join(TINY, "pretraining_run", "model.ckpt-3"))
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    assert ours.get_variable_to_dtype_map() == theirs.get_variable_to_dtype_map()
    assert ours.get_tensor("global_step") == 3
    assert not (output_dir / "eval_results.txt").exists()


def test_neither_train_nor_eval_is_refused():
    with pytest.raises(ValueError, match=r"At least one of `do_train` or `do_eval` must be True\."):
        pretraining.run(run_flags())


@pytest.mark.parametrize("name", pretraining.REQUIRED_FLAGS)
def test_each_required_flag_is_named_when_missing(tmp_path, name):
    flags = run_flags(
        bert_config_file=os.path.join(TINY, "bert_config.json"),
        input_file=DEMO + ".tfrecord",
        output_dir=str(tmp_path / "out"),
        do_train=True,
    )
    setattr(flags, name, None)
    with pytest.raises(ValueError, match=f"^Flag --{name} must have a value other than None.$"):
        pretraining.run(flags)
    assert not (tmp_path / "out").exists()


def test_records_of_another_max_seq_length_name_the_file_and_both_values(tmp_path):
    flags = run_flags(
        bert_config_file=os.path.join(TINY, "bert_config.json"),
        input_file=DEMO + ".tfrecord",
        output_dir=str(tmp_path),
        do_eval=True,
        max_seq_length=64,
    )
    with pytest.raises(ValueError) as error:
        pretraining.run(flags)
    message = str(error.value)
    assert "demo.tfrecord" in message and "max_seq_length=128" in message
    assert "--max_seq_length=64" in message


def test_records_of_another_max_predictions_per_seq_are_refused(golden_records):
    with pytest.raises(
        ValueError, match=r"max_predictions_per_seq=4 but --max_predictions_per_seq=20"
    ):
        pretraining_input.check_record_shapes([golden_records], 16, 20)


def test_an_input_glob_that_matches_nothing_is_named(tmp_path):
    missing = str(tmp_path / "nothing-*.tfrecord")
    with pytest.raises(ValueError, match=r"'.*nothing-\*\.tfrecord' matches no file"):
        pretraining_input.glob_input_files(f"{DEMO}.tfrecord,{missing}")


def test_comma_separated_globs_are_expanded_in_order(golden_records):
    files = pretraining_input.glob_input_files(f"{DEMO}.tfr*, {golden_records}")
    assert files == [DEMO + ".tfrecord", golden_records]


# ----------------------------------------------------------------- the input pipeline


def test_eval_pipeline_reads_the_records_in_order_as_int32(demo_instances):
    dataset = pretraining_input.make_dataset(
        [DEMO + ".tfrecord"], 128, 20, is_training=False, batch_size=32
    )
    batches = list(dataset.take(3))  # 96 examples: the 72 records, then again from the start
    for name in FEATURES:
        expected_dtype = tf.float32 if name == "masked_lm_weights" else tf.int32
        assert batches[0][name].dtype == expected_dtype, name
        values = np.concatenate([b[name].numpy() for b in batches])
        expected = np.array([instance[name] for instance in demo_instances])
        np.testing.assert_array_equal(values[:72], expected, err_msg=name)
        np.testing.assert_array_equal(values[72:], expected[:24], err_msg=name)


def test_training_pipeline_gives_full_shuffled_batches_forever(demo_instances):
    dataset = pretraining_input.make_dataset(
        [DEMO + ".tfrecord"], 128, 20, is_training=True, batch_size=16
    )
    batches = list(dataset.take(6))  # 96 examples: more than the 72 records
    assert all(b["input_ids"].shape == (16, 128) for b in batches)
    assert batches[0]["next_sentence_labels"].shape == (16, 1)
    ids = np.concatenate([b["input_ids"].numpy() for b in batches])
    expected = {tuple(instance["input_ids"]) for instance in demo_instances}
    assert {tuple(row) for row in ids} <= expected
    in_order = np.array([instance["input_ids"] for instance in demo_instances[:16]])
    assert not np.array_equal(ids[:16], in_order)


def first_batches(input_files, num_pipelines=2):
    """Each input pipeline's first per-replica batch of input_ids (global batch 2, eval)."""
    dataset_fn = pretraining_input.dataset_fn_builder(
        input_files, 16, 4, is_training=False, global_batch_size=num_pipelines
    )
    batches = []
    for pipeline_id in range(num_pipelines):
        context = tf.distribute.InputContext(num_pipelines, pipeline_id, num_pipelines)
        batches.append(next(iter(dataset_fn(context)))["input_ids"].numpy())
    return batches


def test_input_pipelines_of_several_workers_read_their_own_records(golden_records, tmp_path):
    golden = np.load(os.path.join(TINY, "model_golden.npz"))
    ids = golden["inputs/input_ids"]
    # One file: the pipelines take every other record.
    first, second = first_batches([golden_records])
    np.testing.assert_array_equal(first, ids[:1])
    np.testing.assert_array_equal(second, ids[1:2])
    # As many files as pipelines: each pipeline reads its own file.
    other = tmp_path / "reversed.tfrecord"
    write_records(other, {name: golden[f"inputs/{name}"][::-1] for name in FEATURES})
    first, second = first_batches([golden_records, str(other)])
    np.testing.assert_array_equal(first, ids[:1])
    np.testing.assert_array_equal(second, ids[2:3])
