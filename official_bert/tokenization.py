"""BERT tokenization: the original WordPiece algorithm.

`FullTokenizer` reproduces google-research/bert's `tokenization.FullTokenizer`
token for token: clean the text (drop NUL, U+FFFD, and Cc/Cf characters other
than tab, newline and carriage return; turn whitespace into spaces), put spaces
around CJK ideographs, split on whitespace, then per whitespace token
optionally lower-case (`str.lower()`, NFD, drop Mn), split off punctuation, and
run greedy longest-match-first WordPiece with `##` continuations.

`TFTextTokenizer` gives the same ids inside a TensorFlow graph (usable in
`tf.data` and in a SavedModel). It lives in `official_bert.tf_tokenization`
and is importable from here too; that module is loaded on first use of the
name, since it builds on this one (a cycle otherwise) and brings the
Unicode-table compiler that plain Python tokenization does not need.
"""

from __future__ import annotations

import bisect
import collections
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

import tensorflow as tf

from official_bert.errors import InputError, MissingFileError

if TYPE_CHECKING:  # for type checkers; at run time `__getattr__` below loads it
    from official_bert.tf_tokenization import TFTextTokenizer as TFTextTokenizer

# The original marks words longer than this many *characters* (not bytes) as unknown.
MAX_INPUT_CHARS_PER_WORD = 200
# The token the released vocabularies use for unknown words.
UNK_TOKEN = "[UNK]"
# Prefix of a word piece that continues a word.
SUFFIX_INDICATOR = "##"


def __getattr__(name: str):
    """Loads `TFTextTokenizer` from `official_bert.tf_tokenization` on first use."""
    if name == "TFTextTokenizer":
        from official_bert.tf_tokenization import TFTextTokenizer

        return TFTextTokenizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "TFTextTokenizer"])


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

# Code point ranges the original treats as CJK ideographs (inclusive): the CJK
# Unified Ideographs block, its extensions A-E and the compatibility ideographs.
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
# CJK_RANGES (which do not overlap) as sorted half-open bounds [lo, hi + 1, lo,
# hi + 1, ...]: a code point is CJK when an odd number of bounds are <= it.
_CJK_BOUNDS = tuple(bound for lo, hi in sorted(CJK_RANGES) for bound in (lo, hi + 1))


def validate_case_matches_checkpoint(do_lower_case: bool, init_checkpoint: str | None) -> None:
    """Raises InputError (a ValueError) if `do_lower_case` contradicts a released checkpoint's name.

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
    raise InputError(
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


def decode_utf8_strict(text: bytes, source: str) -> str:
    """Decodes UTF-8 bytes; the one strict decoder of the project.

    Args:
      text: the bytes to decode.
      source: what `text` is, for the error message, e.g.
        `f"{path} line {line_number}"` or `f"Vocabulary file {path!r}"`.

    Raises:
      InputError (a ValueError): if `text` is not valid UTF-8; the message
        names `source`, the byte offset and the bytes around it.
    """
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = text[max(e.start - 8, 0) : e.end + 8]
        raise InputError(
            f"{source} is not valid UTF-8: {e.reason} at byte {e.start} (near {bad!r}). "
            "Save it as UTF-8 text."
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
      MissingFileError (a FileNotFoundError): if `vocab_file` does not exist.
      InputError (a ValueError): if the file is not UTF-8.
    """
    path = os.fspath(vocab_file)
    if not tf.io.gfile.exists(path):
        raise MissingFileError(f"Vocabulary file {path!r} does not exist; check --vocab_file.")
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
    return bisect.bisect_right(_CJK_BOUNDS, cp) % 2 == 1


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

    # The original has this check as a method of BasicTokenizer.
    _is_chinese_char = staticmethod(_is_chinese_char)

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
    """Raises InputError if `vocab` (read from `vocab_file`) has no [UNK] token."""
    if UNK_TOKEN not in vocab:
        raise InputError(
            f"Vocabulary file {os.fspath(vocab_file)!r} has no {UNK_TOKEN!r} token; WordPiece "
            "needs it for unknown words. Use the vocab.txt released with the model."
        )
