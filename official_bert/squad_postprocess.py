"""SQuAD predictions: from start/end logits to the original's predictions.json and n-best lists.

`write_predictions` is the original's: for every example, the `n_best_size`
largest start and end logits of each of its windows give candidate spans
(start and end inside the window's document piece, the start in its
max-context window, end >= start, at most `max_answer_length` pieces); the
candidates are sorted by start + end logit (stable: ties keep the order of
window, start rank, end rank), turned into text through `get_final_text` and
de-duplicated by text until the n-best list is full; the probabilities are a
softmax over the n-best totals. With `version_2_with_negative` the null answer
scores the minimum of `start[0] + end[0]` over the example's windows, is
appended to the n-best list if no "" entry is in it (even when it is full), and
"" is predicted when that score minus the best non-null total exceeds
`null_score_diff_threshold`; the differences go to null_odds.json.

One departure: where the original fails (a SQuAD 2.0 n-best list holding only
the null answer: AttributeError; a SQuAD 2.0 example without windows:
IndexError), the prediction is "" (no non-null answer exists), its null_odds
entry is Infinity (no finite non-null score to subtract), and a warning names
the question.

Faster than the original, with the same output: the top logits of all windows
come from one partition and a stable sort of the top k (ties in index order, as
the original's sort), the candidate pairs from array masks, the
`BasicTokenizer` pass of `get_final_text` is cached per document word (the
tokens of a text joined by spaces are the tokens of its words), and the JSON
files are formatted directly in the layout of `json.dumps(..., indent=4)`.

(About 640 lines: write_predictions and the helpers that only it uses, kept in
one module as in the original; the JSON layout lives in `squad_json`.)
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from official_bert import files, tokenization
from official_bert.errors import InputError
from official_bert.squad_json import dumps_indent4

RawResult = collections.namedtuple("RawResult", ["unique_id", "start_logits", "end_logits"])
RawResult.__doc__ = """The model's output for one feature: start and end logits over its positions.

The logits may be lists of floats or numpy arrays (float32 values are used
exactly, as float64, like the original's `float(x)`).
"""

# The null score an example starts from: "large and positive", as the original.
_NULL_SCORE_START = 1000000
# Examples whose candidates are built at once (bounds the candidate arrays).
_EXAMPLES_PER_CHUNK = 256
# Words whose BasicTokenizer output is kept, before the cache is cleared.
_BASIC_CACHE_SIZE = 1 << 18
# Seconds between progress lines.
PROGRESS_INTERVAL_SECONDS = 10.0
# Questions named one by one in the log for the no-non-null-answer case.
_NUM_NAMED_WARNINGS = 10


@dataclasses.dataclass
class Predictions:
    """What write_predictions writes, by qas_id in example order.

    Attributes:
      predictions: qas_id -> predicted text (predictions.json).
      nbest: qas_id -> list of {"text", "probability", "start_logit", "end_logit"}
        (nbest_predictions.json).
      null_odds: qas_id -> null score minus best non-null score (null_odds.json;
        SQuAD 2.0 only, else empty).
    """

    predictions: dict[Any, str]
    nbest: dict[Any, list[dict[str, Any]]]
    null_odds: dict[Any, float]


def _get_best_indexes(logits: Sequence[float], n_best_size: int) -> list[int]:
    """Indexes of the `n_best_size` largest logits, largest first; ties keep index order."""
    values = np.asarray(logits, dtype=np.float64)
    return np.argsort(-values, kind="stable")[:n_best_size].tolist()


def _compute_softmax(scores: Sequence[float]) -> list[float]:
    """Softmax over raw scores, in Python floats with the original's operations."""
    if not scores:
        return []
    max_score = max(scores)
    exp_scores = [math.exp(score - max_score) for score in scores]
    total_sum = 0.0
    for x in exp_scores:
        total_sum += x
    return [x / total_sum for x in exp_scores]


# ---------------------------------------------------------------------------
# Projecting a prediction back onto the original text.
# ---------------------------------------------------------------------------


def get_final_text(
    pred_text: str, orig_text: str, do_lower_case: bool, verbose_logging: bool = False
) -> str:
    """Projects the tokenized prediction back onto the original text.

    `pred_text` is the prediction's word pieces joined back into normalized
    words ("steve smith"), `orig_text` the whole original words it lies in
    ("Steve Smith's"). `orig_text` is run through `BasicTokenizer`; if, spaces
    removed, its tokens have as many characters as `orig_text`, the two are taken
    as aligned character by character and the characters under `pred_text` are
    returned ("Steve Smith"). Otherwise (accents decomposed, [UNK] characters,
    U+00A0 and other characters the tokenizer drops or splits on) the whole
    `orig_text` is returned.
    """
    tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    tok_text = " ".join(tokenizer.tokenize(orig_text))
    return _project(pred_text, orig_text, tok_text, verbose_logging)


def _project(pred_text: str, orig_text: str, tok_text: str, verbose_logging: bool) -> str:
    """get_final_text given the tokens of `orig_text` joined by spaces (`tok_text`)."""
    start_position = tok_text.find(pred_text)
    if start_position == -1:
        if verbose_logging:
            logging.info("Unable to find text: '%s' in '%s'", pred_text, orig_text)
        return orig_text
    end_position = start_position + len(pred_text) - 1
    # Only " " is stripped: other whitespace (U+00A0, U+3000) stays a character.
    num_chars = len(orig_text) - orig_text.count(" ")
    if num_chars != len(tok_text) - tok_text.count(" "):
        if verbose_logging:
            logging.info(
                "Length not equal after stripping spaces: '%s' vs '%s'",
                orig_text.replace(" ", ""),
                tok_text.replace(" ", ""),
            )
        return orig_text
    # The texts have equally many non-space characters, taken as aligned one to one.
    orig_start_position = _orig_position(tok_text, start_position, orig_text, num_chars)
    if orig_start_position is None:
        if verbose_logging:
            logging.info("Couldn't map start position")
        return orig_text
    orig_end_position = _orig_position(tok_text, end_position, orig_text, num_chars)
    if orig_end_position is None:
        if verbose_logging:
            logging.info("Couldn't map end position")
        return orig_text
    return orig_text[orig_start_position : orig_end_position + 1]


def _orig_position(tok_text: str, position: int, orig_text: str, num_chars: int) -> int | None:
    """The character of `orig_text` aligned with tok_text[position], if any.

    tok_text[position] must be a non-space character; it is the k-th non-space
    character of tok_text, and the k-th of the `num_chars` non-space characters
    of orig_text is returned.
    """
    if not 0 <= position < len(tok_text) or tok_text[position] == " ":
        return None
    k = position - tok_text.count(" ", 0, position)
    if k == 0:
        return len(orig_text) - len(orig_text.lstrip(" "))
    if k == num_chars - 1:
        return len(orig_text.rstrip(" ")) - 1
    if " " not in orig_text:  # one word: every character is a non-space one
        return k
    # Walk the words between single spaces until the k-th character.
    offset = 0
    while True:
        space = orig_text.find(" ", offset)
        length = (len(orig_text) if space == -1 else space) - offset
        if k < length:
            return offset + k
        if space == -1:
            return None
        k -= length
        offset = space + 1


class _BasicTokens(dict):
    """word -> its BasicTokenizer tokens joined by spaces, computed on first use.

    BasicTokenizer works word by word after splitting on whitespace, so the
    tokens of words joined by spaces are the words' tokens, concatenated.
    """

    def __init__(self, do_lower_case: bool):
        super().__init__()
        self._tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
        self._document: list[str] | None = None
        self._document_words: list[str] = []

    def __missing__(self, word: str) -> str:
        if len(self) >= _BASIC_CACHE_SIZE:
            self.clear()
        joined = self[word] = " ".join(self._tokenizer.tokenize(word))
        return joined

    def of_document(self, doc_tokens: list[str]) -> list[str]:
        """The joined tokens of each word of a document (the last document's are kept).

        `" ".join(BasicTokenizer.tokenize(" ".join(doc_tokens[a:b])))` is
        `" ".join(filter(None, of_document(doc_tokens)[a:b]))`.
        """
        if self._document is not doc_tokens:
            self._document = doc_tokens
            self._document_words = [self[w] for w in doc_tokens]
        return self._document_words


# ---------------------------------------------------------------------------
# Candidates.
# ---------------------------------------------------------------------------


def _logit_matrix(rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """float64 [num_features, width] of the logits (shorter rows padded with -inf), lengths."""
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    width = int(lengths.max()) if len(rows) else 0
    if len(rows) and (lengths == width).all():
        if all(isinstance(row, list) for row in rows):
            # Python floats (as the original's main makes them): one flat pass.
            flat = np.fromiter(itertools.chain.from_iterable(rows), np.float64, len(rows) * width)
            return flat.reshape(len(rows), width), lengths
        return np.array(rows, dtype=np.float64).reshape(len(rows), width), lengths
    matrix = np.full((len(rows), width), -np.inf)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = np.asarray(row, dtype=np.float64)
    return matrix, lengths


def _top_k_indexes(logits: np.ndarray, k: int) -> np.ndarray:
    """int64 [F, min(k, W)]: each row's `_get_best_indexes(row, k)`.

    The k largest, largest first, ties in index order: what a stable sort of
    the whole row gives, from a partition and a sort of k values per row.
    Of the values equal to the k-th largest, the ones with the lowest indexes
    are taken.
    """
    num_rows, width = logits.shape
    if k >= width or num_rows == 0 or np.isnan(logits).any():
        return np.argsort(-logits, axis=1, kind="stable")[:, :k]
    kth = np.partition(logits, width - k, axis=1)[:, width - k : width - k + 1]  # [F, 1]
    chosen = logits > kth
    at_kth = logits == kth
    room = k - chosen.sum(axis=1)  # how many values equal to the k-th largest are taken
    excess = np.nonzero(at_kth.sum(axis=1) > room)[0]
    if len(excess):
        # Rows with more such values than room: the first ones, by index.
        ranks = np.cumsum(at_kth[excess], axis=1)
        at_kth[excess] &= ranks <= room[excess, None]
    chosen |= at_kth
    columns = np.nonzero(chosen)[1].reshape(num_rows, k)  # ascending index in each row
    order = np.argsort(-np.take_along_axis(logits, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)


@dataclasses.dataclass
class _Candidates:
    """Every valid (window, start, end) of a chunk of features, in the original's order."""

    row: np.ndarray  # int64 [C]: the feature, ascending
    start_index: np.ndarray  # int64 [C]
    end_index: np.ndarray  # int64 [C]
    start_logit: np.ndarray  # float64 [C]
    end_logit: np.ndarray  # float64 [C]


def _candidates(
    features: Sequence[Any],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    start_lengths: np.ndarray,
    end_lengths: np.ndarray,
    n_best_size: int,
    max_answer_length: int,
) -> _Candidates:
    """The original's prelim predictions of each feature, feature after feature.

    Args:
      features: F InputFeatures.
      start_logits, end_logits: float64 [F, Ws] and [F, We].
      start_lengths, end_lengths: int [F], the number of real logits in each row.
    """
    # [F, k]: the k best indexes of each row, largest first, ties in index order.
    best_starts = _top_k_indexes(start_logits, n_best_size)
    best_ends = _top_k_indexes(end_logits, n_best_size)
    start_ok = np.zeros(best_starts.shape, dtype=bool)
    end_ok = np.zeros(best_ends.shape, dtype=bool)
    for row, (feature, starts, ends, start_length, end_length) in enumerate(
        zip(
            features,
            best_starts.tolist(),
            best_ends.tolist(),
            start_lengths.tolist(),
            end_lengths.tolist(),
        )
    ):
        num_tokens = len(feature.tokens)
        token_to_orig_map = feature.token_to_orig_map
        max_context = feature.token_is_max_context
        start_ok[row] = [
            s < num_tokens
            and s < start_length
            and s in token_to_orig_map
            and bool(max_context.get(s, False))
            for s in starts
        ]
        end_ok[row] = [e < num_tokens and e < end_length and e in token_to_orig_map for e in ends]
    # [F, ks, ke]: start rank i, end rank j.
    starts3 = best_starts[:, :, None]
    ends3 = best_ends[:, None, :]
    valid = (
        start_ok[:, :, None]
        & end_ok[:, None, :]
        & (ends3 >= starts3)
        & (ends3 - starts3 + 1 <= max_answer_length)
    )
    rows, start_rank, end_rank = np.nonzero(valid)  # in (row, i, j) order: the original's
    start_index = best_starts[rows, start_rank]
    end_index = best_ends[rows, end_rank]
    return _Candidates(
        row=rows,
        start_index=start_index,
        end_index=end_index,
        start_logit=start_logits[rows, start_index],
        end_logit=end_logits[rows, end_index],
    )


def _in_score_order(
    candidates: _Candidates, lo: int, hi: int, null: tuple[float, float] | None
) -> Iterator[tuple[int, int, int, float, float]]:
    """(row, start, end, start_logit, end_logit) of candidates lo:hi (then the null), best first.

    Sorted by start_logit + end_logit, stable, as the original's `sorted(...,
    reverse=True)`; the null candidate (row -1, start 0) comes last among equals.
    """
    start_logit = candidates.start_logit[lo:hi]
    end_logit = candidates.end_logit[lo:hi]
    scores = start_logit + end_logit
    if null is not None:
        scores = np.append(scores, null[0] + null[1])
    order = np.argsort(-scores, kind="stable")
    # Converted to Python values a block at a time: the loop usually stops early.
    block = 64
    for begin in range(0, len(order), block):
        chosen = order[begin : begin + block]
        real = chosen[chosen < hi - lo]
        it = zip(
            candidates.row[lo:hi][real].tolist(),
            candidates.start_index[lo:hi][real].tolist(),
            candidates.end_index[lo:hi][real].tolist(),
            start_logit[real].tolist(),
            end_logit[real].tolist(),
        )
        for index in chosen.tolist():
            if index == hi - lo:
                yield -1, 0, 0, null[0], null[1]
            else:
                yield next(it)


# ---------------------------------------------------------------------------
# Predictions.
# ---------------------------------------------------------------------------


def compute_predictions(
    all_examples: Sequence[Any],
    all_features: Sequence[Any],
    all_results: Sequence[RawResult],
    n_best_size: int,
    max_answer_length: int,
    do_lower_case: bool,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
    verbose_logging: bool = False,
) -> Predictions:
    """The predictions, n-best lists and null odds `write_predictions` writes.

    Args:
      all_examples: the `SquadExample`s the features were made from, in order.
      all_features: their `InputFeatures` (any order; `example_index` links them).
      all_results: a `RawResult` for every feature (any order).
      n_best_size: the length of the n-best lists (and of the top-logit lists).
      max_answer_length: the most word pieces an answer may have.
      do_lower_case: as the tokenizer's, for `get_final_text`.
      version_2_with_negative: SQuAD 2.0: the null answer and null_odds.
      null_score_diff_threshold: predict "" when null score - best non-null > this.
      verbose_logging: log why `get_final_text` fell back to the whole original text.

    Raises:
      InputError: a feature has no result.
    """
    example_index_to_features: dict[int, list[Any]] = collections.defaultdict(list)
    for feature in all_features:
        example_index_to_features[feature.example_index].append(feature)
    unique_id_to_result = {result.unique_id: result for result in all_results}
    basic_tokens = _BasicTokens(do_lower_case)
    out = Predictions({}, {}, {})
    no_answer_ids: list[Any] = []
    all_examples = list(all_examples)
    started = time.monotonic()
    next_progress = started + PROGRESS_INTERVAL_SECONDS

    for chunk_start in range(0, len(all_examples), _EXAMPLES_PER_CHUNK):
        if time.monotonic() >= next_progress:
            next_progress = time.monotonic() + PROGRESS_INTERVAL_SECONDS
            logging.info(
                "[%.0f s] predicted %s of %s examples",
                time.monotonic() - started,
                f"{chunk_start:,}",
                f"{len(all_examples):,}",
            )
        chunk = all_examples[chunk_start : chunk_start + _EXAMPLES_PER_CHUNK]
        features: list[Any] = []
        bounds = [0]
        for example_index in range(chunk_start, chunk_start + len(chunk)):
            features.extend(example_index_to_features.get(example_index, ()))
            bounds.append(len(features))
        results = []
        for feature in features:
            result = unique_id_to_result.get(feature.unique_id)
            if result is None:
                raise InputError(
                    f"No RawResult for feature unique_id {feature.unique_id} (question "
                    f"{all_examples[feature.example_index].qas_id!r}): every feature needs "
                    "the model's logits."
                )
            results.append(result)
        start_logits, start_lengths = _logit_matrix([r.start_logits for r in results])
        end_logits, end_lengths = _logit_matrix([r.end_logits for r in results])
        candidates = _candidates(
            features,
            start_logits,
            end_logits,
            start_lengths,
            end_lengths,
            n_best_size,
            max_answer_length,
        )
        row_bounds = np.searchsorted(candidates.row, bounds).tolist()
        for k, example in enumerate(chunk):
            lo, hi = bounds[k], bounds[k + 1]
            _predict_example(
                example,
                features,
                lo,
                hi,
                start_logits,
                end_logits,
                candidates,
                (row_bounds[k], row_bounds[k + 1]),
                basic_tokens,
                n_best_size,
                version_2_with_negative,
                null_score_diff_threshold,
                verbose_logging,
                out,
                no_answer_ids,
            )
    if no_answer_ids:
        logging.warning(
            "%d questions had no non-null answer among their candidates (the original "
            'fails on them): predicted "" with null odds Infinity: %s%s',
            len(no_answer_ids),
            ", ".join(str(q) for q in no_answer_ids[:_NUM_NAMED_WARNINGS]),
            ", ..." if len(no_answer_ids) > _NUM_NAMED_WARNINGS else "",
        )
    return out


def _predict_example(
    example: Any,
    features: list[Any],
    lo: int,
    hi: int,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    candidates: _Candidates,
    candidate_range: tuple[int, int],
    basic_tokens: _BasicTokens,
    n_best_size: int,
    version_2_with_negative: bool,
    null_score_diff_threshold: float,
    verbose_logging: bool,
    out: Predictions,
    no_answer_ids: list[Any],
) -> None:
    """Adds one example's prediction, n-best list and null odds to `out`."""
    null = None
    score_null: float = _NULL_SCORE_START
    if version_2_with_negative:
        # The window with the smallest start[0] + end[0] (the first on a tie).
        null_start_logit: float = 0
        null_end_logit: float = 0
        for row in range(lo, hi):
            start0, end0 = float(start_logits[row, 0]), float(end_logits[row, 0])
            if start0 + end0 < score_null:
                score_null = start0 + end0
                null_start_logit, null_end_logit = start0, end0
        null = (null_start_logit, null_end_logit)

    seen: set[str] = set()
    final_texts: dict[tuple[str, int, int], str] = {}
    doc_tokens = example.doc_tokens
    doc_words = basic_tokens.of_document(doc_tokens)
    nbest: list[tuple[str, float, float]] = []
    for row, start, end, start_logit, end_logit in _in_score_order(
        candidates, *candidate_range, null
    ):
        if len(nbest) >= n_best_size:
            break
        if start > 0:  # a non-null prediction
            feature = features[row]
            tok_text = " ".join(feature.tokens[start : end + 1])
            # De-tokenize the word pieces, then clean whitespace.
            tok_text = tok_text.replace(" ##", "").replace("##", "")
            tok_text = " ".join(tok_text.strip().split())
            orig_start = feature.token_to_orig_map[start]
            orig_end = feature.token_to_orig_map[end]
            key = (tok_text, orig_start, orig_end)
            final_text = final_texts.get(key)
            if final_text is None:
                orig_text = " ".join(doc_tokens[orig_start : orig_end + 1])
                basic_text = " ".join(filter(None, doc_words[orig_start : orig_end + 1]))
                final_text = _project(tok_text, orig_text, basic_text, verbose_logging)
                final_texts[key] = final_text
            if final_text in seen:
                continue
        else:
            final_text = ""
        seen.add(final_text)
        nbest.append((final_text, start_logit, end_logit))

    if version_2_with_negative and "" not in seen:
        nbest.append(("", null[0], null[1]))
    # In rare cases there is no valid prediction: a nonce one avoids failing.
    if not nbest:
        nbest.append(("empty", 0.0, 0.0))

    total_scores = [start_logit + end_logit for _, start_logit, end_logit in nbest]
    probs = _compute_softmax(total_scores)
    out.nbest[example.qas_id] = [
        {"text": text, "probability": prob, "start_logit": start_logit, "end_logit": end_logit}
        for (text, start_logit, end_logit), prob in zip(nbest, probs)
    ]
    if not version_2_with_negative:
        out.predictions[example.qas_id] = nbest[0][0]
        return
    best_non_null = next((entry for entry in nbest if entry[0]), None)
    if best_non_null is None:
        score_diff = math.inf
        if len(no_answer_ids) < _NUM_NAMED_WARNINGS:
            logging.warning(
                'Question %r: the n-best list holds only the null answer; predicting ""',
                example.qas_id,
            )
        no_answer_ids.append(example.qas_id)
    else:
        # Predict "" iff the null score - the score of the best non-null > threshold.
        score_diff = score_null - best_non_null[1] - best_non_null[2]
    out.null_odds[example.qas_id] = score_diff
    if score_diff > null_score_diff_threshold:
        out.predictions[example.qas_id] = ""
    else:
        out.predictions[example.qas_id] = best_non_null[0]


def write_predictions(
    all_examples: Sequence[Any],
    all_features: Sequence[Any],
    all_results: Sequence[RawResult],
    n_best_size: int,
    max_answer_length: int,
    do_lower_case: bool,
    output_prediction_file: str,
    output_nbest_file: str,
    output_null_log_odds_file: str | None,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
    verbose_logging: bool = False,
) -> Predictions:
    """Writes predictions.json, nbest_predictions.json and (SQuAD 2.0) null_odds.json.

    The arguments are the original's (the values it read from FLAGS last); see
    `compute_predictions`. The files are written all together through
    `files.atomic_write` once everything is computed, in the original's layout
    (`json.dumps(..., indent=4)` and a newline); output_null_log_odds_file is
    not written for SQuAD 1.1 (and may then be None).

    Returns:
      The `Predictions` written (the original returns None).
    """
    logging.info("Writing predictions to: %s", output_prediction_file)
    logging.info("Writing nbest to: %s", output_nbest_file)
    predictions = compute_predictions(
        all_examples,
        all_features,
        all_results,
        n_best_size,
        max_answer_length,
        do_lower_case,
        version_2_with_negative,
        null_score_diff_threshold,
        verbose_logging,
    )
    outputs = [
        (output_prediction_file, dumps_indent4(predictions.predictions)),
        (output_nbest_file, dumps_indent4(predictions.nbest)),
    ]
    if version_2_with_negative:
        if not output_null_log_odds_file:
            raise InputError("SQuAD 2.0 predictions need an output_null_log_odds_file.")
        outputs.append((output_null_log_odds_file, dumps_indent4(predictions.null_odds)))
    write_files_atomically(outputs)
    return predictions


def write_files_atomically(outputs: Sequence[tuple[str, str]]) -> None:
    """Writes (path, text) pairs; the files are renamed into place only when all are written."""
    with contextlib.ExitStack() as stack:
        temps = [
            stack.enter_context(files.atomic_write(path, make_dirs=True)) for path, _ in outputs
        ]
        for temp, (_, text) in zip(temps, outputs):
            with tf.io.gfile.GFile(temp, "w") as writer:
                writer.write(text)
