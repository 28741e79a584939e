"""Tests of run_squad.py and official_bert.squad_run: SQuAD fine-tuning and prediction.

The runs go through `squad_run.run` in process, with the flags parsed by absl
from the original's command lines (tests/golden/squad/e2e/*/flags.json and
train/flags.json, paths made absolute and --output_dir a temporary folder).
The model is the golden SQuAD BERT (hidden 16) of tests/golden/squad/model;
the expected files are what the original run_squad.py wrote (see
tests/golden/squad/README.md for the tolerances used here).
"""

import json
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl import logging as absl_logging
from command_line import exit_code_of

from official_bert import checkpoints, cli, squad_run
from official_bert.errors import InputError
from official_bert.training import Trainer

FLAGS = flags.FLAGS
TESTS = os.path.dirname(os.path.abspath(__file__))
SQUAD = os.path.join(TESTS, "golden", "squad")
VERSIONS = ("v1.1", "v2.0")
# End to end through a model: logits agree to about 1e-4 (README).
LOGIT_ATOL = 1e-4
# The 3-step checkpoint: relative tolerance where the gradient is real, and the
# absolute one of the zero-gradient variables and their slots (README).
TRAIN_RTOL = 1.3e-5
ZERO_GRADIENT_ATOL = 1e-4
ZERO_GRADIENT = ("cls/squad/output_bias", "attention/self/key/bias")
LAST_LAYER_BETA = "bert/encoder/layer_1/output/LayerNorm/beta"


# ----------------------------------------------------------------- helpers


def parse(argv):
    """run_squad.py's flags parsed by absl from `argv` (absl's FLAGS left unparsed)."""
    squad_run.define_flags()
    verbosity = absl_logging.get_verbosity()
    FLAGS.unparse_flags()
    try:
        FLAGS(["run_squad.py", *argv])
        return SimpleNamespace(**FLAGS.flag_values_dict())
    finally:
        FLAGS.unparse_flags()
        absl_logging.set_verbosity(verbosity)


def golden_argv(flags_json, output_dir, **overrides):
    """The original's argv of `flags_json` with golden paths and `--output_dir=output_dir`.

    Every flag the original parsed is given explicitly, so the result does not
    depend on defaults another entry point may have defined in this process.
    """
    with open(flags_json) as f:
        values = json.load(f)["flags"]
    values = {name: value for name, value in values.items() if value is not None}
    for name in ("vocab_file", "bert_config_file", "init_checkpoint", "train_file", "predict_file"):
        if name in values:
            values[name] = os.path.join(SQUAD, values[name])
    values["output_dir"] = str(output_dir)
    values.update(overrides)
    return [f"--{name}={value}" for name, value in values.items()]


def e2e_flags(version, output_dir, **overrides):
    return parse(
        golden_argv(os.path.join(SQUAD, "e2e", version, "flags.json"), output_dir, **overrides)
    )


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def checkpoint_state(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module", params=VERSIONS)
def e2e_run(request, tmp_path_factory):
    version = request.param
    output_dir = tmp_path_factory.mktemp(f"e2e-{version}") / "out"
    result = squad_run.run(e2e_flags(version, output_dir))
    return SimpleNamespace(
        version=version, output_dir=output_dir, result=result,
        golden=os.path.join(SQUAD, "e2e", version),
    )  # fmt: skip


# ----------------------------------------------------------------- flags


# ----------------------------------------------------------------- end to end predict


def test_predictions_are_the_original_file_and_null_odds_its_values(e2e_run):
    out, golden = e2e_run.output_dir, e2e_run.golden
    assert read_text(out / "predictions.json") == read_text(
        os.path.join(golden, "predictions.json")
    )
    if e2e_run.version == "v1.1":
        assert not (out / "null_odds.json").exists()  # v1.1 writes none, as the original
        return
    # Differences of two sums of two logits: 4 logits' noise through a model.
    actual = read_json(out / "null_odds.json")
    expected = read_json(os.path.join(golden, "null_odds.json"))
    assert list(actual) == list(expected)
    np.testing.assert_allclose(
        [actual[k] for k in expected], list(expected.values()), rtol=0, atol=4 * LOGIT_ATOL
    )


def test_nbest_lists_have_the_original_texts_and_logits(e2e_run):
    actual = read_json(e2e_run.output_dir / "nbest_predictions.json")
    expected = read_json(os.path.join(e2e_run.golden, "nbest_predictions.json"))
    assert list(actual) == list(expected)
    for qas_id, entries in expected.items():
        # Neighbours closer than float noise may swap: compare text -> logits.
        got = {e["text"]: (e["start_logit"], e["end_logit"]) for e in actual[qas_id]}
        want = {e["text"]: (e["start_logit"], e["end_logit"]) for e in entries}
        assert sorted(got) == sorted(want), qas_id
        for text, logits in want.items():
            np.testing.assert_allclose(got[text], logits, atol=LOGIT_ATOL, err_msg=qas_id)


def test_raw_logits_of_every_feature_are_the_original_model_s(e2e_run):
    golden = np.load(os.path.join(e2e_run.golden, "logits.npz"))
    results = e2e_run.result.all_results
    assert sorted(str(r.unique_id) for r in results) == sorted(golden.keys())
    for r in results:
        expected = golden[str(r.unique_id)]
        np.testing.assert_allclose(r.start_logits, expected[0], atol=LOGIT_ATOL)
        np.testing.assert_allclose(r.end_logits, expected[1], atol=LOGIT_ATOL)


def test_eval_results_are_the_official_scripts_numbers(e2e_run):
    runs = read_json(os.path.join(SQUAD, "eval", "eval.json"))["runs"]
    expected = runs[f"e2e_{e2e_run.version}"]["result"]
    written = read_json(e2e_run.output_dir / "eval_results.json")
    assert list(written) == list(expected)  # the official keys, in their order
    for key, value in expected.items():
        assert written[key] == pytest.approx(value, abs=1e-9), key
    assert written == e2e_run.result.eval_results


def test_eval_record_file_is_the_original_s(e2e_run):
    # The feature fixtures were made with the e2e run's window flags (README).
    expected = os.path.join(SQUAD, "features", e2e_run.version, "eval.tf_record")
    with open(e2e_run.output_dir / "eval.tf_record", "rb") as f, open(expected, "rb") as g:
        assert f.read() == g.read()


def test_no_eval_results_without_gold_answers(tmp_path):
    dev = read_json(os.path.join(SQUAD, "data", "dev-v1.1.json"))
    for article in dev["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"] = []
    test_file = tmp_path / "test.json"
    test_file.write_text(json.dumps(dev))
    output_dir = tmp_path / "out"
    result = squad_run.run(e2e_flags("v1.1", output_dir, predict_file=str(test_file)))
    assert (output_dir / "predictions.json").exists()
    assert not (output_dir / "eval_results.json").exists() and result.eval_results is None


# ----------------------------------------------------------------- training


def test_three_training_steps_reproduce_the_original_checkpoint(tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    # A progress line (and so one training call) per step, to see each step's loss.
    f = parse(golden_argv(os.path.join(SQUAD, "train", "flags.json"), output_dir,
                          log_every_n_steps=1))  # fmt: skip
    steps = []
    train_steps = Trainer.train_steps

    def recording(self, iterator, num_steps):
        logs = train_steps(self, iterator, num_steps)
        steps.append(logs)
        return logs

    monkeypatch.setattr(Trainer, "train_steps", recording)
    result = squad_run.run(f)
    assert result.num_train_steps == 3

    replay = read_json(os.path.join(SQUAD, "train", "replay_check.json"))["before"]["log"]
    assert [s["steps"] for s in steps] == [1, 1, 1]
    np.testing.assert_allclose([s["loss"] for s in steps], [r["loss"] for r in replay], rtol=1e-5)
    np.testing.assert_allclose(
        [s["learning_rate"] for s in steps], [r["learning_rate"] for r in replay], rtol=1e-5
    )
    with open(output_dir / "train.tf_record", "rb") as a:
        with open(os.path.join(SQUAD, "train", "train.tf_record"), "rb") as b:
            assert a.read() == b.read()

    actual = checkpoint_state(str(output_dir / "model.ckpt-3"))
    expected = checkpoint_state(os.path.join(SQUAD, "train", "model.ckpt-3"))
    # The original's set: every variable, its adam_m/adam_v, global_step. The
    # pooler gets no gradient, so the original has no slots for it, and neither
    # does the port's checkpoint (slots of never-updated variables are not saved).
    pooler_slots = {f"bert/pooler/dense/{v}/adam_{s}" for v in ("kernel", "bias") for s in "mv"}
    assert not pooler_slots & set(expected)
    assert int(expected["global_step"]) == 3
    assert_trained_state_close(actual, expected)


def assert_trained_state_close(actual, expected):
    """Every checkpoint entry of `actual` as `expected`'s after a few training steps:
    the same names, shapes and dtypes, global_step exactly, zero-gradient entries to
    ZERO_GRADIENT_ATOL, the rest to TRAIN_RTOL of the element and of the tensor's
    largest value (as state_compare)."""
    assert sorted(actual) == sorted(expected)
    for name, e in expected.items():
        a = actual[name]
        assert a.shape == e.shape and a.dtype == e.dtype, name
        if name == "global_step":
            assert int(a) == int(e)
        elif any(z in name for z in ZERO_GRADIENT) or name.startswith(LAST_LAYER_BETA):
            np.testing.assert_allclose(a, e, rtol=0, atol=ZERO_GRADIENT_ATOL, err_msg=name)
        else:
            bound = TRAIN_RTOL * (np.abs(e) + np.abs(e).max()) + 1e-12
            assert (np.abs(a - e) <= bound).all(), (name, np.abs(a - e).max())


def test_gradient_accumulation_trains_like_the_whole_batch_and_leaves_the_pooler_alone(
    tmp_path, caplog
):
    """--gradient_accumulation_steps=2 of 1 example equals batches of 2 (the golden
    config has no dropout); the pooler, which the loss does not use, gets no
    gradient, no update and no slots in either, and no Keras warning."""
    states = {}
    for accumulation in (1, 2):
        output_dir = tmp_path / f"accumulation{accumulation}"
        f = parse(
            golden_argv(
                os.path.join(SQUAD, "train", "flags.json"),
                output_dir,
                train_batch_size=2,
                gradient_accumulation_steps=accumulation,
                random_seed=7,
            )
        )
        with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO", "absl"):
            warnings.simplefilter("always")
            squad_run.run(f)
        assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
        assert "Not trained (the loss does not depend on them): bert/pooler" in caplog.text
        states[accumulation] = checkpoint_state(checkpoints.latest_checkpoint(str(output_dir)))
    assert int(states[2]["global_step"]) == int(states[1]["global_step"]) > 0
    assert not [name for name in states[2] if name.startswith("bert/pooler/") and "adam" in name]
    initial = checkpoint_state(os.path.join(SQUAD, "model", "init", "bert_model.ckpt"))
    for name in ("bert/pooler/dense/kernel", "bert/pooler/dense/bias"):
        np.testing.assert_array_equal(states[2][name], initial[name])
    assert_trained_state_close(states[2], states[1])


# ----------------------------------------------------------------- bad flags


@pytest.mark.parametrize(
    "overrides, flag",
    [
        ({"max_seq_length": 27, "max_query_length": 24}, "max_query_length"),
        ({"doc_stride": 0}, "doc_stride"),
        ({"do_train": True}, "train_file"),
        ({"do_predict": False}, "do_predict"),
        ({"predict_batch_size": 0}, "predict_batch_size"),
        (
            {
                "do_train": True,
                "train_file": os.path.join(SQUAD, "data", "train-v1.1.json"),
                "gradient_accumulation_steps": 0,
            },
            "gradient_accumulation_steps must be at least 1; got 0",
        ),
    ],
)
def test_bad_flags_are_refused_naming_the_flag_and_nothing_is_written(tmp_path, overrides, flag):
    output_dir = tmp_path / "out"
    f = e2e_flags("v1.1", output_dir, **overrides)
    with pytest.raises(InputError, match=flag):
        squad_run.run(f)
    assert not output_dir.exists()


def test_missing_predict_file_names_it_and_nothing_is_written(tmp_path):
    output_dir = tmp_path / "out"
    missing = str(tmp_path / "nope.json")
    with pytest.raises(InputError, match="nope.json"):
        squad_run.run(e2e_flags("v1.1", output_dir, predict_file=missing))
    assert not output_dir.exists()


# ----------------------------------------------------------------- command line


def test_command_line_predicts_the_original_file(tmp_path):
    root = os.path.dirname(TESTS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    output_dir = tmp_path / "out"
    argv = golden_argv(os.path.join(SQUAD, "e2e", "v1.1", "flags.json"), output_dir)
    script = os.path.join(root, "run_squad.py")
    done = subprocess.run(
        [sys.executable, script, *argv], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    golden = os.path.join(SQUAD, "e2e", "v1.1", "predictions.json")
    assert read_text(output_dir / "predictions.json") == read_text(golden)
    assert (output_dir / "eval_results.json").exists()


def test_command_line_refuses_a_bad_flag_in_one_line(tmp_path, capsys):
    bad = golden_argv(
        os.path.join(SQUAD, "e2e", "v1.1", "flags.json"), tmp_path / "bad", doc_stride=0
    )
    assert exit_code_of(squad_run, ["run_squad.py", *bad]) == cli.INPUT_ERROR_EXIT_CODE
    (line,) = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    assert line == "run_squad.py: error: --doc_stride must be at least 1, got 0.", line
    assert not (tmp_path / "bad").exists()
