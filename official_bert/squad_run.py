"""BERT on SQuAD 1.1 and SQuAD 2.0 (run_squad.py).

The library of `python run_squad.py`, `python -m official_bert.squad_run` and
`bert-run-squad`: `define_flags()` defines the original run_squad.py's flags
(same names, defaults and help) and this port's shared flags.

`SquadTask` gives the training loop of `official_bert.training` the
original's span model (`BertSquad`) and its loss; `run(flags)` is the
original's `main`:

- training: read `--train_file` (with answers), count
  `num_train_steps = int(examples / train_batch_size * num_train_epochs)`
  (examples, not features, as the original), shuffle the examples with the
  original's `random.Random(12345)`, write `train.tf_record` and train on it
  (repeat, shuffle with a buffer of 100, batches with the remainder dropped);
- prediction: read `--predict_file`, write `eval.tf_record`, run the model on
  every feature in order and write `predictions.json`,
  `nbest_predictions.json` and (SQuAD 2.0) `null_odds.json` with the
  original's `write_predictions`.

Beyond the original: when the predict file has gold answers, the official
metrics of the predictions (`official_bert.squad_evaluate`; for SQuAD 2.0
with `null_odds.json` as the na-prob values, so also the best threshold) are
written to `eval_results.json`.

Every check a user can fail (the flags, the config, the vocabulary, the data
files) runs before anything is written: a failed check leaves `--output_dir`
as it was.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
from absl import flags as absl_flags
from absl import logging

from official_bert import cli, distribute, files, flags_common, squad, squad_evaluate, tokenization
from official_bert.classifier import MULTI_WORKER_SHUFFLE_SEED, _num_train_steps, _restore
from official_bert.errors import InputError
from official_bert.modeling import BertConfig
from official_bert.models import BertSquad
from official_bert.training import Task, Trainer, check_batch_size, replica_mean

TRAIN_RECORD_FILENAME = "train.tf_record"
EVAL_RECORD_FILENAME = "eval.tf_record"
PREDICTIONS_FILENAME = "predictions.json"
NBEST_FILENAME = "nbest_predictions.json"
NULL_ODDS_FILENAME = "null_odds.json"
# Not written by the original: the official metrics of predictions.json.
EVAL_RESULTS_FILENAME = "eval_results.json"

# The flags a command line must give (as the original's __main__).
REQUIRED_FLAGS = ("vocab_file", "bert_config_file", "output_dir")

# The original's input_fn shuffles the repeated training records in this buffer.
SHUFFLE_BUFFER_SIZE = 100


# --------------------------------------------------------------------------- flags


def define_flags() -> None:
    """Defines the original run_squad.py's flags (and the shared TF2 flags) in absl's FLAGS.

    Idempotent: a flag that is already defined (by another entry point in the
    same process) is kept, with this entry point's default (`cli.define_flag`).
    """
    flags_common.define_common_flags()

    ## Required parameters
    cli.define_flag(
        "string", "vocab_file", None, "The vocabulary file that the BERT model was trained on."
    )

    ## Other parameters
    cli.define_flag("string", "train_file", None, "SQuAD json for training. E.g., train-v1.1.json")
    cli.define_flag(
        "string",
        "predict_file",
        None,
        "SQuAD json for predictions. E.g., dev-v1.1.json or test-v1.1.json",
    )
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
        384,
        "The maximum total input sequence length after WordPiece tokenization. Sequences "
        "longer than this will be truncated, and sequences shorter than this will be padded.",
    )
    cli.define_flag(
        "integer",
        "doc_stride",
        128,
        "When splitting up a long document into chunks, how much stride to take between chunks.",
    )
    cli.define_flag(
        "integer",
        "max_query_length",
        64,
        "The maximum number of tokens for the question. Questions longer than this will be "
        "truncated to this length.",
    )
    cli.define_flag("bool", "do_predict", False, "Whether to run eval on the dev set.")
    cli.define_flag("integer", "predict_batch_size", 8, "Total batch size for predictions.")
    cli.define_flag("float", "num_train_epochs", 3.0, "Total number of training epochs to perform.")
    cli.define_flag(
        "float",
        "warmup_proportion",
        0.1,
        "Proportion of training to perform linear learning rate warmup for. E.g., 0.1 = 10% "
        "of training.",
    )
    cli.define_flag(
        "integer",
        "n_best_size",
        20,
        "The total number of n-best predictions to generate in the nbest_predictions.json "
        "output file.",
    )
    cli.define_flag(
        "integer",
        "max_answer_length",
        30,
        "The maximum length of an answer that can be generated. This is needed because the "
        "start and end predictions are not conditioned on one another.",
    )
    cli.define_flag(
        "bool",
        "verbose_logging",
        False,
        "If true, all of the warnings related to data processing will be printed. A number "
        "of warnings are expected for a normal SQuAD evaluation.",
    )
    cli.define_flag(
        "bool",
        "version_2_with_negative",
        False,
        "If true, the SQuAD examples contain some that do not have an answer.",
    )
    cli.define_flag(
        "float",
        "null_score_diff_threshold",
        0.0,
        "If null_score - best_non_null is greater than the threshold predict null.",
    )


# --------------------------------------------------------------------------- task


class SquadTask(Task):
    """`BertSquad` and the original's loss: `(start_loss + end_loss) / 2`.

    Each of the two losses is the mean cross-entropy over the global batch of
    the one-hot start (end) positions, so the loss is the global batch's mean
    of `per_example_loss`, whatever the number of replicas. There is no eval
    metric: SQuAD is scored on the predictions (`squad_evaluate`).

    Args:
      bert_config: the BertConfig of the encoder.
    """

    def __init__(self, bert_config: BertConfig):
        self.bert_config = bert_config

    def build_model(
        self, dtype_policy: keras.DTypePolicy, use_one_hot_embeddings: bool
    ) -> keras.Model:
        return BertSquad(self.bert_config, use_one_hot_embeddings, dtype=dtype_policy)

    def replica_loss(self, outputs, features, totals):
        return replica_mean(outputs["per_example_loss"], totals["num_examples"])


# --------------------------------------------------------------------------- input


def _decode_record(record: tf.Tensor, spec: dict) -> dict[str, tf.Tensor]:
    """One serialized record -> its features, int64 cast to int32 (as the original)."""
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in example.items()}


def records_dataset(
    input_file: str,
    seq_length: int,
    is_training: bool,
    batch_size: int,
    drop_remainder: bool,
    seed: int | None = None,
) -> tf.data.Dataset:
    """The original's input_fn: the records of `FeatureWriter`, parsed and batched.

    Training repeats the records and shuffles them in a buffer of
    `SHUFFLE_BUFFER_SIZE`; prediction reads them once, in order.

    Args:
      input_file: train.tf_record or eval.tf_record.
      seq_length: the `max_seq_length` the records were written with.
      is_training: parse start_positions and end_positions; repeat and shuffle.
      batch_size: the batch size of the dataset.
      drop_remainder: drop a last, smaller batch.
      seed: seed of the shuffle (None: unseeded, as the original).

    Returns:
      A dataset of dicts of int32 Tensors: `unique_ids` [batch_size],
      `input_ids`, `input_mask`, `segment_ids` [batch_size, seq_length] and
      for training `start_positions`, `end_positions` [batch_size].
    """
    spec = squad.name_to_features(seq_length, is_training)
    d = tf.data.TFRecordDataset(input_file)
    if is_training:
        d = d.repeat()
        d = d.shuffle(buffer_size=SHUFFLE_BUFFER_SIZE, seed=seed)
    d = d.map(lambda record: _decode_record(record, spec), num_parallel_calls=tf.data.AUTOTUNE)
    return d.batch(batch_size, drop_remainder=drop_remainder)


def train_dataset_fn(
    train_file: str,
    seq_length: int,
    global_batch_size: int,
    seed: int | None = None,
    start_step: Callable[[], int] | None = None,
) -> Callable[[tf.distribute.InputContext | None], tf.data.Dataset]:
    """The dataset function of the training records, for `Trainer.train`.

    As `classifier.train_dataset_fn`: per-replica batches, every worker
    shuffling with one seed and keeping every n-th batch; with a `seed`, the
    batches of the `start_step()` steps already trained are skipped on resume.
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
        d = records_dataset(train_file, seq_length, True, batch_size, True, seed=shuffle_seed)
        if pipelines > 1:
            d = d.shard(pipelines, pipeline_id)
        if seed is not None and start_step is not None:
            d = d.skip(start_step() * batches_per_step)
        return d

    return dataset_fn


def _padded_for_tpu(dataset: tf.data.Dataset, num_features: int, batch_size: int, seq_length: int):
    """The unbatched predict records padded with all-zero features to whole batches."""
    num_padding = -num_features % batch_size
    zeros = tf.zeros([seq_length], tf.int32)
    padding = {
        "unique_ids": tf.constant(0, tf.int32),
        "input_ids": zeros,
        "input_mask": zeros,
        "segment_ids": zeros,
    }
    return dataset.concatenate(tf.data.Dataset.from_tensors(padding).repeat(num_padding))


# --------------------------------------------------------------------------- run


@dataclasses.dataclass
class RunResult:
    """What `run` did.

    Attributes:
      num_train_steps: the schedule's steps (None without `do_train`).
      train_logs: the logs of the last training loop ({} if already done).
      all_results: a `RawResult` per predict feature, in feature order (None
        without `do_predict`).
      predictions: the `squad.Predictions` written (None without `do_predict`).
      eval_results: the dict written to eval_results.json (None when not
        predicting or the predict file has no gold answers).
    """

    num_train_steps: int | None = None
    train_logs: dict | None = None
    all_results: list | None = None
    predictions: squad.Predictions | None = None
    eval_results: dict | None = None


def _check_flags(flags: Any, bert_config: BertConfig) -> None:
    """The original's validate_flags_or_throw, and the checks of this port."""
    squad.validate_flags_or_throw(
        bert_config,
        do_train=flags.do_train,
        do_predict=flags.do_predict,
        train_file=flags.train_file,
        predict_file=flags.predict_file,
        max_seq_length=flags.max_seq_length,
        max_query_length=flags.max_query_length,
        doc_stride=flags.doc_stride,
        do_lower_case=flags.do_lower_case,
        init_checkpoint=flags.init_checkpoint,
        n_best_size=flags.n_best_size,
        max_answer_length=flags.max_answer_length,
    )
    for name in ("train_batch_size", "predict_batch_size"):
        if getattr(flags, name) < 1:
            raise InputError(f"--{name} must be at least 1; got {getattr(flags, name)}.")


def run(
    flags: Any,
    strategy: tf.distribute.Strategy | None = None,
    *,
    shuffle_seed: int | None = None,
) -> RunResult:
    """The original run_squad.py's `main`, on `official_bert.training`.

    Args:
      flags: the flag values (absl's FLAGS after `define_flags()`, or any
        object with the same attributes).
      strategy: a strategy to use instead of the one the flags name.
      shuffle_seed: seed of the training shuffle (see `train_dataset_fn`);
        None takes `--random_seed`, and without one it is unseeded, as the original.

    Returns:
      A `RunResult`.

    Raises:
      InputError (MissingFileError for a missing file): a flag, a data file,
        the config, the vocabulary or the init checkpoint is wrong (the
        message names it); nothing is written.
    """
    flags_common.check_required_flags(flags, REQUIRED_FLAGS)
    bert_config = BertConfig.from_json_file(flags.bert_config_file)
    _check_flags(flags, bert_config)
    tokenizer = tokenization.FullTokenizer(flags.vocab_file, flags.do_lower_case)
    flags_common.check_vocab_fits(tokenizer, bert_config, flags.vocab_file, flags.bert_config_file)
    v2 = flags.version_2_with_negative

    # Every input is read before anything is written.
    train_examples = eval_examples = eval_dataset = None
    num_train_steps = num_warmup_steps = None
    if flags.do_train:
        train_examples = squad.read_squad_examples(flags.train_file, True, v2)
        num_train_steps, num_warmup_steps = _num_train_steps(len(train_examples), flags)
        # The original pre-shuffles the examples (a small shuffle buffer then suffices).
        squad.shuffle_examples(train_examples)
    if flags.do_predict:
        eval_examples = squad.read_squad_examples(flags.predict_file, False, v2)
        eval_dataset = squad.load_json_file(flags.predict_file, flag="predict_file")

    if strategy is None:
        strategy = flags_common.strategy_from_flags(flags)
    if distribute.num_workers(strategy) > 1 and flags.do_predict:
        raise InputError(
            "--do_predict runs on one machine: with --strategy=multi_worker_mirrored run "
            "--do_train only, then --do_predict once without --strategy and with the same "
            "--output_dir (it predicts with the latest checkpoint)."
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
        keras.utils.set_random_seed(seed)
    trainer = Trainer(SquadTask(bert_config), config, strategy)
    _restore(trainer, flags.init_checkpoint)

    tf.io.gfile.makedirs(flags.output_dir)
    result = RunResult(num_train_steps=num_train_steps)

    if flags.do_train:
        train_file = os.path.join(flags.output_dir, TRAIN_RECORD_FILENAME)
        with squad.FeatureWriter(train_file, is_training=True) as writer:
            squad.convert_examples_to_features(
                train_examples,
                tokenizer,
                flags.max_seq_length,
                flags.doc_stride,
                flags.max_query_length,
                True,
                writer.process_feature,
            )
        logging.info("***** Running training *****")
        logging.info("  Num orig examples = %d", len(train_examples))
        logging.info("  Num split examples = %d", writer.num_features)
        logging.info("  Batch size = %d", flags.train_batch_size)
        logging.info("  Num steps = %d", num_train_steps)
        del train_examples
        data = train_dataset_fn(
            train_file,
            flags.max_seq_length,
            flags.train_batch_size,
            seed=shuffle_seed,
            start_step=lambda: trainer.global_step,
        )
        result.train_logs = trainer.train(data, num_train_steps)

    if flags.do_predict:
        _predict(trainer, eval_examples, eval_dataset, tokenizer, flags, result)
    return result


def _predict(
    trainer: Trainer,
    eval_examples: list,
    eval_dataset: Any,
    tokenizer: tokenization.FullTokenizer,
    flags: Any,
    result: RunResult,
) -> None:
    """Writes eval.tf_record, runs the model and writes the predictions (and eval_results.json)."""
    eval_features: list = []
    eval_file = os.path.join(flags.output_dir, EVAL_RECORD_FILENAME)
    with squad.FeatureWriter(eval_file, is_training=False) as writer:

        def append_feature(feature):
            eval_features.append(feature)
            writer.process_feature(feature)

        squad.convert_examples_to_features(
            eval_examples,
            tokenizer,
            flags.max_seq_length,
            flags.doc_stride,
            flags.max_query_length,
            False,
            append_feature,
        )
    logging.info("***** Running predictions *****")
    logging.info("  Num orig examples = %d", len(eval_examples))
    logging.info("  Num split examples = %d", len(eval_features))
    logging.info("  Batch size = %d", flags.predict_batch_size)

    batch_size = flags.predict_batch_size
    if trainer.on_tpu:  # fixed batch shapes: pad to whole batches, drop the padding's outputs
        records = records_dataset(eval_file, flags.max_seq_length, False, 1, False).unbatch()
        records = _padded_for_tpu(records, len(eval_features), batch_size, flags.max_seq_length)
        dataset = records.batch(batch_size, drop_remainder=True)
    else:
        dataset = records_dataset(eval_file, flags.max_seq_length, False, batch_size, False)
    outputs = trainer.predict(dataset, ["start_logits", "end_logits"])
    start_logits = outputs["start_logits"][: len(eval_features)]
    end_logits = outputs["end_logits"][: len(eval_features)]
    if len(start_logits) != len(eval_features):
        raise RuntimeError(
            f"{len(start_logits)} predictions for {len(eval_features)} features: a bug, please "
            "report it."
        )
    all_results = [
        squad.RawResult(feature.unique_id, start, end)
        for feature, start, end in zip(eval_features, start_logits, end_logits)
    ]
    result.all_results = all_results
    if not trainer.is_chief:
        return
    v2 = flags.version_2_with_negative
    result.predictions = squad.write_predictions(
        eval_examples,
        eval_features,
        all_results,
        flags.n_best_size,
        flags.max_answer_length,
        flags.do_lower_case,
        os.path.join(flags.output_dir, PREDICTIONS_FILENAME),
        os.path.join(flags.output_dir, NBEST_FILENAME),
        os.path.join(flags.output_dir, NULL_ODDS_FILENAME),
        version_2_with_negative=v2,
        null_score_diff_threshold=flags.null_score_diff_threshold,
        verbose_logging=flags.verbose_logging,
    )
    if squad_evaluate.has_gold_answers(eval_dataset):
        result.eval_results = _write_eval_results(eval_dataset, result.predictions, flags)


def _write_eval_results(dataset: Any, predictions: squad.Predictions, flags: Any) -> dict | None:
    """Scores the predictions with the official metrics and writes eval_results.json.

    SQuAD 2.0 runs score with the 2.0 rules and null_odds.json as the na-prob
    values (the original README's second pass, so the best threshold comes
    with it); SQuAD 1.1 runs with the rules the data file asks for.
    """
    v2 = flags.version_2_with_negative
    try:
        results = squad_evaluate.evaluate(
            dataset,
            predictions.predictions,
            na_probs=predictions.null_odds if v2 else None,
            version=squad_evaluate.VERSION_2 if v2 else None,
        )
    except InputError as error:  # the predictions are written; only the score is missing
        logging.warning("%s not written: %s", EVAL_RESULTS_FILENAME, error)
        return None
    path = os.path.join(flags.output_dir, EVAL_RESULTS_FILENAME)
    files.write_text_atomically(path, json.dumps(results, indent=4) + "\n")
    logging.info("***** Eval results (%s) *****", path)
    for key, value in results.items():
        logging.info("  %s = %s", key, value)
    return results


def main(argv: list[str]) -> None:
    """The command line's main: `run` with absl's parsed flags."""
    del argv
    run(absl_flags.FLAGS)


if __name__ == "__main__":
    cli.run("official_bert.squad_run")
