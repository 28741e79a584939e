"""Tests for official_bert.squad_evaluate against the official scripts' numbers.

tests/golden/squad/eval/eval.json holds what evaluate-v1.1.py and
evaluate-v2.0.py printed on the golden predictions and on crafted ones (case,
article, punctuation and whitespace variants, repeated tokens, a missing
prediction, tied na-prob values), every number at full precision.
"""

import json
import os
import shlex

import pytest
from test_squad_data import SQUAD_DIR, write_json

from official_bert import squad_evaluate
from official_bert.errors import InputError

with open(os.path.join(SQUAD_DIR, "eval", "eval.json")) as _f:
    RUNS = json.load(_f)["runs"]


def _load(path):
    with open(os.path.join(SQUAD_DIR, path), encoding="utf-8") as f:
        return json.load(f)


def _command(run):
    """(data file, predictions file, na-prob file or None, threshold) of an official run."""
    args = shlex.split(run["command"])[2:]
    na_prob_file, thresh = None, squad_evaluate.DEFAULT_NA_PROB_THRESH
    if "--na-prob-file" in args:
        na_prob_file = args[args.index("--na-prob-file") + 1]
    if "--na-prob-thresh" in args:
        thresh = float(args[args.index("--na-prob-thresh") + 1])
    return args[0], args[1], na_prob_file, thresh


@pytest.mark.parametrize("name", sorted(RUNS))
def test_metrics_equal_the_official_scripts(name):
    data_file, pred_file, na_prob_file, thresh = _command(RUNS[name])
    na_probs = _load(na_prob_file) if na_prob_file else None
    got = squad_evaluate.evaluate(_load(data_file), _load(pred_file), na_probs, thresh)
    expected = RUNS[name]["result"]
    assert list(got) == list(expected)  # the same keys, in the same order
    assert got == expected  # every number exactly


@pytest.mark.parametrize("name", sorted(RUNS))
def test_command_line_prints_what_the_official_script_prints(name, capsys):
    data_file, pred_file, na_prob_file, thresh = _command(RUNS[name])
    argv = [os.path.join(SQUAD_DIR, data_file), os.path.join(SQUAD_DIR, pred_file)]
    if na_prob_file:
        argv += ["--na_prob_file", os.path.join(SQUAD_DIR, na_prob_file)]
    argv += ["--na_prob_thresh", str(thresh)]
    assert squad_evaluate.main(argv) == 0
    out, err = capsys.readouterr()
    expected = RUNS[name]["result"]
    version = "1.1" if "exact_match" in expected else "2.0"
    # evaluate-v1.1.py prints one line, evaluate-v2.0.py indents by 2.
    assert (
        out == (json.dumps(expected) if version == "1.1" else json.dumps(expected, indent=2)) + "\n"
    )
    assert f"SQuAD {version} rules" in err
    if RUNS[name].get("script_messages"):
        assert RUNS[name]["script_messages"] in err


def test_command_line_accepts_the_official_spellings(capsys, tmp_path):
    run = RUNS["crafted_v2.0_thresh_0.5"]
    data_file, pred_file, na_prob_file, _ = _command(run)
    out_file = tmp_path / "eval.json"
    argv = [os.path.join(SQUAD_DIR, p) for p in (data_file, pred_file)]
    argv += ["--na-prob-file", os.path.join(SQUAD_DIR, na_prob_file), "--na-prob-thresh", "0.5"]
    assert squad_evaluate.main(argv + ["-o", str(out_file)]) == 0
    assert json.loads(capsys.readouterr().out) == run["result"]
    assert json.loads(out_file.read_text()) == run["result"]


def test_normalization():
    normalize = squad_evaluate.normalize_answer
    assert normalize("The  Cat, a dog & AN apple!") == "cat dog apple"
    assert normalize("theater and thereafter") == "theater and thereafter"  # whole words only
    assert normalize("Zoë’s “café”") == "zoë’s “café”"  # Unicode punctuation is kept
    assert normalize("\tA\nb ") == "b"


def test_f1_counts_repeated_words_as_a_multiset():
    # Prediction "x x x y" vs gold "x y y": overlap {x: 1, y: 1} = 2; P = 2/4, R = 2/3.
    assert squad_evaluate.f1_score("x x x y", "x y y") == pytest.approx(
        2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)
    )
    assert squad_evaluate.f1_score("the", "a") == 0  # both normalize to nothing
    assert squad_evaluate.compute_f1("the", "a") == 1  # SQuAD 2.0: both empty agree
    assert squad_evaluate.compute_f1("", "something") == 0
    assert squad_evaluate.compute_exact("The Answer.", "answer") == 1


def test_version_comes_from_the_field_else_from_the_questions():
    v1 = _load("data/dev-v1.1.json")
    v2 = _load("data/dev-v2.0.json")
    assert squad_evaluate.detect_version(v1)[0] == "1.1"
    assert squad_evaluate.detect_version(v2)[0] == "2.0"
    assert squad_evaluate.detect_version({"data": v2["data"]})[0] == "2.0"
    assert squad_evaluate.detect_version({"data": v1["data"]})[0] == "1.1"
    assert squad_evaluate.detect_version(v1["data"])[0] == "1.1"


def test_explicit_version_overrides_the_field():
    data = _load("data/dev-v1.1.json")
    preds = _load("e2e/v1.1/predictions.json")
    got = squad_evaluate.evaluate(data, preds, version="2.0")
    assert list(got)[:3] == ["exact", "f1", "total"] and "HasAns_exact" in got
    with pytest.raises(InputError, match="--version"):
        squad_evaluate.evaluate(data, preds, version="3")


def test_v1_missing_prediction_scores_zero_and_v2_missing_is_an_error():
    data = _load("data/dev-v2.0.json")
    preds = _load("e2e/v2.0/predictions.json")
    qid = next(iter(preds))
    del preds[qid]
    with pytest.raises(InputError, match=f"1 questions have no prediction \\({qid}\\)"):
        squad_evaluate.evaluate(data, preds)
    v1 = _load("data/dev-v1.1.json")
    v1_preds = _load("e2e/v1.1/predictions.json")
    full = squad_evaluate.evaluate(v1, v1_preds)
    v1_preds = {k: v for k, v in v1_preds.items() if k != next(iter(v1_preds))}
    assert squad_evaluate.evaluate(v1, v1_preds)["f1"] <= full["f1"]


def test_na_probs_must_cover_every_question_and_apply_to_v2_only():
    data = _load("data/dev-v2.0.json")
    preds = _load("e2e/v2.0/predictions.json")
    na_probs = _load("e2e/v2.0/null_odds.json")
    del na_probs[next(iter(na_probs))]
    with pytest.raises(InputError, match="no na-prob value"):
        squad_evaluate.evaluate(data, preds, na_probs)
    with pytest.raises(InputError, match="SQuAD 2.0 only"):
        squad_evaluate.evaluate(_load("data/dev-v1.1.json"), preds, {})


def test_v1_question_without_gold_answers_is_an_error():
    data = _load("data/dev-v2.0.json")
    preds = _load("e2e/v2.0/predictions.json")
    with pytest.raises(InputError, match="no gold answers.*--version 2.0"):
        squad_evaluate.evaluate(data, preds, version="1.1")


def test_bad_files_are_named_and_exit_non_zero(tmp_path, capsys):
    data = os.path.join(SQUAD_DIR, "data", "dev-v1.1.json")
    broken = tmp_path / "predictions.json"
    broken.write_text('{"a": ')
    assert squad_evaluate.main([data, str(broken)]) == 2
    assert "predictions.json" in capsys.readouterr().err
    broken.write_bytes(b'{"a": "\xff"}')
    assert squad_evaluate.main([data, str(broken)]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    assert squad_evaluate.main([data, str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    not_a_dict = write_json(tmp_path / "list.json", ["a"])
    assert squad_evaluate.main([data, not_a_dict]) == 2
    assert "question id -> text" in capsys.readouterr().err


def test_empty_dataset_is_an_error():
    with pytest.raises(InputError, match="no questions"):
        squad_evaluate.evaluate({"version": "1.1", "data": []}, {})


def test_has_gold_answers_tells_dev_files_from_test_files():
    data = _load("data/dev-v1.1.json")
    assert squad_evaluate.has_gold_answers(data)
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                del qa["answers"]
    assert not squad_evaluate.has_gold_answers(data)
