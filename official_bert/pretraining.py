"""Run masked LM/next sentence masked_lm pre-training for BERT (run_pretraining.py).

The library of `python run_pretraining.py`, `python -m official_bert.pretraining`
and `bert-run-pretraining`: `define_flags()` defines the original's flags (same
names, defaults and help) and this port's; `PretrainingTask` gives the training
loop of `official_bert.training` the original's losses and eval metrics;
`run(flags)` is the original's `main`: check the flags, find the input files,
build the strategy, train, evaluate and write `eval_results.txt`. Checkpoints
are in the original's format; a run started again with the same --output_dir
resumes from its latest checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import tensorflow as tf
from absl import flags as absl_flags
from absl import logging

from official_bert import cli, flags_common, pretraining_input
from official_bert.errors import InputError
from official_bert.heads import MASKED_LM_LOSS_EPSILON
from official_bert.modeling import BertConfig, check_max_seq_length
from official_bert.models import BertPretrainer
from official_bert.training import (
    EVAL_RESULTS_FILENAME,
    Task,
    Trainer,
    accuracy_sums,
    batch_size_of,
    check_batch_size,
    mean_sums,
    replica_mean,
    replica_weighted_mean,
    write_eval_results,
)

# The flags a command line must give (as the original's __main__).
REQUIRED_FLAGS = ("input_file", "bert_config_file", "output_dir")


def define_flags() -> None:
    """Defines run_pretraining.py's flags (the original's, and the shared ones) in absl's FLAGS.

    Idempotent: a flag that is already defined (by another entry point in the
    same process) is kept, with this entry point's default (`cli.define_flag`).
    """
    flags_common.define_common_flags()
    ## Required parameters
    cli.define_flag(
        "string", "input_file", None, "Input TF example files (can be a glob or comma separated)."
    )
    ## Other parameters
    cli.define_flag(
        "integer",
        "max_seq_length",
        128,
        "The maximum total input sequence length after WordPiece tokenization. "
        "Sequences longer than this will be truncated, and sequences shorter "
        "than this will be padded. Must match data generation.",
    )
    cli.define_flag(
        "integer",
        "max_predictions_per_seq",
        20,
        "Maximum number of masked LM predictions per sequence. Must match data generation.",
    )
    cli.define_flag("integer", "num_train_steps", 100000, "Number of training steps.")
    cli.define_flag("integer", "num_warmup_steps", 10000, "Number of warmup steps.")
    cli.define_flag("integer", "max_eval_steps", 100, "Maximum number of eval steps.")


class PretrainingTask(Task):
    """The pretraining model (`BertPretrainer`), its loss and the original's metric_fn.

    The loss of a global batch is the original's `total_loss`: the masked LM
    loss `sum(w * l) / (sum(w) + 1e-5)` plus the mean next sentence loss, both
    over the whole global batch whatever the number of replicas.
    """

    def __init__(self, bert_config: BertConfig):
        self.bert_config = bert_config

    def build_model(
        self, dtype_policy: keras.DTypePolicy, use_one_hot_embeddings: bool
    ) -> keras.Model:
        return BertPretrainer(self.bert_config, use_one_hot_embeddings, dtype=dtype_policy)

    def global_totals(self, features):
        return {
            "num_examples": batch_size_of(features),
            "masked_lm_weight": tf.reduce_sum(tf.cast(features["masked_lm_weights"], tf.float32)),
        }

    def replica_loss(self, outputs, features, totals):
        masked_lm_loss = replica_weighted_mean(
            outputs["masked_lm_example_loss"],
            features["masked_lm_weights"],
            totals["masked_lm_weight"],
            MASKED_LM_LOSS_EPSILON,
        )
        next_sentence_loss = replica_mean(
            outputs["next_sentence_example_loss"], totals["num_examples"]
        )
        return masked_lm_loss + next_sentence_loss

    def metric_sums(self, outputs, features):
        masked_lm_predictions = tf.argmax(outputs["masked_lm_log_probs"], axis=-1)
        masked_lm_weights = features["masked_lm_weights"]
        next_sentence_predictions = tf.argmax(outputs["next_sentence_log_probs"], axis=-1)
        return {
            "masked_lm_accuracy": accuracy_sums(
                features["masked_lm_ids"], masked_lm_predictions, masked_lm_weights
            ),
            "masked_lm_loss": mean_sums(outputs["masked_lm_example_loss"], masked_lm_weights),
            "next_sentence_accuracy": accuracy_sums(
                features["next_sentence_labels"], next_sentence_predictions
            ),
            "next_sentence_loss": mean_sums(outputs["next_sentence_example_loss"]),
        }


def run(flags: Any, strategy: tf.distribute.Strategy | None = None) -> dict | None:
    """The original run_pretraining.py's `main`, on `official_bert.training`.

    Args:
      flags: the flag values (absl's FLAGS, or any object with the same
        attributes: those of run_pretraining.py).
      strategy: a strategy to use instead of the one the flags name.

    Returns:
      The eval results with `do_eval`, else None.
    """
    if not flags.do_train and not flags.do_eval:
        raise InputError("At least one of `do_train` or `do_eval` must be True.")
    flags_common.check_required_flags(flags, REQUIRED_FLAGS)
    bert_config = BertConfig.from_json_file(flags.bert_config_file)
    check_max_seq_length(bert_config, flags.max_seq_length, flags.bert_config_file)
    tf.io.gfile.makedirs(flags.output_dir)
    input_files = pretraining_input.glob_input_files(flags.input_file)
    logging.info("*** Input Files ***")
    for input_file in input_files:
        logging.info("  %s", input_file)
    if strategy is None:
        # Before any TensorFlow op runs (reading the records below): a
        # MultiWorkerMirroredStrategy must configure the runtime first.
        strategy = flags_common.strategy_from_flags(flags)
    pretraining_input.check_record_shapes(
        input_files, flags.max_seq_length, flags.max_predictions_per_seq
    )
    config = flags_common.trainer_config_from_flags(
        flags, num_train_steps=flags.num_train_steps, num_warmup_steps=flags.num_warmup_steps
    )
    seed = getattr(flags, "random_seed", None)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    trainer = Trainer(PretrainingTask(bert_config), config, strategy)
    trainer.restore(flags.init_checkpoint)

    if flags.do_train:
        check_batch_size(
            "train_batch_size", flags.train_batch_size, strategy, config.gradient_accumulation_steps
        )
        logging.info("***** Running training *****")
        logging.info("  Batch size = %d", flags.train_batch_size)
        trainer.train(
            pretraining_input.dataset_fn_builder(
                input_files,
                flags.max_seq_length,
                flags.max_predictions_per_seq,
                is_training=True,
                global_batch_size=flags.train_batch_size,
                seed=seed,
                start_step=lambda: trainer.global_step,
            ),
            flags.num_train_steps,
        )

    result = None
    if flags.do_eval:
        check_batch_size("eval_batch_size", flags.eval_batch_size, strategy)
        logging.info("***** Running evaluation *****")
        logging.info("  Batch size = %d", flags.eval_batch_size)
        result = trainer.evaluate(
            pretraining_input.dataset_fn_builder(
                input_files,
                flags.max_seq_length,
                flags.max_predictions_per_seq,
                is_training=False,
                global_batch_size=flags.eval_batch_size,
            ),
            steps=flags.max_eval_steps,
        )
        if trainer.is_chief:
            write_eval_results(os.path.join(flags.output_dir, EVAL_RESULTS_FILENAME), result)
    return result


def main(argv: list[str]) -> None:
    """The command line's main: `run` with absl's parsed flags."""
    del argv
    run(absl_flags.FLAGS)


if __name__ == "__main__":
    cli.run("official_bert.pretraining")
