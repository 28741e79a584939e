"""Tests of official_bert.glue_metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from official_bert import glue_metrics as gm

# 10 examples: tp = 4 (label 1, predicted 1), fn = 1, fp = 2, tn = 3.
LABELS = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
PREDICTIONS = [1, 1, 1, 1, 0, 1, 1, 0, 0, 0]


def test_binary_mcc_is_the_hand_computed_value():
    # (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (12 - 2) / sqrt(6*5*5*4)
    expected = 10 / math.sqrt(600)
    assert gm.matthews_corrcoef(LABELS, PREDICTIONS) == pytest.approx(expected, abs=1e-12)


def test_binary_f1_is_the_hand_computed_value():
    # 2 tp / (2 tp + fp + fn) = 8 / (8 + 2 + 1)
    assert gm.f1_score(LABELS, PREDICTIONS) == pytest.approx(8 / 11, abs=1e-12)
    # Class 0 as the positive class: tp = 3, fp = 1 (a 1 predicted 0), fn = 2: 6 / 9.
    assert gm.f1_score(LABELS, PREDICTIONS, positive_label=0) == pytest.approx(6 / 9, abs=1e-12)


def test_perfect_and_inverted_predictions_give_plus_and_minus_one():
    assert gm.matthews_corrcoef(LABELS, LABELS) == pytest.approx(1.0)
    assert gm.matthews_corrcoef(LABELS, [1 - x for x in LABELS]) == pytest.approx(-1.0)
    assert gm.f1_score(LABELS, LABELS) == pytest.approx(1.0)


def test_a_constant_prediction_has_mcc_zero():
    # The majority-class baseline: (tp+fp) * (tn+fn) ... has a zero factor: undefined -> 0.
    assert gm.matthews_corrcoef(LABELS, [0] * 10) == 0.0
    assert gm.matthews_corrcoef(LABELS, [1] * 10) == 0.0
    assert gm.matthews_corrcoef([1] * 4, [1] * 4) == 0.0  # one class only


def test_f1_without_any_positive_is_zero():
    # No positive label and none predicted: 0 / 0 -> 0.
    assert gm.f1_score([0, 0, 0], [0, 0, 0]) == 0.0
    # Positives exist but none predicted: tp = 0, fn = 2: 0 / 2.
    assert gm.f1_score([1, 1, 0], [0, 0, 0]) == 0.0
    # Always predicting positive on 5 positives of 10: 2*5 / (10 + 5 + 0) = 2/3.
    assert gm.f1_score(LABELS, [1] * 10) == pytest.approx(2 / 3)


def test_three_class_mcc_is_gorodkin_s_formula():
    labels = [0, 0, 1, 1, 2, 2]
    predictions = [0, 1, 1, 1, 2, 0]
    # c = 4 correct of s = 6; true counts t = (2, 2, 2), predicted p = (2, 3, 1):
    # (c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) = (24 - 12) / sqrt((36 - 14)(36 - 12))
    expected = 12 / math.sqrt(22 * 24)
    assert gm.matthews_corrcoef(labels, predictions) == pytest.approx(expected, abs=1e-12)


def test_weighted_confusion_ignores_zero_weight_examples():
    matrix = gm.confusion_matrix([1, 0, 1], [1, 1, 0], num_labels=2, weights=[1, 1, 0])
    np.testing.assert_array_equal(matrix, [[0, 1], [0, 1]])


def test_score_names_follow_glue():
    assert gm.score_name("CoLA") == "eval_mcc"
    assert gm.score_name("mrpc") == "eval_acc_and_f1"
    assert gm.score_name("qqp") == "eval_acc_and_f1"
    for task in ("sst-2", "rte", "qnli", "wnli", "mnli", "xnli", "my_own_task"):
        assert gm.score_name(task) == "eval_accuracy", task
    assert set(gm.SCORE_NAMES) >= {"cola", "mrpc", "qqp", "sst-2", "rte", "qnli", "wnli"}


def test_task_score_reads_the_results():
    results = {"eval_accuracy": 0.75, "eval_f1": 0.5, "eval_mcc": 0.25, "eval_loss": 9.0}
    assert gm.task_score("mrpc", results) == pytest.approx(0.625)
    assert gm.task_score("cola", results) == 0.25
    assert gm.task_score("rte", results) == 0.75
    with pytest.raises(KeyError, match="eval_mcc"):
        gm.task_score("cola", {"eval_accuracy": 0.5})


def test_metrics_from_predictions_have_the_run_s_keys():
    cola = gm.metrics_from_predictions("cola", LABELS, PREDICTIONS)
    assert set(cola) == {"eval_accuracy", "eval_mcc"}
    assert cola["eval_accuracy"] == pytest.approx(0.7)
    mrpc = gm.metrics_from_predictions("MRPC", LABELS, PREDICTIONS)
    assert mrpc == pytest.approx({"eval_accuracy": 0.7, "eval_f1": 8 / 11})
    assert gm.metrics_from_predictions("rte", LABELS, PREDICTIONS) == pytest.approx(
        {"eval_accuracy": 0.7}
    )
    # The majority-class baseline of MRPC-like labels (5 of 10 positive, predict all 1).
    baseline = gm.metrics_from_predictions("mrpc", LABELS, [1] * 10)
    assert gm.task_score("mrpc", baseline) == pytest.approx((0.5 + 2 / 3) / 2)
