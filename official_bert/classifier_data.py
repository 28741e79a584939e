"""Examples and data processors of the sentence (pair) classification tasks.

The port of the data classes of the original `run_classifier.py`: `InputExample`,
`PaddingInputExample`, `InputFeatures`, the `DataProcessor` base class and the
processors of CoLA, MNLI, MRPC and XNLI. They read exactly the original's files and
columns and build exactly its guids and labels, so the features written from them (see
`classifier_features`) are the original's.

Beyond the original: the GLUE tasks SST-2 (`sst-2`), RTE, QNLI, QQP and WNLI, reading
GLUE's own `train.tsv` / `dev.tsv` / `test.tsv` (each with a header line), with guids
`{split}-{line index}` as the original's MRPC and CoLA processors.

Where the original failed with an `IndexError` or a `KeyError` on bad input, these
processors raise an `errors.InputError` that names the file, the line and the offending
value; a split file without examples (empty, or only a header) is an `InputError`
naming the file.

Tasks are looked up by name in `PROCESSORS`; `register_processor` adds a task without
editing this module:

    @register_processor("my_task")
    class MyTaskProcessor(DataProcessor):
        ...
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Sequence
from typing import Any, TypeVar

import tensorflow as tf
from absl import logging

from official_bert import tokenization
from official_bert.errors import InputError, MissingFileError


@dataclasses.dataclass
class InputExample:
    """A single training/dev/test example for simple sequence classification.

    Attributes:
      guid: Unique id of the example, e.g. `train-1`.
      text_a: The untokenized text of the first sequence. For single sequence tasks,
        only this sequence is given.
      text_b: The untokenized text of the second sequence, or None for single
        sequence tasks.
      label: The label of the example, one of the processor's `get_labels()`. Test
        examples carry a placeholder label (the task's first label), as in the original.
      source: Where the example was read from (`path, line N`), used in error messages
        only; None for examples built by hand. Not part of the original's API.
    """

    guid: str
    text_a: str
    text_b: str | None = None
    label: str | None = None
    source: str | None = dataclasses.field(default=None, compare=False, repr=False)


class PaddingInputExample:
    """A fake example that pads the number of examples to a multiple of the batch size.

    A TPU needs every batch of eval/predict to have the same size; rather than dropping
    the last batch, the example list is padded with these, which convert to all-zero
    features with `is_real_example=0` and so carry no weight in the metrics. A class of
    its own, rather than `None`, so that padding can never be mistaken for data.
    """

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaddingInputExample)

    def __hash__(self) -> int:
        return hash(PaddingInputExample)

    def __repr__(self) -> str:
        return "PaddingInputExample()"


@dataclasses.dataclass
class InputFeatures:
    """The features of one example, each list of length `max_seq_length`.

    Attributes:
      input_ids: WordPiece ids of `[CLS] A [SEP] (B [SEP])`, zero padded.
      input_mask: 1 for real tokens, 0 for padding.
      segment_ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, 0 for padding.
      label_id: Index of the label in the processor's `get_labels()`.
      is_real_example: False for the features of a `PaddingInputExample`.
    """

    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    label_id: int
    is_real_example: bool = True


class DataProcessor:
    """Base class of the data converters of sequence classification data sets."""

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        """Returns the `InputExample`s of the train set found in `data_dir`."""
        raise NotImplementedError(f"{type(self).__name__} has no train set.")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        """Returns the `InputExample`s of the dev set found in `data_dir`."""
        raise NotImplementedError(f"{type(self).__name__} has no dev set.")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        """Returns the `InputExample`s of the test set (for prediction) in `data_dir`."""
        raise NotImplementedError(f"{type(self).__name__} has no test set.")

    def get_labels(self) -> list[str]:
        """Returns the list of labels; a label's index is its `label_id`."""
        raise NotImplementedError()

    @classmethod
    def _read_tsv(cls, input_file: str, quotechar: str | None = None) -> list[list[str]]:
        """Reads a tab separated file into a list of rows, one per line.

        Fields are split on tabs only: with the default `quotechar=None` quotes are
        ordinary characters, as in the original. A blank line gives an empty row.

        Raises:
          MissingFileError (a FileNotFoundError): `input_file` does not exist.
          InputError: the file is not valid UTF-8 or not parseable as TSV.
        """
        if not tf.io.gfile.exists(input_file):
            raise MissingFileError(
                f"{cls.__name__}: expected data file {input_file} does not exist; check "
                "--data_dir and that the task's files keep their GLUE names."
            )
        with tf.io.gfile.GFile(input_file, "r") as f:
            reader = csv.reader(f, delimiter="\t", quotechar=quotechar)
            try:
                return list(reader)
            except UnicodeDecodeError as e:
                raise InputError(f"{input_file} is not valid UTF-8 text: {e}") from e
            except csv.Error as e:
                raise InputError(f"{input_file}, line {reader.line_num}: {e}") from e

    def _create_examples_from(self, input_file: str, set_type: str) -> list[InputExample]:
        """The examples of one split file, read by the processor's `_create_examples`.

        Raises:
          InputError: the file gives no example (it is empty or holds only a header).
        """
        examples = self._create_examples(self._read_tsv(input_file), set_type, input_file)
        check_has_examples(examples, input_file)
        return examples

    def _create_examples(
        self, lines: list[list[str]], set_type: str, input_file: str = "<tsv>"
    ) -> list[InputExample]:
        """The examples of the rows of one file (`input_file` is for error messages)."""
        raise NotImplementedError(f"{type(self).__name__} does not read TSV rows.")

    def _example(
        self,
        input_file: str,
        line_index: int,
        row: Sequence[str],
        guid: str,
        text_a: int,
        text_b: int | None,
        label: int | str,
    ) -> InputExample:
        """Builds the example of one TSV row, checking its columns and its label.

        Args:
          input_file: The file the row was read from, for error messages.
          line_index: The row's 0-based index in the file (its line is `line_index + 1`).
          row: The row's fields.
          guid: The example's guid.
          text_a: Column of the first text.
          text_b: Column of the second text, or None for single sentence tasks.
          label: Column of the label (negative counts from the end), or, as a string,
            the placeholder label of a test example.

        Raises:
          InputError: the row has too few columns, or its label is not in
            `get_labels()`.
        """
        source = f"{input_file}, line {line_index + 1}"
        columns = [text_a] + ([text_b] if text_b is not None else [])
        needed = max(columns) + 1
        if isinstance(label, int):
            # A label counted from the end must not fall onto a text column.
            needed = max(needed, label + 1 if label >= 0 else needed - label)
        if len(row) < needed:
            raise InputError(
                f"{source}: expected at least {needed} tab-separated columns for "
                f"{type(self).__name__}, found {len(row)}: {repr(list(row))[:300]}"
            )
        if isinstance(label, int):
            label = tokenization.convert_to_unicode(row[label])
            labels = self.get_labels()
            if label not in labels:
                raise InputError(f"{source}: label {label!r} is not one of {labels}.")
        return InputExample(
            guid=guid,
            text_a=tokenization.convert_to_unicode(row[text_a]),
            text_b=None if text_b is None else tokenization.convert_to_unicode(row[text_b]),
            label=label,
            source=source,
        )


class XnliProcessor(DataProcessor):
    """Processor of the XNLI data set.

    Trains on the machine translated MultiNLI train set of one language and evaluates
    on the rows of that language in the XNLI dev set. The original has no test set.
    """

    def __init__(self, language: str = "zh") -> None:
        """Reads the data of `language` (the original fixes it to "zh")."""
        self.language = language

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `multinli/multinli.train.{language}.tsv` (header line skipped)."""
        input_file = os.path.join(data_dir, "multinli", f"multinli.train.{self.language}.tsv")
        examples = []
        for i, row in enumerate(self._read_tsv(input_file)):
            if i == 0:
                continue
            # The machine translated train files spell one label "contradictory".
            if len(row) > 2 and row[2] == "contradictory":
                row = row[:2] + ["contradiction"] + row[3:]
            examples.append(self._example(input_file, i, row, f"train-{i}", 0, 1, label=2))
        check_has_examples(examples, input_file)
        return examples

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        """Reads the rows of `language` in `xnli.dev.tsv`; guids count all rows."""
        input_file = os.path.join(data_dir, "xnli.dev.tsv")
        examples = []
        for i, row in enumerate(self._read_tsv(input_file)):
            if i == 0:
                continue
            if not row:
                raise InputError(f"{input_file}, line {i + 1}: empty line.")
            if tokenization.convert_to_unicode(row[0]) != self.language:
                continue
            examples.append(self._example(input_file, i, row, f"dev-{i}", 6, 7, label=1))
        check_has_examples(examples, input_file, f" in language {self.language!r}")
        return examples

    def get_labels(self) -> list[str]:
        """See base class."""
        return ["contradiction", "entailment", "neutral"]


class MnliProcessor(DataProcessor):
    """Processor of the MultiNLI data set (GLUE version, matched dev and test)."""

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `train.tsv`."""
        return self._create_examples_from(os.path.join(data_dir, "train.tsv"), "train")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `dev_matched.tsv`; guids are `dev_matched-{index}`."""
        path = os.path.join(data_dir, "dev_matched.tsv")
        return self._create_examples_from(path, "dev_matched")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `test_matched.tsv`; guids are `test-{index}`."""
        return self._create_examples_from(os.path.join(data_dir, "test_matched.tsv"), "test")

    def get_labels(self) -> list[str]:
        """See base class."""
        return ["contradiction", "entailment", "neutral"]

    def _create_examples(
        self, lines: list[list[str]], set_type: str, input_file: str = "<tsv>"
    ) -> list[InputExample]:
        """Header skipped; guid from the `index` column, label from the last column."""
        examples = []
        for i, row in enumerate(lines):
            if i == 0:
                continue
            if not row:
                raise InputError(f"{input_file}, line {i + 1}: empty line.")
            guid = f"{set_type}-{tokenization.convert_to_unicode(row[0])}"
            # Test rows have no label column: they all get the first label.
            label = "contradiction" if set_type == "test" else -1
            examples.append(self._example(input_file, i, row, guid, 8, 9, label))
        return examples


class TsvSplitsProcessor(DataProcessor):
    """A task whose splits are `train.tsv`, `dev.tsv` and `test.tsv` in `data_dir`."""

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `train.tsv`."""
        return self._create_examples_from(os.path.join(data_dir, "train.tsv"), "train")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `dev.tsv`."""
        return self._create_examples_from(os.path.join(data_dir, "dev.tsv"), "dev")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        """Reads `test.tsv`."""
        return self._create_examples_from(os.path.join(data_dir, "test.tsv"), "test")


class MrpcProcessor(TsvSplitsProcessor):
    """Processor of the MRPC data set (GLUE version)."""

    def get_labels(self) -> list[str]:
        """See base class."""
        return ["0", "1"]

    def _create_examples(
        self, lines: list[list[str]], set_type: str, input_file: str = "<tsv>"
    ) -> list[InputExample]:
        """Header skipped; guid `{set_type}-{line index}`, label from column 0."""
        examples = []
        for i, row in enumerate(lines):
            if i == 0:
                continue
            # Test rows carry an index in column 0: they all get the first label.
            label = "0" if set_type == "test" else 0
            examples.append(self._example(input_file, i, row, f"{set_type}-{i}", 3, 4, label))
        return examples


class ColaProcessor(TsvSplitsProcessor):
    """Processor of the CoLA data set (GLUE version)."""

    def get_labels(self) -> list[str]:
        """See base class."""
        return ["0", "1"]

    def _create_examples(
        self, lines: list[list[str]], set_type: str, input_file: str = "<tsv>"
    ) -> list[InputExample]:
        """Only the test file has a header; guid `{set_type}-{line index}`."""
        examples = []
        for i, row in enumerate(lines):
            if set_type == "test":
                if i == 0:
                    continue
                # Test rows are `index, sentence`: they all get the first label.
                example = self._example(input_file, i, row, f"test-{i}", 1, None, "0")
            else:
                example = self._example(input_file, i, row, f"{set_type}-{i}", 3, None, 1)
            examples.append(example)
        return examples


class GlueTsvProcessor(TsvSplitsProcessor):
    """A GLUE task in GLUE's layout: `train.tsv`, `dev.tsv`, `test.tsv`, each with a header.

    Subclasses set the labels and the columns of the texts and the label. Test rows
    have no label column: they all get the first label, as in the original.

    Attributes:
      LABELS: the labels, in label-id order.
      COLUMNS: (text_a, text_b or None, label) columns of train.tsv and dev.tsv.
      TEST_COLUMNS: (text_a, text_b or None) columns of test.tsv.
    """

    LABELS: tuple[str, ...] = ()
    COLUMNS: tuple[int, int | None, int] = (0, None, 1)
    TEST_COLUMNS: tuple[int, int | None] = (1, None)

    def get_labels(self) -> list[str]:
        """See base class."""
        return list(self.LABELS)

    def _create_examples(
        self, lines: list[list[str]], set_type: str, input_file: str = "<tsv>"
    ) -> list[InputExample]:
        """Header skipped; guid `{set_type}-{line index}`."""
        examples = []
        for i, row in enumerate(lines):
            if i == 0:
                continue
            examples.append(self._row_example(input_file, i, row, set_type))
        return examples

    def _row_example(
        self, input_file: str, i: int, row: Sequence[str], set_type: str
    ) -> InputExample:
        if set_type == "test":
            text_a, text_b = self.TEST_COLUMNS
            label: int | str = self.LABELS[0]
        else:
            text_a, text_b, label = self.COLUMNS
        return self._example(input_file, i, row, f"{set_type}-{i}", text_a, text_b, label)


class Sst2Processor(GlueTsvProcessor):
    """SST-2 (GLUE): `sentence, label` rows; test rows `index, sentence`; labels 0/1."""

    LABELS = ("0", "1")
    COLUMNS = (0, None, 1)
    TEST_COLUMNS = (1, None)


class RteProcessor(GlueTsvProcessor):
    """RTE (GLUE): `index, sentence1, sentence2, label`; entailment / not_entailment."""

    LABELS = ("entailment", "not_entailment")
    COLUMNS = (1, 2, 3)
    TEST_COLUMNS = (1, 2)


class QnliProcessor(GlueTsvProcessor):
    """QNLI (GLUE): `index, question, sentence, label`; entailment / not_entailment."""

    LABELS = ("entailment", "not_entailment")
    COLUMNS = (1, 2, 3)
    TEST_COLUMNS = (1, 2)


class WnliProcessor(GlueTsvProcessor):
    """WNLI (GLUE): `index, sentence1, sentence2, label`; labels 0/1."""

    LABELS = ("0", "1")
    COLUMNS = (1, 2, 3)
    TEST_COLUMNS = (1, 2)


class QqpProcessor(GlueTsvProcessor):
    """QQP (GLUE): `id, qid1, qid2, question1, question2, is_duplicate`; test rows
    `id, question1, question2`; labels 0/1.

    GLUE's QQP train.tsv and dev.tsv hold a few malformed rows (fewer than six
    columns, from questions with line breaks). They are skipped, with their count
    and first line logged, as Hugging Face's and Model Garden's QQP processors
    skip them. A short test row is an error: test_results.tsv must keep one line
    per test row.
    """

    LABELS = ("0", "1")
    COLUMNS = (3, 4, 5)
    TEST_COLUMNS = (1, 2)
    NUM_COLUMNS = 6

    def _create_examples(
        self, lines: list[list[str]], set_type: str, input_file: str = "<tsv>"
    ) -> list[InputExample]:
        """Header skipped; short train/dev rows skipped and counted."""
        examples = []
        skipped = []
        for i, row in enumerate(lines):
            if i == 0:
                continue
            if set_type != "test" and len(row) < self.NUM_COLUMNS:
                skipped.append(i + 1)
                continue
            examples.append(self._row_example(input_file, i, row, set_type))
        if skipped:
            logging.warning(
                "%s: skipped %d malformed row(s) with fewer than %d columns (line %s%s).",
                input_file,
                len(skipped),
                self.NUM_COLUMNS,
                skipped[0],
                " and others" if len(skipped) > 1 else "",
            )
        return examples


def check_has_examples(examples: Sequence[InputExample], input_file: str, which: str = "") -> None:
    """Raises InputError naming `input_file` when it gave no example.

    Args:
      which: words that narrow the examples looked for, e.g. " in language 'zh'".
    """
    if not examples:
        raise InputError(
            f"{input_file} holds no examples{which} (it is empty or has only a header "
            "line): check --data_dir and the file."
        )


PROCESSORS: dict[str, type[DataProcessor]] = {
    "cola": ColaProcessor,
    "mnli": MnliProcessor,
    "mrpc": MrpcProcessor,
    "xnli": XnliProcessor,
    "sst-2": Sst2Processor,
    "rte": RteProcessor,
    "qnli": QnliProcessor,
    "qqp": QqpProcessor,
    "wnli": WnliProcessor,
}

_ProcessorT = TypeVar("_ProcessorT", bound=type[DataProcessor])


def register_processor(
    name: str, processor_cls: _ProcessorT | None = None, *, overwrite: bool = False
) -> Any:
    """Adds a task to `PROCESSORS` under `name.lower()`.

    Call it as `register_processor("my_task", MyTaskProcessor)` or use it as a class
    decorator, `@register_processor("my_task")`.

    Args:
      name: The task name, matched case-insensitively like `--task_name`.
      processor_cls: A `DataProcessor` subclass whose constructor takes no arguments.
      overwrite: Whether to replace a task already registered under `name`.

    Returns:
      `processor_cls`, or, without it, a decorator that registers its class.

    Raises:
      InputError: `name` is already registered and `overwrite` is False.
      TypeError: `processor_cls` is not a `DataProcessor` subclass.
    """

    def register(cls: _ProcessorT) -> _ProcessorT:
        if not (isinstance(cls, type) and issubclass(cls, DataProcessor)):
            raise TypeError(f"register_processor({name!r}): {cls!r} is not a DataProcessor.")
        key = name.lower()
        if key in PROCESSORS and PROCESSORS[key] is not cls and not overwrite:
            raise InputError(
                f"Task {key!r} is already registered to {PROCESSORS[key].__name__}; "
                "pass overwrite=True to replace it."
            )
        PROCESSORS[key] = cls
        return cls

    if processor_cls is None:
        return register
    return register(processor_cls)


def get_processor(task_name: str, **kwargs: Any) -> DataProcessor:
    """Returns a new processor of the task `task_name` (case-insensitive).

    Args:
      task_name: A key of `PROCESSORS`, in any case, e.g. "MRPC".
      **kwargs: Passed to the processor's constructor (e.g. `language` for XNLI).

    Raises:
      InputError: no task of that name is registered; the message lists the known ones.
    """
    key = task_name.lower()
    if key not in PROCESSORS:
        raise InputError(
            f"Task not found: {key}. Known tasks: {', '.join(sorted(PROCESSORS))}; "
            "register a new one with classifier_data.register_processor."
        )
    return PROCESSORS[key](**kwargs)
