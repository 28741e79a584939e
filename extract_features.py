"""Extract pre-computed feature vectors from BERT.

The original extract_features.py's flags, names and defaults, and its JSON
lines output. The code is `official_bert.extract_features`; `python -m
official_bert.extract_features` and `bert-extract-features` are the same
command.
"""

from absl import flags

from official_bert import cli, extract_features

FLAGS = flags.FLAGS

cli.define_flags(extract_features)

if __name__ == "__main__":
    cli.run(extract_features)
