"""BERT finetuning runner.

The original run_classifier.py's flags, with the same names and defaults, plus
the flags of this port (--strategy, --jit_compile, --mixed_precision,
--bias_correction, --log_every_n_steps); `python run_classifier.py --help`
lists them all. It writes train.tf_record, eval.tf_record and
predict.tf_record, checkpoints in the original's format, eval_results.txt and
test_results.tsv in --output_dir, as the original does; a run restarted with
the same --output_dir resumes from its latest checkpoint. The code is
`official_bert.classifier`; `python -m official_bert.classifier` and
`bert-run-classifier` are the same command.
"""

from absl import flags

from official_bert import classifier, cli

FLAGS = flags.FLAGS

cli.define_flags(classifier)

if __name__ == "__main__":
    cli.run(classifier)
