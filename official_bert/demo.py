"""`make demo`: the main job end to end on the bundled sample data.

1. `create_pretraining_data` on `sample_data/corpus.txt`;
2. a short pretraining of a small BERT (`configs/uncased_L-2_H-128_A-2`) from
   scratch with `run_pretraining.py`, with evaluation;
3. a short fine-tuning on the sample MRPC files with `run_classifier.py`,
   initialised from step 2's checkpoint, with evaluation and prediction.

Each step runs the real command line, printed before it runs, so the demo is
also a copy-paste example. Outputs go under `demo_output/` (or `--output_dir`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "sample_data")
CONFIG = os.path.join(ROOT, "configs", "uncased_L-2_H-128_A-2", "bert_config.json")
MAX_SEQ_LENGTH = 64
MAX_PREDICTIONS = 10


def _run(args: list[str]) -> None:
    printable = " \\\n    ".join(shlex.quote(a) for a in args)
    print(f"\n$ {printable}", flush=True)
    start = time.time()
    subprocess.run(args, check=True, cwd=ROOT)
    print(f"(done in {time.time() - start:.1f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "demo_output"))
    parser.add_argument("--num_train_steps", type=int, default=30)
    args = parser.parse_args()

    out = os.path.abspath(args.output_dir)
    data = os.path.join(out, "pretraining_data", "tf_examples.tfrecord")
    pretrain_dir = os.path.join(out, "pretraining")
    classifier_dir = os.path.join(out, "classifier_mrpc")
    vocab = os.path.join(SAMPLE, "vocab.txt")
    python = sys.executable

    _run(
        [
            python, "-m", "official_bert.create_pretraining_data",
            f"--input_file={os.path.join(SAMPLE, 'corpus.txt')}",
            f"--output_file={data}",
            f"--vocab_file={vocab}",
            "--do_lower_case=True",
            f"--max_seq_length={MAX_SEQ_LENGTH}",
            f"--max_predictions_per_seq={MAX_PREDICTIONS}",
            "--masked_lm_prob=0.15",
            "--random_seed=12345",
            "--dupe_factor=5",
        ]
    )  # fmt: skip
    _run(
        [
            python, os.path.join(ROOT, "run_pretraining.py"),
            f"--input_file={data}",
            f"--output_dir={pretrain_dir}",
            "--do_train=True",
            "--do_eval=True",
            f"--bert_config_file={CONFIG}",
            "--train_batch_size=8",
            "--eval_batch_size=8",
            f"--max_seq_length={MAX_SEQ_LENGTH}",
            f"--max_predictions_per_seq={MAX_PREDICTIONS}",
            f"--num_train_steps={args.num_train_steps}",
            "--num_warmup_steps=3",
            "--learning_rate=1e-3",
            "--save_checkpoints_steps=10",
            "--iterations_per_loop=5",
            "--max_eval_steps=5",
        ]
    )  # fmt: skip
    pretrained = tf.train.latest_checkpoint(pretrain_dir)
    _run(
        [
            python, os.path.join(ROOT, "run_classifier.py"),
            "--task_name=MRPC",
            "--do_train=True",
            "--do_eval=True",
            "--do_predict=True",
            f"--data_dir={os.path.join(SAMPLE, 'MRPC')}",
            f"--vocab_file={vocab}",
            f"--bert_config_file={CONFIG}",
            f"--init_checkpoint={pretrained}",
            "--do_lower_case=True",
            f"--max_seq_length={MAX_SEQ_LENGTH}",
            "--train_batch_size=4",
            "--learning_rate=5e-4",
            "--num_train_epochs=3",
            "--save_checkpoints_steps=5",
            "--iterations_per_loop=3",
            f"--output_dir={classifier_dir}",
        ]
    )  # fmt: skip

    print("\nResults:")
    print(f"  pretraining data:        {data}")
    print(f"  pretraining checkpoints: {pretrain_dir} (latest: {os.path.basename(pretrained)})")
    print(f"  pretraining eval:        {os.path.join(pretrain_dir, 'eval_results.txt')}")
    print(f"  fine-tuning checkpoints: {classifier_dir}")
    for name in ("eval_results.txt", "test_results.tsv"):
        path = os.path.join(classifier_dir, name)
        print(f"  fine-tuning {name + ':':18s}{path}")
    for path in (
        os.path.join(pretrain_dir, "eval_results.txt"),
        os.path.join(classifier_dir, "eval_results.txt"),
    ):
        with open(path) as f:
            print(f"\n{path}:\n{f.read().rstrip()}")


if __name__ == "__main__":
    main()
