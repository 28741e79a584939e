"""Tests of run_classifier.py and official_bert.classifier: the fine-tuning job.

Most runs go through `classifier.run` in process, with the flags parsed by
absl from a command line (`parse`); one runs `python run_classifier.py` as a
subprocess. The model is the tiny golden BERT (tests/golden/tiny_bert).

Deterministic input for the golden steps and the resume test: dropout off
(a config with zero dropout probabilities, and the classifier's fixed 0.1
dropout on the pooled output set to 0 with `no_dropout`), and the training
shuffle seeded with `run(..., shuffle_seed=...)`, which also makes a resumed
run skip the batches of the steps it already trained.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl import logging as absl_logging
from state_compare import assert_state_close

from official_bert import checkpoints, classifier, classifier_features, distribute, models
from official_bert.modeling import BertConfig
from official_bert.training import Trainer, TrainerConfig

FLAGS = flags.FLAGS
TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
GOLDEN = os.path.join(TESTS, "golden")
GLUE = os.path.join(GOLDEN, "glue")
TINY = os.path.join(GOLDEN, "tiny_bert")
TINY_CONFIG = os.path.join(TINY, "bert_config.json")
RELEASED = os.path.join(TINY, "released", "bert_model.ckpt")
PRETRAINING_RUN = os.path.join(TINY, "pretraining_run", "model.ckpt-3")
CLASSIFIER_RUN = os.path.join(TINY, "classifier_run", "model.ckpt-3")
UNCASED_VOCAB = os.path.join(GOLDEN, "uncased_vocab.txt")
SEED = 7


# ----------------------------------------------------------------- helpers


def parse(**flag_values):
    """The flags of run_classifier.py parsed by absl from `--name=value` arguments.

    absl's global FLAGS are left unparsed afterwards, and absl's logging
    verbosity (itself a flag) as it was.
    """
    classifier.define_flags()
    argv = ["run_classifier.py"] + [f"--{name}={value}" for name, value in flag_values.items()]
    verbosity = absl_logging.get_verbosity()
    FLAGS.unparse_flags()
    try:
        FLAGS(argv)
        return SimpleNamespace(**FLAGS.flag_values_dict())
    finally:
        FLAGS.unparse_flags()
        absl_logging.set_verbosity(verbosity)


@contextlib.contextmanager
def no_dropout():
    """Sets the classifier's fixed pooled-output dropout (0.1) to 0 (a test-only switch)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "CLASSIFIER_DROPOUT_PROB", 0.0)
        yield


def write_config(path, **overrides):
    with open(TINY_CONFIG) as f:
        config = {**json.load(f), **overrides}
    with open(path, "w") as f:
        json.dump(config, f)
    return str(path)


def tiny_vocab():
    """99 tokens (the tiny model's vocab_size): any lower-case English word splits into them."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *("##" + c for c in letters)]
    vocab += list("0123456789") + list(".,'\"-()?!;:/$%&")
    vocab += [
        "the",
        "a",
        "of",
        "to",
        "and",
        "in",
        "is",
        "that",
        "it",
        "was",
        "he",
        "for",
        "on",
        "with",
        "as",
        "his",
        "be",
    ]
    assert len(vocab) == 99
    return vocab


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    (root / "vocab.txt").write_text("\n".join(tiny_vocab()) + "\n")
    return SimpleNamespace(
        root=root,
        vocab=str(root / "vocab.txt"),
        # Dropout off, for exact and repeatable steps.
        config=write_config(root / "config.json", hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0),
        # The uncased vocabulary's ids need vocab_size 30522.
        uncased_config=write_config(root / "uncased_config.json", vocab_size=30522),
    )  # fmt: skip


def tiny_flags(files, output_dir, task="MNLI", **overrides):
    """A short run of the tiny model on a golden GLUE task: 3 steps of batches of 4."""
    values = {
        "task_name": task,
        "data_dir": os.path.join(GLUE, task),
        "vocab_file": files.vocab,
        "bert_config_file": files.config,
        "init_checkpoint": RELEASED,
        "output_dir": str(output_dir),
        "max_seq_length": 32,
        "train_batch_size": 4,
        "eval_batch_size": 4,
        "predict_batch_size": 4,
        "num_train_epochs": 1.0,
        "learning_rate": 5e-3,
        "save_checkpoints_steps": 1,
        "iterations_per_loop": 1,
        "do_train": True,
        "do_eval": True,
        "do_predict": True,
    }
    values.update(overrides)
    return parse(**values)


def checkpoint_state(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def read_records(path):
    """The int64 features of every record of a TFRecord file, in order."""
    records = []
    for raw in tf.data.TFRecordDataset(path):
        feature = tf.train.Example.FromString(raw.numpy()).features.feature
        records.append({name: list(feature[name].int64_list.value) for name in feature})
    return records


def assert_nothing_written(output_dir):
    assert not os.path.exists(output_dir) or os.listdir(output_dir) == []


# ----------------------------------------------------------------- flags


def test_flags_have_the_original_names_and_defaults():
    f = parse()
    expected = {
        "data_dir": None, "bert_config_file": None, "task_name": None, "vocab_file": None,
        "output_dir": None, "init_checkpoint": None, "do_lower_case": True,
        "max_seq_length": 128, "do_train": False, "do_eval": False, "do_predict": False,
        "train_batch_size": 32, "eval_batch_size": 8, "predict_batch_size": 8,
        "learning_rate": 5e-5, "num_train_epochs": 3.0, "warmup_proportion": 0.1,
        "save_checkpoints_steps": 1000, "iterations_per_loop": 1000, "use_tpu": False,
        "tpu_name": None, "tpu_zone": None, "gcp_project": None, "master": None,
        "num_tpu_cores": 8, "strategy": "default", "jit_compile": False,
        "mixed_precision": "float32", "bias_correction": False,
    }  # fmt: skip
    assert {name: getattr(f, name) for name in expected} == expected


# ----------------------------------------------------------------- features


@pytest.mark.parametrize("task", ["MRPC", "CoLA", "MNLI"])
def test_cli_writes_the_original_features_of_every_split(task, files, tmp_path):
    with open(os.path.join(GLUE, "features.json")) as f:
        golden = json.load(f)
    output_dir = tmp_path / "out"
    f = parse(
        task_name=task, data_dir=os.path.join(GLUE, task), vocab_file=UNCASED_VOCAB,
        bert_config_file=files.uncased_config, output_dir=str(output_dir), max_seq_length=32,
        do_lower_case=True, do_train=True, do_eval=True, do_predict=True, train_batch_size=12,
        num_train_epochs=1.0,
    )  # fmt: skip
    classifier.run(f)
    for split, filename in (("train", "train"), ("dev", "eval"), ("test", "predict")):
        records = read_records(str(output_dir / f"{filename}.tf_record"))
        assert records == golden["splits"][f"{task}/{split}"]["features"], (task, split)


# ----------------------------------------------------------------- golden steps


def test_three_steps_of_the_trainer_reproduce_the_original_classifier(files, tmp_path):
    golden = dict(np.load(os.path.join(TINY, "model_golden.npz")))
    batch = {
        name: golden[f"inputs/{name}"]
        for name in ("input_ids", "input_mask", "segment_ids", "label_ids")
    }
    task = classifier.ClassifierTask(BertConfig.from_json_file(files.config), num_labels=3)
    config = TrainerConfig(
        output_dir=str(tmp_path), learning_rate=5e-3, num_train_steps=10, num_warmup_steps=1
    )
    with no_dropout():
        trainer = Trainer(task, config)
        trainer.restore(RELEASED)
        trainer.model.output_weights.assign(golden["classifier/init/output_weights"])
        trainer.model.output_bias.assign(golden["classifier/init/output_bias"])
        iterator = iter(trainer.distribute(tf.data.Dataset.from_tensors(batch).repeat()))
        for step in range(3):
            logs = trainer.train_steps(iterator, 1)
            np.testing.assert_allclose(
                logs["loss"], golden[f"classifier/train/step{step}/loss"], 1e-5
            )
            np.testing.assert_allclose(
                logs["learning_rate"], golden[f"classifier/train/step{step}/learning_rate"], 1e-6
            )
    state = {v.path: v.numpy() for v in trainer.model.weights}
    state.update({k: v.numpy() for k, v in trainer.optimizer.slot_variables().items()})
    state["global_step"] = trainer.global_step
    prefix = "classifier/train/final/"
    expected = {k[len(prefix) :]: v for k, v in golden.items() if k.startswith(prefix)}
    assert_state_close(state, expected)


def test_metrics_are_the_original_metric_fn_weighted_by_is_real_example(files):
    task = classifier.ClassifierTask(BertConfig.from_json_file(files.config), num_labels=3)
    outputs = {
        "logits": tf.constant([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]),
        "per_example_loss": tf.constant([0.5, 1.0, 4.0]),
    }
    features = {"label_ids": tf.constant([0, 2, 2]), "is_real_example": tf.constant([1, 1, 0])}
    sums = {k: (float(n), float(d)) for k, (n, d) in task.metric_sums(outputs, features).items()}
    assert sums == {"eval_accuracy": (1.0, 2.0), "eval_loss": (1.5, 2.0)}


# ----------------------------------------------------------------- a full run


@pytest.fixture(scope="module")
def mnli_run(files, tmp_path_factory):
    """An uninterrupted train + eval + predict run on MNLI (3 labels), dropout off.

    It starts from the original's classifier checkpoint, which holds the head
    too: every variable starts from the same values in every run.
    """
    output_dir = tmp_path_factory.mktemp("mnli_run")
    with no_dropout():
        result = classifier.run(
            tiny_flags(files, output_dir, init_checkpoint=CLASSIFIER_RUN), shuffle_seed=SEED
        )
    return output_dir, result


def test_run_trains_the_original_number_of_steps_and_checkpoints_each(mnli_run):
    output_dir, result = mnli_run
    # int(12 examples / 4 * 1.0 epochs) = 3 steps, a checkpoint after each.
    assert result.num_train_steps == 3
    state = tf.train.get_checkpoint_state(str(output_dir))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
        "model.ckpt-1",
        "model.ckpt-2",
        "model.ckpt-3",
    ]


def test_checkpoint_has_the_names_shapes_and_dtypes_of_the_original_classifier(mnli_run):
    output_dir, _ = mnli_run
    written = checkpoints.list_variables(os.path.join(str(output_dir), "model.ckpt-3"))
    assert written == checkpoints.list_variables(CLASSIFIER_RUN)


def test_eval_results_and_test_results_are_the_model_s_in_the_original_format(files, mnli_run):
    output_dir, result = mnli_run
    model = models.BertClassifier(BertConfig.from_json_file(files.config), num_labels=3)
    checkpoints.restore_checkpoint(str(output_dir), model, strict=False, log=False)

    def outputs_of(record_file):
        data = classifier_features.file_based_dataset(record_file, 32, False, False, 100)
        batch = next(iter(data))
        return batch, {k: v.numpy() for k, v in model(batch, training=False).items()}

    batch, out = outputs_of(str(output_dir / "eval.tf_record"))
    labels = batch["label_ids"].numpy()
    expected = {
        "eval_accuracy": np.mean(out["logits"].argmax(-1) == labels),
        "eval_loss": np.mean(out["per_example_loss"]),
        "loss": np.mean(out["per_example_loss"][:4]) / 2 + np.mean(out["per_example_loss"][4:]) / 2,
    }
    text = (output_dir / "eval_results.txt").read_text()
    lines = text.splitlines()
    assert [line.split(" = ")[0] for line in lines] == [
        "eval_accuracy", "eval_loss", "global_step", "loss"
    ]  # fmt: skip
    values = dict(line.split(" = ") for line in lines)
    assert values["global_step"] == "3"
    for key, value in expected.items():
        np.testing.assert_allclose(float(values[key]), value, rtol=1e-5, err_msg=key)
        # Written as the original's numpy float32 values print.
        assert values[key] == str(np.float32(values[key])), key

    _, out = outputs_of(str(output_dir / "predict.tf_record"))
    rows = [line.split("\t") for line in (output_dir / "test_results.tsv").read_text().splitlines()]
    assert len(rows) == 5 and all(len(row) == 3 for row in rows)
    assert all(p == str(np.float32(p)) for row in rows for p in row)
    np.testing.assert_allclose(np.array(rows, np.float32), out["probabilities"], rtol=1e-5)
    np.testing.assert_allclose(result.probabilities, out["probabilities"], rtol=1e-5)


class Killed(Exception):
    """Stands for the process being killed."""


def test_a_run_killed_after_its_first_checkpoint_resumes_to_the_same_final_variables(
    files, mnli_run, tmp_path, monkeypatch
):
    save = Trainer.save_checkpoint

    def save_then_die(self):
        save(self)
        raise Killed

    output_dir = tmp_path / "out"
    flag_values = tiny_flags(
        files, output_dir, init_checkpoint=CLASSIFIER_RUN, do_eval=False, do_predict=False
    )
    with no_dropout():
        monkeypatch.setattr(Trainer, "save_checkpoint", save_then_die)
        with pytest.raises(Killed):
            classifier.run(flag_values, shuffle_seed=SEED)
        monkeypatch.undo()
        assert checkpoints.latest_checkpoint(str(output_dir)).endswith("model.ckpt-1")
        classifier.run(flag_values, shuffle_seed=SEED)
    uninterrupted_dir, _ = mnli_run
    resumed = checkpoint_state(str(output_dir / "model.ckpt-3"))
    expected = checkpoint_state(str(uninterrupted_dir / "model.ckpt-3"))
    assert_state_close(resumed, expected, rtol=1e-6, outlier_rtol=1e-5)


def test_its_checkpoint_reloads_with_init_checkpoint_and_tpu_padding_weighs_nothing(
    files, mnli_run, tmp_path
):
    uninterrupted_dir, uninterrupted = mnli_run
    output_dir = tmp_path / "out"
    flag_values = tiny_flags(
        files, output_dir, do_train=False,
        init_checkpoint=str(uninterrupted_dir / "model.ckpt-3"),
    )  # fmt: skip
    # A TPU strategy pads eval and predict to whole batches (and looks embeddings up
    # by one-hot matmul); the default strategy stands in for a TPU.
    with mock.patch.object(distribute, "is_tpu_strategy", lambda strategy: True):
        result = classifier.run(flag_values, strategy=tf.distribute.get_strategy())
    eval_records = read_records(str(output_dir / "eval.tf_record"))
    predict_records = read_records(str(output_dir / "predict.tf_record"))
    assert [r["is_real_example"] for r in eval_records] == [[1]] * 6 + [[0]] * 2
    assert [r["is_real_example"] for r in predict_records] == [[1]] * 5 + [[0]] * 3
    assert result.eval_results["global_step"] == 0
    for key in ("eval_accuracy", "eval_loss"):
        np.testing.assert_allclose(
            result.eval_results[key], uninterrupted.eval_results[key], rtol=1e-5, err_msg=key
        )
    rows = (output_dir / "test_results.tsv").read_text().splitlines()
    assert len(rows) == 5
    np.testing.assert_allclose(result.probabilities, uninterrupted.probabilities, rtol=1e-5)


def test_pretraining_checkpoint_initialises_the_encoder_and_leaves_the_head_new(
    files, tmp_path, caplog
):
    absl_logging.set_verbosity(absl_logging.INFO)
    flag_values = tiny_flags(
        files, tmp_path / "out", task="MRPC", do_train=False, do_predict=False,
        init_checkpoint=PRETRAINING_RUN,
    )  # fmt: skip
    with caplog.at_level("INFO"):
        result = classifier.run(flag_values)
    assert result.eval_results["global_step"] == 0  # the pretraining's step is not taken
    assert "Initialized 39 of 41 model variables" in caplog.text
    assert "newly initialized: output_weights, output_bias" in caplog.text


def test_command_line_trains_evaluates_and_predicts_mrpc(files, tmp_path):
    output_dir = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.run(
        [
            sys.executable, "run_classifier.py", "--task_name=MRPC",
            f"--data_dir={os.path.join(GLUE, 'MRPC')}", f"--vocab_file={files.vocab}",
            f"--bert_config_file={TINY_CONFIG}", f"--init_checkpoint={RELEASED}",
            f"--output_dir={output_dir}", "--max_seq_length=32", "--train_batch_size=4",
            "--num_train_epochs=1", "--do_train=true", "--do_eval=true", "--do_predict=true",
        ],
        env=env, capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    assert "***** Eval results *****" in process.stderr
    text = (output_dir / "eval_results.txt").read_text()
    assert re.fullmatch(
        # The original's four keys, and F1, MRPC's second GLUE metric (issue 18).
        r"eval_accuracy = \S+\neval_f1 = \S+\neval_loss = \S+\nglobal_step = 3\nloss = \S+\n",
        text,
    ), text
    rows = [line.split("\t") for line in (output_dir / "test_results.tsv").read_text().splitlines()]
    assert len(rows) == 5
    for row in rows:
        assert len(row) == 2 and abs(sum(float(p) for p in row) - 1) < 1e-5
    assert checkpoints.latest_checkpoint(str(output_dir)).endswith("model.ckpt-3")


# ----------------------------------------------------------------- bad input


def bad_data_dir(tmp_path, task="MRPC", **replacements):
    """A copy of a golden task's files, with some files replaced (None: removed)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in os.listdir(os.path.join(GLUE, task)):
        with open(os.path.join(GLUE, task, name)) as f:
            text = f.read()
        text = replacements.get(name, text)
        if text is not None:
            (data_dir / name).write_text(text)
    return str(data_dir)


def run_expecting_error(flag_values, error=ValueError):
    with pytest.raises(error) as info:
        classifier.run(flag_values)
    assert_nothing_written(flag_values.output_dir)
    return str(info.value)


def test_unknown_task_lists_the_known_ones(files, tmp_path):
    message = run_expecting_error(tiny_flags(files, tmp_path / "out", task_name="sst9"))
    assert "Task not found: sst9" in message
    for known in ("cola", "mnli", "mrpc", "xnli"):
        assert known in message


@pytest.mark.parametrize("name", classifier.REQUIRED_FLAGS)
def test_each_required_flag_is_named_when_missing(files, tmp_path, name):
    flag_values = tiny_flags(files, tmp_path / "out")
    setattr(flag_values, name, None)
    with pytest.raises(ValueError, match=f"^Flag --{name} must have a value other than None.$"):
        classifier.run(flag_values)
    assert_nothing_written(tmp_path / "out")


def test_no_mode_gives_the_original_message(files, tmp_path):
    flag_values = tiny_flags(
        files, tmp_path / "out", do_train=False, do_eval=False, do_predict=False
    )
    message = run_expecting_error(flag_values)
    assert message == "At least one of `do_train`, `do_eval` or `do_predict' must be True."


@pytest.mark.parametrize("missing", ["train.tsv", "dev.tsv", "test.tsv"])
def test_missing_data_file_names_the_expected_path(files, tmp_path, missing):
    data_dir = bad_data_dir(tmp_path, **{missing: None})
    flag_values = tiny_flags(files, tmp_path / "out", task="MRPC", data_dir=data_dir)
    message = run_expecting_error(flag_values, FileNotFoundError)
    assert os.path.join(data_dir, missing) in message


def test_row_with_too_few_columns_names_file_and_line(files, tmp_path):
    with open(os.path.join(GLUE, "MRPC", "dev.tsv")) as f:
        lines = f.read().splitlines()
    lines[3] = "\t".join(lines[3].split("\t")[:3])
    data_dir = bad_data_dir(tmp_path, **{"dev.tsv": "\n".join(lines) + "\n"})
    flag_values = tiny_flags(files, tmp_path / "out", task="MRPC", data_dir=data_dir)
    message = run_expecting_error(flag_values)
    assert f"{os.path.join(data_dir, 'dev.tsv')}, line 4" in message and "found 3" in message


def test_unknown_label_names_file_line_and_label(files, tmp_path):
    with open(os.path.join(GLUE, "MRPC", "train.tsv")) as f:
        lines = f.read().splitlines()
    lines[5] = "2" + lines[5][1:]
    data_dir = bad_data_dir(tmp_path, **{"train.tsv": "\n".join(lines) + "\n"})
    flag_values = tiny_flags(files, tmp_path / "out", task="MRPC", data_dir=data_dir)
    message = run_expecting_error(flag_values)
    assert f"{os.path.join(data_dir, 'train.tsv')}, line 6" in message and "'2'" in message


def test_sequence_longer_than_the_position_embeddings_is_refused(files, tmp_path):
    message = run_expecting_error(tiny_flags(files, tmp_path / "out", max_seq_length=65))
    assert "Cannot use sequence length 65" in message and "sequence length 64" in message
    assert "--max_seq_length=65" in message and files.config in message


def test_lower_case_contradicting_the_checkpoint_gives_the_original_message(files, tmp_path):
    checkpoint = "/models/cased_L-12_H-768_A-12/bert_model.ckpt"
    flag_values = tiny_flags(files, tmp_path / "out", init_checkpoint=checkpoint)
    message = run_expecting_error(flag_values)
    assert message == (
        f"You passed in `--do_lower_case=True` with `--init_checkpoint={checkpoint}`. However, "
        "`cased_L-12_H-768_A-12` seems to be a cased model, so you should pass in "
        "`--do_lower_case=False` so that the fine-tuning matches how the model was "
        "pre-training. If this error is wrong, please just comment out this check."
    )


def test_init_checkpoint_of_other_shapes_names_the_variable(files, tmp_path):
    config = write_config(tmp_path / "config.json", intermediate_size=40)
    flag_values = tiny_flags(files, tmp_path / "out", bert_config_file=config)
    message = run_expecting_error(flag_values)
    assert "bert/encoder/layer_0/intermediate/dense/kernel" in message
    assert "[32, 37]" in message and "[32, 40]" in message and RELEASED in message


def test_vocabulary_larger_than_the_model_is_refused(files, tmp_path):
    flag_values = tiny_flags(files, tmp_path / "out", vocab_file=UNCASED_VOCAB)
    message = run_expecting_error(flag_values)
    assert UNCASED_VOCAB in message and "30522" in message and "vocab_size=99" in message


@pytest.mark.parametrize("steps", [0, -2])
def test_gradient_accumulation_below_one_is_refused_naming_the_flag(files, tmp_path, steps):
    flag_values = tiny_flags(files, tmp_path / "out", gradient_accumulation_steps=steps)
    message = run_expecting_error(flag_values)
    assert message == f"--gradient_accumulation_steps must be at least 1; got {steps}."


def test_too_few_examples_for_one_step_names_the_flags(files, tmp_path):
    flag_values = tiny_flags(files, tmp_path / "out", num_train_epochs=0.3)
    message = run_expecting_error(flag_values)
    assert "int(12 / 4 * 0.3) = 0" in message and "--num_train_epochs" in message
