"""Creates masked LM / next sentence prediction TFRecords for BERT pretraining.

The port of google-research/bert's `create_pretraining_data.py`: the same flags,
the same input format, and, for the same flags and seed, the same records. The
same calls on a `random.Random(random_seed)` happen in the same order, so every
instance, its masks and the final shuffled order come out identical.

Input format, as in the original: plain text, one sentence a line, documents
separated by blank lines. Lines are read up to `\\n` with every `\\r` removed (what
the original's `tf.gfile.GFile.readline` does). A document runs on across the end
of a file unless a blank line ends it.

The work differs from the original only in how it is done, never in what comes out:
  * token ids instead of token strings all the way through;
  * the tokenizer runs once per distinct whitespace-separated chunk of text,
    (`FullTokenizer.tokenize` of a line is the concatenation of its chunks', as
    long as the line has no whitespace that the tokenizer deletes; such lines are
    tokenized whole);
  * records are encoded to protobuf bytes directly, with the features in the
    order the original's records hold them, and kept in memory as compact bytes
    until the final shuffle instead of as `TrainingInstance` objects.

Usage:
  python -m official_bert.create_pretraining_data \\
    --input_file=corpus.txt --output_file=out.tfrecord --vocab_file=vocab.txt
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import random
import re
import struct
import sys
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from absl import app, flags, logging

CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
# WordPiece marks every piece of a word but the first with this prefix.
SUBWORD_PREFIX = "##"
# [CLS] A [SEP] B [SEP].
NUM_SPECIAL_TOKENS = 3
# The smallest max_seq_length that leaves one token each for segments A and B.
MIN_MAX_SEQ_LENGTH = NUM_SPECIAL_TOKENS + 2
# A short sequence's target length is drawn from [2, max_num_tokens].
MIN_SHORT_TARGET_LENGTH = 2
# Segment B comes from another document half of the time.
RANDOM_NEXT_PROB = 0.5
# Attempts at drawing a random document other than the current one.
MAX_RANDOM_DOCUMENT_TRIES = 10
# A masked position becomes [MASK] 80% of the time ...
MASK_TOKEN_PROB = 0.8
# ... and otherwise keeps its token or gets a random word, half and half.
KEEP_TOKEN_PROB = 0.5
# Truncation drops a token from the front or the back, half and half.
TRUNCATE_FRONT_PROB = 0.5
# The original logs the first 20 written instances.
NUM_LOGGED_EXAMPLES = 20
# Seconds between progress lines.
PROGRESS_INTERVAL_SECONDS = 10.0
# Bytes read from an input file at a time.
READ_BLOCK_BYTES = 1 << 24
# Distinct text chunks whose token ids are remembered before the cache is reset.
MAX_CACHED_CHUNKS = 1_000_000

# The order of the features inside the original's serialized records (protobuf
# map order of the library it ran with; every record of the golden files has it).
# Any order parses to the same tf.train.Example; this one gives identical bytes.
FEATURE_ORDER = (
    "masked_lm_ids",
    "input_ids",
    "masked_lm_positions",
    "next_sentence_labels",
    "input_mask",
    "masked_lm_weights",
    "segment_ids",
)


class Tokenizer(Protocol):
    """What this module needs of `tokenization.FullTokenizer`."""

    vocab: Mapping[str, int]

    def tokenize(self, text: str) -> list[str]: ...


@dataclasses.dataclass
class TrainingInstance:
    """A single training instance (sentence pair), as token ids without padding.

    Attributes:
      input_ids: ids of `[CLS] A [SEP] B [SEP]` after masking.
      segment_ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`; as long as input_ids.
      masked_lm_positions: the masked positions, ascending.
      masked_lm_ids: the original token id at each masked position.
      is_random_next: whether B was drawn from another document.
    """

    input_ids: list[int]
    segment_ids: list[int]
    masked_lm_positions: list[int]
    masked_lm_ids: list[int]
    is_random_next: bool


@dataclasses.dataclass(frozen=True)
class VocabTables:
    """Id tables derived once from a tokenizer's vocabulary.

    Attributes:
      random_word_ids: the id of each entry of `list(vocab.keys())`, the list the
        original draws random replacement words from (its length is the number of
        distinct tokens, and a repeated token keeps its first position but its
        last id, as the original's `load_vocab` does).
      subword_ids: ids of tokens starting with `##`, for whole word masking.
      id_to_token: token string of each id, for logging.
    """

    cls_id: int
    sep_id: int
    mask_id: int
    random_word_ids: tuple[int, ...]
    subword_ids: frozenset[int]
    id_to_token: Mapping[int, str]

    @classmethod
    def from_vocab(cls, vocab: Mapping[str, int]) -> VocabTables:
        """Builds the tables from an ordered token -> id mapping."""
        missing = [t for t in (CLS_TOKEN, SEP_TOKEN, MASK_TOKEN) if t not in vocab]
        if missing:
            raise ValueError(
                f"The vocabulary has no {', '.join(missing)}; pretraining data needs "
                "[CLS], [SEP] and [MASK]. Check --vocab_file."
            )
        return cls(
            cls_id=vocab[CLS_TOKEN],
            sep_id=vocab[SEP_TOKEN],
            mask_id=vocab[MASK_TOKEN],
            random_word_ids=tuple(vocab[t] for t in list(vocab)),
            subword_ids=frozenset(i for t, i in vocab.items() if t.startswith(SUBWORD_PREFIX)),
            id_to_token={i: t for t, i in vocab.items()},
        )


@dataclasses.dataclass
class CorpusStats:
    """Counts gathered while reading and generating; logged at the end."""

    input_files: list[str] = dataclasses.field(default_factory=list)
    lines: int = 0
    # Documents with at least one token (the ones instances are made from).
    documents: int = 0
    # Documents with text whose every line tokenized to nothing: the original
    # drops them without a word; here they are counted and logged.
    documents_without_tokens: int = 0
    lines_without_tokens: int = 0
    instances: int = 0
    instances_per_file: dict[str, int] = dataclasses.field(default_factory=dict)
    elapsed_seconds: float = 0.0


class _Progress:
    """Logs a progress line at most every PROGRESS_INTERVAL_SECONDS."""

    def __init__(self, start: float, interval: float = PROGRESS_INTERVAL_SECONDS):
        self._start = start
        self._interval = interval
        self._next = start + interval

    def maybe_log(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            logging.info("[%.0f s] " + message, now - self._start, *args)


# ---------------------------------------------------------------------------
# Reading and tokenizing.
# ---------------------------------------------------------------------------


@functools.cache
def _unsplittable_line() -> re.Pattern:
    """Matches characters `str.split` splits on but `FullTokenizer` deletes (Cc, Cf)."""
    chars = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if char.isspace() and char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf"):
            chars.append(char)
    return re.compile("[" + re.escape("".join(chars)) + "]")


class CachedTokenizer:
    """`tokenizer.tokenize` followed by id lookup, run once per distinct chunk.

    `FullTokenizer.tokenize(line)` equals the concatenation of `tokenize(chunk)`
    over `line.split()`: the tokenizer splits on the same whitespace first and
    every later step works within a whitespace-separated word. The exception is a
    whitespace character that the tokenizer deletes as a control character
    (e.g. U+001F), which joins its neighbours; lines with one are tokenized whole.
    """

    def __init__(self, tokenizer: Tokenizer, max_cached_chunks: int = MAX_CACHED_CHUNKS):
        self._tokenizer = tokenizer
        self._vocab = tokenizer.vocab
        self._cache: dict[str, tuple[int, ...]] = {}
        self._max_cached_chunks = max_cached_chunks
        self._unsplittable_line = _unsplittable_line()

    def _ids(self, text: str) -> tuple[int, ...]:
        vocab = self._vocab
        tokens = self._tokenizer.tokenize(text)
        try:
            return tuple(vocab[t] for t in tokens)
        except KeyError as e:
            raise ValueError(
                f"The tokenizer produced {e.args[0]!r}, which is not in the vocabulary "
                "(is [UNK] missing from --vocab_file?)."
            ) from None

    def token_ids(self, line: str) -> list[int]:
        """Returns the vocabulary ids of `tokenizer.tokenize(line)`."""
        if self._unsplittable_line.search(line):
            return list(self._ids(line))
        cache = self._cache
        ids: list[int] = []
        for chunk in line.split():
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                if len(cache) >= self._max_cached_chunks:
                    cache.clear()
                chunk_ids = cache[chunk] = self._ids(chunk)
            ids += chunk_ids
        return ids


def _read_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """Yields (line_number, line) of a file split at b"\\n", with every b"\\r" removed."""
    import tensorflow as tf

    line_number = 0
    remainder = b""
    with tf.io.gfile.GFile(path, "rb") as reader:
        while True:
            block = reader.read(READ_BLOCK_BYTES)
            if not block:
                break
            lines = (remainder + block).split(b"\n")
            remainder = lines.pop()
            for line in lines:
                line_number += 1
                yield line_number, line.replace(b"\r", b"")
    if remainder:
        yield line_number + 1, remainder.replace(b"\r", b"")


def _decode(line: bytes, path: str, line_number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}, line {line_number}: not valid UTF-8 ({e.reason} at byte {e.start}). "
            "Input files must be UTF-8 text."
        ) from None


def read_documents(
    input_files: Sequence[str],
    tokenizer: Tokenizer | CachedTokenizer,
    stats: CorpusStats | None = None,
) -> list[list[list[int]]]:
    """Reads and tokenizes the documents of the input files, in file order.

    Args:
      input_files: paths of UTF-8 text files, one sentence a line, documents
        separated by blank lines.
      tokenizer: a `FullTokenizer` (or a `CachedTokenizer` around one).
      stats: optional counters to fill in.

    Returns:
      The documents that have at least one token: each a list of sentences, each
      a non-empty list of token ids.

    Raises:
      ValueError: a line is not valid UTF-8, or a file has no text.
    """
    if not isinstance(tokenizer, CachedTokenizer):
        tokenizer = CachedTokenizer(tokenizer)
    stats = stats if stats is not None else CorpusStats()
    progress = _Progress(time.monotonic())
    documents: list[list[list[int]]] = [[]]
    document_has_text = False

    def end_document() -> None:
        if documents[-1]:
            stats.documents += 1
            documents.append([])
        elif document_has_text:
            stats.documents_without_tokens += 1

    for path in input_files:
        file_has_text = False
        for line_number, raw_line in _read_lines(path):
            stats.lines += 1
            line = _decode(raw_line, path, line_number).strip()
            if not line:
                end_document()
                document_has_text = False
                continue
            file_has_text = document_has_text = True
            ids = tokenizer.token_ids(line)
            if ids:
                documents[-1].append(ids)
            else:
                stats.lines_without_tokens += 1
            progress.maybe_log("read %d lines, %d documents", stats.lines, stats.documents)
        if not file_has_text:
            raise ValueError(f"Input file {path} has no text (it is empty or only blank lines).")
    end_document()
    documents.pop()
    if stats.documents_without_tokens:
        logging.warning(
            "%d document(s) had text but no tokens, so they give no instance "
            "(the original drops them too).",
            stats.documents_without_tokens,
        )
    return documents


# ---------------------------------------------------------------------------
# Building instances.
# ---------------------------------------------------------------------------


def shuffle(items: list, rng: random.Random) -> None:
    """`rng.shuffle(items)`: the same draws and the same result, about 2x faster.

    CPython's `Random.shuffle` swaps item i (from the last down to 1) with item
    `_randbelow(i + 1)`, which draws `getrandbits(bit_length(i + 1))` until the
    value is <= i. This does the same inline. A subclass of `random.Random` gets
    its own `shuffle`.
    """
    if type(rng) is not random.Random:
        rng.shuffle(items)
        return
    getrandbits = rng.getrandbits
    num_bits = len(items).bit_length()
    smallest_with_num_bits = 1 << (num_bits - 1) if num_bits else 0
    for i in range(len(items) - 1, 0, -1):
        n = i + 1
        if n < smallest_with_num_bits:
            num_bits -= 1
            smallest_with_num_bits >>= 1
        j = getrandbits(num_bits)
        while j > i:
            j = getrandbits(num_bits)
        items[i], items[j] = items[j], items[i]


def truncate_seq_pair(
    tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random
) -> None:
    """Trims the longer of two lists, one token at a time from the front or back.

    Each step draws `rng.random()` (< 0.5: front) until the two fit in
    max_num_tokens. Modifies the lists in place.
    """
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < TRUNCATE_FRONT_PROB:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


def create_masked_lm_predictions(
    input_ids: list[int],
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    vocab: VocabTables,
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> tuple[list[int], list[int], list[int]]:
    """Chooses and masks positions for the masked LM objective.

    Candidates are all positions but [CLS] and [SEP]; with whole word masking, a
    `##` piece joins the candidate before it (even across a [SEP], as in the
    original). The shuffled candidates are taken in order while they fit in
    `min(max_predictions_per_seq, max(1, round(len * masked_lm_prob)))`; a
    whole word that would overflow is skipped and the next one tried.

    Args:
      input_ids: ids of `[CLS] A [SEP] B [SEP]`.
      masked_lm_prob: fraction of positions to mask.
      max_predictions_per_seq: cap on the number of masked positions.
      vocab: id tables of the vocabulary.
      rng: the generator; called exactly as the original calls it.
      do_whole_word_mask: mask all pieces of a word together.

    Returns:
      (output_ids, masked_lm_positions ascending, masked_lm_ids: the original ids).
    """
    cls_id = vocab.cls_id
    sep_id = vocab.sep_id
    if do_whole_word_mask:
        subword_ids = vocab.subword_ids
        candidates: list = []
        for i, token_id in enumerate(input_ids):
            if token_id == cls_id or token_id == sep_id:
                continue
            if candidates and token_id in subword_ids:
                candidates[-1].append(i)
            else:
                candidates.append([i])
    elif (
        input_ids[0] == cls_id
        and input_ids[-1] == sep_id
        and input_ids.count(cls_id) == 1
        and input_ids.count(sep_id) == 2
    ):
        # The usual case, [CLS] and [SEP] only where they were put: skip the scan.
        middle_sep = input_ids.index(sep_id)
        candidates = [*range(1, middle_sep), *range(middle_sep + 1, len(input_ids) - 1)]
    else:
        candidates = [i for i, t in enumerate(input_ids) if t != cls_id and t != sep_id]
    shuffle(candidates, rng)

    num_to_predict = min(max_predictions_per_seq, max(1, round(len(input_ids) * masked_lm_prob)))
    if do_whole_word_mask:
        # The groups are disjoint, so no position is ever chosen twice.
        chosen: list[int] = []
        for group in candidates:
            if len(chosen) >= num_to_predict:
                break
            if len(chosen) + len(group) > num_to_predict:
                continue
            chosen += group
    else:
        chosen = candidates[:num_to_predict]

    output_ids = list(input_ids)
    uniform = rng.random
    random_word_ids = vocab.random_word_ids
    last_word = len(random_word_ids) - 1
    for index in chosen:
        if uniform() < MASK_TOKEN_PROB:
            output_ids[index] = vocab.mask_id
        elif uniform() < KEEP_TOKEN_PROB:
            pass
        else:
            output_ids[index] = random_word_ids[rng.randint(0, last_word)]
    positions = sorted(chosen)
    return output_ids, positions, [input_ids[p] for p in positions]


def create_instances_from_document(
    all_documents: Sequence[Sequence[list[int]]],
    document_index: int,
    max_seq_length: int,
    short_seq_prob: float,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    vocab: VocabTables,
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> list[TrainingInstance]:
    """Builds the instances of one document, as the original does.

    Sentences are gathered until they reach the target length (max_seq_length - 3,
    or with probability short_seq_prob a random length in [2, max_seq_length - 3]);
    a random prefix of them becomes A. B is the rest, or, half of the time (always
    with a single sentence), text from a random other document, in which case the
    sentences not used for A are put back for the next instance.
    """
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - NUM_SPECIAL_TOKENS
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(MIN_SHORT_TARGET_LENGTH, max_num_tokens)

    cls_id = vocab.cls_id
    sep_id = vocab.sep_id
    last_document = len(all_documents) - 1
    instances = []
    chunk: list[list[int]] = []
    chunk_length = 0
    i = 0
    while i < len(document):
        sentence = document[i]
        chunk.append(sentence)
        chunk_length += len(sentence)
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            # The number of sentences of the chunk that go into A.
            a_end = 1
            if len(chunk) >= 2:
                a_end = rng.randint(1, len(chunk) - 1)
            tokens_a = list(itertools.chain.from_iterable(chunk[:a_end]))

            if len(chunk) == 1 or rng.random() < RANDOM_NEXT_PROB:
                is_random_next = True
                target_b_length = target_seq_length - len(tokens_a)
                for _ in range(MAX_RANDOM_DOCUMENT_TRIES):
                    random_document_index = rng.randint(0, last_document)
                    if random_document_index != document_index:
                        break
                random_document = all_documents[random_document_index]
                random_start = rng.randint(0, len(random_document) - 1)
                tokens_b: list[int] = []
                for j in range(random_start, len(random_document)):
                    tokens_b += random_document[j]
                    if len(tokens_b) >= target_b_length:
                        break
                # Put the sentences B did not use back, for the next instance.
                i -= len(chunk) - a_end
            else:
                is_random_next = False
                tokens_b = list(itertools.chain.from_iterable(chunk[a_end:]))
            truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)

            input_ids = [cls_id, *tokens_a, sep_id, *tokens_b, sep_id]
            output_ids, positions, label_ids = create_masked_lm_predictions(
                input_ids, masked_lm_prob, max_predictions_per_seq, vocab, rng, do_whole_word_mask
            )
            num_a = len(tokens_a) + 2
            instances.append(
                TrainingInstance(
                    input_ids=output_ids,
                    segment_ids=[0] * num_a + [1] * (len(input_ids) - num_a),
                    masked_lm_positions=positions,
                    masked_lm_ids=label_ids,
                    is_random_next=is_random_next,
                )
            )
            chunk = []
            chunk_length = 0
        i += 1
    return instances


def check_parameters(
    max_seq_length: int,
    dupe_factor: int,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
) -> None:
    """Raises ValueError for settings the original would crash on; warns on the cap.

    Logs a warning (once per call) when max_predictions_per_seq is below
    `round(max_seq_length * masked_lm_prob)`: full-length instances then get
    max_predictions_per_seq masked positions, as in the original.
    """
    if max_seq_length < MIN_MAX_SEQ_LENGTH:
        raise ValueError(
            f"--max_seq_length={max_seq_length} is too small: it must be at least "
            f"{MIN_MAX_SEQ_LENGTH} ([CLS] A [SEP] B [SEP] with one token in A and B)."
        )
    if max_predictions_per_seq < 0:
        raise ValueError(f"--max_predictions_per_seq={max_predictions_per_seq} is negative.")
    if dupe_factor < 0:
        raise ValueError(f"--dupe_factor={dupe_factor} is negative.")
    wanted = max(1, round(max_seq_length * masked_lm_prob))
    if max_predictions_per_seq < wanted:
        logging.warning(
            "--max_predictions_per_seq=%d is below masked_lm_prob * max_seq_length = %.4g "
            "(%d): full-length instances get only %d masked positions (as in the original).",
            max_predictions_per_seq,
            max_seq_length * masked_lm_prob,
            wanted,
            max_predictions_per_seq,
        )


def generate_instances(
    all_documents: Sequence[Sequence[list[int]]],
    max_seq_length: int,
    dupe_factor: int,
    short_seq_prob: float,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    vocab: VocabTables,
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> Iterator[TrainingInstance]:
    """Yields the instances of every document, dupe_factor times, before shuffling."""
    for _ in range(dupe_factor):
        for document_index in range(len(all_documents)):
            yield from create_instances_from_document(
                all_documents,
                document_index,
                max_seq_length,
                short_seq_prob,
                masked_lm_prob,
                max_predictions_per_seq,
                vocab,
                rng,
                do_whole_word_mask,
            )


def create_training_instances(
    input_files: Sequence[str],
    tokenizer: Tokenizer,
    max_seq_length: int,
    dupe_factor: int,
    short_seq_prob: float,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    rng: random.Random,
    do_whole_word_mask: bool = False,
) -> list[TrainingInstance]:
    """Reads the files and returns every shuffled instance (the original's function).

    Holds all instances as objects; `create_pretraining_data` writes the same
    records while holding them as compact bytes.
    """
    check_parameters(max_seq_length, dupe_factor, masked_lm_prob, max_predictions_per_seq)
    all_documents = read_documents(input_files, tokenizer)
    shuffle(all_documents, rng)
    instances = list(
        generate_instances(
            all_documents,
            max_seq_length,
            dupe_factor,
            short_seq_prob,
            masked_lm_prob,
            max_predictions_per_seq,
            VocabTables.from_vocab(tokenizer.vocab),
            rng,
            do_whole_word_mask,
        )
    )
    shuffle(instances, rng)
    return instances


# ---------------------------------------------------------------------------
# Encoding records.
#
# A tf.train.Example is written field by field in protobuf wire format:
#   Example    { Features features = 1; }
#   Features   { map<string, Feature> feature = 1; }   (entries: key = 1, value = 2)
#   Feature    { FloatList float_list = 2; Int64List int64_list = 3; }
#   Int64List  { repeated int64 value = 1 [packed]; }  FloatList likewise (float).
# ---------------------------------------------------------------------------

# Wire-format tags: (field number << 3) | wire type 2 (length-delimited).
_TAG_1 = b"\x0a"
_TAG_2 = b"\x12"
_TAG_3 = b"\x1a"
_FLOAT_ONE = struct.pack("<f", 1.0)
_FLOAT_ZERO = struct.pack("<f", 0.0)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class RecordEncoder:
    """Encodes instances as the serialized tf.train.Example the original writes.

    Padding as in the original: input_ids, input_mask and segment_ids with 0 to
    max_seq_length; masked_lm_positions and masked_lm_ids with 0 and
    masked_lm_weights with 0.0 to max_predictions_per_seq. The features come in
    FEATURE_ORDER, so the bytes equal the original's.

    Until the final shuffle the instances are held `pack`ed: a 21-byte header and
    the varints of the unpadded ids, about a quarter of the padded record at
    max_seq_length=128.
    """

    # num_tokens, num_segment_a, num_masked, input_ids bytes, positions bytes, is_random_next.
    _HEADER = struct.Struct("<IIIII?")

    def __init__(self, max_seq_length: int, max_predictions_per_seq: int, max_id: int):
        """Args:
        max_seq_length: length input_ids, input_mask and segment_ids are padded to.
        max_predictions_per_seq: length the masked LM features are padded to.
        max_id: the largest token id (varints up to it are tabulated).
        """
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        id_bytes = len(_varint(max(max_id, max_seq_length)))
        # An upper bound of any length inside a record: every field at its longest.
        max_record = (max_seq_length + 2 * max_predictions_per_seq) * (id_bytes + 4) + 512
        self._varints = [_varint(i) for i in range(max(max_id, max_record) + 1)]
        self._key_prefixes = {
            name: _TAG_1 + _varint(len(name)) + name.encode() + _TAG_2 for name in FEATURE_ORDER
        }
        self._mask_entries: dict[int, bytes] = {}
        self._weight_entries: dict[int, bytes] = {}
        self._label_entries = {
            label: self._entry("next_sentence_labels", _TAG_3, bytes([label])) for label in (0, 1)
        }

    def _varints_of(self, values: Iterable[int]) -> bytes:
        try:
            return b"".join(map(self._varints.__getitem__, values))
        except IndexError:  # an id past the tabulated ones: encode directly.
            return b"".join(_varint(v) for v in values)

    def _entry(self, name: str, feature_tag: bytes, values: bytes) -> bytes:
        """The Features map entry of one feature whose packed values are `values`."""
        varint = self._varints
        value_list = _TAG_1 + varint[len(values)] + values if values else b""
        feature = feature_tag + varint[len(value_list)] + value_list
        entry = self._key_prefixes[name] + varint[len(feature)] + feature
        return _TAG_1 + varint[len(entry)] + entry

    def pack(self, instance: TrainingInstance) -> bytes:
        """The compact in-memory form of an instance."""
        num_tokens = len(instance.input_ids)
        num_masked = len(instance.masked_lm_positions)
        if num_tokens > self.max_seq_length or num_masked > self.max_predictions_per_seq:
            raise ValueError(
                f"An instance of {num_tokens} tokens and {num_masked} predictions does not fit "
                f"max_seq_length={self.max_seq_length}, "
                f"max_predictions_per_seq={self.max_predictions_per_seq}."
            )
        ids = self._varints_of(instance.input_ids)
        positions = self._varints_of(instance.masked_lm_positions)
        header = self._HEADER.pack(
            num_tokens,
            instance.segment_ids.count(0),
            num_masked,
            len(ids),
            len(positions),
            instance.is_random_next,
        )
        return b"".join((header, ids, positions, self._varints_of(instance.masked_lm_ids)))

    def record_from_packed(self, packed: bytes) -> bytes:
        """The serialized tf.train.Example of a packed instance."""
        num_tokens, num_a, num_masked, ids_size, positions_size, is_random_next = (
            self._HEADER.unpack_from(packed)
        )
        ids_end = self._HEADER.size + ids_size
        positions_end = ids_end + positions_size
        zeros = b"\x00" * (self.max_seq_length - num_tokens)
        pred_zeros = b"\x00" * (self.max_predictions_per_seq - num_masked)
        mask_entry = self._mask_entries.get(num_tokens)
        if mask_entry is None:
            mask_entry = self._entry("input_mask", _TAG_3, b"\x01" * num_tokens + zeros)
            self._mask_entries[num_tokens] = mask_entry
        weight_entry = self._weight_entries.get(num_masked)
        if weight_entry is None:
            weights = _FLOAT_ONE * num_masked + _FLOAT_ZERO * len(pred_zeros)
            weight_entry = self._weight_entries[num_masked] = self._entry(
                "masked_lm_weights", _TAG_2, weights
            )
        entry = self._entry
        # In FEATURE_ORDER.
        features = b"".join(
            (
                entry("masked_lm_ids", _TAG_3, packed[positions_end:] + pred_zeros),
                entry("input_ids", _TAG_3, packed[self._HEADER.size : ids_end] + zeros),
                entry("masked_lm_positions", _TAG_3, packed[ids_end:positions_end] + pred_zeros),
                self._label_entries[is_random_next],
                mask_entry,
                weight_entry,
                entry(
                    "segment_ids", _TAG_3, b"\x00" * num_a + b"\x01" * (num_tokens - num_a) + zeros
                ),
            )
        )
        return _TAG_1 + self._varints[len(features)] + features

    def encode(self, instance: TrainingInstance) -> bytes:
        """The serialized tf.train.Example of an instance."""
        return self.record_from_packed(self.pack(instance))


# ---------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------


def _log_example(record: bytes, id_to_token: Mapping[int, str]) -> None:
    import tensorflow as tf

    features = tf.train.Example.FromString(record).features.feature
    num_tokens = sum(features["input_mask"].int64_list.value)
    input_ids = features["input_ids"].int64_list.value[:num_tokens]
    logging.info("*** Example ***")
    logging.info("tokens: %s", " ".join(id_to_token.get(i, "?") for i in input_ids))
    for name in ("input_ids", "input_mask", "segment_ids", "masked_lm_positions",
                 "masked_lm_ids", "masked_lm_weights", "next_sentence_labels"):  # fmt: skip
        feature = features[name]
        values = feature.int64_list.value or feature.float_list.value
        logging.info("%s: %s", name, " ".join(str(v) for v in values))


def write_records(
    records: Sequence[bytes],
    output_files: Sequence[str],
    to_record: Callable[[object], bytes] | None = None,
    id_to_token: Mapping[int, str] | None = None,
    stats: CorpusStats | None = None,
) -> None:
    """Writes records round-robin to the output files, each atomically.

    Record k goes to output_files[k % len(output_files)]. Each file is written
    under a temporary name in its directory and renamed into place when all
    files are complete; on an error the temporary files are removed.

    Args:
      records: the records (or packed instances, with `to_record`), in order.
      output_files: paths; their directories are created if needed.
      to_record: optional function from an element of `records` to its bytes.
      id_to_token: if given, the first NUM_LOGGED_EXAMPLES records are logged.
      stats: optional counters to fill in.
    """
    import tensorflow as tf

    check_output_files(output_files)
    to_record = to_record or (lambda r: r)
    num_files = len(output_files)
    temp_files = [f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}" for path in output_files]
    progress = _Progress(time.monotonic())
    written = 0
    try:
        for file_index, (path, temp) in enumerate(zip(output_files, temp_files)):
            directory = os.path.dirname(path)
            if directory:
                tf.io.gfile.makedirs(directory)
            count = 0
            with tf.io.TFRecordWriter(temp) as writer:
                for k in range(file_index, len(records), num_files):
                    record = to_record(records[k])
                    if id_to_token is not None and k < NUM_LOGGED_EXAMPLES:
                        _log_example(record, id_to_token)
                    writer.write(record)
                    count += 1
                    written += 1
                    progress.maybe_log("wrote %d of %d instances", written, len(records))
            if stats is not None:
                stats.instances_per_file[path] = count
        for path, temp in zip(output_files, temp_files):
            tf.io.gfile.rename(temp, path, overwrite=True)
    except BaseException:
        for temp in temp_files:
            if tf.io.gfile.exists(temp):
                tf.io.gfile.remove(temp)
        raise
    logging.info("Wrote %d total instances", written)


def write_instance_to_example_files(
    instances: Sequence[TrainingInstance],
    tokenizer: Tokenizer,
    max_seq_length: int,
    max_predictions_per_seq: int,
    output_files: Sequence[str],
) -> None:
    """Writes `TrainingInstance`s as tf.train.Example records, round-robin."""
    encoder = RecordEncoder(max_seq_length, max_predictions_per_seq, max(tokenizer.vocab.values()))
    write_records(instances, output_files, to_record=encoder.encode)


# ---------------------------------------------------------------------------
# The whole job.
# ---------------------------------------------------------------------------


def expand_input_patterns(input_file: str | Sequence[str]) -> list[str]:
    """Expands comma-separated globs (or a list of them) into files, in glob order.

    Uses `tf.io.gfile.glob`, as the original does, so files come in its order.

    Raises:
      ValueError: a pattern is empty or matches no file.
    """
    import tensorflow as tf

    patterns = input_file.split(",") if isinstance(input_file, str) else list(input_file)
    files = []
    for pattern in patterns:
        if not pattern:
            raise ValueError(f"--input_file={input_file!r} has an empty entry.")
        matches = tf.io.gfile.glob(pattern)
        if not matches:
            raise ValueError(f"--input_file pattern {pattern!r} matches no file.")
        files.extend(matches)
    return files


def check_output_files(output_files: Sequence[str]) -> None:
    """Raises ValueError for an empty list, an empty entry or a repeated file."""
    if not output_files or any(not path for path in output_files):
        raise ValueError(f"--output_file={','.join(output_files)!r} has an empty entry.")
    if len(set(output_files)) != len(output_files):
        raise ValueError(f"--output_file={','.join(output_files)!r} names a file twice.")


def create_pretraining_data(
    input_file: str | Sequence[str],
    output_file: str | Sequence[str],
    tokenizer: Tokenizer,
    *,
    max_seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    random_seed: int = 12345,
    dupe_factor: int = 10,
    masked_lm_prob: float = 0.15,
    short_seq_prob: float = 0.1,
    do_whole_word_mask: bool = False,
) -> CorpusStats:
    """Reads the input files and writes the pretraining records; `main` without flags.

    Args:
      input_file: comma-separated globs, or a list of globs.
      output_file: comma-separated paths, or a list; records go round-robin.
      tokenizer: a `tokenization.FullTokenizer`.
      Others: the flags of the same names.

    Returns:
      Counts of lines, documents and instances, and the elapsed time.
    """
    start = time.monotonic()
    stats = CorpusStats()
    output_files = output_file.split(",") if isinstance(output_file, str) else list(output_file)
    check_output_files(output_files)
    check_parameters(max_seq_length, dupe_factor, masked_lm_prob, max_predictions_per_seq)
    stats.input_files = expand_input_patterns(input_file)
    logging.info("*** Reading from input files ***")
    for path in stats.input_files:
        logging.info("  %s", path)

    all_documents = read_documents(stats.input_files, tokenizer, stats)
    logging.info(
        "Read %d lines, %d documents in %.1f s",
        stats.lines,
        stats.documents,
        time.monotonic() - start,
    )
    if not all_documents:
        raise ValueError(f"The input files {stats.input_files} hold no tokens.")
    if len(all_documents) == 1:
        logging.warning("Only one document: random next sentences come from the same document.")

    rng = random.Random(random_seed)
    shuffle(all_documents, rng)
    vocab = VocabTables.from_vocab(tokenizer.vocab)
    encoder = RecordEncoder(max_seq_length, max_predictions_per_seq, max(vocab.id_to_token))
    progress = _Progress(start)
    packed = []
    for instance in generate_instances(
        all_documents,
        max_seq_length,
        dupe_factor,
        short_seq_prob,
        masked_lm_prob,
        max_predictions_per_seq,
        vocab,
        rng,
        do_whole_word_mask,
    ):
        packed.append(encoder.pack(instance))
        progress.maybe_log("created %d instances", len(packed))
    stats.instances = len(packed)
    del all_documents
    shuffle(packed, rng)
    logging.info("Created %d instances in %.1f s", stats.instances, time.monotonic() - start)

    logging.info("*** Writing to output files ***")
    for path in output_files:
        logging.info("  %s", path)
    write_records(packed, output_files, encoder.record_from_packed, vocab.id_to_token, stats)
    stats.elapsed_seconds = time.monotonic() - start
    logging.info(
        "Done in %.1f s: %d lines, %d documents (%d without tokens), %d instances (%.0f/s).",
        stats.elapsed_seconds,
        stats.lines,
        stats.documents,
        stats.documents_without_tokens,
        stats.instances,
        stats.instances / max(stats.elapsed_seconds, 1e-9),
    )
    return stats


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def define_flags() -> None:
    """Defines the original's flags, with its names, defaults and help."""
    # Required parameters.
    flags.DEFINE_string(
        "input_file", None, "Input raw text file (or comma-separated list of files)."
    )
    flags.DEFINE_string(
        "output_file", None, "Output TF example file (or comma-separated list of files)."
    )
    flags.DEFINE_string(
        "vocab_file", None, "The vocabulary file that the BERT model was trained on."
    )
    # Other parameters.
    flags.DEFINE_bool(
        "do_lower_case",
        True,
        "Whether to lower case the input text. Should be True for uncased "
        "models and False for cased models.",
    )
    flags.DEFINE_bool(
        "do_whole_word_mask",
        False,
        "Whether to use whole word masking rather than per-WordPiece masking.",
    )
    flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
    flags.DEFINE_integer(
        "max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence."
    )
    flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
    flags.DEFINE_integer(
        "dupe_factor", 10, "Number of times to duplicate the input data (with different masks)."
    )
    flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
    flags.DEFINE_float(
        "short_seq_prob",
        0.1,
        "Probability of creating sequences which are shorter than the maximum length.",
    )
    flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])


def main(argv: Sequence[str]) -> None:
    """Runs `create_pretraining_data` with the flags."""
    del argv
    from official_bert import tokenization

    logging.set_verbosity(logging.INFO)
    flag_values = flags.FLAGS
    tokenizer = tokenization.FullTokenizer(
        vocab_file=flag_values.vocab_file, do_lower_case=flag_values.do_lower_case
    )
    create_pretraining_data(
        flag_values.input_file,
        flag_values.output_file,
        tokenizer,
        max_seq_length=flag_values.max_seq_length,
        max_predictions_per_seq=flag_values.max_predictions_per_seq,
        random_seed=flag_values.random_seed,
        dupe_factor=flag_values.dupe_factor,
        masked_lm_prob=flag_values.masked_lm_prob,
        short_seq_prob=flag_values.short_seq_prob,
        do_whole_word_mask=flag_values.do_whole_word_mask,
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
