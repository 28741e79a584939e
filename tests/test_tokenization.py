"""Tests for official_bert.tokenization against the original's golden outputs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from reference import original_tokenization

from official_bert import tf_tokenization, tokenization
from official_bert.errors import InputError, MissingFileError

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")
VOCAB_FILE = os.path.join(GOLDEN_DIR, "uncased_vocab.txt")
CASES_FILE = os.path.join(GOLDEN_DIR, "tokenization", "full_tokenizer_cases.json")
UNK_ID = 100  # id of [UNK] in the uncased vocabulary

with open(CASES_FILE, encoding="utf-8") as f:
    GOLDEN_CASES = json.load(f)["cases"]


def _case_id(case):
    return f"{'lower' if case['do_lower_case'] else 'cased'}:{case['text'][:20]!r}"


@pytest.fixture(scope="module")
def full_tokenizers():
    return {
        lower: tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=lower)
        for lower in (True, False)
    }


@pytest.fixture(scope="module")
def reference_tokenizers():
    """The plain port of the original (tests/reference), the oracle of these tests."""
    return {
        lower: original_tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=lower)
        for lower in (True, False)
    }


@pytest.fixture(scope="module")
def tf_tokenizers():
    return {
        lower: tokenization.TFTextTokenizer(VOCAB_FILE, do_lower_case=lower)
        for lower in (True, False)
    }


@pytest.fixture(scope="module")
def tf_golden_outputs(tf_tokenizers):
    """TFTextTokenizer's words and ids for every golden case, one batch per casing."""
    outputs = {}
    for lower, tokenizer in tf_tokenizers.items():
        texts = [c["text"] for c in GOLDEN_CASES if c["do_lower_case"] == lower]
        words = tokenizer.basic_tokenize(texts).to_list()
        ids = tokenizer.tokenize(texts).to_list()
        for text, w, i in zip(texts, words, ids):
            outputs[lower, text] = ([x.decode("utf-8") for x in w], i)
    return outputs


def _tf_words(tokenizer, texts):
    return [[w.decode("utf-8") for w in row] for row in tokenizer.basic_tokenize(texts).to_list()]


# ----------------------------------------------------------------------------- golden cases


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=_case_id)
def test_full_tokenizer_matches_golden_case(full_tokenizers, case):
    tokenizer = full_tokenizers[case["do_lower_case"]]
    tokens = tokenizer.tokenize(case["text"])
    assert tokens == case["tokens"]
    assert tokenizer.convert_tokens_to_ids(tokens) == case["ids"]
    assert tokenizer.convert_ids_to_tokens(case["ids"]) == case["tokens"]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=_case_id)
def test_uncached_basic_and_wordpiece_match_golden_case(full_tokenizers, case):
    tokenizer = full_tokenizers[case["do_lower_case"]]
    basic = tokenizer.basic_tokenizer.tokenize(case["text"])
    assert basic == case["basic"]
    assert tokenizer.wordpiece_tokenizer.tokenize(" ".join(basic)) == case["tokens"]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=_case_id)
def test_tf_text_tokenizer_matches_golden_case(tf_golden_outputs, case):
    words, ids = tf_golden_outputs[case["do_lower_case"], case["text"]]
    assert words == case["basic"]
    assert ids == case["ids"]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=_case_id)
def test_reference_port_matches_golden_case(reference_tokenizers, case):
    # The oracle of the property tests and the benchmarks' speed reference must
    # itself give the original's output.
    reference = reference_tokenizers[case["do_lower_case"]]
    assert reference.basic_tokenizer.tokenize(case["text"]) == case["basic"]
    tokens = reference.tokenize(case["text"])
    assert tokens == case["tokens"]
    assert reference.convert_tokens_to_ids(tokens) == case["ids"]


def test_golden_cases_cover_both_casings():
    assert {case["do_lower_case"] for case in GOLDEN_CASES} == {True, False}


# ----------------------------------------------------------------------------- behaviours

# Every code point of the Basic Multilingual Plane, and each end (and its
# neighbours) of every CJK range and plane.
_CODE_POINTS = sorted(
    set(range(0x10000))
    | {
        cp + d
        for lo, hi in tokenization.CJK_RANGES + ((0, 0x10FFFF),)
        for cp in (lo, hi)
        for d in (-1, 0, 1)
        if 0 <= cp + d <= 0x10FFFF
    }
    | set(range(0x10000, 0x110000, 97))
)


def test_cjk_check_matches_the_original_ranges():
    original = original_tokenization.BasicTokenizer()._is_chinese_char
    expected = [cp for cp in _CODE_POINTS if original(cp)]
    assert [cp for cp in _CODE_POINTS if tokenization._is_chinese_char(cp)] == expected
    assert [cp for cp in _CODE_POINTS if tokenization.BasicTokenizer()._is_chinese_char(cp)] == (
        expected
    )


@pytest.mark.parametrize("name", ["_is_whitespace", "_is_control", "_is_punctuation"])
def test_character_classes_match_the_original(name):
    original, ours = getattr(original_tokenization, name), getattr(tokenization, name)
    chars = [chr(cp) for cp in _CODE_POINTS if not 0xD800 <= cp <= 0xDFFF]
    assert [c for c in chars if ours(c)] == [c for c in chars if original(c)]


# Texts for each family where stock tensorflow_text.BertTokenizer differs from the original.
EDGE_TEXTS = [
    "ΟΔΟΣ ΣΙΣΥΦΟΣ Σ ΑΣ'Α ΑΣ'. ΑΣ\u200bΑ Σ\u0301Α ΑΣ\u0301 ΑΣ中 ΑΣ\u2028Α",  # final sigma
    "Straße ﬁle ＡＢＣ１２３ İstanbul ǅ ẞ",  # str.lower() versus NFKC casefold
    "zero\u200bwidth\u200djoiner soft\xadhyphen bell\x07ring nul\x00l \ufffd",  # Cc, Cf deleted
    "line\u2028para\u2029nbsp\xa0ideo\u3000thin\u2009",  # Zs, Zl and Zp split
    "e\u0301\u0327 \u302e\u1b44 a\U0001d16d\U0001d165 \U0001d15f\U0001d16e",  # NFD order of combining marks
    "\u1100\u1161\u11a8 한국어 \uac00",  # Hangul syllables decompose
    "ah博推zz \ufa0e\U0002f800 \u9ffe",  # CJK, compatibility and unassigned ideographs
]


@pytest.mark.parametrize("lower", [True, False])
def test_tf_text_tokenizer_matches_full_tokenizer_on_edge_texts(
    full_tokenizers, tf_tokenizers, lower
):
    full = full_tokenizers[lower]
    expected_words = [full.basic_tokenizer.tokenize(t) for t in EDGE_TEXTS]
    expected_ids = [full.convert_tokens_to_ids(full.tokenize(t)) for t in EDGE_TEXTS]
    assert _tf_words(tf_tokenizers[lower], EDGE_TEXTS) == expected_words
    assert tf_tokenizers[lower].tokenize(EDGE_TEXTS).to_list() == expected_ids


def test_lower_case_applies_final_sigma_from_neighbours(full_tokenizers, tf_tokenizers):
    text = "ΟΔΟΣ ΑΣ'Α ΑΣ\u200bΑ"
    expected = ["οδος", "ασ", "'", "α", "ασα"]
    assert full_tokenizers[True].basic_tokenizer.tokenize(text) == expected
    assert _tf_words(tf_tokenizers[True], [text]) == [expected]


def test_lower_case_keeps_canonical_order_of_spacing_marks(full_tokenizers, tf_tokenizers):
    # U+302E (class 224) then U+1B44 (class 9): NFD swaps them; neither is Mn, so both stay.
    text = "\u302e\u1b44"
    assert full_tokenizers[True].basic_tokenizer.tokenize(text) == ["\u1b44\u302e"]
    assert _tf_words(tf_tokenizers[True], [text]) == [["\u1b44\u302e"]]
    assert _tf_words(tf_tokenizers[False], [text]) == [["\u302e\u1b44"]]


def test_words_up_to_200_characters_are_split_into_pieces(full_tokenizers, tf_tokenizers):
    text = "ab" * 100  # 200 characters: more than tf-text's default of 100 bytes
    expected = full_tokenizers[True].convert_tokens_to_ids(full_tokenizers[True].tokenize(text))
    assert UNK_ID not in expected
    assert tf_tokenizers[True].tokenize([text]).to_list() == [expected]


def test_words_over_200_characters_become_unk(full_tokenizers, tf_tokenizers):
    text = "ab" * 100 + "a"
    assert full_tokenizers[True].tokenize(text) == ["[UNK]"]
    assert tf_tokenizers[True].tokenize([text]).to_list() == [[UNK_ID]]


def test_cased_tokenizer_keeps_case_and_accents(full_tokenizers, tf_tokenizers):
    assert full_tokenizers[False].basic_tokenizer.tokenize("Héllo WORLD") == ["Héllo", "WORLD"]
    assert _tf_words(tf_tokenizers[False], ["Héllo WORLD"]) == [["Héllo", "WORLD"]]


def test_empty_and_blank_strings_give_empty_rows(tf_tokenizers):
    assert tf_tokenizers[True].tokenize(["", " \t\u3000", "a"]).to_list() == [[], [], [1037]]
    assert tf_tokenizers[True].tokenize(tf.constant([], tf.string)).to_list() == []


def test_invalid_utf8_bytes_are_dropped_like_the_original(full_tokenizers, tf_tokenizers):
    # The original decodes with errors="ignore"; TFTextTokenizer must drop the same bytes.
    texts = [b"caf\xc3", b"ab\xed\xa0\x80cd", b"\xff\xfehello\xc0\x80", b"\xf4\x90\x80\x80x"]
    full = full_tokenizers[True]
    expected = [full.convert_tokens_to_ids(full.tokenize(t)) for t in texts]
    assert full.tokenize(b"hel\xfflo") == full.tokenize("hello")
    assert tf_tokenizers[True].tokenize(texts).to_list() == expected


def test_word_cache_gives_the_same_tokens_twice(full_tokenizers):
    tokenizer = full_tokenizers[True]
    first = tokenizer.tokenize("unaffable Unaffable UNAFFABLE")
    assert tokenizer.tokenize("unaffable Unaffable UNAFFABLE") == first
    assert first == ["una", "##ffa", "##ble"] * 3


def test_repeated_vocab_lines_keep_the_last_id_and_long_words_fit(tmp_path):
    # The original numbers tokens by line and a repeated token keeps its last line;
    # a word of 200 four-byte characters (800 bytes) is still split into pieces.
    path = tmp_path / "vocab.txt"
    path.write_text("[UNK]\nhello\n😀\n##😀\n\nhello\n##lo\nhel\n", encoding="utf-8")
    texts = ["hello hel", "hel##lo", "😀" * 200, "😀" * 201, "helo"]
    full = tokenization.FullTokenizer(str(path))
    expected = [full.convert_tokens_to_ids(full.tokenize(t)) for t in texts]
    assert expected[0] == [5, 7]
    assert expected[2] == [2] + [3] * 199
    assert expected[3] == [0]
    assert tokenization.TFTextTokenizer(str(path)).tokenize(texts).to_list() == expected


# ----------------------------------------------------------------------------- in-graph use


def test_tf_text_tokenizer_runs_in_tf_data_map(full_tokenizers, tf_tokenizers):
    texts = ["Hello, World!", "ΑΣ Straße", "", "ah博推zz"] * 3
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(5).map(tf_tokenizers[True].tokenize)
    got = [row for batch in dataset for row in batch.to_list()]
    full = full_tokenizers[True]
    assert got == [full.convert_tokens_to_ids(full.tokenize(t)) for t in texts]


class _TokenizerModule(tf.Module):
    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, strings):
        return self.tokenizer.tokenize(strings)


def test_tf_text_tokenizer_survives_saved_model_round_trip(tmp_path, full_tokenizers):
    tokenizer = tokenization.TFTextTokenizer(VOCAB_FILE, do_lower_case=False)
    path = str(tmp_path / "tokenizer")
    tf.saved_model.save(_TokenizerModule(tokenizer), path)
    del tokenizer
    loaded = tf.saved_model.load(path)
    texts = ["Héllo, ΟΔΟΣ!", "zero\u200bwidth", "ab" * 60]
    full = full_tokenizers[False]
    assert loaded(tf.constant(texts)).to_list() == [
        full.convert_tokens_to_ids(full.tokenize(t)) for t in texts
    ]


def test_tf_text_tokenizer_rejects_non_vector_input(tf_tokenizers):
    with pytest.raises(ValueError, match="1-D"):
        tf_tokenizers[True].tokenize(tf.constant("scalar"))


def test_tf_text_tokenizer_is_the_one_in_tf_tokenization():
    assert tokenization.TFTextTokenizer is tf_tokenization.TFTextTokenizer
    assert "TFTextTokenizer" in dir(tokenization)
    with pytest.raises(AttributeError, match="NoSuchName"):
        tokenization.NoSuchName  # noqa: B018


def test_table_entry_that_overflows_int32_is_rejected():
    table = np.zeros(1 << tf_tokenization._BLOCK_BITS, np.int64)
    table[0x41] = 1 << 31
    with pytest.raises(OverflowError, match="U\\+0041"):
        tf_tokenization._two_level(table)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("cls", [tokenization.FullTokenizer, tokenization.TFTextTokenizer])
def test_missing_vocab_file_error_names_the_path(tmp_path, cls):
    path = str(tmp_path / "no_such_vocab.txt")
    with pytest.raises(FileNotFoundError, match="no_such_vocab.txt"):
        cls(path)


@pytest.mark.parametrize("cls", [tokenization.FullTokenizer, tokenization.TFTextTokenizer])
def test_vocab_without_unk_is_rejected(tmp_path, cls):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\nhello\n##lo\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt.*\[UNK\]"):
        cls(str(path))


def test_vocab_that_is_not_utf8_is_rejected_with_its_path(tmp_path):
    path = tmp_path / "latin1_vocab.txt"
    path.write_bytes("[UNK]\ncafé\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1_vocab.txt.*not valid UTF-8"):
        tokenization.load_vocab(str(path))


def test_load_vocab_numbers_lines_and_strips_them(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[UNK]\r\n  hello \n\nhello\nlast")
    vocab = tokenization.load_vocab(str(path))
    assert list(vocab.items()) == [("[UNK]", 0), ("hello", 3), ("", 2), ("last", 4)]


def test_decode_utf8_strict_names_the_input_and_bytes():
    with pytest.raises(ValueError, match=r"line 7 of train\.tsv is not valid UTF-8.*\\xff"):
        tokenization.decode_utf8_strict(b"abc\xffdef", source="line 7 of train.tsv")


def test_bad_vocab_errors_are_input_errors(tmp_path):
    # Entry points print an InputError's message alone: these are the user's to fix.
    with pytest.raises(MissingFileError):
        tokenization.load_vocab(str(tmp_path / "missing.txt"))
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\xff\n")
    with pytest.raises(InputError):
        tokenization.load_vocab(str(path))


def test_convert_to_unicode_rejects_other_types():
    with pytest.raises(ValueError, match="Unsupported string type"):
        tokenization.convert_to_unicode(12)


@pytest.mark.parametrize(
    "do_lower_case, checkpoint, model, case_name",
    [
        (False, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt", "uncased_L-12", "lowercased"),
        (True, "gs://b/cased_L-24_H-1024_A-16/bert_model.ckpt", "cased_L-24", "cased"),
        (True, "multi_cased_L-12_H-768_A-12/bert_model.ckpt", "multi_cased_L-12", "cased"),
    ],
)
def test_do_lower_case_contradicting_checkpoint_raises(do_lower_case, checkpoint, model, case_name):
    expected = (
        f"You passed in `--do_lower_case={do_lower_case}` with `--init_checkpoint={checkpoint}`. "
        f"However, `{model}"
    )
    with pytest.raises(ValueError) as info:
        tokenization.validate_case_matches_checkpoint(do_lower_case, checkpoint)
    message = str(info.value)
    assert message.startswith(expected)
    assert f"seems to be a {case_name} model, so you should pass in " in message
    assert f"`--do_lower_case={not do_lower_case}` so that the fine-tuning" in message
    assert message.endswith("If this error is wrong, please just comment out this check.")


@pytest.mark.parametrize(
    "do_lower_case, checkpoint",
    [
        (True, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt"),
        (False, "/models/cased_L-12_H-768_A-12/bert_model.ckpt"),
        (False, "/models/my_model/bert_model.ckpt"),
        (False, "/models/uncased_L-12_H-768_A-12/model.ckpt-1000"),
        (True, None),
        (True, ""),
    ],
)
def test_consistent_or_unknown_checkpoint_passes(do_lower_case, checkpoint):
    tokenization.validate_case_matches_checkpoint(do_lower_case, checkpoint)
