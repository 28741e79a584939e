"""Tests for official_bert.squad_postprocess: write_predictions and its helpers.

The oracles: the original's write_predictions outputs in tests/golden/squad
(postproc/: seeded logits with ties; e2e/: a model's logits), and the plain port
in tests/reference/original_squad.py on text written for these tests.
"""

import copy
import json
import logging as py_logging
import math
import os
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import original_squad, original_tokenization
from test_squad_data import GOLDEN_FLAGS, SQUAD_DIR, VOCAB_FILE, own_squad_dataset, write_json

from official_bert import squad, squad_json, squad_postprocess, tokenization
from official_bert.errors import InputError

# (logits folder, version, threshold, folder of the expected files)
GOLDEN_RUNS = (
    ("postproc", "v1.1", 0.0, "postproc/v1.1"),
    ("postproc", "v2.0", 0.0, "postproc/v2.0/thresh_0.0"),
    ("postproc", "v2.0", -1.5, "postproc/v2.0/thresh_-1.5"),
    ("e2e", "v1.1", 0.0, "e2e/v1.1"),
    ("e2e", "v2.0", 0.0, "e2e/v2.0"),
)
# The golden runs' flags (golden README).
N_BEST_SIZE = 20
MAX_ANSWER_LENGTH = 30
# The tolerance on n-best probabilities and logits.
NBEST_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def tokenizer():
    return tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)


@pytest.fixture(scope="module")
def golden_inputs(tokenizer):
    """version -> (examples, features) of the golden dev file."""
    out = {}
    for version in ("v1.1", "v2.0"):
        path = os.path.join(SQUAD_DIR, "data", f"dev-{version}.json")
        examples = squad.read_squad_examples(path, False)
        features = []
        squad.convert_examples_to_features(
            examples, tokenizer, **GOLDEN_FLAGS, is_training=False, output_fn=features.append
        )
        out[version] = (examples, features)
    return out


def _results(kind, version, features, as_lists=True):
    logits = np.load(os.path.join(SQUAD_DIR, kind, version, "logits.npz"))
    results = []
    for feature in features:
        start, end = logits[str(feature.unique_id)]
        if as_lists:  # as the original's main: Python floats
            start, end = [float(x) for x in start], [float(x) for x in end]
        results.append(squad.RawResult(feature.unique_id, start, end))
    return results


def _write(module, out_dir, examples, features, results, version_2, threshold=0.0, **kwargs):
    paths = [os.path.join(out_dir, n) for n in ("predictions.json", "nbest.json", "null_odds.json")]
    module.write_predictions(
        examples,
        features,
        results,
        kwargs.pop("n_best_size", N_BEST_SIZE),
        kwargs.pop("max_answer_length", MAX_ANSWER_LENGTH),
        True,
        *paths,
        version_2_with_negative=version_2,
        null_score_diff_threshold=threshold,
        **kwargs,
    )
    return paths


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _assert_nbest_close(got, expected):
    assert list(got) == list(expected)
    for qid in expected:
        assert [e["text"] for e in got[qid]] == [e["text"] for e in expected[qid]], qid
        for a, b in zip(got[qid], expected[qid]):
            for key in ("probability", "start_logit", "end_logit"):
                assert abs(a[key] - b[key]) <= NBEST_TOLERANCE, (qid, key)


@pytest.mark.parametrize("kind, version, threshold, expected_dir", GOLDEN_RUNS)
@pytest.mark.parametrize("as_lists", (True, False), ids=("float_lists", "float32_arrays"))
def test_outputs_equal_the_originals(
    tmp_path, golden_inputs, kind, version, threshold, expected_dir, as_lists
):
    examples, features = golden_inputs[version]
    results = _results(kind, version, features, as_lists)
    version_2 = version == "v2.0"
    predictions, nbest, null_odds = _write(
        squad, tmp_path, examples, features, results, version_2, threshold
    )
    expected = os.path.join(SQUAD_DIR, expected_dir)
    assert _read(predictions) == _read(os.path.join(expected, "predictions.json"))
    with open(nbest) as a, open(os.path.join(expected, "nbest_predictions.json")) as b:
        _assert_nbest_close(json.load(a), json.load(b))
    if version_2:
        assert _read(null_odds) == _read(os.path.join(expected, "null_odds.json"))
    else:
        assert not os.path.exists(null_odds)  # SQuAD 1.1 writes no null_odds.json
    assert sorted(os.listdir(tmp_path)) == sorted(
        os.path.basename(p)
        for p in ((predictions, nbest, null_odds) if version_2 else (predictions, nbest))
    )


def test_nbest_file_is_the_originals_byte_for_byte(tmp_path, golden_inputs):
    """The layout too (indent, key order, float repr), not only the values."""
    examples, features = golden_inputs["v2.0"]
    results = _results("postproc", "v2.0", features)
    _, nbest, _ = _write(squad, tmp_path, examples, features, results, True, -1.5)
    expected = os.path.join(SQUAD_DIR, "postproc/v2.0/thresh_-1.5/nbest_predictions.json")
    assert _read(nbest) == _read(expected)


@pytest.mark.parametrize("threshold", (0.0, -1.5, 2.0))
def test_e2e_logits_at_other_thresholds_equal_the_reference(tmp_path, golden_inputs, threshold):
    examples, features = golden_inputs["v2.0"]
    results = _results("e2e", "v2.0", features)
    ours = _write(squad, tmp_path / "ours", examples, features, results, True, threshold)
    os.makedirs(tmp_path / "theirs")
    theirs = _write(
        original_squad, tmp_path / "theirs", examples, features, results, True, threshold
    )
    for a, b in zip(ours, theirs):
        assert _read(a) == _read(b)


def test_returns_what_it_writes(tmp_path, golden_inputs):
    examples, features = golden_inputs["v2.0"]
    results = _results("postproc", "v2.0", features)
    paths = [str(tmp_path / n) for n in ("p.json", "n.json", "o.json")]
    out = squad.write_predictions(
        examples, features, results, 20, 30, True, *paths, version_2_with_negative=True
    )
    for value, path in zip((out.predictions, out.nbest, out.null_odds), paths):
        with open(path) as f:
            assert json.load(f) == value


# ---------------------------------------------------------------------------
# Against the reference port on own text.
# ---------------------------------------------------------------------------


def _own_inputs(tmp_path, seed, version_2, flags, tokenizer, ties=True):
    path = write_json(tmp_path / "own.json", own_squad_dataset(seed, version_2=version_2))
    examples = squad.read_squad_examples(path, False)
    features = []
    squad.convert_examples_to_features(
        examples, tokenizer, **flags, is_training=False, output_fn=features.append
    )
    rng = np.random.default_rng(seed)
    results = []
    for i, feature in enumerate(features):
        logits = rng.normal(0.0, 2.0, size=(2, flags["max_seq_length"])).astype(np.float32)
        if ties and i % 3 == 0:
            logits = np.round(logits * 2) / 2
        logits[:, len(feature.tokens) :] -= 8.0  # padding scores low, as a trained model's
        results.append(squad.RawResult(feature.unique_id, *(r.tolist() for r in logits)))
    random.Random(seed).shuffle(results)  # results may come in any order
    return examples, features, results


OWN_CASES = (
    # flags, n_best_size, max_answer_length
    ({"max_seq_length": 128, "doc_stride": 32, "max_query_length": 24}, 20, 30),
    ({"max_seq_length": 64, "doc_stride": 7, "max_query_length": 12}, 10, 5),
    ({"max_seq_length": 96, "doc_stride": 16, "max_query_length": 16}, 40, 60),
)


@pytest.mark.parametrize("flags, n_best_size, max_answer_length", OWN_CASES)
@pytest.mark.parametrize("version_2, threshold", ((False, 0.0), (True, 0.0), (True, -1.0)))
def test_own_text_outputs_equal_the_references(
    tmp_path, tokenizer, flags, n_best_size, max_answer_length, version_2, threshold
):
    examples, features, results = _own_inputs(tmp_path, 11, version_2, flags, tokenizer)
    kwargs = {"n_best_size": n_best_size, "max_answer_length": max_answer_length}
    os.makedirs(tmp_path / "ours")
    os.makedirs(tmp_path / "theirs")
    ours = _write(
        squad, tmp_path / "ours", examples, features, results, version_2, threshold, **kwargs
    )
    theirs = _write(
        original_squad,
        tmp_path / "theirs",
        examples,
        features,
        results,
        version_2,
        threshold,
        **kwargs,
    )
    for a, b in zip(ours, theirs):
        assert os.path.exists(a) == os.path.exists(b)
        if os.path.exists(b):
            assert _read(a) == _read(b), os.path.basename(a)


def test_text_needing_the_whole_original_span_equals_the_reference(tmp_path, tokenizer):
    """NBSP, U+202F, accents, CJK and an emoji ([UNK]) make get_final_text fall back."""
    flags = OWN_CASES[0][0]
    examples, features, results = _own_inputs(tmp_path, 5, False, flags, tokenizer)
    out = squad.compute_predictions(examples, features, results, 20, 30, True)
    texts = {e["text"] for entries in out.nbest.values() for e in entries}
    assert any("\u00a0" in t or "\U0001f309" in t or "é" in t or "東" in t for t in texts)


# ---------------------------------------------------------------------------
# Where the original fails.
# ---------------------------------------------------------------------------


def _only_null_inputs(golden_inputs):
    """The golden v2.0 dev features with logits whose best start is [CLS] everywhere."""
    examples, features = golden_inputs["v2.0"]
    results = []
    for feature in features:
        logits = np.zeros((2, GOLDEN_FLAGS["max_seq_length"]))
        logits[:, 0] = 5.0
        results.append(squad.RawResult(feature.unique_id, *logits.tolist()))
    return examples, features, results


def test_only_null_in_the_nbest_predicts_empty_where_the_original_fails(
    tmp_path, golden_inputs, caplog
):
    examples, features, results = _only_null_inputs(golden_inputs)
    with pytest.raises(AttributeError):  # the original: best_non_null_entry is None
        _write(original_squad, tmp_path, examples, features, results, True, n_best_size=1)
    with caplog.at_level(py_logging.WARNING):
        out = squad.compute_predictions(
            examples, features, results, 1, 30, True, version_2_with_negative=True
        )
    assert set(out.predictions.values()) == {""}
    assert all(v == math.inf for v in out.null_odds.values())
    assert all(
        entries == [{"text": "", "probability": 1.0, "start_logit": 5.0, "end_logit": 5.0}]
        for entries in out.nbest.values()
    )
    assert "only the null answer" in caplog.text and examples[0].qas_id in caplog.text
    assert f"{len(examples)} questions had no non-null answer" in caplog.text


def test_only_null_in_some_nbest_lists_keeps_the_others_as_the_original(tmp_path, golden_inputs):
    examples, features, results = _only_null_inputs(golden_inputs)
    real = {r.unique_id: r for r in _results("e2e", "v2.0", features)}
    # The first example keeps null-only logits; the others get the model's.
    results = [r if f.example_index == 0 else real[r.unique_id] for r, f in zip(results, features)]
    ours = squad.compute_predictions(examples, features, results, 20, 30, True, True)
    rest = []
    for f in features:
        if f.example_index > 0:
            shifted = copy.copy(f)
            shifted.example_index -= 1
            rest.append(shifted)
    os.makedirs(tmp_path / "theirs")
    paths = _write(original_squad, tmp_path / "theirs", examples[1:], rest, results, True)
    with open(paths[0]) as f:
        expected = json.load(f)
    assert ours.predictions[examples[0].qas_id] == ""
    assert {k: v for k, v in ours.predictions.items() if k != examples[0].qas_id} == expected


def test_example_without_features(tmp_path):
    example = squad.SquadExample("q-empty", "Who?", [])
    v1 = squad.compute_predictions([example], [], [], 20, 30, True)
    assert v1.predictions == {"q-empty": "empty"}  # the original's nonce prediction
    v2 = squad.compute_predictions([example], [], [], 20, 30, True, version_2_with_negative=True)
    assert v2.predictions == {"q-empty": ""} and v2.null_odds == {"q-empty": math.inf}


def test_missing_result_is_an_error_and_writes_nothing(tmp_path, golden_inputs):
    examples, features = golden_inputs["v1.1"]
    results = _results("postproc", "v1.1", features)[1:]
    with pytest.raises(InputError, match=f"unique_id {features[0].unique_id}"):
        _write(squad, tmp_path, examples, features, results, False)
    assert os.listdir(tmp_path) == []


def test_v2_needs_a_null_odds_file(tmp_path, golden_inputs):
    examples, features = golden_inputs["v2.0"]
    results = _results("postproc", "v2.0", features)
    with pytest.raises(InputError, match="null_log_odds"):
        squad.write_predictions(
            examples,
            features,
            results,
            20,
            30,
            True,
            str(tmp_path / "p.json"),
            str(tmp_path / "n.json"),
            None,
            version_2_with_negative=True,
        )
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------

FINAL_TEXT_CASES = (
    ("steve smith", "Steve Smith's", True),
    ("smith", "Steve Smith's", True),
    ("1895", "(1895-1943).", True),
    ("jose", "José", True),  # precomposed: one character for one, "José"
    ("jose", "Jose\u0301", True),  # decomposed: the accent is dropped, lengths differ
    ("cafe", "Café", True),
    ("zoe ' s", "Zoë’s", True),
    ("le petit nuage", "“Le Petit Nuage”", True),
    ("100 degrees", "100\u00a0degrees", True),
    ("[UNK]", "\U0001f309", True),
    ("東 京", "marked 東京 on", True),
    ("Smith", "Steve Smith", False),
    ("smith", "Steve Smith", False),  # not found without lower-casing
    ("", "Steve", True),
    (" x", "x", True),
    ("a b", "a  b", True),
    ("hello", "hello\u200bworld", True),
)


@pytest.mark.parametrize("pred_text, orig_text, do_lower_case", FINAL_TEXT_CASES)
def test_get_final_text_equals_the_originals(pred_text, orig_text, do_lower_case):
    assert squad.get_final_text(pred_text, orig_text, do_lower_case) == (
        original_squad.get_final_text(pred_text, orig_text, do_lower_case)
    )


def test_get_final_text_strips_what_the_prediction_does_not_cover():
    assert squad.get_final_text("steve smith", "Steve Smith's", True) == "Steve Smith"
    assert squad.get_final_text("1895", "(1895-1943).", True) == "1895"
    assert squad.get_final_text("jose", "José", True) == "José"
    assert squad.get_final_text("jose", "Jose\u0301", True) == "Jose\u0301"


def test_get_final_text_verbose_logging_says_why_it_fell_back(caplog):
    with caplog.at_level(py_logging.INFO):
        squad.get_final_text("jose", "Jose\u0301", True, verbose_logging=True)
        squad.get_final_text("nothing", "Steve", True, verbose_logging=True)
    assert "Length not equal after stripping spaces" in caplog.text
    assert "Unable to find text: 'nothing' in 'Steve'" in caplog.text


# Characters that exercise the tokenizer: whitespace of every kind, controls,
# accents, punctuation, CJK, an emoji.
_TEXT = st.text(
    alphabet=st.sampled_from(
        list("ab cdE'.,-(")
        + ["\u00a0", "\u202f", "\u3000", "\t", "\n", "\u200b", "\x00", "\ufffd", "é", "ë"]
        + ["\u0301", "東", "ß", "ﬁ", "\U0001f309", "İ", "Σ", "\u2028", "\x85"]
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT.filter(lambda w: " " not in w and w), max_size=6), st.booleans())
def test_basic_tokens_of_joined_words_are_the_words_tokens(words, do_lower_case):
    """What the cached tok_text of write_predictions relies on."""
    basic = original_tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    cache = squad_postprocess._BasicTokens(do_lower_case)
    whole = " ".join(basic.tokenize(" ".join(words)))
    assert " ".join(filter(None, cache.of_document(words))) == whole


@settings(max_examples=500, deadline=None)
@given(_TEXT, st.booleans(), st.data())
def test_get_final_text_equals_the_originals_on_random_text(orig_text, do_lower_case, data):
    tok_text = " ".join(original_tokenization.BasicTokenizer(do_lower_case).tokenize(orig_text))
    i = data.draw(st.integers(0, len(tok_text)))
    j = data.draw(st.integers(i, len(tok_text)))
    pred_text = data.draw(st.sampled_from((tok_text[i:j], tok_text[i:j].strip(), "x", "")))
    assert squad.get_final_text(pred_text, orig_text, do_lower_case) == (
        original_squad.get_final_text(pred_text, orig_text, do_lower_case)
    )


def test_best_indexes_break_ties_by_position():
    rng = np.random.default_rng(0)
    for _ in range(200):
        width = int(rng.integers(1, 60))
        logits = (np.round(rng.normal(size=width) * 2) / 2).tolist()
        k = int(rng.integers(1, 30))
        expected = original_squad._get_best_indexes(logits, k)
        assert squad._get_best_indexes(logits, k) == expected


def test_top_k_of_rows_equals_the_originals_sort():
    rng = np.random.default_rng(1)
    for width, k in ((384, 20), (50, 20), (20, 20), (10, 20), (64, 1), (7, 3)):
        logits = np.round(rng.normal(size=(40, width)) * 2) / 2
        logits[::5] = 1.0  # every value tied
        got = squad_postprocess._top_k_indexes(logits, k)
        expected = [original_squad._get_best_indexes(row.tolist(), k) for row in logits]
        assert got.tolist() == expected


def test_compute_softmax_equals_the_originals():
    rng = random.Random(0)
    for n in (0, 1, 2, 21):
        scores = [rng.uniform(-30, 30) for _ in range(n)]
        assert squad._compute_softmax(scores) == original_squad._compute_softmax(scores)


_JSON_VALUE = st.one_of(
    st.text(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(st.text(), st.floats(allow_nan=True), st.integers()),
            max_size=4,
        ),
        max_size=3,
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _JSON_VALUE, max_size=5))
def test_prediction_files_are_laid_out_as_json_dumps_indent_4(obj):
    assert squad_json.dumps_indent4(obj) == json.dumps(obj, indent=4) + "\n"


def test_other_shapes_go_through_json_dumps():
    for obj in ({1: "a"}, {"a": True}, {"a": None}, {"a": [1, 2]}, {"a": [{"b": [1]}]}):
        assert squad_json.dumps_indent4(obj) == json.dumps(obj, indent=4) + "\n"


def test_a_long_post_processing_logs_progress(monkeypatch, caplog, golden_inputs):
    monkeypatch.setattr(squad_postprocess, "PROGRESS_INTERVAL_SECONDS", 0.0)
    examples, features = golden_inputs["v1.1"]
    with caplog.at_level(py_logging.INFO):
        squad.compute_predictions(
            examples, features, _results("postproc", "v1.1", features), 20, 30, True
        )
    assert f"predicted 0 of {len(examples)} examples" in caplog.text
