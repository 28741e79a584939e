"""GLUE's dev-set metrics and the score each task is selected by (numpy only).

The original run_classifier.py reports accuracy for every task. GLUE (and
Mosbach et al., "On the Stability of Fine-tuning BERT", ICLR 2021) score CoLA
by Matthews correlation and MRPC and QQP by the mean of accuracy and F1 of the
positive class; every other task by accuracy. This module computes those
metrics from labels and predictions or from a confusion matrix (the eval loop
sums confusion counts over its batches), names the score of each task, and
reads it from an `eval_results` dict:

    results = {"eval_accuracy": 0.8, "eval_f1": 0.86, "eval_loss": 0.4}
    task_score("mrpc", results)  # (0.8 + 0.86) / 2 = 0.83

Undefined values (a constant prediction, an empty positive class) are 0.0, as
scikit-learn returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ACCURACY = "eval_accuracy"
MCC = "eval_mcc"
F1 = "eval_f1"
# The name of the mean of accuracy and F1 (MRPC, QQP): a score, not a key of eval_results.txt.
ACC_AND_F1 = "eval_acc_and_f1"

# The metrics eval_results.txt holds beyond the original's accuracy and loss.
EXTRA_METRICS: dict[str, tuple[str, ...]] = {
    "cola": (MCC,),
    "mrpc": (F1,),
    "qqp": (F1,),
}

# The score that selects a task's best checkpoint; tasks not listed use accuracy.
SCORE_NAMES: dict[str, str] = {
    "cola": MCC,
    "mrpc": ACC_AND_F1,
    "qqp": ACC_AND_F1,
    "sst-2": ACCURACY,
    "rte": ACCURACY,
    "qnli": ACCURACY,
    "wnli": ACCURACY,
    "mnli": ACCURACY,
    "xnli": ACCURACY,
}

# The label id counted as positive by F1: the label "1" (MRPC, QQP: paraphrase, duplicate).
POSITIVE_LABEL_ID = 1


def score_name(task_name: str) -> str:
    """The name of the score of `task_name` (case-insensitive): e.g. `eval_mcc` for CoLA."""
    return SCORE_NAMES.get(task_name.lower(), ACCURACY)


def extra_metrics(task_name: str) -> tuple[str, ...]:
    """The metrics beyond accuracy and loss that a run of `task_name` writes (may be empty)."""
    return EXTRA_METRICS.get(task_name.lower(), ())


def task_score(task_name: str, results: Mapping[str, float]) -> float:
    """The selection score of `task_name` from an eval_results dict.

    Raises:
      KeyError: `results` lacks a metric the score needs (naming it).
    """
    name = score_name(task_name)
    needed = (ACCURACY, F1) if name == ACC_AND_F1 else (name,)
    missing = [key for key in needed if key not in results]
    if missing:
        raise KeyError(
            f"The score {name} of task {task_name!r} needs {', '.join(missing)}, which the "
            f"results do not have (they have {', '.join(sorted(results))})."
        )
    if name == ACC_AND_F1:
        return (float(results[ACCURACY]) + float(results[F1])) / 2.0
    return float(results[name])


# --------------------------------------------------------------------------- from counts


def confusion_matrix(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    num_labels: int | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """float64 [num_labels, num_labels]: entry [i, j] sums the weights of label i predicted as j."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    predictions = np.asarray(predictions, np.int64).reshape(-1)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.size} labels but {predictions.size} predictions.")
    if num_labels is None:
        num_labels = int(max(labels.max(initial=-1), predictions.max(initial=-1))) + 1
    w = np.ones(labels.shape) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    matrix = np.zeros([num_labels, num_labels])
    np.add.at(matrix, (labels, predictions), w)
    return matrix


def matthews_corrcoef_from_confusion(matrix: np.ndarray) -> float:
    """Matthews correlation of a [K, K] confusion matrix (Gorodkin's K-class form).

    With t_k = row sums (true counts), p_k = column sums (predicted counts),
    c = trace and s = total: (c*s - sum t_k p_k) /
    sqrt((s^2 - sum p_k^2) (s^2 - sum t_k^2)); for K = 2 the familiar
    (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)). 0.0 when undefined.
    """
    matrix = np.asarray(matrix, np.float64)
    true_counts = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    correct = np.trace(matrix)
    total = matrix.sum()
    covariance = correct * total - np.dot(true_counts, predicted_counts)
    denominator = (total**2 - np.dot(predicted_counts, predicted_counts)) * (
        total**2 - np.dot(true_counts, true_counts)
    )
    if denominator <= 0:
        return 0.0
    return float(covariance / np.sqrt(denominator))


def f1_from_confusion(matrix: np.ndarray, positive_label: int = POSITIVE_LABEL_ID) -> float:
    """F1 of class `positive_label`: 2 tp / (2 tp + fp + fn); 0.0 when that is 0 / 0."""
    matrix = np.asarray(matrix, np.float64)
    if positive_label >= matrix.shape[0]:
        return 0.0
    tp = matrix[positive_label, positive_label]
    fn = matrix[positive_label].sum() - tp
    fp = matrix[:, positive_label].sum() - tp
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator > 0 else 0.0


def accuracy_from_confusion(matrix: np.ndarray) -> float:
    """trace / total; 0.0 for an empty matrix (as tf.metrics.accuracy)."""
    matrix = np.asarray(matrix, np.float64)
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total > 0 else 0.0


# --------------------------------------------------------------------------- from predictions


def matthews_corrcoef(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """Matthews correlation coefficient of integer labels and predictions (0.0 when undefined)."""
    return matthews_corrcoef_from_confusion(confusion_matrix(labels, predictions))


def f1_score(
    labels: Sequence[int], predictions: Sequence[int], positive_label: int = POSITIVE_LABEL_ID
) -> float:
    """F1 of the class `positive_label` (0.0 when it is neither a label nor a prediction)."""
    matrix = confusion_matrix(labels, predictions)
    return f1_from_confusion(matrix, positive_label)


def metrics_from_confusion(task_name: str, matrix: np.ndarray) -> dict[str, float]:
    """`eval_accuracy` and the task's extra metrics (`eval_mcc`, `eval_f1`) from counts."""
    metrics = {ACCURACY: accuracy_from_confusion(matrix)}
    for name in extra_metrics(task_name):
        if name == MCC:
            metrics[MCC] = matthews_corrcoef_from_confusion(matrix)
        elif name == F1:
            metrics[F1] = f1_from_confusion(matrix)
    return metrics


def metrics_from_predictions(
    task_name: str, label_ids: Sequence[int], prediction_ids: Sequence[int]
) -> dict[str, float]:
    """The eval_ metrics a run of `task_name` writes (without `eval_loss`), from label ids.

    E.g. the majority-class baseline of a dev set:
    `metrics_from_predictions("cola", labels, [majority] * len(labels))`.
    """
    return metrics_from_confusion(task_name, confusion_matrix(label_ids, prediction_ids))
