"""BERT finetuning runner: sentence (pair) classification (run_classifier.py).

The library of `python run_classifier.py`, `python -m official_bert.classifier`
and `bert-run-classifier`: `define_flags()` defines the original's flags (same
names, defaults and help) and this port's.

`ClassifierTask` gives the training loop of `official_bert.training` the
original's classifier (`BertClassifier`), its loss and its `metric_fn`;
`run(flags)` is the original's `main`: check the flags, read the task's
files, write `train.tf_record` / `eval.tf_record` / `predict.tf_record` in
`output_dir`, train, evaluate into `eval_results.txt` and predict into
`test_results.tsv`, in the original's formats.

Where the original failed late (after training) or with a bare Python error,
`run` checks everything a user can get wrong before it writes anything: the
flags, the config, every data file the run needs (a missing file, a short
row or an unknown label is reported with its file and line) and the shapes of
`--init_checkpoint`. A failed check leaves `output_dir` as it was.

Beyond the original (issue 18, Mosbach et al.'s stable fine-tuning): with
`--do_train --do_eval` every dev evaluation goes to `eval_history.jsonl`;
`--eval_every_n_steps` evaluates during training and `--keep_best_checkpoint`
keeps the best one in `best_checkpoint/` and ends on it (`DevEvaluation`).
CoLA's results gain `eval_mcc`, MRPC's and QQP's `eval_f1` (`glue_metrics`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import flags as absl_flags
from absl import logging

from official_bert import (
    classifier_data,
    classifier_features,
    cli,
    distribute,
    flags_common,
    glue_metrics,
    tokenization,
)
from official_bert.dev_evaluation import (  # noqa: F401  (DevEvaluation's names, re-exported)
    BEST_CHECKPOINT_DIRNAME,
    EVAL_HISTORY_FILENAME,
    SCORE_KEY,
    DevEvaluation,
    read_eval_history,
)
from official_bert.errors import InputError
from official_bert.modeling import BertConfig, check_max_seq_length
from official_bert.models import BertClassifier
from official_bert.results import read_eval_results  # noqa: F401  (re-exported)
from official_bert.training import (
    EVAL_RESULTS_FILENAME,
    Task,
    Trainer,
    accuracy_sums,
    check_batch_size,
    mean_sums,
    replica_mean,
    write_eval_results,
)

TEST_RESULTS_FILENAME = "test_results.tsv"
TRAIN_RECORD_FILENAME = "train.tf_record"
EVAL_RECORD_FILENAME = "eval.tf_record"
PREDICT_RECORD_FILENAME = "predict.tf_record"

# The flags a command line must give (as the original's __main__).
REQUIRED_FLAGS = ("data_dir", "task_name", "vocab_file", "bert_config_file", "output_dir")

# Every worker of a multi-worker run shuffles the training records with this
# seed (unless one is given) so that the workers' shards of the stream are a
# partition of it; the original ran on one host and left the shuffle unseeded.
MULTI_WORKER_SHUFFLE_SEED = 12345


# --------------------------------------------------------------------------- flags


def define_flags() -> None:
    """Defines the original run_classifier.py's flags (and the shared TF2 flags) in absl's FLAGS.

    Idempotent: a flag that is already defined (by another entry point in the
    same process) is kept, with this entry point's default (`cli.define_flag`).
    """
    flags_common.define_common_flags()

    ## Required parameters
    cli.define_flag(
        "string",
        "data_dir",
        None,
        "The input data dir. Should contain the .tsv files (or other data files) for the task.",
    )
    cli.define_flag("string", "task_name", None, "The name of the task to train.")
    cli.define_flag(
        "string", "vocab_file", None, "The vocabulary file that the BERT model was trained on."
    )

    ## Other parameters
    cli.define_flag(
        "bool",
        "do_lower_case",
        True,
        "Whether to lower case the input text. Should be True for uncased models and False "
        "for cased models.",
    )
    cli.define_flag(
        "integer",
        "max_seq_length",
        128,
        "The maximum total input sequence length after WordPiece tokenization. Sequences "
        "longer than this will be truncated, and sequences shorter than this will be padded.",
    )
    cli.define_flag(
        "bool", "do_predict", False, "Whether to run the model in inference mode on the test set."
    )
    cli.define_flag("integer", "predict_batch_size", 8, "Total batch size for predict.")
    cli.define_flag("float", "num_train_epochs", 3.0, "Total number of training epochs to perform.")
    cli.define_flag(
        "float",
        "warmup_proportion",
        0.1,
        "Proportion of training to perform linear learning rate warmup for. E.g., 0.1 = 10% "
        "of training.",
    )

    ## Parameters of this port
    cli.define_flag(
        "integer",
        "eval_every_n_steps",
        0,
        "With --do_train and --do_eval: evaluate the dev set every this many training "
        "steps (and after the last), on the same training input stream, logging each "
        f"evaluation and writing it to output_dir/{EVAL_HISTORY_FILENAME}. A resumed run "
        "evaluates at the same steps. 0 (the default) evaluates once after training, as "
        "the original.",
        group=cli.PORT,
    )
    cli.define_flag(
        "bool",
        "keep_best_checkpoint",
        False,
        "With --do_train and --do_eval: after each dev evaluation, keep the checkpoint whose "
        "task score is the best so far (accuracy; Matthews correlation for CoLA; the mean of "
        f"accuracy and F1 for MRPC and QQP) in output_dir/{BEST_CHECKPOINT_DIRNAME}/ with "
        "its eval_results.txt, and end training on it: the final eval_results.txt and "
        "--do_predict use the best model (global_step = its step). Use with "
        "--eval_every_n_steps.",
        group=cli.PORT,
    )


# --------------------------------------------------------------------------- task


class ClassifierTask(Task):
    """`BertClassifier`, its loss and the original's `metric_fn`.

    The loss of a global batch is the original's: the mean of the per-example
    cross-entropies over the whole global batch, whatever the number of
    replicas. The metrics weigh each example by `is_real_example`, so the
    padding examples of a TPU eval do not count:

    * `eval_accuracy`: `tf.metrics.accuracy(label_ids, argmax(logits), weights)`;
    * `eval_loss`: `tf.metrics.mean(per_example_loss, weights)`;
    * with a `task_name` of `glue_metrics.EXTRA_METRICS` (not in the original):
      `eval_mcc` (CoLA) or `eval_f1` (MRPC, QQP), from the weighted confusion
      matrix summed over the whole eval set.

    Args:
      bert_config: the BertConfig of the encoder.
      num_labels: the number of classes (`len(processor.get_labels())`).
      task_name: the task, for its extra metrics; None gives the original's two.
    """

    def __init__(self, bert_config: BertConfig, num_labels: int, task_name: str | None = None):
        self.bert_config = bert_config
        self.num_labels = num_labels
        self.task_name = task_name
        self.extra_metrics = glue_metrics.extra_metrics(task_name) if task_name else ()

    def build_model(
        self, dtype_policy: keras.DTypePolicy, use_one_hot_embeddings: bool
    ) -> keras.Model:
        return BertClassifier(
            self.bert_config, self.num_labels, use_one_hot_embeddings, dtype=dtype_policy
        )

    def replica_loss(self, outputs, features, totals):
        return replica_mean(outputs["per_example_loss"], totals["num_examples"])

    def metric_sums(self, outputs, features):
        label_ids = features["label_ids"]
        predictions = tf.argmax(outputs["logits"], axis=-1, output_type=tf.int32)
        weights = features.get("is_real_example")
        if weights is None:
            weights = tf.ones_like(label_ids, tf.float32)
        sums = {
            "eval_accuracy": accuracy_sums(label_ids, predictions, weights),
            "eval_loss": mean_sums(outputs["per_example_loss"], weights),
        }
        if self.extra_metrics:
            weights = tf.reshape(tf.cast(weights, tf.float32), [-1])
            labels = tf.reshape(label_ids, [-1])
            total = tf.reduce_sum(weights)
            for i in range(self.num_labels):
                for j in range(self.num_labels):
                    hit = tf.cast((labels == i) & (predictions == j), tf.float32)
                    sums[_confusion_key(i, j)] = (tf.reduce_sum(weights * hit), total)
        return sums

    def metric_values(self, sums):
        sums = dict(sums)
        counts = {key: sums.pop(key) for key in list(sums) if key.startswith(_CONFUSION)}
        values = super().metric_values(sums)
        if self.extra_metrics:
            matrix = np.zeros([self.num_labels, self.num_labels])
            for i in range(self.num_labels):
                for j in range(self.num_labels):
                    matrix[i, j] = counts[_confusion_key(i, j)][0]
            extra = glue_metrics.metrics_from_confusion(self.task_name, matrix)
            values.update({name: extra[name] for name in self.extra_metrics})
        return values


# Metric sums of the confusion matrix's cells: weighted count of label i predicted as j.
_CONFUSION = "confusion/"


def _confusion_key(i: int, j: int) -> str:
    return f"{_CONFUSION}{i}/{j}"


# --------------------------------------------------------------------------- input


def train_dataset_fn(
    train_file: str,
    seq_length: int,
    global_batch_size: int,
    seed: int | None = None,
    start_step: Callable[[], int] | None = None,
) -> Callable[[tf.distribute.InputContext | None], tf.data.Dataset]:
    """The dataset function of the training records, for `Trainer.train`.

    Each input pipeline reads `train_file` as the original's input_fn
    (repeat, shuffle with a buffer of 100, batches with the remainder
    dropped) in per-replica batches. With several pipelines (workers) every
    one shuffles with the same seed and keeps every n-th batch, so each step's
    global batch is the one a single device would see.

    With a `seed`, the stream of batches is the same in every run, and the
    batches of the `start_step()` steps already trained are skipped: a run
    resumed from a checkpoint then sees exactly the batches an uninterrupted
    run would (the original, like any Estimator, restarted its input instead).

    Args:
      train_file: the TFRecord file of `file_based_convert_examples_to_features`.
      seq_length: the `max_seq_length` it was written with.
      global_batch_size: `--train_batch_size`.
      seed: seed of the shuffle; None leaves it unseeded, as the original.
      start_step: returns the global step training starts from (read when the
        input is created); used only with a seed.
    """

    def dataset_fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        batch_size, pipelines, pipeline_id, batches_per_step = global_batch_size, 1, 0, 1
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(global_batch_size)
            pipelines = input_context.num_input_pipelines
            pipeline_id = input_context.input_pipeline_id
            batches_per_step = input_context.num_replicas_in_sync // pipelines
        shuffle_seed = seed
        if pipelines > 1 and shuffle_seed is None:
            shuffle_seed = MULTI_WORKER_SHUFFLE_SEED
        d = classifier_features.file_based_dataset(
            train_file, seq_length, True, True, batch_size, seed=shuffle_seed
        )
        if pipelines > 1:
            d = d.shard(pipelines, pipeline_id)
        if seed is not None and start_step is not None:
            d = d.skip(start_step() * batches_per_step)
        return d

    return dataset_fn


# --------------------------------------------------------------------------- run


@dataclasses.dataclass
class RunResult:
    """What `run` did.

    Attributes:
      num_train_steps: the schedule's steps (None without `do_train`).
      train_logs: the logs of the last training loop ({} if already done).
      eval_results: the dict written to eval_results.txt (None without `do_eval`).
      probabilities: float32 [num_actual_predict_examples, num_labels], the
        rows of test_results.tsv (None without `do_predict`).
      eval_history: the entries of eval_history.jsonl (with `do_train` and
        `do_eval`; else None).
      best_checkpoint: the prefix of the best checkpoint with
        `keep_best_checkpoint` (else None).
    """

    num_train_steps: int | None = None
    train_logs: dict | None = None
    eval_results: dict | None = None
    probabilities: np.ndarray | None = None
    eval_history: list[dict] | None = None
    best_checkpoint: str | None = None


@dataclasses.dataclass
class _Examples:
    train: list | None = None
    eval: list | None = None
    predict: list | None = None


def _check_flags(flags: Any) -> None:
    """The original's flag checks, and the required flags of the command line."""
    flags_common.check_required_flags(flags, REQUIRED_FLAGS)
    tokenization.validate_case_matches_checkpoint(flags.do_lower_case, flags.init_checkpoint)
    if not flags.do_train and not flags.do_eval and not flags.do_predict:
        raise InputError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size"):
        if getattr(flags, name) < 1:
            raise InputError(f"--{name} must be at least 1; got {getattr(flags, name)}.")
    every = getattr(flags, "eval_every_n_steps", 0)
    if every < 0:
        raise InputError(f"--eval_every_n_steps must be 0 or positive; got {every}.")
    during_training = (
        ("eval_every_n_steps", every > 0),
        ("keep_best_checkpoint", getattr(flags, "keep_best_checkpoint", False)),
    )
    for name, used in during_training:
        if used and not (flags.do_train and flags.do_eval):
            raise InputError(
                f"--{name} evaluates the dev set during training: it needs --do_train and "
                "--do_eval."
            )


def _read_examples(processor: classifier_data.DataProcessor, flags: Any) -> _Examples:
    """Reads every split the run needs, before anything is written."""
    examples = _Examples()
    readers = (
        ("train", flags.do_train, processor.get_train_examples, "do_train"),
        ("eval", flags.do_eval, processor.get_dev_examples, "do_eval"),
        ("predict", flags.do_predict, processor.get_test_examples, "do_predict"),
    )
    for split, wanted, read, flag in readers:
        if not wanted:
            continue
        try:
            setattr(examples, split, read(flags.data_dir))
        except NotImplementedError as error:
            raise InputError(
                f"--task_name={flags.task_name} cannot run with --{flag}: {error}"
            ) from error
    return examples


def _num_train_steps(num_examples: int, flags: Any) -> tuple[int, int]:
    """The original's step counts: int(examples / batch * epochs), int(steps * proportion)."""
    num_train_steps = int(num_examples / flags.train_batch_size * flags.num_train_epochs)
    num_warmup_steps = int(num_train_steps * flags.warmup_proportion)
    if num_train_steps < 1:
        raise InputError(
            f"{num_examples} training examples in batches of --train_batch_size="
            f"{flags.train_batch_size} for --num_train_epochs={flags.num_train_epochs} give "
            f"int({num_examples} / {flags.train_batch_size} * {flags.num_train_epochs}) = "
            f"{num_train_steps} training steps: raise --num_train_epochs or lower "
            "--train_batch_size."
        )
    return num_train_steps, num_warmup_steps


def _restore(trainer: Trainer, init_checkpoint: str | None) -> None:
    """Restores the trainer and logs what was initialised from where."""
    result = trainer.restore(init_checkpoint)
    if result is None or result.resumed:
        return
    logging.info(
        "Initialized %d of %d model variables from --init_checkpoint=%s.",
        len(result.initialized),
        len(result.initialized) + len(result.not_initialized),
        result.checkpoint,
    )
    if result.not_initialized:
        logging.info(
            "Not in the checkpoint, so newly initialized: %s", ", ".join(result.not_initialized)
        )


def _padded(examples: list, batch_size: int, on_tpu: bool) -> list:
    """On a TPU, the examples padded to a multiple of the batch size (fixed batch shapes)."""
    if not on_tpu:
        return examples
    return classifier_features.pad_examples_for_tpu(examples, batch_size)


def run(
    flags: Any,
    strategy: tf.distribute.Strategy | None = None,
    *,
    shuffle_seed: int | None = None,
) -> RunResult:
    """The original run_classifier.py's `main`, on `official_bert.training`.

    Args:
      flags: the flag values (absl's FLAGS after `define_flags()`, or any
        object with the same attributes).
      strategy: a strategy to use instead of the one the flags name.
      shuffle_seed: seed of the training shuffle (see `train_dataset_fn`);
        with one, a resumed run trains on the same batches as an
        uninterrupted one. None (unseeded) is the original's behaviour.

    Returns:
      A `RunResult`.

    Raises:
      InputError (a ValueError; MissingFileError, also a FileNotFoundError, for
        a missing file): a flag, a data file, the config or the init
        checkpoint is wrong (the message names it); nothing is written.
    """
    _check_flags(flags)
    bert_config = BertConfig.from_json_file(flags.bert_config_file)
    check_max_seq_length(bert_config, flags.max_seq_length, flags.bert_config_file)
    processor = classifier_data.get_processor(flags.task_name)
    label_list = processor.get_labels()
    tokenizer = tokenization.FullTokenizer(flags.vocab_file, flags.do_lower_case)
    flags_common.check_vocab_fits(tokenizer, bert_config, flags.vocab_file, flags.bert_config_file)
    examples = _read_examples(processor, flags)

    num_train_steps = num_warmup_steps = None
    if flags.do_train:
        num_train_steps, num_warmup_steps = _num_train_steps(len(examples.train), flags)

    if strategy is None:
        strategy = flags_common.strategy_from_flags(flags)
    if distribute.num_workers(strategy) > 1 and (flags.do_eval or flags.do_predict):
        # Eval and predict read one file of global batches in order and
        # gather the predictions on the chief: not written for several workers.
        raise InputError(
            "--do_eval and --do_predict run on one machine: with "
            "--strategy=multi_worker_mirrored run --do_train only, then --do_eval/--do_predict "
            "once without --strategy and with the same --output_dir (it evaluates the latest "
            "checkpoint)."
        )
    config = flags_common.trainer_config_from_flags(
        flags, num_train_steps=num_train_steps, num_warmup_steps=num_warmup_steps
    )
    if flags.do_train:
        check_batch_size(
            "train_batch_size", flags.train_batch_size, strategy, config.gradient_accumulation_steps
        )
    seed = getattr(flags, "random_seed", None)
    if shuffle_seed is None:
        shuffle_seed = seed
    if seed is not None:
        # The new head's initial values and dropout; the shuffle takes `seed` too.
        keras.utils.set_random_seed(seed)
    task = ClassifierTask(bert_config, len(label_list), task_name=flags.task_name)
    trainer = Trainer(task, config, strategy)
    on_tpu = trainer.on_tpu
    _restore(trainer, flags.init_checkpoint)

    tf.io.gfile.makedirs(flags.output_dir)
    result = RunResult(num_train_steps=num_train_steps)
    seq_length = flags.max_seq_length

    dev = None
    if flags.do_train and flags.do_eval:
        # Every evaluation of a training run goes to the history (and, with
        # --keep_best_checkpoint, may become the best checkpoint).
        dev = DevEvaluation(
            trainer,
            _eval_set(trainer, examples.eval, label_list, tokenizer, flags, on_tpu),
            flags.task_name,
            flags.output_dir,
            keep_best=getattr(flags, "keep_best_checkpoint", False),
        )

    if flags.do_train:
        train_file = os.path.join(flags.output_dir, TRAIN_RECORD_FILENAME)
        classifier_features.file_based_convert_examples_to_features(
            examples.train, label_list, seq_length, tokenizer, train_file
        )
        logging.info("***** Running training *****")
        logging.info("  Num examples = %d", len(examples.train))
        logging.info("  Batch size = %d", flags.train_batch_size)
        logging.info("  Num steps = %d", num_train_steps)
        data = train_dataset_fn(
            train_file,
            seq_length,
            flags.train_batch_size,
            seed=shuffle_seed,
            start_step=lambda: trainer.global_step,
        )
        every = getattr(flags, "eval_every_n_steps", 0)
        if dev is not None and every:
            dev.catch_up(every, num_train_steps)
        result.train_logs = trainer.train(
            data,
            num_train_steps,
            every_n_steps=every,
            on_every_n_steps=(lambda step: dev.evaluate()) if dev is not None else None,
        )

    if dev is not None:
        result.eval_results = dev.final_results()
        result.eval_history = list(dev.history)
        result.best_checkpoint = dev.best_prefix
    elif flags.do_eval:
        result.eval_results = _eval_set(
            trainer, examples.eval, label_list, tokenizer, flags, on_tpu
        ).evaluate()
    if flags.do_eval and trainer.is_chief:
        eval_results_file = os.path.join(flags.output_dir, EVAL_RESULTS_FILENAME)
        write_eval_results(eval_results_file, result.eval_results)

    if flags.do_predict:
        result.probabilities = _predict(
            trainer, examples.predict, label_list, tokenizer, flags, on_tpu
        )
    return result


@dataclasses.dataclass
class EvalSet:
    """The dev set's eval.tf_record, evaluated by `evaluate()` as often as needed.

    Attributes:
      trainer: the Trainer whose model is evaluated.
      eval_file: the TFRecord file (written once).
      seq_length, batch_size, on_tpu: how it is read (a TPU reads whole batches).
      eval_steps: the number of batches on a TPU (None elsewhere: the whole file).
    """

    trainer: Trainer
    eval_file: str
    seq_length: int
    batch_size: int
    on_tpu: bool
    eval_steps: int | None

    def evaluate(self, summaries: bool = True) -> dict:
        """`Trainer.evaluate` on the whole dev set (see there)."""
        dataset = classifier_features.file_based_dataset(
            self.eval_file, self.seq_length, False, self.on_tpu, self.batch_size
        )
        return self.trainer.evaluate(dataset, steps=self.eval_steps, summaries=summaries)


def _eval_set(
    trainer: Trainer,
    eval_examples: list,
    label_list: list[str],
    tokenizer: tokenization.FullTokenizer,
    flags: Any,
    on_tpu: bool,
) -> EvalSet:
    """Writes eval.tf_record (padded on a TPU) and returns the `EvalSet` that reads it."""
    num_actual = len(eval_examples)
    eval_examples = _padded(eval_examples, flags.eval_batch_size, on_tpu)
    eval_file = os.path.join(flags.output_dir, EVAL_RECORD_FILENAME)
    classifier_features.file_based_convert_examples_to_features(
        eval_examples, label_list, flags.max_seq_length, tokenizer, eval_file
    )
    logging.info("***** Running evaluation *****")
    logging.info(
        "  Num examples = %d (%d actual, %d padding)",
        len(eval_examples),
        num_actual,
        len(eval_examples) - num_actual,
    )
    logging.info("  Batch size = %d", flags.eval_batch_size)
    # The whole set; a TPU needs the number of (full, padded) batches.
    eval_steps = len(eval_examples) // flags.eval_batch_size if on_tpu else None
    return EvalSet(
        trainer, eval_file, flags.max_seq_length, flags.eval_batch_size, on_tpu, eval_steps
    )


def _predict(
    trainer: Trainer,
    predict_examples: list,
    label_list: list[str],
    tokenizer: tokenization.FullTokenizer,
    flags: Any,
    on_tpu: bool,
) -> np.ndarray:
    """Writes predict.tf_record, predicts and writes test_results.tsv (real examples only)."""
    num_actual = len(predict_examples)
    predict_examples = _padded(predict_examples, flags.predict_batch_size, on_tpu)
    predict_file = os.path.join(flags.output_dir, PREDICT_RECORD_FILENAME)
    classifier_features.file_based_convert_examples_to_features(
        predict_examples, label_list, flags.max_seq_length, tokenizer, predict_file
    )
    logging.info("***** Running prediction*****")
    logging.info(
        "  Num examples = %d (%d actual, %d padding)",
        len(predict_examples),
        num_actual,
        len(predict_examples) - num_actual,
    )
    logging.info("  Batch size = %d", flags.predict_batch_size)
    dataset = classifier_features.file_based_dataset(
        predict_file, flags.max_seq_length, False, on_tpu, flags.predict_batch_size
    )
    probabilities = trainer.predict(dataset, ["probabilities"])["probabilities"]
    probabilities = np.asarray(probabilities, np.float32).reshape(-1, len(label_list))
    if trainer.is_chief:
        num_written_lines = classifier_features.write_test_results(
            os.path.join(flags.output_dir, TEST_RESULTS_FILENAME), probabilities, num_actual
        )
        if num_written_lines != num_actual:
            raise RuntimeError(
                f"Wrote {num_written_lines} lines of {TEST_RESULTS_FILENAME} for {num_actual} "
                "examples: a bug, please report it."
            )
    return probabilities[:num_actual]


def main(argv: list[str]) -> None:
    """The command line's main: `run` with absl's parsed flags."""
    del argv
    run(absl_flags.FLAGS)


if __name__ == "__main__":
    cli.run("official_bert.classifier")
