"""BERT finetuning runner.

The original run_classifier.py's flags, with the same names and defaults, plus
the TF2 flags of this port (--strategy, --jit_compile, --mixed_precision,
--bias_correction). It writes train.tf_record, eval.tf_record and
predict.tf_record, checkpoints in the original's format, eval_results.txt and
test_results.tsv in --output_dir, as the original does; a run restarted with
the same --output_dir resumes from its latest checkpoint.
"""

from absl import app, flags

from official_bert import classifier

FLAGS = flags.FLAGS

classifier.define_flags()


def main(_):
    classifier.run(FLAGS)


if __name__ == "__main__":
    for name in classifier.REQUIRED_FLAGS:
        flags.mark_flag_as_required(name)
    app.run(main)
