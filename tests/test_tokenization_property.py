"""Property tests: on random text, FullTokenizer and TFTextTokenizer give the original's output.

The oracle is the plain port of the original in tests/reference. Each example
is a batch of strings, so one in-graph call checks many texts.
"""

import functools
import os

import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import original_tokenization

from official_bert import tokenization

VOCAB_FILE = os.path.join(os.path.dirname(__file__), "golden", "uncased_vocab.txt")
BATCH_SIZE = 16
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)

# Characters behind each known difference between stock tf-text and the original.
SPECIAL_CHARS = (
    "\u03a3\u03c3\u03c2ßẞİıǅﬁﬂ\u0345\u0307\u0301\u0308\u0327'.:·"  # case, sigma context
    "\x00\x01\x07\x7f\x85\xad\u200b\u200c\u200d\u2060\ufeff\ufffd\U000e0001"  # Cc, Cf
    " \t\n\r\x0b\x0c\x1c\xa0\u1680\u2000\u2009\u2028\u2029\u202f\u3000"  # whitespace
    "\u302e\u302f\u1b44\ua953\U0001d165\U0001d16d\U0001d15f"  # spacing marks that NFD reorders
    "ＡＺａｚ０９！＃～｡"  # full-width forms
    "가각힣\u1100\u1161\u11a8博推\u9ffe\uf900\ufa0e\U00020000\U0002f800\U0002a6df"  # Hangul, CJK
    "$^`~#@[]{}|\\"  # ASCII symbols counted as punctuation
)
WORDS = ("Unaffable", "café", "running", "BERT", "12", "##", "Hello", "the", "pre", "ΟΔΟΣ", "x")

fragment = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=4),
    st.text(
        st.characters(categories=["M", "C", "Z", "P", "S", "Lt", "Lm", "Nl", "No"], codec="utf-8"),
        min_size=1,
        max_size=4,
    ),
    st.text(st.sampled_from(SPECIAL_CHARS), min_size=1, max_size=4),
    st.sampled_from(WORDS),
    # Runs that straddle tf-text's 100-byte and the original's 200-character word limits.
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["a", "ab", "é", "ΣΑ", "x\u0301"]),
        st.integers(45, 205),
    ),
)
text = st.lists(fragment, max_size=12).map("".join)
batch = st.lists(text, min_size=BATCH_SIZE, max_size=BATCH_SIZE)


@functools.cache
def _tokenizers(lower):
    reference = original_tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=lower)
    full = tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=lower)
    in_graph = tokenization.TFTextTokenizer(VOCAB_FILE, do_lower_case=lower)
    spec = [tf.TensorSpec([None], tf.string)]
    return (
        reference,
        full,
        tf.function(in_graph.basic_tokenize, input_signature=spec),
        tf.function(in_graph.tokenize, input_signature=spec),
        in_graph,
    )


def _check_batch(texts, lower):
    reference, full, tf_basic, tf_tokenize, _ = _tokenizers(lower)
    strings = tf.constant([t.encode("utf-8") if isinstance(t, str) else t for t in texts])
    words = [[w.decode("utf-8") for w in row] for row in tf_basic(strings).to_list()]
    ids = tf_tokenize(strings).to_list()
    for text, got_words, got_ids in zip(texts, words, ids):
        expected_words = reference.basic_tokenizer.tokenize(text)
        expected_tokens = reference.tokenize(text)
        # FullTokenizer (cached) and its uncached BasicTokenizer and WordpieceTokenizer.
        assert full.tokenize(text) == expected_tokens, text
        assert full.basic_tokenizer.tokenize(text) == expected_words, text
        assert full.wordpiece_tokenizer.tokenize(" ".join(expected_words)) == expected_tokens, text
        # TFTextTokenizer.
        assert got_words == expected_words, text
        assert got_ids == reference.convert_tokens_to_ids(expected_tokens), text


@SETTINGS
@given(batch)
def test_tf_text_tokenizer_equals_full_tokenizer_lower_cased(texts):
    _check_batch(texts, lower=True)


@SETTINGS
@given(batch)
def test_tf_text_tokenizer_equals_full_tokenizer_cased(texts):
    _check_batch(texts, lower=False)


@SETTINGS
@given(st.lists(st.binary(max_size=40), min_size=BATCH_SIZE, max_size=BATCH_SIZE))
def test_tf_text_tokenizer_drops_invalid_utf8_like_full_tokenizer(blobs):
    _check_batch(blobs, lower=True)


_VOCAB_PIECES = sorted({t.removeprefix("##") for t in tokenization.load_vocab(VOCAB_FILE) if t})
word_from_pieces = st.lists(
    st.one_of(st.sampled_from(_VOCAB_PIECES), st.sampled_from("abcdeézß#0")), min_size=1, max_size=8
).map("".join)


@SETTINGS
@given(st.lists(word_from_pieces, min_size=64, max_size=64))
def test_in_graph_word_pieces_equal_greedy_longest_match_first(words):
    # Words glued from vocabulary pieces exercise the longest-match search itself
    # (random Unicode mostly ends in [UNK]).
    reference, full, _, _, in_graph = _tokenizers(True)
    got = in_graph._wordpiece.tokenize(tf.constant(words)).to_list()
    for word, ids in zip(words, got):
        expected = reference.wordpiece_tokenizer.tokenize(word)
        assert full.wordpiece_tokenizer._tokenize_word(word) == expected, word
        assert full._word_pieces(word) == expected, word
        assert ids == reference.convert_tokens_to_ids(expected), word
