"""Convert BERT checkpoints between the original's TF1 format and Hugging Face's safetensors.

The code is `official_bert.convert_checkpoint`; `python -m
official_bert.convert_checkpoint` and `bert-convert-checkpoint` are the same
command.
"""

from absl import flags

from official_bert import cli, convert_checkpoint

FLAGS = flags.FLAGS

cli.define_flags(convert_checkpoint)

if __name__ == "__main__":
    cli.run(convert_checkpoint)
