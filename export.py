"""Export a trained BERT as a SavedModel that serves raw text.

Not in the original. `--model=classifier` exports a run_classifier checkpoint
(text_a / text_b strings -> probabilities, logits; labels in assets/labels.txt);
`--model=encoder` exports BERT and its preprocessing in TF Hub's conventions.
Load an export with `import tensorflow_text` first (it registers the
tokenizer's ops). The code is `official_bert.export`; `python -m
official_bert.export` is the same command.
"""

from absl import flags

from official_bert import cli, export

FLAGS = flags.FLAGS

cli.define_flags(export)

if __name__ == "__main__":
    cli.run(export)
