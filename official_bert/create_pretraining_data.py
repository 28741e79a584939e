"""Creates masked LM / next sentence prediction TFRecords for BERT pretraining.

The port of google-research/bert's `create_pretraining_data.py`: the same flags,
the same input format, and, for the same flags and seed, the same records. The
same calls on a `random.Random(random_seed)` happen in the same order, so every
instance, its masks and the final shuffled order come out identical.

Input format, as in the original: plain text, one sentence a line, documents
separated by blank lines. Lines are read up to `\\n` with every `\\r` removed (what
the original's `tf.gfile.GFile.readline` does). A document runs on across the end
of a file unless a blank line ends it.

This module reads the text and builds the instances; the record format (features,
their order, the encoder and the writer) is `pretraining_records`. The work
differs from the original only in how it is done, never in what comes out:
  * token ids instead of token strings all the way through;
  * truncation decides how many tokens leave each end of a segment, with the
    original's draws, and cuts once (the original pops one token per draw,
    which is quadratic in a long line);
  * records are encoded to protobuf bytes directly and kept in memory as compact
    bytes until the final shuffle instead of as `TrainingInstance` objects.

A progress line (lines and documents read, instances created or written, and the
rate of the phase) is logged every PROGRESS_INTERVAL_SECONDS in every phase.

Usage:
  python -m official_bert.create_pretraining_data \\
    --input_file=corpus.txt --output_file=out.tfrecord --vocab_file=vocab.txt

(About 890 lines, over the project's ~600: the original script's reading, instance
algorithm and command line stay together here, the algorithm step by step in the
original's order of random draws; the record format is in `pretraining_records`.)
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from absl import flags, logging

from official_bert import files, tokenization
from official_bert.errors import InputError

# Moved to pretraining_records; importable from here as before.
from official_bert.pretraining_records import (  # noqa: F401
    FEATURE_ORDER,
    NUM_LOGGED_EXAMPLES,
    RecordEncoder,
    TrainingInstance,
    check_output_files,
    write_instance_to_example_files,
    write_records,
)
from official_bert.tokenization import Tokenizer

CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
# The old name of the prefix of word pieces that continue a word.
SUBWORD_PREFIX = tokenization.SUFFIX_INDICATOR
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
# Seconds between progress lines.
PROGRESS_INTERVAL_SECONDS = 10.0
# Bytes read from an input file at a time.
READ_BLOCK_BYTES = 1 << 24
# Swaps of a shuffle between two looks at the clock (a few milliseconds of work).
SHUFFLE_BLOCK = 1 << 16


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
            raise InputError(
                f"The vocabulary has no {', '.join(missing)}; pretraining data needs "
                "[CLS], [SEP] and [MASK]. Check --vocab_file."
            )
        suffix = tokenization.SUFFIX_INDICATOR
        return cls(
            cls_id=vocab[CLS_TOKEN],
            sep_id=vocab[SEP_TOKEN],
            mask_id=vocab[MASK_TOKEN],
            random_word_ids=tuple(vocab[t] for t in list(vocab)),
            subword_ids=frozenset(i for t, i in vocab.items() if t.startswith(suffix)),
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
    instances_written: int = 0
    instances_per_file: dict[str, int] = dataclasses.field(default_factory=dict)
    elapsed_seconds: float = 0.0


class _Progress:
    """Logs where the job is at most every `interval` seconds, in every phase.

    `update(done)` is called often (per line, instance or record, and every
    SHUFFLE_BLOCK swaps of a shuffle) and only looks at the clock; a line is
    logged once `interval` seconds have passed since the last one.
    """

    def __init__(self, stats: CorpusStats, interval: float | None = None):
        self._stats = stats
        self._interval = PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self._start = time.monotonic()
        self._next = self._start + self._interval
        self.start_phase("reading", "lines")

    def start_phase(self, phase: str, unit: str, total: int | None = None) -> None:
        """Begins a phase whose `update`s count `unit`s (of `total`, if known)."""
        self._phase, self._unit, self._total = phase, unit, total
        self._phase_start = time.monotonic()
        # Where in the phase the job is (e.g. the file being read), for the log line.
        self.detail = ""

    def update(self, done: int) -> None:
        """Logs a progress line if it is time; `done` counts the phase's units."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._interval
        stats = self._stats
        of_total = f" of {self._total:,}" if self._total is not None else ""
        rate = done / max(now - self._phase_start, 1e-9)
        logging.info(
            "[%.0f s] %s: %s%s %s%s (%s %s/s); %s lines and %s documents read, "
            "%s instances created, %s written",
            now - self._start,
            self._phase,
            f"{done:,}",
            of_total,
            self._unit,
            f", {self.detail}" if self.detail else "",
            f"{rate:,.0f}",
            self._unit,
            f"{stats.lines:,}",
            f"{stats.documents:,}",
            f"{stats.instances:,}",
            f"{stats.instances_written:,}",
        )


# ---------------------------------------------------------------------------
# Reading and tokenizing.
# ---------------------------------------------------------------------------


def token_ids(tokenizer: Tokenizer, line: str) -> list[int]:
    """The vocabulary ids of `tokenizer.tokenize(line)`.

    The one cache is the tokenizer's own (`FullTokenizer` caches the pieces of
    each whitespace token). A second cache, of ids per chunk of text, used to
    sit here: on the benchmark corpus (warm caches) it took a line from 3.2 to
    1.7 us, which is 9% of a whole run at dupe_factor=1 and under 2% at the
    default 10, and it needed its own scan of every line to stay correct.
    """
    tokens = tokenizer.tokenize(line)
    try:
        return tokenizer.convert_tokens_to_ids(tokens)
    except KeyError as e:
        raise InputError(
            f"The tokenizer produced {e.args[0]!r}, which is not in the vocabulary "
            "(is [UNK] missing from --vocab_file?)."
        ) from None


class CachedTokenizer:
    """Kept so that old imports work: `token_ids` of a tokenizer (which does the caching)."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.vocab = tokenizer.vocab

    def token_ids(self, line: str) -> list[int]:
        """Returns the vocabulary ids of `tokenizer.tokenize(line)`."""
        return token_ids(self.tokenizer, line)


def _read_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """Yields (line_number, line) of a file split at b"\\n", with every b"\\r" removed."""
    import tensorflow as tf

    line_number = 0
    # The pieces of a line that runs across blocks, joined once it ends.
    pending: list[bytes] = []
    with tf.io.gfile.GFile(path, "rb") as reader:
        while True:
            block = reader.read(READ_BLOCK_BYTES)
            if not block:
                break
            lines = block.split(b"\n")
            if len(lines) == 1:
                pending.append(block)
                continue
            if pending:
                pending.append(lines[0])
                lines[0] = b"".join(pending)
            pending = [lines.pop()]
            for line in lines:
                line_number += 1
                yield line_number, line.replace(b"\r", b"")
    remainder = b"".join(pending)
    if remainder:
        yield line_number + 1, remainder.replace(b"\r", b"")


def read_documents(
    input_files: Sequence[str],
    tokenizer: Tokenizer | CachedTokenizer,
    stats: CorpusStats | None = None,
    progress: _Progress | None = None,
) -> list[list[list[int]]]:
    """Reads and tokenizes the documents of the input files, in file order.

    Args:
      input_files: paths of UTF-8 text files, one sentence a line, documents
        separated by blank lines.
      tokenizer: a `tokenization.Tokenizer` such as `FullTokenizer`.
      stats: optional counters to fill in.
      progress: optional progress logger.

    Returns:
      The documents that have at least one token: each a list of sentences, each
      a non-empty list of token ids.

    Raises:
      InputError: a line is not valid UTF-8, or a file has no text.
    """
    if isinstance(tokenizer, CachedTokenizer):
        tokenizer = tokenizer.tokenizer
    stats = stats if stats is not None else CorpusStats()
    progress = progress or _Progress(stats)
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
        progress.detail = f"reading {path}"
        for line_number, raw_line in _read_lines(path):
            stats.lines += 1
            line = tokenization.decode_utf8_strict(raw_line, f"{path}, line {line_number}")
            line = line.strip()
            if not line:
                end_document()
                document_has_text = False
                continue
            file_has_text = document_has_text = True
            ids = token_ids(tokenizer, line)
            if ids:
                documents[-1].append(ids)
            else:
                stats.lines_without_tokens += 1
            progress.update(stats.lines)
        if not file_has_text:
            raise InputError(f"Input file {path} has no text (it is empty or only blank lines).")
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


def shuffle(
    items: list, rng: random.Random, on_progress: Callable[[int], None] | None = None
) -> None:
    """`rng.shuffle(items)`: the same draws and the same result, about 2x faster.

    CPython's `Random.shuffle` swaps item i (from the last down to 1) with item
    `_randbelow(i + 1)`, which draws `getrandbits(bit_length(i + 1))` until the
    value is <= i. This does the same inline. A subclass of `random.Random` gets
    its own `shuffle`.

    Args:
      on_progress: called with the number of swaps done every SHUFFLE_BLOCK swaps.
    """
    if type(rng) is not random.Random:
        rng.shuffle(items)
        return
    getrandbits = rng.getrandbits
    num_bits = len(items).bit_length()
    smallest_with_num_bits = 1 << (num_bits - 1) if num_bits else 0
    for block_end in range(len(items) - 1, 0, -SHUFFLE_BLOCK):
        for i in range(block_end, max(block_end - SHUFFLE_BLOCK, 0), -1):
            n = i + 1
            if n < smallest_with_num_bits:
                num_bits -= 1
                smallest_with_num_bits >>= 1
            j = getrandbits(num_bits)
            while j > i:
                j = getrandbits(num_bits)
            items[i], items[j] = items[j], items[i]
        if on_progress is not None:
            on_progress(len(items) - max(block_end - SHUFFLE_BLOCK, 0) - 1)


def truncate_seq_pair(
    tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random
) -> None:
    """Trims the longer of two lists, one token at a time from the front or back.

    Each step draws `rng.random()` (< 0.5: front) until the two fit in
    max_num_tokens, as the original. The steps only count how many tokens leave
    each end of each list, which are then cut at once: linear time where the
    original's deletion from the front of a long list is quadratic. Modifies
    the lists in place.
    """
    len_a, len_b = len(tokens_a), len(tokens_b)
    if len_a + len_b <= max_num_tokens:
        return
    uniform = rng.random
    front_a = front_b = 0
    while len_a + len_b > max_num_tokens:
        if len_a > len_b:
            len_a -= 1
            if uniform() < TRUNCATE_FRONT_PROB:
                front_a += 1
        else:
            len_b -= 1
            if uniform() < TRUNCATE_FRONT_PROB:
                front_b += 1
    tokens_a[:] = tokens_a[front_a : front_a + len_a]
    tokens_b[:] = tokens_b[front_b : front_b + len_b]


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


def _document_instances(
    all_documents: Sequence[Sequence[list[int]]],
    document_index: int,
    max_seq_length: int,
    short_seq_prob: float,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    vocab: VocabTables,
    rng: random.Random,
    do_whole_word_mask: bool,
) -> Iterator[TrainingInstance]:
    """Yields the instances of one document (see `create_instances_from_document`)."""
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - NUM_SPECIAL_TOKENS
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(MIN_SHORT_TARGET_LENGTH, max_num_tokens)

    cls_id = vocab.cls_id
    sep_id = vocab.sep_id
    last_document = len(all_documents) - 1
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
            yield TrainingInstance(
                input_ids=output_ids,
                segment_ids=[0] * num_a + [1] * (len(input_ids) - num_a),
                masked_lm_positions=positions,
                masked_lm_ids=label_ids,
                is_random_next=is_random_next,
            )
            chunk = []
            chunk_length = 0
        i += 1


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
    return list(
        _document_instances(
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
    )


def check_parameters(
    max_seq_length: int,
    dupe_factor: int,
    masked_lm_prob: float,
    max_predictions_per_seq: int,
    short_seq_prob: float = 0.1,
) -> None:
    """Raises InputError naming the flag of a value outside its range; warns on the cap.

    Ranges: max_seq_length >= 5 ([CLS] A [SEP] B [SEP]), max_predictions_per_seq
    >= 0, dupe_factor >= 1, masked_lm_prob and short_seq_prob in [0, 1].

    Logs a warning (once per call) when max_predictions_per_seq is below
    `round(max_seq_length * masked_lm_prob)`: full-length instances then get
    max_predictions_per_seq masked positions, as in the original.
    """
    if max_seq_length < MIN_MAX_SEQ_LENGTH:
        raise InputError(
            f"--max_seq_length={max_seq_length} is too small: it must be at least "
            f"{MIN_MAX_SEQ_LENGTH} ([CLS] A [SEP] B [SEP] with one token in A and B)."
        )
    if max_predictions_per_seq < 0:
        raise InputError(
            f"--max_predictions_per_seq={max_predictions_per_seq} is negative: it must be "
            "at least 0."
        )
    if dupe_factor < 1:
        raise InputError(
            f"--dupe_factor={dupe_factor} must be at least 1: it is the number of passes "
            "over the input, each giving every document new instances and masks."
        )
    for flag, value in (("masked_lm_prob", masked_lm_prob), ("short_seq_prob", short_seq_prob)):
        if not 0.0 <= value <= 1.0:  # also refuses NaN
            raise InputError(f"--{flag}={value} is not a probability: it must be in [0, 1].")
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
            yield from _document_instances(
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
    check_parameters(
        max_seq_length, dupe_factor, masked_lm_prob, max_predictions_per_seq, short_seq_prob
    )
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
# The whole job.
# ---------------------------------------------------------------------------


def expand_input_patterns(input_file: str | Sequence[str]) -> list[str]:
    """`files.expand_input_patterns` of `--input_file` (kept for old imports)."""
    return files.expand_input_patterns(input_file, flag="--input_file")


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

    Raises:
      InputError: a flag is out of range, a glob matches nothing, an input file
        has no text or is not UTF-8, or the vocabulary lacks a special token.
    """
    start = time.monotonic()
    stats = CorpusStats()
    output_files = output_file.split(",") if isinstance(output_file, str) else list(output_file)
    check_output_files(output_files)
    check_parameters(
        max_seq_length, dupe_factor, masked_lm_prob, max_predictions_per_seq, short_seq_prob
    )
    vocab = VocabTables.from_vocab(tokenizer.vocab)
    for path in output_files:
        # Partial outputs of a killed run can be large: free their space first.
        files.remove_stale_temp_files(*os.path.split(path))
    stats.input_files = expand_input_patterns(input_file)
    logging.info("*** Reading from input files ***")
    for path in stats.input_files:
        logging.info("  %s", path)

    progress = _Progress(stats)
    all_documents = read_documents(stats.input_files, tokenizer, stats, progress)
    logging.info(
        "Read %d lines, %d documents in %.1f s",
        stats.lines,
        stats.documents,
        time.monotonic() - start,
    )
    if not all_documents:
        raise InputError(f"The input files {stats.input_files} hold no tokens.")
    if len(all_documents) == 1:
        logging.warning("Only one document: random next sentences come from the same document.")

    rng = random.Random(random_seed)
    progress.start_phase("shuffling documents", "swaps", len(all_documents) - 1)
    shuffle(all_documents, rng, progress.update)
    encoder = RecordEncoder(max_seq_length, max_predictions_per_seq, max(vocab.id_to_token))
    packed = []
    num_documents = len(all_documents)
    progress.start_phase("creating instances", "documents", dupe_factor * num_documents)
    for dupe in range(dupe_factor):
        progress.detail = f"pass {dupe + 1} of {dupe_factor}"
        for document_index in range(num_documents):
            for instance in _document_instances(
                all_documents,
                document_index,
                max_seq_length,
                short_seq_prob,
                masked_lm_prob,
                max_predictions_per_seq,
                vocab,
                rng,
                do_whole_word_mask,
            ):
                packed.append(encoder.pack(instance))
                stats.instances += 1
                progress.update(dupe * num_documents + document_index)
    del all_documents
    progress.start_phase("shuffling instances", "swaps", max(len(packed) - 1, 0))
    shuffle(packed, rng, progress.update)
    logging.info("Created %d instances in %.1f s", stats.instances, time.monotonic() - start)

    logging.info("*** Writing to output files ***")
    for path in output_files:
        logging.info("  %s", path)
    progress.start_phase("writing", "instances", len(packed))

    def on_written(count: int) -> None:
        stats.instances_written = count
        progress.update(count)

    stats.instances_per_file = write_records(
        packed, output_files, encoder.record_from_packed, vocab.id_to_token, on_written
    )
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


# The flags every run must set (`cli.run` marks them required on the command line).
REQUIRED_FLAGS = ("input_file", "output_file", "vocab_file")


def define_flags() -> None:
    """Defines the original's flags, with its names, defaults and help (idempotent)."""
    from official_bert import cli

    ## Required parameters
    cli.define_flag(
        "string", "input_file", None, "Input raw text file (or comma-separated list of files)."
    )
    cli.define_flag(
        "string",
        "output_file",
        None,
        "Output TF example file (or comma-separated list of files).",
    )
    cli.define_flag(
        "string", "vocab_file", None, "The vocabulary file that the BERT model was trained on."
    )
    ## Other parameters
    cli.define_flag(
        "bool",
        "do_lower_case",
        True,
        "Whether to lower case the input text. Should be True for uncased "
        "models and False for cased models.",
    )
    cli.define_flag(
        "bool",
        "do_whole_word_mask",
        False,
        "Whether to use whole word masking rather than per-WordPiece masking.",
    )
    cli.define_flag("integer", "max_seq_length", 128, "Maximum sequence length.")
    cli.define_flag(
        "integer",
        "max_predictions_per_seq",
        20,
        "Maximum number of masked LM predictions per sequence.",
    )
    cli.define_flag("integer", "random_seed", 12345, "Random seed for data generation.")
    cli.define_flag(
        "integer",
        "dupe_factor",
        10,
        "Number of times to duplicate the input data (with different masks).",
    )
    cli.define_flag("float", "masked_lm_prob", 0.15, "Masked LM probability.")
    cli.define_flag(
        "float",
        "short_seq_prob",
        0.1,
        "Probability of creating sequences which are shorter than the maximum length.",
    )


def main(argv: Sequence[str]) -> None:
    """Runs `create_pretraining_data` with the flags."""
    del argv
    from official_bert import tokenization

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
    from official_bert import cli

    cli.run("official_bert.create_pretraining_data")
