"""Run masked LM/next sentence masked_lm pre-training for BERT.

The original's flags, with the same names and defaults, plus the flags of this
port (--strategy, --jit_compile, --mixed_precision, --bias_correction,
--log_every_n_steps); `python run_pretraining.py --help` lists them all.
Checkpoints are written in the original's format, so the original code (and
run_classifier.py) can read them; a run restarted with the same --output_dir
resumes from its latest checkpoint. The code is `official_bert.pretraining`;
`python -m official_bert.pretraining` and `bert-run-pretraining` are the same
command.
"""

from absl import flags

from official_bert import cli, pretraining

FLAGS = flags.FLAGS

cli.define_flags(pretraining)

if __name__ == "__main__":
    cli.run(pretraining)
