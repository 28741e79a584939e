"""BERT tokenization: the original WordPiece algorithm, in Python and in-graph.

`FullTokenizer` reproduces google-research/bert's `tokenization.FullTokenizer`
token for token: clean the text (drop NUL, U+FFFD, and Cc/Cf characters other
than tab, newline and carriage return; turn whitespace into spaces), put spaces
around CJK ideographs, split on whitespace, then per whitespace token
optionally lower-case (`str.lower()`, NFD, drop Mn), split off punctuation, and
run greedy longest-match-first WordPiece with `##` continuations.

`TFTextTokenizer` gives the same ids inside a TensorFlow graph (usable in
`tf.data` and in a SavedModel). Its character rules are per-code-point tables
computed at construction from the same Python `unicodedata` and `str.lower`
that `FullTokenizer` uses (not ICU's or RE2's tables, which follow other
Unicode versions and other rules); the word-piece search is tensorflow-text's
`FastWordpieceTokenizer`.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Protocol

import numpy as np
import tensorflow as tf

# The original marks words longer than this many *characters* (not bytes) as unknown.
MAX_INPUT_CHARS_PER_WORD = 200
# The token the released vocabularies use for unknown words.
UNK_TOKEN = "[UNK]"
# Prefix of a word piece that continues a word.
SUFFIX_INDICATOR = "##"



class Tokenizer(Protocol):
    """What the data pipelines need of a tokenizer (`FullTokenizer` has it all)."""

    vocab: Mapping[str, int]

    def tokenize(self, text: str) -> list[str]: ...

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]: ...


# Released models whose name tells their casing (as listed by the original).
_LOWER_CASED_MODELS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
_CASED_MODELS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)

# Code point ranges the original treats as CJK ideographs (inclusive).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def validate_case_matches_checkpoint(do_lower_case: bool, init_checkpoint: str | None) -> None:
    """Raises ValueError if `do_lower_case` contradicts a released checkpoint's name.

    Args:
      do_lower_case: the value of the `--do_lower_case` flag.
      init_checkpoint: path of the checkpoint, e.g.
        `.../uncased_L-12_H-768_A-12/bert_model.ckpt`. Names that are not
        released models are not checked.
    """
    if not init_checkpoint:
        return
    match = re.match("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt", init_checkpoint)
    if match is None:
        return
    model_name = match.group(1)
    if model_name in _LOWER_CASED_MODELS and not do_lower_case:
        actual_flag, case_name, opposite_flag = "False", "lowercased", "True"
    elif model_name in _CASED_MODELS and do_lower_case:
        actual_flag, case_name, opposite_flag = "True", "cased", "False"
    else:
        return
    raise ValueError(
        f"You passed in `--do_lower_case={actual_flag}` with `--init_checkpoint={init_checkpoint}`. "
        f"However, `{model_name}` seems to be a {case_name} model, so you should pass in "
        f"`--do_lower_case={opposite_flag}` so that the fine-tuning matches how the model was "
        "pre-training. If this error is wrong, please just comment out this check."
    )


def convert_to_unicode(text: str | bytes) -> str:
    """Returns `text` as `str`; bytes are decoded as UTF-8.

    Like the original, bytes that are not valid UTF-8 are dropped (the original
    decodes with errors="ignore"). Use `decode_utf8_strict` to reject them.
    """
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


def decode_utf8_strict(text: bytes, source: str = "input") -> str:
    """Decodes UTF-8 bytes, raising a ValueError that names `source` and the bad bytes."""
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = text[max(e.start - 8, 0) : e.end + 8]
        raise ValueError(
            f"{source} is not valid UTF-8: {e.reason} at byte {e.start} (near {bad!r})."
        ) from e


def printable_text(text: str | bytes) -> str:
    """Returns `text` as `str`, suitable for printing or logging."""
    return convert_to_unicode(text)


def load_vocab(vocab_file: str | os.PathLike) -> collections.OrderedDict[str, int]:
    """Loads a vocabulary file (one token per line) into an OrderedDict token -> id.

    The id of a token is its line number, counted from 0. Each line is
    stripped of surrounding whitespace; a token listed twice keeps its last id,
    as in the original.

    Raises:
      FileNotFoundError: if `vocab_file` does not exist.
      ValueError: if the file is not UTF-8.
    """
    path = os.fspath(vocab_file)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"Vocabulary file {path!r} does not exist; check --vocab_file.")
    with tf.io.gfile.GFile(path, "rb") as reader:
        data = reader.read()
    text = decode_utf8_strict(data, source=f"Vocabulary file {path!r}")
    vocab: collections.OrderedDict[str, int] = collections.OrderedDict()
    # The original reads lines ending at "\n" (splitlines() would also split at "\r", U+2028...).
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for index, line in enumerate(lines):
        vocab[line.strip()] = index
    return vocab


def convert_by_vocab(vocab: dict, items: Iterable) -> list:
    """Maps each item (token or id) through `vocab`; a missing item raises KeyError."""
    return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab: dict[str, int], tokens: Iterable[str]) -> list[int]:
    """Maps tokens to ids."""
    return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab: dict[int, str], ids: Iterable[int]) -> list[str]:
    """Maps ids to tokens."""
    return convert_by_vocab(inv_vocab, ids)


def whitespace_tokenize(text: str) -> list[str]:
    """Splits `text` on whitespace (Python's `str.split()`), dropping empty pieces."""
    return text.split()


def _is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return and Zs count as whitespace."""
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    """Cc and Cf count as control characters, except tab, newline and carriage return."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    """Non-alphanumeric printable ASCII and every Unicode P* character count as punctuation."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    """Whether code point `cp` lies in one of the CJK ideograph blocks (`CJK_RANGES`)."""
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class BasicTokenizer:
    """Cleans text, splits on whitespace and punctuation, and optionally lower-cases."""

    def __init__(self, do_lower_case: bool = True):
        """Args:
        do_lower_case: whether to lower-case and strip accents (NFD, then drop Mn).
        """
        self.do_lower_case = do_lower_case

    def tokenize(self, text: str | bytes) -> list[str]:
        """Returns the basic tokens of `text`."""
        text = convert_to_unicode(text)
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            split_tokens.extend(self._tokenize_word(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def _tokenize_word(self, token: str) -> list[str]:
        """Lower-cases (if asked) and splits punctuation off one whitespace token."""
        if self.do_lower_case:
            token = self._run_strip_accents(token.lower())
        return self._run_split_on_punc(token)

    def _run_strip_accents(self, text: str) -> str:
        """Decomposes `text` (NFD) and drops nonspacing marks (Mn)."""
        text = unicodedata.normalize("NFD", text)
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    def _run_split_on_punc(self, text: str) -> list[str]:
        """Splits `text` so that each punctuation character is its own piece."""
        pieces: list[str] = []
        current: list[str] = []
        for char in text:
            if _is_punctuation(char):
                if current:
                    pieces.append("".join(current))
                    current = []
                pieces.append(char)
            else:
                current.append(char)
        if current:
            pieces.append("".join(current))
        return pieces

    def _tokenize_chinese_chars(self, text: str) -> str:
        """Puts a space on each side of every CJK ideograph."""
        return "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in text)

    def _clean_text(self, text: str) -> str:
        """Drops NUL, U+FFFD and control characters; turns whitespace into spaces."""
        output = []
        for char in text:
            if char == "\x00" or char == "\ufffd" or _is_control(char):
                continue
            output.append(" " if _is_whitespace(char) else char)
        return "".join(output)


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece over a fixed vocabulary."""

    def __init__(
        self,
        vocab: dict[str, int],
        unk_token: str = UNK_TOKEN,
        max_input_chars_per_word: int = MAX_INPUT_CHARS_PER_WORD,
    ):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text: str | bytes) -> list[str]:
        """Splits each whitespace-separated word of `text` into word pieces.

        For example "unaffable" -> ["un", "##aff", "##able"]. A word with no
        complete split, or longer than `max_input_chars_per_word` characters,
        becomes `unk_token`.
        """
        output: list[str] = []
        for word in whitespace_tokenize(convert_to_unicode(text)):
            output.extend(self._tokenize_word(word))
        return output

    def _tokenize_word(self, word: str) -> list[str]:
        """Word pieces of a single word (which contains no whitespace)."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        vocab = self.vocab
        pieces = []
        start = 0
        n = len(word)
        while start < n:
            end = n
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else SUFFIX_INDICATOR + word[start:end]
                if candidate in vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces


class _LazyTable(dict):
    """A dict filled on first look-up of each key with `fn(key)`; usable by `str.translate`."""

    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def __missing__(self, key):
        value = self[key] = self._fn(key)
        return value


def _clean_text_entry(cp: int) -> str | int | None:
    """`str.translate` entry doing `_clean_text` and CJK spacing for one code point."""
    char = chr(cp)
    if cp == 0 or cp == 0xFFFD or _is_control(char):
        return None
    if _is_whitespace(char):
        return " "
    if _is_chinese_char(cp):
        return f" {char} "
    return cp


_CLEAN_TEXT_TABLE = _LazyTable(_clean_text_entry)
_STRIP_MN_TABLE = _LazyTable(lambda cp: None if unicodedata.category(chr(cp)) == "Mn" else cp)
_IS_PUNCTUATION = _LazyTable(_is_punctuation)
# Runs of non-punctuation and single punctuation characters of an ASCII token.
_ASCII_WORDS = re.compile(r"[^!-/:-@\[-`{-~]+|[!-/:-@\[-`{-~]")


def _split_on_punctuation(text: str) -> list[str]:
    """Like BasicTokenizer._run_split_on_punc, with memoized character classes."""
    is_punctuation = _IS_PUNCTUATION
    pieces = []
    start = 0
    for i, char in enumerate(text):
        if is_punctuation[char]:
            if start < i:
                pieces.append(text[start:i])
            pieces.append(char)
            start = i + 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces


# Entries kept in FullTokenizer's per-token cache before it is cleared (bounds memory).
_TOKEN_CACHE_SIZE = 1 << 18


class FullTokenizer:
    """End-to-end tokenization: BasicTokenizer, then WordpieceTokenizer.

    Gives exactly the original's tokens. Cleaning and CJK spacing run as one
    `str.translate`, and the word pieces of each whitespace token are cached:
    everything after the whitespace split is a pure function of the token
    (given `do_lower_case` and the vocabulary, which must not be changed after
    construction).
    """

    def __init__(self, vocab_file: str | os.PathLike, do_lower_case: bool = True):
        """Args:
        vocab_file: path of a vocabulary, one token per line (must contain "[UNK]").
        do_lower_case: whether to lower-case and strip accents.
        """
        self.vocab = load_vocab(vocab_file)
        _check_has_unk(self.vocab, vocab_file)
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
        self._cache: dict[str, list[str]] = {}
        self._search_sets: tuple[set[str], ...] | None = None

    def tokenize(self, text: str | bytes) -> list[str]:
        """Returns the word pieces of `text`."""
        cache = self._cache
        output: list[str] = []
        for token in convert_to_unicode(text).translate(_CLEAN_TEXT_TABLE).split():
            pieces = cache.get(token)
            if pieces is None:
                pieces = self._tokenize_token(token)
                if len(cache) >= _TOKEN_CACHE_SIZE:
                    cache.clear()
                cache[token] = pieces
            output.extend(pieces)
        return output

    def _tokenize_token(self, token: str) -> list[str]:
        """Word pieces of one whitespace token of cleaned text.

        The same steps as BasicTokenizer._tokenize_word and
        WordpieceTokenizer, with a regular expression for ASCII tokens and
        memoized character classes for the others.
        """
        if token.isascii():  # no accents, and lower() stays ASCII
            words = _ASCII_WORDS.findall(token.lower() if self.do_lower_case else token)
        else:
            if self.do_lower_case:
                token = unicodedata.normalize("NFD", token.lower()).translate(_STRIP_MN_TABLE)
            # Lower-casing or NFD could produce whitespace: split again as the original does.
            words = " ".join(_split_on_punctuation(token)).split()
        return [piece for word in words for piece in self._word_pieces(word)]

    def _word_pieces(self, word: str) -> list[str]:
        """WordpieceTokenizer's greedy longest-match-first search, with fewer look-ups.

        At each position the candidate is first grown while it is still the
        beginning of some vocabulary entry, then shrunk until it is an entry.
        Every entry's beginnings are beginnings, so no longer match is missed.
        """
        if len(word) > self.wordpiece_tokenizer.max_input_chars_per_word:
            return [self.wordpiece_tokenizer.unk_token]
        if self._search_sets is None:
            self._search_sets = _search_sets(self.vocab)
        initial, initial_prefixes, suffixes, suffix_prefixes = self._search_sets
        pieces = []
        start, n = 0, len(word)
        while start < n:
            entries, prefixes = (
                (initial, initial_prefixes) if start == 0 else (suffixes, suffix_prefixes)
            )
            end = start
            while end < n and word[start : end + 1] in prefixes:
                end += 1
            while end > start and word[start:end] not in entries:
                end -= 1
            if end == start:
                return [self.wordpiece_tokenizer.unk_token]
            pieces.append(word[:end] if start == 0 else SUFFIX_INDICATOR + word[start:end])
            start = end
        return pieces

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Maps tokens to ids."""
        return convert_by_vocab(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Maps ids to tokens."""
        return convert_by_vocab(self.inv_vocab, ids)


def _search_sets(vocab: dict[str, int]) -> tuple[set[str], set[str], set[str], set[str]]:
    """Entries that may start a word, their beginnings, continuations (without "##"), theirs."""
    initial = set(vocab)
    suffixes = {t[len(SUFFIX_INDICATOR) :] for t in vocab if t.startswith(SUFFIX_INDICATOR)}

    def beginnings(entries):
        return {t[:i] for t in entries for i in range(1, len(t) + 1)}

    return initial, beginnings(initial), suffixes, beginnings(suffixes)


def _check_has_unk(vocab: dict[str, int], vocab_file: str | os.PathLike) -> None:
    if UNK_TOKEN not in vocab:
        raise ValueError(
            f"Vocabulary file {os.fspath(vocab_file)!r} has no {UNK_TOKEN!r} token; WordPiece "
            "needs it for unknown words. Use the vocab.txt released with the model."
        )


# ---------------------------------------------------------------------------
# In-graph tokenizer.
#
# Every character-level decision of the original is a function of one code
# point, except two that look at neighbours: Greek capital sigma lower-cases
# to final sigma depending on the letters around it, and NFD puts runs of
# combining marks in order of their combining class. So the text is decoded
# to code points and looked up in tables indexed by code point (built here
# from Python's own unicodedata and str.lower), the two context rules are
# done with cumulative sums and a stable sort, and only the word-piece search
# is left to tensorflow-text.
# ---------------------------------------------------------------------------

# Unicode code points are 0 ... 0x10FFFF.
_NUM_CODE_POINTS = 0x110000
_SPACE = 0x20
_CAPITAL_SIGMA = 0x3A3
_SMALL_FINAL_SIGMA = 0x3C2

# Bits 0-3 of an entry of the character table (bits 4-5: class of the output, 8-31: argument).
_MULTI = 1  # maps to zero or several code points; the argument indexes the multi table
_CASE_IGNORABLE = 2  # skipped when looking for a cased letter around a capital sigma
_CASED = 4  # cased and not case-ignorable: decides whether a sigma is final
_REORDER = 8  # its NFD holds a combining mark that is not Mn, so mark order can matter
_CLASS_SHIFT = 4
_ARG_SHIFT = 8

# Classes of an output code point when splitting into words.
_NORMAL, _ISOLATED, _WHITESPACE = 0, 1, 2

# Multi-table values hold a code point (21 bits) and its class above it.
_CP_BITS = 21
# NFD info entries: combining class (8 bits), then an Mn bit, then the class.
_MN_SHIFT = 8
_NFD_CLASS_SHIFT = 9

# Tables are stored in blocks of 256 code points; identical blocks are kept once.
_BLOCK_BITS = 8

# Every word <= 200 characters fits in 200 * 4 UTF-8 bytes; longer words become [UNK] first.
_MAX_BYTES_PER_WORD = 4 * MAX_INPUT_CHARS_PER_WORD


@functools.lru_cache(maxsize=1)
def _categories() -> tuple[str, ...]:
    """The general category of every code point, from Python's unicodedata."""
    return tuple(unicodedata.category(chr(cp)) for cp in range(_NUM_CODE_POINTS))


def _two_level(table):
    """Splits a per-code-point numpy table into (block offsets, unique blocks), both int32."""
    blocks = table.astype(np.int32).reshape(-1, 1 << _BLOCK_BITS)
    first: dict[bytes, int] = {}  # block contents -> its index among distinct blocks
    index = np.array([first.setdefault(b.tobytes(), len(first)) for b in blocks], np.int32)
    where = np.zeros(len(first), np.int64)
    where[index] = np.arange(len(blocks))  # a block holding each distinct content
    return index << _BLOCK_BITS, blocks[where].reshape(-1)


def _small_ragged(rows: list[list[int]]):
    """(values, starts, lengths) of a short ragged table, as int32 numpy arrays."""
    lengths = np.array([len(r) for r in rows], np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    # One spare value, so that gathering at a start never runs past the end.
    values = np.array([v for r in rows for v in r] + [0], np.int32)
    return values, starts, lengths


@functools.lru_cache(maxsize=2)
def _unicode_tables(do_lower_case: bool) -> dict:
    """Per-code-point tables (numpy) that reproduce BasicTokenizer in-graph.

    Keys:
      chars: two-level table; entry = flags | class << 4 | argument << 8, where
        the argument is (output - code point) for one output code point, or a
        row of `multi` when the _MULTI flag is set.
      multi: ragged rows of (code point | class << 21) for characters that are
        deleted or lower-case to several code points.
      nfd, nfd_multi, nfd_info (lower-casing only): the mapping keeping Mn
        marks, for inputs that need canonical reordering: nfd entry = delta << 1
        or row << 1 | 1; nfd_info entry = combining class | Mn << 8 | class << 9.
    """
    cats = _categories()
    n = _NUM_CODE_POINTS
    flags = np.zeros(n, np.int64)
    single = np.arange(n, dtype=np.int64)
    out_class = np.full(n, _NORMAL, np.int64)
    nfd_info = np.zeros(n, np.int64)
    for lo, hi in CJK_RANGES:  # by range, assigned or not
        out_class[lo : hi + 1] = _ISOLATED
    multi: dict[int, str] = {}
    nfd: dict[int, str] = {}
    # Unassigned, private-use and surrogate code points keep the defaults: kept
    # as they are, no case, not punctuation.
    unassigned = ("Cn", "Co", "Cs")
    for cp in [cp for cp, cat in enumerate(cats) if cat not in unassigned]:
        cat = cats[cp]
        char = chr(cp)
        if char.isspace():
            out_class[cp] = _WHITESPACE
        elif _is_punctuation(char):
            out_class[cp] = _ISOLATED
        nfd_info[cp] = unicodedata.combining(char) | ((cat == "Mn") << _MN_SHIFT)
        if cp == 0 or cp == 0xFFFD or _is_control(char):
            flags[cp] = _MULTI | _CASE_IGNORABLE  # deleted before lower-casing: invisible to it
            multi[cp] = nfd[cp] = ""
            continue
        is_space = _is_whitespace(char) or char.isspace()  # the latter: U+2028/9 split too
        if do_lower_case:
            # Probe str.lower's final-sigma rule for the class of `char` next to a sigma.
            cased = (char + "\u03a3").lower()[-1] == "\u03c2"
            cased_or_ignorable = ("A" + char + "\u03a3").lower()[-1] == "\u03c2"
            if cased:
                flags[cp] |= _CASED
            elif cased_or_ignorable:
                flags[cp] |= _CASE_IGNORABLE
            if cased_or_ignorable and (is_space or _is_chinese_char(cp)):
                # The original lower-cases each whitespace token (CJK ideographs are
                # tokens of their own); the tables look across tokens instead.
                _raise_unsupported(cp, "is a token boundary that str.lower() sees through")
        if is_space:
            single[cp] = _SPACE
            nfd[cp] = " "
            continue
        if not do_lower_case:
            continue
        decomposed = unicodedata.normalize("NFD", char.lower())
        if decomposed != char:
            nfd[cp] = decomposed
        if any(unicodedata.combining(c) and unicodedata.category(c) != "Mn" for c in decomposed):
            flags[cp] |= _REORDER
        out = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        out_cjk = [_is_chinese_char(ord(c)) for c in out]
        if (out_cjk != [True]) if _is_chinese_char(cp) else any(out_cjk):
            # CJK spacing looks at the text before lower-casing; the tables at the output.
            _raise_unsupported(cp, f"lower-cases to {out!r}, changing whether it is CJK")
        if len(out) == 1:
            single[cp] = ord(out)
        else:
            flags[cp] |= _MULTI
            multi[cp] = out

    codes = np.arange(n, dtype=np.int64)
    arg = single - codes
    multi_rows = []
    for row, (cp, out) in enumerate(sorted(multi.items())):
        arg[cp] = row
        multi_rows.append([ord(c) | (int(out_class[ord(c)]) << _CP_BITS) for c in out])
    chars = flags | (out_class[single] << _CLASS_SHIFT) | (arg << _ARG_SHIFT)
    assert np.abs(arg).max() < 1 << (31 - _ARG_SHIFT)
    tables = {"chars": _two_level(chars), "multi": _small_ragged(multi_rows)}
    if do_lower_case:
        nfd_arg = np.zeros(n, np.int64)
        nfd_rows = []
        for cp, out in sorted(nfd.items()):
            if len(out) == 1:
                nfd_arg[cp] = (ord(out) - cp) << 1
            else:
                nfd_arg[cp] = (len(nfd_rows) << 1) | 1
                nfd_rows.append([ord(c) for c in out])
        tables["nfd"] = _two_level(nfd_arg)
        tables["nfd_multi"] = _small_ragged(nfd_rows)
        tables["nfd_info"] = _two_level(nfd_info | (out_class << _NFD_CLASS_SHIFT))
    return tables


def _fast_wordpiece_vocab(vocab: dict[str, int]) -> list[str]:
    """The vocabulary as a list indexed by id, for FastWordpieceTokenizer.

    Ids no token maps to (a line repeated later, whose last copy wins in the
    original) get a placeholder containing a space, which no word can match.
    """
    by_id = {i: token for token, i in vocab.items() if token}
    return [by_id.get(i, f" unused line {i}") for i in range(max(vocab.values()) + 1)]


class TFTextTokenizer(tf.Module):
    """In-graph BERT tokenizer giving exactly `FullTokenizer`'s ids.

    `tokenize` is made of TensorFlow and tensorflow-text ops only (no
    `tf.py_function`), so it runs inside `tf.data`, `tf.function` and a
    SavedModel. The character rules come from tables built at construction
    from this Python's `unicodedata` and `str.lower`, so they match
    `FullTokenizer` run by the same Python, whatever Unicode version ICU or
    RE2 inside TensorFlow follow. Word pieces come from tensorflow-text's
    `FastWordpieceTokenizer`, whose result equals the original's greedy
    longest-match-first search.

    Building the tables takes 1-2 s the first time per casing in a process.
    """

    def __init__(
        self, vocab_file: str | os.PathLike, do_lower_case: bool = True, name: str | None = None
    ):
        """Args:
        vocab_file: path of a vocabulary, one token per line (must contain "[UNK]").
        do_lower_case: whether to lower-case and strip accents.
        name: name of the tf.Module.
        """
        super().__init__(name=name)
        import tensorflow_text as tf_text  # Loads custom ops; only needed by this class.

        vocab = load_vocab(vocab_file)
        _check_has_unk(vocab, vocab_file)
        self.do_lower_case = do_lower_case
        tables = _unicode_tables(do_lower_case)

        def constants(arrays):
            return tuple(tf.constant(a) for a in arrays)

        self._chars = constants(tables["chars"])
        self._multi = constants(tables["multi"])
        if do_lower_case:
            self._nfd = constants(tables["nfd"])
            self._nfd_multi = constants(tables["nfd_multi"])
            self._nfd_info = constants(tables["nfd_info"])
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=_fast_wordpiece_vocab(vocab),
            suffix_indicator=SUFFIX_INDICATOR,
            max_bytes_per_word=_MAX_BYTES_PER_WORD,
            token_out_type=tf.int64,
            unknown_token=UNK_TOKEN,
            no_pretokenization=True,  # input is already split into words
        )

    # Plain TF ops with no Python control flow on tensors: autograph has nothing to
    # convert, and converting this module costs seconds per trace.
    @tf.autograph.experimental.do_not_convert
    def tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """Tokenizes a batch of UTF-8 strings into word-piece ids.

        Args:
          strings: string Tensor of shape [batch_size] (or a list of str/bytes).
            Bytes that are not UTF-8 are dropped, as the original does.

        Returns:
          int64 RaggedTensor of shape [batch_size, (num_pieces)]: row i holds
          `FullTokenizer.convert_tokens_to_ids(FullTokenizer.tokenize(strings[i]))`.
        """
        words, word_rows, word_lengths, batch_size = self._words(strings)
        # The original turns words of more than 200 characters into [UNK].
        words = tf.where(word_lengths > MAX_INPUT_CHARS_PER_WORD, UNK_TOKEN, words)
        pieces = self._wordpiece.tokenize(words)  # int64 [num_words, (pieces)]
        per_row = tf.RaggedTensor.from_value_rowids(
            pieces, word_rows, nrows=batch_size, validate=False
        )
        return per_row.merge_dims(1, 2)

    # Plain TF ops with no Python control flow on tensors: autograph has nothing to
    # convert, and converting this module costs seconds per trace.
    @tf.autograph.experimental.do_not_convert
    def basic_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """Splits a batch of strings into words like `BasicTokenizer.tokenize`.

        Args:
          strings: string Tensor of shape [batch_size].

        Returns:
          string RaggedTensor of shape [batch_size, (num_words)].
        """
        words, word_rows, _, batch_size = self._words(strings)
        return tf.RaggedTensor.from_value_rowids(words, word_rows, nrows=batch_size)

    def _words(self, strings: tf.Tensor):
        """Cleans, lower-cases and splits `strings` into words.

        Returns:
          words: string Tensor [num_words], the words of all strings in order.
          word_rows: int64 Tensor [num_words], the index of each word's string.
          word_lengths: int64 Tensor [num_words], length of each word in characters.
          batch_size: int64 scalar Tensor.
        """
        strings = tf.convert_to_tensor(strings, tf.string)
        if strings.shape.rank != 1:
            raise ValueError(f"TFTextTokenizer wants a 1-D string tensor, got {strings}.")
        # Invalid UTF-8 becomes U+FFFD, which the tables delete: the original's errors="ignore".
        chars = tf.strings.unicode_decode(strings, "UTF-8", errors="replace")
        cps, splits = chars.values, chars.row_splits  # int32 [num_chars], int64 [batch_size + 1]
        entry = _lookup(self._chars, cps)
        if self.do_lower_case:
            cps, entry = tf.cond(
                tf.reduce_any(tf.equal(cps, _CAPITAL_SIGMA)),
                lambda: self._apply_final_sigma(cps, entry, chars.value_rowids()),
                lambda: (cps, entry),
            )
            cps, classes, splits = tf.cond(
                tf.reduce_any(_has_bit(entry, _REORDER)),
                lambda: self._map_with_reordering(cps, splits),
                lambda: self._map(cps, entry, splits),
            )
        else:
            cps, classes, splits = self._map(cps, entry, splits)
        return self._split_words(cps, classes, splits)

    def _map(self, cps: tf.Tensor, entry: tf.Tensor, splits: tf.Tensor):
        """Cleans and (optionally) lower-cases code points with the character table.

        Returns:
          (cps, classes, splits): the output code points and their word classes
          (int32 [num_out]) and the row splits of the strings over them.
        """
        arg = tf.bitwise.right_shift(entry, _ARG_SHIFT)
        classes = tf.bitwise.bitwise_and(tf.bitwise.right_shift(entry, _CLASS_SHIFT), 3)
        is_multi = _has_bit(entry, _MULTI)

        def one_to_one():
            return cps + arg, classes, splits

        def expand():
            encoded = tf.bitwise.bitwise_or(cps + arg, tf.bitwise.left_shift(classes, _CP_BITS))
            values, char_splits = _expand(encoded, is_multi, arg, self._multi)
            return (
                tf.bitwise.bitwise_and(values, (1 << _CP_BITS) - 1),
                tf.bitwise.right_shift(values, _CP_BITS),
                tf.gather(char_splits, splits),
            )

        return tf.cond(tf.reduce_any(is_multi), expand, one_to_one)

    def _apply_final_sigma(self, cps: tf.Tensor, entry: tf.Tensor, row_ids: tf.Tensor):
        """Replaces capital sigmas that `str.lower()` makes final by U+03C2.

        A sigma is final when the nearest non-case-ignorable character before
        it (in its string) is cased and the nearest after it is not cased.
        Returns the new code points and their character-table entries.
        """
        not_ignorable = tf.logical_not(_has_bit(entry, _CASE_IGNORABLE))
        cased = _has_bit(entry, _CASED)
        anchors = tf.where(not_ignorable)[:, 0]  # int64 positions of non-ignorable characters
        num_anchors = tf.size(anchors, out_type=tf.int64)
        # Number of non-ignorable characters strictly before each position.
        rank = tf.cumsum(tf.cast(not_ignorable, tf.int64), exclusive=True)
        prev = tf.gather(anchors, tf.maximum(rank - 1, 0))
        has_cased_before = (
            (rank > 0) & tf.equal(tf.gather(row_ids, prev), row_ids) & tf.gather(cased, prev)
        )
        # A sigma is itself non-ignorable, so the next anchor after it is anchors[rank + 1].
        next_rank = rank + 1
        nxt = tf.gather(anchors, tf.minimum(next_rank, num_anchors - 1))
        has_cased_after = (
            (next_rank < num_anchors)
            & tf.equal(tf.gather(row_ids, nxt), row_ids)
            & tf.gather(cased, nxt)
        )
        final = tf.equal(cps, _CAPITAL_SIGMA) & has_cased_before & tf.logical_not(has_cased_after)
        cps = tf.where(final, tf.constant(_SMALL_FINAL_SIGMA, cps.dtype), cps)
        return cps, _lookup(self._chars, cps)

    def _map_with_reordering(self, cps: tf.Tensor, splits: tf.Tensor):
        """Lower-cases with full NFD: decompose, order marks by combining class, drop Mn."""
        entry = _lookup(self._nfd, cps)
        arg = tf.bitwise.right_shift(entry, 1)
        is_multi = _has_bit(entry, 1)
        values, char_splits = _expand(cps + arg, is_multi, arg, self._nfd_multi)
        splits = tf.gather(char_splits, splits)
        info = _lookup(self._nfd_info, values)
        ccc = tf.cast(tf.bitwise.bitwise_and(info, (1 << _MN_SHIFT) - 1), tf.int64)
        row_ids = tf.ragged.row_splits_to_segment_ids(splits)
        positions = tf.range(tf.size(values, out_type=tf.int64))
        row_start = tf.equal(positions, tf.gather(splits, row_ids))
        # Canonical ordering: a stable sort by combining class within each run that
        # starts at a starter (class 0) or at the start of a string.
        run = tf.cumsum(tf.cast(tf.equal(ccc, 0) | row_start, tf.int64))
        order = tf.argsort(run * 256 + ccc, stable=True)
        values, info = tf.gather(values, order), tf.gather(info, order)
        keep = tf.logical_not(_has_bit(info, 1 << _MN_SHIFT))
        # The sort never moves a character to another string, so row_ids still hold.
        lengths = tf.math.unsorted_segment_sum(
            tf.cast(keep, tf.int64), row_ids, tf.size(splits, out_type=tf.int64) - 1
        )
        splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(lengths)], axis=0)
        classes = tf.bitwise.right_shift(tf.boolean_mask(info, keep), _NFD_CLASS_SHIFT)
        return tf.boolean_mask(values, keep), classes, splits

    def _split_words(self, cps: tf.Tensor, classes: tf.Tensor, splits: tf.Tensor):
        """Splits cleaned code points into words; returns what `_words` returns."""
        row_ids = tf.ragged.row_splits_to_segment_ids(splits)
        positions = tf.range(tf.size(cps, out_type=tf.int64))
        row_start = tf.equal(positions, tf.gather(splits, row_ids))
        prev = tf.concat([tf.constant([_WHITESPACE], tf.int32), classes[:-1]], axis=0)
        prev = tf.where(row_start, _WHITESPACE, prev)
        keep = tf.not_equal(classes, _WHITESPACE)
        # A word starts after whitespace or a string start, and at and after each
        # punctuation character or CJK ideograph (which are words of their own).
        starts = keep & (tf.not_equal(prev, _NORMAL) | tf.equal(classes, _ISOLATED))
        kept = tf.boolean_mask(cps, keep)
        word_starts = tf.where(tf.boolean_mask(starts, keep))[:, 0]
        word_splits = tf.concat([word_starts, tf.size(kept, out_type=tf.int64)[None]], axis=0)
        words = tf.RaggedTensor.from_row_splits(kept, word_splits, validate=False)
        word_rows = tf.gather(tf.boolean_mask(row_ids, keep), word_starts)
        batch_size = tf.size(splits, out_type=tf.int64) - 1
        return tf.strings.unicode_encode(words, "UTF-8"), word_rows, words.row_lengths(), batch_size


def _lookup(table: tuple[tf.Tensor, tf.Tensor], cps: tf.Tensor) -> tf.Tensor:
    """Entries of a two-level table (block offsets, blocks) for int32 code points `cps`."""
    offsets, blocks = table
    block = tf.gather(offsets, tf.bitwise.right_shift(cps, _BLOCK_BITS))
    return tf.gather(blocks, block + tf.bitwise.bitwise_and(cps, (1 << _BLOCK_BITS) - 1))


def _expand(single: tf.Tensor, is_multi: tf.Tensor, row: tf.Tensor, multi: tuple):
    """Replaces each character by its table output: one value, or a row of `multi`.

    Args:
      single: int32 [n], the output of characters that have one.
      is_multi: bool [n], whether the output is row `row[i]` of `multi` instead.
      row: int32 [n], rows of `multi` (ignored where not `is_multi`).
      multi: (values, starts, lengths) int32 Tensors of the ragged table.

    Returns:
      values: int32 [num_out], the outputs of all characters in order.
      char_splits: int64 [n + 1], character i's outputs are values[char_splits[i]:char_splits[i+1]].
    """
    multi_values, multi_starts, multi_lengths = multi
    row = tf.where(is_multi, row, 0)
    lengths = tf.where(is_multi, tf.gather(multi_lengths, row), 1)
    char_splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(tf.cast(lengths, tf.int64))], 0)
    source = tf.repeat(tf.range(tf.size(lengths)), lengths)  # [num_out]: input of each output
    offset = tf.cast(tf.range(char_splits[-1]) - tf.gather(char_splits, source), tf.int32)
    from_multi = tf.gather(is_multi, source)
    start = tf.gather(multi_starts, tf.gather(row, source))
    values = tf.where(
        from_multi,
        tf.gather(multi_values, tf.where(from_multi, start + offset, 0)),
        tf.gather(single, source),
    )
    return values, char_splits


def _raise_unsupported(cp: int, what: str) -> None:
    raise NotImplementedError(
        f"U+{cp:04X} {what}; TFTextTokenizer cannot match FullTokenizer on it with "
        f"this Python's Unicode {unicodedata.unidata_version} tables. Use FullTokenizer."
    )


def _has_bit(entry: tf.Tensor, bit: int) -> tf.Tensor:
    """bool Tensor: whether `bit` is set in each entry of the int32 `entry`."""
    return tf.not_equal(tf.bitwise.bitwise_and(entry, bit), 0)
