"""The in-graph BERT tokenizer: `FullTokenizer`'s ids from TensorFlow ops alone.

`TFTextTokenizer` runs inside `tf.data`, `tf.function` and a SavedModel and
gives exactly `tokenization.FullTokenizer`'s ids (tested on the 680 golden
cases of the original and on random text).

How: every character-level decision of the original is a function of one code
point, except two that look at neighbours: Greek capital sigma lower-cases to
final sigma depending on the letters around it, and NFD puts runs of combining
marks in order of their combining class. So the text is decoded to code points
and looked up in tables indexed by code point, built here from this Python's
own `unicodedata` and `str.lower` (not ICU's or RE2's tables, which follow
other Unicode versions and other rules); the two context rules are done with
cumulative sums and a stable sort; and only the word-piece search is left to
tensorflow-text's `FastWordpieceTokenizer`.

`official_bert.tokenization.TFTextTokenizer` is this class too.
"""

from __future__ import annotations

import functools
import os
import unicodedata

import numpy as np
import tensorflow as tf

from official_bert.tokenization import (
    CJK_RANGES,
    MAX_INPUT_CHARS_PER_WORD,
    SUFFIX_INDICATOR,
    UNK_TOKEN,
    _check_has_unk,
    _is_chinese_char,
    _is_control,
    _is_punctuation,
    _is_whitespace,
    load_vocab,
)

# Unicode code points are 0 ... 0x10FFFF.
_NUM_CODE_POINTS = 0x110000
_SPACE = 0x20
_CAPITAL_SIGMA = 0x3A3
_SMALL_FINAL_SIGMA = 0x3C2

# Word class of an output code point, for splitting into words.
_NORMAL = 0  # part of the word around it
_ISOLATED = 1  # a word of its own: punctuation and CJK ideographs
_WHITESPACE = 2  # ends a word and is dropped
_CLASS_BITS = 2

# An entry of the character table `chars` (int32):
#   bits 0-3    flags: _MULTI, _CASE_IGNORABLE, _CASED, _REORDER
#   bits 4-5    the word class of the (single) output, at _CLASS_SHIFT
#   bits 6-7    unused
#   bits 8-31   the signed argument, at _ARG_SHIFT: output code point minus
#               input code point, or with _MULTI a row of the `multi` table
_MULTI = 1 << 0  # maps to zero or several code points (a row of the multi table)
_CASE_IGNORABLE = 1 << 1  # skipped when looking for a cased letter around a capital sigma
_CASED = 1 << 2  # cased and not case-ignorable: decides whether a sigma is final
_REORDER = 1 << 3  # its NFD holds a combining mark that is not Mn, so mark order can matter
_CLASS_SHIFT = 4
_ARG_SHIFT = 8

# A value of the `multi` table: the output code point in the low 21 bits, its word class above.
_CP_BITS = 21

# An entry of the `nfd` table: the _NFD_MULTI bit, then the signed argument
# (code point delta, or with _NFD_MULTI the row of the `nfd_multi` table).
_NFD_MULTI = 1 << 0
_NFD_ARG_SHIFT = 1

# An entry of the `nfd_info` table: the canonical combining class in the low
# 8 bits, then the _MN bit, then the word class at _NFD_CLASS_SHIFT.
_CCC_BITS = 8
_MN = 1 << _CCC_BITS
_NFD_CLASS_SHIFT = _CCC_BITS + 1

# Tables are stored in blocks of 256 code points; identical blocks are kept once.
_BLOCK_BITS = 8

# Every word <= 200 characters fits in 200 * 4 UTF-8 bytes; longer words become [UNK] first.
_MAX_BYTES_PER_WORD = 4 * MAX_INPUT_CHARS_PER_WORD


@functools.lru_cache(maxsize=1)
def _categories() -> tuple[str, ...]:
    """The general category of every code point, from Python's unicodedata."""
    return tuple(unicodedata.category(chr(cp)) for cp in range(_NUM_CODE_POINTS))


def _two_level(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Splits a per-code-point numpy table into (block offsets, unique blocks), both int32.

    Raises:
      OverflowError: if an entry does not fit in int32 (its fields overlap).
    """
    info = np.iinfo(np.int32)
    if table.min() < info.min or table.max() > info.max:
        bad = int(np.flatnonzero((table < info.min) | (table > info.max))[0])
        raise OverflowError(
            f"TFTextTokenizer's table entry for U+{bad:04X} ({int(table[bad])}) does not fit in "
            f"int32 with this Python's Unicode {unicodedata.unidata_version} tables; the bit "
            "layout at the top of tf_tokenization.py needs wider fields. Use FullTokenizer."
        )
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

    Keys (the bit layout of each entry is described with the constants above):
      chars: two-level table of flags | class << _CLASS_SHIFT | argument <<
        _ARG_SHIFT; the argument is (output - code point) for one output code
        point, or a row of `multi` when the _MULTI flag is set.
      multi: ragged rows of (code point | class << _CP_BITS) for characters
        that are deleted or lower-case to several code points.
      nfd, nfd_multi, nfd_info (lower-casing only): the mapping keeping Mn
        marks, for inputs that need canonical reordering. nfd entry = delta <<
        _NFD_ARG_SHIFT, or row << _NFD_ARG_SHIFT | _NFD_MULTI; nfd_info entry =
        combining class | _MN | class << _NFD_CLASS_SHIFT.
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
        nfd_info[cp] = unicodedata.combining(char) | (_MN if cat == "Mn" else 0)
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
    tables = {"chars": _two_level(chars), "multi": _small_ragged(multi_rows)}
    if do_lower_case:
        nfd_arg = np.zeros(n, np.int64)
        nfd_rows = []
        for cp, out in sorted(nfd.items()):
            if len(out) == 1:
                nfd_arg[cp] = (ord(out) - cp) << _NFD_ARG_SHIFT
            else:
                nfd_arg[cp] = (len(nfd_rows) << _NFD_ARG_SHIFT) | _NFD_MULTI
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
        arg = _field(entry, _ARG_SHIFT)
        classes = _field(entry, _CLASS_SHIFT, _CLASS_BITS)
        is_multi = _has_bit(entry, _MULTI)

        def one_to_one():
            return cps + arg, classes, splits

        def expand():
            encoded = tf.bitwise.bitwise_or(cps + arg, tf.bitwise.left_shift(classes, _CP_BITS))
            values, char_splits = _expand(encoded, is_multi, arg, self._multi)
            return (
                _field(values, 0, _CP_BITS),
                _field(values, _CP_BITS),
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
        arg = _field(entry, _NFD_ARG_SHIFT)
        is_multi = _has_bit(entry, _NFD_MULTI)
        values, char_splits = _expand(cps + arg, is_multi, arg, self._nfd_multi)
        splits = tf.gather(char_splits, splits)
        info = _lookup(self._nfd_info, values)
        ccc = tf.cast(_field(info, 0, _CCC_BITS), tf.int64)
        row_ids = tf.ragged.row_splits_to_segment_ids(splits)
        positions = tf.range(tf.size(values, out_type=tf.int64))
        row_start = tf.equal(positions, tf.gather(splits, row_ids))
        # Canonical ordering: a stable sort by combining class within each run that
        # starts at a starter (class 0) or at the start of a string.
        run = tf.cumsum(tf.cast(tf.equal(ccc, 0) | row_start, tf.int64))
        order = tf.argsort(tf.bitwise.left_shift(run, _CCC_BITS) + ccc, stable=True)
        values, info = tf.gather(values, order), tf.gather(info, order)
        keep = tf.logical_not(_has_bit(info, _MN))
        # The sort never moves a character to another string, so row_ids still hold.
        lengths = tf.math.unsorted_segment_sum(
            tf.cast(keep, tf.int64), row_ids, tf.size(splits, out_type=tf.int64) - 1
        )
        splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(lengths)], axis=0)
        classes = _field(tf.boolean_mask(info, keep), _NFD_CLASS_SHIFT)
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
    block = tf.gather(offsets, _field(cps, _BLOCK_BITS))
    return tf.gather(blocks, block + _field(cps, 0, _BLOCK_BITS))


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


def _has_bit(entry: tf.Tensor, flag: int) -> tf.Tensor:
    """bool Tensor: whether the bit `flag` (a power of two) is set in each value of `entry`."""
    return tf.not_equal(tf.bitwise.bitwise_and(entry, flag), 0)


def _field(entry: tf.Tensor, shift: int, bits: int | None = None) -> tf.Tensor:
    """The field of `bits` bits starting at bit `shift` of each value of the int Tensor `entry`.

    Without `bits`, the field runs to the top bit and keeps the entry's sign
    (right shifts of signed integers are arithmetic).
    """
    value = tf.bitwise.right_shift(entry, shift) if shift else entry
    if bits is None:
        return value
    return tf.bitwise.bitwise_and(value, (1 << bits) - 1)
