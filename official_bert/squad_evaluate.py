"""The official SQuAD metrics, written here from their specification.

    python -m official_bert.squad_evaluate DATA_FILE PRED_FILE \\
        [--na_prob_file null_odds.json] [--na_prob_thresh 1.0] [--version {1.1,2.0}]

prints the numbers the official `evaluate-v1.1.py` and `evaluate-v2.0.py`
print, under the same keys and in the same layout. The rules:

- An answer is normalized by lower-casing, deleting ASCII punctuation
  (`string.punctuation`), replacing the words "a", "an" and "the" by a space,
  and collapsing whitespace.
- Exact match: the normalized prediction equals a normalized gold answer.
  F1: over the words of the normalized texts, the overlap counted as a multiset
  (a repeated word matches at most as often as it occurs in both), precision =
  overlap / prediction words, recall = overlap / gold words, F1 = 2PR / (P + R),
  0 without overlap. Each question takes the maximum over its gold answers.
- SQuAD 1.1 (`exact_match`, `f1`): the mean over all questions, in percent; a
  question without a prediction scores 0 (with a message, as the official script).
- SQuAD 2.0 (`exact`, `f1`, `total`, then `HasAns_*` and `NoAns_*` over the
  questions with and without gold answers): gold answers that normalize to ""
  are dropped, and a question left with none has the single gold answer "";
  when either side has no words, F1 is 1 if both have none, else 0. With
  `--na_prob_file` (e.g. run_squad's null_odds.json), a question whose value
  exceeds `--na_prob_thresh` counts as answered with "" (score 1 if it has no
  gold answer, else 0), and `best_exact` / `best_f1` with their thresholds
  come from scanning the questions by increasing value: the score starts at the
  number of unanswerable questions, each step adds the question's raw score if
  it has an answer, or -1 if it has none but the prediction is not "", and the
  best strictly improved score and the value where it was reached (0.0 at
  first) are kept.

Which rules apply: `--version`, else the data file's "version" field ("1.1",
"v2.0"), else 2.0 if any question has "is_impossible" or no answers. The
choice is logged. The official scripts fail on a few inputs; here each is an
InputError: a SQuAD 2.0 question without a prediction or without an na-prob
value (KeyError there), a SQuAD 1.1 question without gold answers (ValueError),
no questions at all (ZeroDivisionError).

`evaluate(dataset, predictions, na_probs=None, na_prob_thresh=1.0, version=None)`
returns the same dict, for callers such as run_squad's eval_results.json;
`has_gold_answers(dataset)` tells a file that can be scored from a test file.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import string
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from absl import logging

from official_bert.errors import InputError
from official_bert.squad_data import load_json_file

VERSION_1 = "1.1"
VERSION_2 = "2.0"
# The official scripts' default threshold on the na-prob values.
DEFAULT_NA_PROB_THRESH = 1.0

_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
# Missing questions named in an error message.
_NUM_NAMED = 5


def normalize_answer(s: str) -> str:
    """Lower-cases, deletes punctuation, replaces articles by spaces, collapses whitespace."""
    s = s.lower().translate(_DELETE_PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _overlap_f1(prediction_tokens: list[str], ground_truth_tokens: list[str]) -> float:
    """Token F1 with multiset overlap; 0 without overlap."""
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def f1_score(prediction: str, ground_truth: str) -> float:
    """SQuAD 1.1 F1 of one prediction against one gold answer."""
    return _overlap_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """SQuAD 1.1 exact match."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def compute_exact(a_gold: str, a_pred: str) -> int:
    """SQuAD 2.0 exact match (0 or 1)."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """SQuAD 2.0 F1: as 1.1, but 1 if both have no words and 0 if only one has none."""
    gold_toks = normalize_answer(a_gold).split() if a_gold else []
    pred_toks = normalize_answer(a_pred).split() if a_pred else []
    if not gold_toks or not pred_toks:
        return int(gold_toks == pred_toks)
    return _overlap_f1(pred_toks, gold_toks)


# ---------------------------------------------------------------------------
# Datasets and versions.
# ---------------------------------------------------------------------------


def _articles(dataset: Any) -> list:
    """The list of articles of a SQuAD JSON object (or the list itself)."""
    if isinstance(dataset, Mapping):
        if "data" not in dataset:
            raise InputError('The SQuAD data has no "data" key.')
        dataset = dataset["data"]
    if not isinstance(dataset, list):
        raise InputError('The SQuAD data\'s "data" is not a list of articles.')
    return dataset


def _questions(articles: list) -> list[dict]:
    """Every question object, in file order."""
    out = []
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    if "id" not in qa or "answers" not in qa:
                        raise InputError(
                            f"A question of the SQuAD data ({qa.get('id', 'without id')!r}) "
                            'has no "id" or no "answers".'
                        )
                    out.append(qa)
    except (KeyError, TypeError) as e:
        raise InputError(
            f"The SQuAD data is not in SQuAD layout (data[].paragraphs[].qas[]): {e!r}."
        ) from e
    if not out:
        raise InputError("The SQuAD data has no questions.")
    return out


def detect_version(dataset: Any) -> tuple[str, str]:
    """(VERSION_1 or VERSION_2, why): from the "version" field, else the questions."""
    field = dataset.get("version") if isinstance(dataset, Mapping) else None
    if isinstance(field, str) and field.lstrip("vV")[:1] in ("1", "2"):
        version = VERSION_2 if field.lstrip("vV").startswith("2") else VERSION_1
        return version, f'the data file\'s "version" is {field!r}'
    for qa in _questions(_articles(dataset)):
        if "is_impossible" in qa or not qa["answers"]:
            return VERSION_2, "a question has is_impossible or no answers"
    return VERSION_1, "every question has answers and none has is_impossible"


def has_gold_answers(dataset: Any) -> bool:
    """Whether any question of a SQuAD dataset has gold answers (a test file has none)."""
    try:
        return any(
            qa.get("answers")
            for article in _articles(dataset)
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        )
    except (KeyError, TypeError, AttributeError):
        return False


def _answer_texts(qa: dict) -> list[str]:
    try:
        texts = [answer["text"] for answer in qa["answers"]]
    except (KeyError, TypeError) as e:
        raise InputError(f'Question {qa["id"]!r}: an answer has no "text".') from e
    return texts


def _prediction(predictions: Mapping, qid: Any) -> str:
    value = predictions[qid]
    if not isinstance(value, str):
        raise InputError(f"The prediction of question {qid!r} is not a string: {value!r}.")
    return value


# ---------------------------------------------------------------------------
# SQuAD 1.1.
# ---------------------------------------------------------------------------


def evaluate_v1(articles: list, predictions: Mapping) -> dict[str, float]:
    """{"exact_match", "f1"} in percent, as evaluate-v1.1.py."""
    f1 = exact_match = total = 0
    for qa in _questions(articles):
        total += 1
        if qa["id"] not in predictions:
            print(f"Unanswered question {qa['id']} will receive score 0.", file=sys.stderr)
            continue
        ground_truths = _answer_texts(qa)
        if not ground_truths:
            raise InputError(
                f"Question {qa['id']!r} has no gold answers, which the SQuAD 1.1 rules cannot "
                "score; use the SQuAD 2.0 rules (--version 2.0)."
            )
        prediction = _prediction(predictions, qa["id"])
        exact_match += max(exact_match_score(prediction, gt) for gt in ground_truths)
        f1 += max(f1_score(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


# ---------------------------------------------------------------------------
# SQuAD 2.0.
# ---------------------------------------------------------------------------


def _make_eval_dict(exact: Mapping, f1: Mapping, qid_list: Sequence | None = None) -> dict:
    if qid_list is None:
        total = len(exact)
        return {
            "exact": 100.0 * sum(exact.values()) / total,
            "f1": 100.0 * sum(f1.values()) / total,
            "total": total,
        }
    total = len(qid_list)
    return {
        "exact": 100.0 * sum(exact[k] for k in qid_list) / total,
        "f1": 100.0 * sum(f1[k] for k in qid_list) / total,
        "total": total,
    }


def _find_best_thresh(
    predictions: Mapping, scores: Mapping, na_probs: Mapping, qid_to_has_ans: Mapping
) -> tuple[float, float]:
    """The best score over na-prob thresholds, in percent, and its threshold."""
    cur_score = sum(1 for has_ans in qid_to_has_ans.values() if not has_ans)
    best_score = cur_score
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if predictions[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def evaluate_v2(
    articles: list,
    predictions: Mapping,
    na_probs: Mapping | None = None,
    na_prob_thresh: float = DEFAULT_NA_PROB_THRESH,
) -> dict[str, Any]:
    """The dict evaluate-v2.0.py prints (best_* only with na_probs)."""
    questions = _questions(articles)
    qid_to_has_ans = {qa["id"]: bool(qa["answers"]) for qa in questions}
    missing = [qid for qid in qid_to_has_ans if qid not in predictions]
    if missing:
        raise InputError(
            f"{len(missing)} questions have no prediction ({', '.join(map(str, missing[:_NUM_NAMED]))}"
            f"{', ...' if len(missing) > _NUM_NAMED else ''}); the SQuAD 2.0 rules need one for "
            "every question (the official script fails with KeyError)."
        )
    scored_na_probs = na_probs if na_probs is not None else {k: 0.0 for k in predictions}
    missing = [qid for qid in qid_to_has_ans if qid not in scored_na_probs]
    if missing:
        raise InputError(
            f"{len(missing)} questions have no na-prob value ({', '.join(map(str, missing[:_NUM_NAMED]))}"
            f"{', ...' if len(missing) > _NUM_NAMED else ''}); the na-prob file must cover every "
            "question."
        )
    exact_raw: dict[Any, int] = {}
    f1_raw: dict[Any, float] = {}
    for qa in questions:
        qid = qa["id"]
        gold_answers = [a for a in _answer_texts(qa) if normalize_answer(a)]
        if not gold_answers:
            # For unanswerable questions, the only correct answer is "".
            gold_answers = [""]
        a_pred = _prediction(predictions, qid)
        exact_raw[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
        f1_raw[qid] = max(compute_f1(a, a_pred) for a in gold_answers)

    def apply_threshold(scores: Mapping) -> dict:
        return {
            qid: float(not qid_to_has_ans[qid]) if scored_na_probs[qid] > na_prob_thresh else score
            for qid, score in scores.items()
        }

    exact_thresh = apply_threshold(exact_raw)
    f1_thresh = apply_threshold(f1_raw)
    out = _make_eval_dict(exact_thresh, f1_thresh)
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    for prefix, qids in (("HasAns", has_ans_qids), ("NoAns", no_ans_qids)):
        if qids:
            for key, value in _make_eval_dict(exact_thresh, f1_thresh, qids).items():
                out[f"{prefix}_{key}"] = value
    if na_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            best, thresh = _find_best_thresh(predictions, raw, na_probs, qid_to_has_ans)
            out[f"best_{name}"] = best
            out[f"best_{name}_thresh"] = thresh
    return out


def evaluate(
    dataset: Any,
    predictions: Mapping[Any, str],
    na_probs: Mapping[Any, float] | None = None,
    na_prob_thresh: float = DEFAULT_NA_PROB_THRESH,
    version: str | None = None,
) -> dict[str, Any]:
    """The official metrics of `predictions` on `dataset`.

    Args:
      dataset: the SQuAD JSON object ({"version", "data"}) or its "data" list.
      predictions: qas_id -> predicted text (predictions.json).
      na_probs: qas_id -> no-answer score (null_odds.json); SQuAD 2.0 only.
      na_prob_thresh: questions whose na_probs value exceeds this count as answered "".
      version: "1.1" or "2.0"; None detects it (see `detect_version`).

    Returns:
      evaluate-v1.1.py's {"exact_match", "f1"} or evaluate-v2.0.py's dict, in its order.

    Raises:
      InputError: see the module docstring.
    """
    if not isinstance(predictions, Mapping):
        raise InputError("The predictions must be a JSON object of question id -> text.")
    if version is None:
        version, why = detect_version(dataset)
        logging.info("Scoring with the SQuAD %s rules: %s.", version, why)
    elif version not in (VERSION_1, VERSION_2):
        raise InputError(f"--version must be {VERSION_1} or {VERSION_2}, got {version!r}.")
    articles = _articles(dataset)
    if version == VERSION_1:
        if na_probs is not None:
            raise InputError(
                "An na-prob file applies to SQuAD 2.0 only; pass --version 2.0 to score this "
                "data with the SQuAD 2.0 rules."
            )
        return evaluate_v1(articles, predictions)
    if na_probs is not None and not isinstance(na_probs, Mapping):
        raise InputError("The na-prob values must be a JSON object of question id -> number.")
    return evaluate_v2(articles, predictions, na_probs, na_prob_thresh)


def format_results(results: Mapping[str, Any], version: str) -> str:
    """The results as the official script prints them (1.1 on one line, 2.0 indented by 2)."""
    if version == VERSION_1:
        return json.dumps(results)
    return json.dumps(results, indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m official_bert.squad_evaluate",
        description="The official SQuAD 1.1 / 2.0 metrics of a predictions file.",
    )
    parser.add_argument("data_file", help="The SQuAD JSON file with the gold answers.")
    parser.add_argument("pred_file", help="predictions.json: question id -> predicted text.")
    parser.add_argument(
        "--na_prob_file",
        "--na-prob-file",
        "-n",
        help="SQuAD 2.0: question id -> no-answer score, e.g. run_squad's null_odds.json.",
    )
    parser.add_argument(
        "--na_prob_thresh",
        "--na-prob-thresh",
        "-t",
        type=float,
        default=DEFAULT_NA_PROB_THRESH,
        help="Predict no answer when the na-prob value exceeds this (default 1.0).",
    )
    parser.add_argument(
        "--version",
        choices=(VERSION_1, VERSION_2),
        help='The rules to apply; by default from the data file\'s "version".',
    )
    parser.add_argument(
        "--out_file", "--out-file", "-o", help="Also write the results (JSON) to this file."
    )
    args = parser.parse_args(argv)
    try:
        dataset = load_json_file(args.data_file, "SQuAD data file")
        predictions = load_json_file(args.pred_file, "Predictions file")
        na_probs = (
            load_json_file(args.na_prob_file, "na-prob file", flag="na_prob_file")
            if args.na_prob_file
            else None
        )
        version = args.version
        if version is None:
            version, why = detect_version(dataset)
            print(f"Scoring with the SQuAD {version} rules: {why}.", file=sys.stderr)
        results = evaluate(dataset, predictions, na_probs, args.na_prob_thresh, version)
    except InputError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    text = format_results(results, version)
    if args.out_file:
        from official_bert import files

        files.write_text_atomically(args.out_file, json.dumps(results) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
