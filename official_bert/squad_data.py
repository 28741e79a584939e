"""SQuAD examples: reading SQuAD 1.1 / 2.0 files, and the checks of run_squad.py's flags.

- `read_squad_examples` reads a SQuAD JSON file into `SquadExample`s: each
  paragraph's context split on whitespace (" ", tab, CR, LF and U+202F, the
  original's set, so U+00A0 stays inside a word), and for training the answer's
  word span from its `answer_start`. A training answer whose text cannot be found
  in that span is skipped with a warning, as in the original, and the skipped
  questions are counted in the log. Every problem with the file (not UTF-8, not
  JSON, a missing key, a training question without exactly one answer) is an
  `InputError` naming the file and the question.
- `shuffle_examples` is the original's shuffle of the training examples.
- `validate_flags_or_throw` is the original's check of the flags, taking their
  values as arguments, plus the window checks of `check_feature_flags`.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from typing import Any

import tensorflow as tf
from absl import logging

from official_bert import tokenization
from official_bert.errors import InputError, MissingFileError

# The original shuffles the training examples with random.Random(12345) before
# writing them, so that the input pipeline needs only a small shuffle buffer.
TRAIN_SHUFFLE_SEED = 12345
# [CLS], [SEP] and [SEP] around the question and the document piece.
NUM_SPECIAL_TOKENS = 3
# Characters read_squad_examples splits a context on: the original's set.
_DOC_WHITESPACE = " \t\r\n\u202f"
_DOC_WORD = re.compile(f"[^{_DOC_WHITESPACE}]+")


class SquadExample:
    """A single training/test example: a question and its whitespace-split document.

    For examples without an answer (SQuAD 2.0 `is_impossible` training questions)
    the start and end positions are -1; for prediction examples they are None.

    Attributes:
      qas_id: the question's "id".
      question_text: the question.
      doc_tokens: the context split on whitespace; examples of one paragraph share
        the same list.
      orig_answer_text: the answer's text (training only; "" if impossible).
      start_position, end_position: the answer's first and last index in doc_tokens.
      is_impossible: the question's "is_impossible" (SQuAD 2.0 training only).
    """

    def __init__(
        self,
        qas_id: str,
        question_text: str,
        doc_tokens: list[str],
        orig_answer_text: str | None = None,
        start_position: int | None = None,
        end_position: int | None = None,
        is_impossible: bool = False,
    ):
        self.qas_id = qas_id
        self.question_text = question_text
        self.doc_tokens = doc_tokens
        self.orig_answer_text = orig_answer_text
        self.start_position = start_position
        self.end_position = end_position
        self.is_impossible = is_impossible

    def __str__(self) -> str:
        return self.__repr__()

    def __repr__(self) -> str:
        s = f"qas_id: {tokenization.printable_text(self.qas_id)}"
        s += f", question_text: {tokenization.printable_text(self.question_text)}"
        s += f", doc_tokens: [{' '.join(self.doc_tokens)}]"
        # As the original: the positions are shown only when start_position is truthy.
        if self.start_position:
            s += f", start_position: {self.start_position}"
            s += f", end_position: {self.end_position}"
            s += f", is_impossible: {self.is_impossible!r}"
        return s


# ---------------------------------------------------------------------------
# Reading.
# ---------------------------------------------------------------------------


def load_json_file(path: str, what: str = "SQuAD file", flag: str | None = None) -> Any:
    """Reads a UTF-8 JSON file; every failure is an InputError naming the file.

    Args:
      path: the file.
      what: what the file is, for the messages ("SQuAD file", "Predictions file").
      flag: the flag that named the file, if any, for the messages.
    """
    named = f"{what} {path!r}" + (f" (--{flag})" if flag else "")
    if not tf.io.gfile.exists(path):
        raise MissingFileError(f"{named} does not exist.")
    with tf.io.gfile.GFile(path, "rb") as reader:
        data = reader.read()
    text = tokenization.decode_utf8_strict(data, source=named)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{named} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}."
        ) from e


def _field(container: Any, key: str, where: str, path: str, types: type | tuple = ()) -> Any:
    """container[key], or an InputError naming the file, the place and the key."""
    if not isinstance(container, dict):
        raise InputError(f"SQuAD file {path!r}: {where} is not a JSON object.")
    if key not in container:
        raise InputError(f"SQuAD file {path!r}: {where} has no {key!r}.")
    value = container[key]
    if types and not isinstance(value, types):
        expected = types if isinstance(types, tuple) else (types,)
        raise InputError(
            f"SQuAD file {path!r}: {key!r} of {where} must be "
            f"{' or '.join(t.__name__ for t in expected)}, not {type(value).__name__}."
        )
    return value


def split_context(paragraph_text: str) -> tuple[list[str], list[int]]:
    """The context's words, split on the original's whitespace, and where each starts.

    The original's `char_to_word_offset[i]` (the word at or before character i,
    -1 before the first word) is `bisect_right(starts, i) - 1`.
    """
    doc_tokens, starts = [], []
    for match in _DOC_WORD.finditer(paragraph_text):
        doc_tokens.append(match.group())
        starts.append(match.start())
    return doc_tokens, starts


def read_squad_examples(
    input_file: str, is_training: bool, version_2_with_negative: bool = False
) -> list[SquadExample]:
    """Reads a SQuAD JSON file into a list of `SquadExample`s, in file order.

    Args:
      input_file: a SQuAD 1.1 or 2.0 JSON file ({"data": [{"paragraphs": [{"context",
        "qas": [{"id", "question", "answers": [{"text", "answer_start"}],
        "is_impossible"}]}]}]}).
      is_training: read the answers: each question must have exactly one (unless
        impossible), and questions whose answer text is not at its answer_start
        are skipped with a warning.
      version_2_with_negative: (training) read "is_impossible".

    Raises:
      MissingFileError: the file does not exist.
      InputError: the file is not UTF-8 or not JSON, a key is missing or has the
        wrong type (the message names the file and the question), or a training
        question does not have exactly one answer.
    """
    input_data = _field(load_json_file(input_file), "data", "the top level", input_file, list)
    examples: list[SquadExample] = []
    num_questions = 0
    skipped: list[str] = []
    for entry_index, entry in enumerate(input_data):
        title = entry.get("title") if isinstance(entry, dict) else None
        entry_where = f"data[{entry_index}]" + (f" ({title!r})" if title is not None else "")
        paragraphs = _field(entry, "paragraphs", entry_where, input_file, list)
        for paragraph_index, paragraph in enumerate(paragraphs):
            where = f"{entry_where} paragraph {paragraph_index}"
            paragraph_text = _field(paragraph, "context", where, input_file, str)
            qas = _field(paragraph, "qas", where, input_file, list)
            doc_tokens, word_starts = split_context(paragraph_text)
            for qa_index, qa in enumerate(qas):
                qa_where = f"question {qa_index} of {where}"
                qas_id = _field(qa, "id", qa_where, input_file)
                qa_where = f"question {qas_id!r} ({where})"
                question_text = _field(qa, "question", qa_where, input_file, str)
                num_questions += 1
                example = SquadExample(qas_id, question_text, doc_tokens)
                if is_training:
                    found = _read_training_answer(
                        example,
                        qa,
                        paragraph_text,
                        word_starts,
                        version_2_with_negative,
                        qa_where,
                        input_file,
                    )
                    if not found:
                        skipped.append(str(qas_id))
                        continue
                examples.append(example)
    message = f"Read {len(examples):,} examples from {num_questions:,} questions of {input_file}"
    if skipped:
        shown = ", ".join(skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        logging.warning(
            "%s; skipped %d training questions whose answer text was not found at its "
            "answer_start (%s)",
            message,
            len(skipped),
            shown,
        )
    else:
        logging.info("%s", message)
    return examples


def _read_training_answer(
    example: SquadExample,
    qa: dict,
    paragraph_text: str,
    word_starts: list[int],
    version_2_with_negative: bool,
    where: str,
    path: str,
) -> bool:
    """Sets the example's answer fields; False if the answer is not where it says."""
    is_impossible = False
    if version_2_with_negative:
        is_impossible = _field(qa, "is_impossible", where, path)
    answers = _field(qa, "answers", where, path, list)
    if len(answers) != 1 and not is_impossible:
        raise InputError(
            f"SQuAD file {path!r}: {where} has {len(answers)} answers. For training, each "
            "question should have exactly 1 answer (dev files may have several: use the "
            "train file for --train_file; a SQuAD 2.0 file needs --version_2_with_negative)."
        )
    example.is_impossible = is_impossible
    if is_impossible:
        example.start_position = -1
        example.end_position = -1
        example.orig_answer_text = ""
        return True
    answer = answers[0]
    orig_answer_text = _field(answer, "text", f"the answer of {where}", path, str)
    answer_offset = _field(answer, "answer_start", f"the answer of {where}", path, int)
    answer_end = answer_offset + len(orig_answer_text) - 1
    num_chars = len(paragraph_text)
    # The original indexes char_to_word_offset with answer_start and the answer's last
    # character (Python indexing: -1 is the last character, for an empty answer at 0).
    if not (0 <= answer_offset < num_chars and -num_chars <= answer_end < num_chars):
        logging.warning(
            "Could not find answer of %s: answer_start %d (length %d) is outside its "
            "context of %d characters",
            where,
            answer_offset,
            len(orig_answer_text),
            num_chars,
        )
        return False
    start_position = bisect.bisect_right(word_starts, answer_offset) - 1
    end_position = bisect.bisect_right(word_starts, answer_end % num_chars) - 1
    # Only answers whose text can be recovered from the document are kept (weird
    # Unicode, e.g. a U+00A0 inside the answer, defeats it); so in training not every
    # question becomes an example.
    actual_text = " ".join(example.doc_tokens[start_position : end_position + 1])
    cleaned_answer_text = " ".join(tokenization.whitespace_tokenize(orig_answer_text))
    if actual_text.find(cleaned_answer_text) == -1:
        logging.warning(
            "Could not find answer of %s: '%s' vs. '%s'", where, actual_text, cleaned_answer_text
        )
        return False
    example.orig_answer_text = orig_answer_text
    example.start_position = start_position
    example.end_position = end_position
    return True


def shuffle_examples(examples: list[SquadExample]) -> None:
    """Shuffles training examples in place, as the original: random.Random(12345).shuffle."""
    random.Random(TRAIN_SHUFFLE_SEED).shuffle(examples)


# ---------------------------------------------------------------------------
# Flags.
# ---------------------------------------------------------------------------


def check_feature_flags(max_seq_length: int, doc_stride: int, max_query_length: int) -> None:
    """Raises InputError, naming the flag, for window settings that cannot work.

    max_seq_length must exceed max_query_length + 3 ([CLS] and two [SEP]s), and
    doc_stride must be at least 1. A doc_stride of at least the smallest document
    window, max_seq_length - max_query_length - 3, runs as in the original (the
    windows advance by at most their length, so they no longer overlap; e.g.
    --max_seq_length=128 with the default --doc_stride=128): a warning says so.
    """
    if max_query_length < 0:
        raise InputError(f"--max_query_length must not be negative, got {max_query_length}.")
    if max_seq_length <= max_query_length + NUM_SPECIAL_TOKENS:
        raise InputError(
            f"The max_seq_length ({max_seq_length}) must be greater than max_query_length "
            f"({max_query_length}) + 3: raise --max_seq_length or lower --max_query_length."
        )
    if doc_stride < 1:
        raise InputError(f"--doc_stride must be at least 1, got {doc_stride}.")
    window = max_seq_length - max_query_length - NUM_SPECIAL_TOKENS
    if doc_stride >= window:
        logging.warning(
            "--doc_stride (%d) is not smaller than the document window, max_seq_length - "
            "max_query_length - 3 = %d (for the longest questions): such windows do not "
            "overlap, and an answer that crosses from one into the next is in neither. "
            "This runs as in the original; lower --doc_stride for overlapping windows.",
            doc_stride,
            window,
        )


def validate_flags_or_throw(
    bert_config: Any = None,
    *,
    do_train: bool,
    do_predict: bool,
    train_file: str | None,
    predict_file: str | None,
    max_seq_length: int,
    max_query_length: int,
    doc_stride: int,
    do_lower_case: bool | None = None,
    init_checkpoint: str | None = None,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> None:
    """The original's checks of run_squad.py's flags, and the window checks, as InputErrors.

    Args:
      bert_config: a `modeling.BertConfig` (or None to skip the sequence-length check).
      do_lower_case, init_checkpoint: checked against each other as the original
        (skipped when do_lower_case is None).
      The others: the flags of the same names.
    """
    if do_lower_case is not None:
        tokenization.validate_case_matches_checkpoint(do_lower_case, init_checkpoint)
    if not do_train and not do_predict:
        raise InputError("At least one of `do_train` or `do_predict` must be True.")
    if do_train and not train_file:
        raise InputError("If `do_train` is True, then `train_file` must be specified.")
    if do_predict and not predict_file:
        raise InputError("If `do_predict` is True, then `predict_file` must be specified.")
    if bert_config is not None and max_seq_length > bert_config.max_position_embeddings:
        raise InputError(
            f"Cannot use sequence length {max_seq_length} because the BERT model was only "
            f"trained up to sequence length {bert_config.max_position_embeddings} "
            "(--max_seq_length)."
        )
    check_feature_flags(max_seq_length, doc_stride, max_query_length)
    if n_best_size < 1:
        raise InputError(f"--n_best_size must be at least 1, got {n_best_size}.")
    if max_answer_length < 1:
        raise InputError(f"--max_answer_length must be at least 1, got {max_answer_length}.")
