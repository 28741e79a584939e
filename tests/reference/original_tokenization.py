"""The original google-research/bert tokenizer, step by step, with no caching.

A plain port of the original `tokenization.py` (Python 3 branch only): the
same classes and helpers, the same character loops with one `unicodedata`
call per character, lists of characters and substrings joined at every step
of the word-piece search. It is the oracle the tests compare
`official_bert.tokenization` against and the "original" speed reference of
`benchmarks/tokenization_speed.py`, so it must stay as slow and as simple as
the original: no tables, no caches, nothing shared with `official_bert`.
"""

from __future__ import annotations

import collections
import unicodedata


def convert_to_unicode(text: str | bytes) -> str:
    """`text` as `str`; bytes are decoded as UTF-8, dropping what is not UTF-8."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


def load_vocab(vocab_file: str) -> collections.OrderedDict[str, int]:
    """Token -> line number (from 0) of a vocabulary file, each line stripped.

    Lines end at "\\n" only, as with the original's `GFile.readline`; a token
    listed twice keeps the number of its last line.
    """
    vocab: collections.OrderedDict[str, int] = collections.OrderedDict()
    index = 0
    with open(vocab_file, "rb") as reader:  # binary: iteration splits at b"\n" only
        for line in reader:
            vocab[line.decode("utf-8").strip()] = index
            index += 1
    return vocab


def convert_by_vocab(vocab: dict, items) -> list:
    """Looks every item up in `vocab`, in order."""
    output = []
    for item in items:
        output.append(vocab[item])
    return output


def whitespace_tokenize(text: str) -> list[str]:
    """Strips `text` and splits it on runs of whitespace."""
    text = text.strip()
    if not text:
        return []
    return text.split()


class FullTokenizer:
    """BasicTokenizer, then WordpieceTokenizer on each of its tokens."""

    def __init__(self, vocab_file: str, do_lower_case: bool = True):
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

    def tokenize(self, text: str | bytes) -> list[str]:
        split_tokens = []
        for token in self.basic_tokenizer.tokenize(text):
            for sub_token in self.wordpiece_tokenizer.tokenize(token):
                split_tokens.append(sub_token)
        return split_tokens

    def convert_tokens_to_ids(self, tokens) -> list[int]:
        return convert_by_vocab(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return convert_by_vocab(self.inv_vocab, ids)


class BasicTokenizer:
    """Cleaning, CJK spacing, whitespace split, lower-casing, punctuation split."""

    def __init__(self, do_lower_case: bool = True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text: str | bytes) -> list[str]:
        text = convert_to_unicode(text)
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = self._run_strip_accents(token.lower())
            split_tokens.extend(self._run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def _run_strip_accents(self, text: str) -> str:
        output = []
        for char in unicodedata.normalize("NFD", text):
            if unicodedata.category(char) == "Mn":
                continue
            output.append(char)
        return "".join(output)

    def _run_split_on_punc(self, text: str) -> list[str]:
        # Each punctuation character becomes a piece of its own; the characters
        # between them are collected into lists of characters.
        output: list[list[str]] = []
        start_new_word = True
        for char in list(text):
            if _is_punctuation(char):
                output.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(char)
        return ["".join(piece) for piece in output]

    def _tokenize_chinese_chars(self, text: str) -> str:
        output = []
        for char in text:
            if self._is_chinese_char(ord(char)):
                output.append(" ")
                output.append(char)
                output.append(" ")
            else:
                output.append(char)
        return "".join(output)

    def _is_chinese_char(self, cp: int) -> bool:
        # The CJK Unified Ideographs blocks, their extensions A-E and the
        # compatibility ideographs, tested one range after the other.
        return (
            (0x4E00 <= cp <= 0x9FFF)
            or (0x3400 <= cp <= 0x4DBF)
            or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F)
            or (0x2B740 <= cp <= 0x2B81F)
            or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF)
            or (0x2F800 <= cp <= 0x2FA1F)
        )

    def _clean_text(self, text: str) -> str:
        output = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                output.append(" ")
            else:
                output.append(char)
        return "".join(output)


class WordpieceTokenizer:
    """Greedy longest-match-first word pieces, shrinking from the whole rest of the word."""

    def __init__(self, vocab: dict, unk_token: str = "[UNK]", max_input_chars_per_word: int = 200):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text: str | bytes) -> list[str]:
        output_tokens = []
        for token in whitespace_tokenize(convert_to_unicode(text)):
            chars = list(token)
            if len(chars) > self.max_input_chars_per_word:
                output_tokens.append(self.unk_token)
                continue
            is_bad = False
            start = 0
            sub_tokens = []
            while start < len(chars):
                end = len(chars)
                cur_substr = None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur_substr = substr
                        break
                    end -= 1
                if cur_substr is None:
                    is_bad = True
                    break
                sub_tokens.append(cur_substr)
                start = end
            if is_bad:
                output_tokens.append(self.unk_token)
            else:
                output_tokens.extend(sub_tokens)
        return output_tokens


def _is_whitespace(char: str) -> bool:
    # Tab, newline and carriage return are Cc, but count as whitespace.
    if char == " " or char == "\t" or char == "\n" or char == "\r":
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    if char == "\t" or char == "\n" or char == "\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    # Every ASCII character that is neither a letter, a digit nor a space or
    # control character, then Unicode's P* categories.
    cp = ord(char)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(char).startswith("P")
