"""Run BERT on SQuAD 1.1 and SQuAD 2.0.

The original run_squad.py's flags, with the same names and defaults, plus the
flags of this port (--strategy, --jit_compile, --mixed_precision,
--bias_correction, --log_every_n_steps, ...); `python run_squad.py --help`
lists them all. It writes train.tf_record and eval.tf_record, checkpoints in
the original's format, predictions.json, nbest_predictions.json and (SQuAD
2.0) null_odds.json in --output_dir, as the original does, and
eval_results.json (the official metrics) when --predict_file has answers. The
code is `official_bert.squad_run`; `python -m official_bert.squad_run` and
`bert-run-squad` are the same command.
"""

from absl import flags

from official_bert import cli, squad_run

FLAGS = flags.FLAGS

cli.define_flags(squad_run)

if __name__ == "__main__":
    cli.run(squad_run)
