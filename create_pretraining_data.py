"""Create masked LM/next sentence masked_lm TF examples for BERT.

The original create_pretraining_data.py's flags, names and defaults; the same
input and seed give byte-identical records. The code is
`official_bert.create_pretraining_data`; `python -m
official_bert.create_pretraining_data` and `bert-create-pretraining-data` are
the same command.
"""

from absl import flags

from official_bert import cli, create_pretraining_data

FLAGS = flags.FLAGS

cli.define_flags(create_pretraining_data)

if __name__ == "__main__":
    cli.run(create_pretraining_data)
