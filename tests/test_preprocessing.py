"""Tests of the in-graph packer and preprocessor (official_bert.preprocessing).

The reference is the original's feature conversion: the golden features of
tests/golden/glue/features.json (written by the original run_classifier.py,
max_seq_length=32, uncased vocabulary) and `classifier_features`'s converter
(tested against them in test_classifier_data.py) on random pairs.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import random

import numpy as np
import pytest
import tensorflow as tf

from official_bert import classifier_data as cd
from official_bert import classifier_features as cf
from official_bert import preprocessing, tokenization
from official_bert.errors import InputError
from official_bert.preprocessing import BertPackInputs, BertPreprocessor

GOLDEN = pathlib.Path(__file__).parent / "golden"
GLUE = GOLDEN / "glue"
FEATURES = json.loads((GLUE / "features.json").read_text())
SEQ_LENGTH = FEATURES["max_seq_length"]
VOCAB_FILE = str(GOLDEN / FEATURES["vocab"])
GETTERS = {"train": "get_train_examples", "dev": "get_dev_examples", "test": "get_test_examples"}
NAMES = preprocessing.FEATURE_NAMES


@pytest.fixture(scope="module")
def full() -> tokenization.FullTokenizer:
    return tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=FEATURES["do_lower_case"])


@pytest.fixture(scope="module")
def preprocessor() -> BertPreprocessor:
    return BertPreprocessor(VOCAB_FILE, FEATURES["do_lower_case"], SEQ_LENGTH)


def _examples(split: str) -> list[cd.InputExample]:
    task, set_name = split.split("/")
    return getattr(cd.get_processor(task), GETTERS[set_name])(str(GLUE / task))


def _rows(features: dict[str, tf.Tensor]) -> list[dict[str, list[int]]]:
    arrays = {name: features[name].numpy() for name in NAMES}
    for array in arrays.values():
        assert array.dtype == np.int32
    return [
        {name: arrays[name][i].tolist() for name in NAMES} for i in range(len(arrays[NAMES[0]]))
    ]


def _library(examples, full, seq_length=SEQ_LENGTH) -> list[dict[str, list[int]]]:
    converter = cf._Converter(["x"], seq_length, full)
    out = []
    for example in examples:
        f = converter.convert(10, cd.InputExample("g", example.text_a, example.text_b, "x"))
        out.append(
            {"input_ids": f.input_ids, "input_mask": f.input_mask, "segment_ids": f.segment_ids}
        )
    return out


def _texts(examples):
    text_a = [e.text_a for e in examples]
    text_b = [e.text_b or "" for e in examples]
    return text_a, (text_b if any(e.text_b for e in examples) else None)


# ----------------------------------------------------------------------------- truncation


def test_truncated_lengths_equal_truncate_seq_pair_on_every_small_case():
    cases = list(itertools.product(range(16), range(16), range(13)))
    len_a, len_b, max_length = (tf.constant(c, tf.int64) for c in zip(*cases))
    got_a, got_b = preprocessing.truncated_lengths(len_a, len_b, max_length)
    expected = []
    for a, b, m in cases:
        tokens_a, tokens_b = list(range(a)), list(range(100, 100 + b))
        cf.truncate_seq_pair(tokens_a, tokens_b, m)
        expected.append((len(tokens_a), len(tokens_b)))
    assert list(zip(got_a.numpy().tolist(), got_b.numpy().tolist())) == expected


# ----------------------------------------------------------------------------- golden features


@pytest.mark.parametrize("split", list(FEATURES["splits"]))
def test_preprocessor_gives_the_originals_golden_features(split, preprocessor):
    golden = FEATURES["splits"][split]
    examples = _examples(split)
    assert [e.guid for e in examples] == golden["guids"]
    text_a, text_b = _texts(examples)
    got = _rows(preprocessor(text_a, text_b))
    assert got == [{name: f[name] for name in NAMES} for f in golden["features"]]


@pytest.mark.parametrize("split", ["MRPC/train", "CoLA/dev", "MNLI/test"])
def test_packer_alone_on_full_tokenizer_ids_gives_the_golden_features(split, full):
    examples = _examples(split)
    segments = [
        tf.ragged.constant(
            [full.convert_tokens_to_ids(full.tokenize(e.text_a)) for e in examples], tf.int64
        )
    ]
    if examples[0].text_b is not None:
        b = [full.convert_tokens_to_ids(full.tokenize(e.text_b)) for e in examples]
        segments.append(tf.ragged.constant(b, tf.int64))
    packer = BertPackInputs.from_vocab(VOCAB_FILE, SEQ_LENGTH)
    got = _rows(packer(segments))
    assert got == [{name: f[name] for name in NAMES} for f in FEATURES["splits"][split]["features"]]


# ----------------------------------------------------------------------------- random pairs


def _random_examples(full, num: int, seed: int) -> list[cd.InputExample]:
    rng = random.Random(seed)
    words = [w for w in list(full.vocab)[1996:6000] if not w.startswith("[")]

    def text():
        n = rng.choice([0, 1, 2, rng.randrange(40), rng.randrange(80)])  # often > 32 tokens
        return " ".join(rng.choice(words) for _ in range(n))

    return [cd.InputExample("g", text(), text()) for _ in range(num)]


@pytest.mark.parametrize("seq_length", [3, 4, 5, 8, SEQ_LENGTH])
def test_random_pairs_equal_the_library_features_also_past_max_seq_length(
    seq_length, full, preprocessor
):
    examples = _random_examples(full, 150, seed=seq_length)
    text_a, text_b = [e.text_a for e in examples], [e.text_b for e in examples]
    expected = _library(examples, full, seq_length)
    assert _rows(preprocessor(text_a, text_b, max_seq_length=seq_length)) == expected
    # An empty text_b is no text_b, as in the original.
    assert any(not b for b in text_b) and any(len(full.tokenize(b)) > seq_length for b in text_b)
    singles = [cd.InputExample("g", e.text_a) for e in examples]
    assert _rows(preprocessor(text_a, max_seq_length=seq_length)) == _library(
        singles, full, seq_length
    )


def test_preprocessor_runs_in_tf_data_map(full, preprocessor):
    examples = _random_examples(full, 20, seed=7)
    dataset = tf.data.Dataset.from_tensor_slices(
        ([e.text_a for e in examples], [e.text_b for e in examples])
    )
    dataset = dataset.batch(6).map(preprocessor)
    got = [row for batch in dataset for row in _rows(batch)]
    assert got == _library(examples, full)


def test_packer_accepts_words_of_pieces_and_a_length_per_call():
    packer = BertPackInputs(8, cls_id=101, sep_id=102)
    words = tf.ragged.constant([[[5, 6], [7]], [[8]]], tf.int32)  # [B, (words), (pieces)]
    out = packer([words], max_seq_length=tf.constant(6))
    assert out["input_ids"].numpy().tolist() == [[101, 5, 6, 7, 102, 0], [101, 8, 102, 0, 0, 0]]
    out = packer(words)
    assert out["input_ids"].shape == (2, 8)
    assert out["input_mask"].numpy().tolist()[1] == [1, 1, 1, 0, 0, 0, 0, 0]


def test_packer_config_round_trips():
    packer = BertPackInputs(16, cls_id=3, sep_id=4, name="pack")
    again = BertPackInputs.from_config(packer.get_config())
    assert (again.max_seq_length, again.cls_id, again.sep_id) == (16, 3, 4)


def test_packer_refuses_three_segments_and_dense_ids():
    packer = BertPackInputs(8, cls_id=1, sep_id=2)
    ids = tf.ragged.constant([[5]])
    with pytest.raises(ValueError, match="1 or 2 segments"):
        packer([ids, ids, ids])
    with pytest.raises(TypeError, match="RaggedTensor"):
        packer([tf.constant([[5]])])


def test_vocab_without_cls_or_sep_is_refused_naming_the_file(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\nhello\n")
    with pytest.raises(InputError, match=r"vocab.txt.*\[SEP\]"):
        BertPreprocessor(str(vocab))


def test_too_short_max_seq_length_is_refused():
    with pytest.raises(InputError, match="at least 3"):
        BertPackInputs(2, cls_id=1, sep_id=2)


INVALID_UTF8 = [
    b"caf\xe9 au lait",  # a Latin-1 byte
    b"\xff\xfehello there",  # a UTF-16 byte order mark
    b"trunc\xe2\x82ated euro",  # a cut 3-byte sequence
    b"\xf0\x9f\x98 smile \xed\xa0\x80 surrogate",  # a cut 4-byte sequence, an encoded surrogate
    b"\xc0\xafslash overlong",
]


def test_invalid_utf8_bytes_are_dropped_as_the_original_does(full, preprocessor):
    examples = [cd.InputExample("g", raw, raw[::-1]) for raw in INVALID_UTF8]
    got = _rows(preprocessor([e.text_a for e in examples], [e.text_b for e in examples]))
    # FullTokenizer decodes bytes with errors="ignore", as the original's convert_to_unicode.
    assert got == _library(examples, full)
    cleaned = [raw.decode("utf-8", "ignore") for raw in INVALID_UTF8]
    assert _rows(preprocessor([raw for raw in INVALID_UTF8])) == _rows(preprocessor(cleaned))
