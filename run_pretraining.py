"""Run masked LM/next sentence masked_lm pre-training for BERT.

The original's flags, with the same names and defaults, plus the TF2 flags of
this port (--strategy, --jit_compile, --mixed_precision, --bias_correction).
Checkpoints are written in the original's format, so the original code (and
run_classifier.py) can read them; a run restarted with the same --output_dir
resumes from its latest checkpoint.
"""

from absl import app, flags

from official_bert import flags_common, pretraining

FLAGS = flags.FLAGS

flags_common.define_common_flags()

## Required parameters
flags.DEFINE_string(
    "input_file", None, "Input TF example files (can be a glob or comma separated)."
)

## Other parameters
flags.DEFINE_integer(
    "max_seq_length",
    128,
    "The maximum total input sequence length after WordPiece tokenization. "
    "Sequences longer than this will be truncated, and sequences shorter "
    "than this will be padded. Must match data generation.",
)
flags.DEFINE_integer(
    "max_predictions_per_seq",
    20,
    "Maximum number of masked LM predictions per sequence. Must match data generation.",
)
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")


def main(_):
    pretraining.run(FLAGS)


if __name__ == "__main__":
    flags.mark_flag_as_required("input_file")
    flags.mark_flag_as_required("bert_config_file")
    flags.mark_flag_as_required("output_dir")
    app.run(main)
