"""`make demo` (or `bert-demo` from an installed package): the main job end to end, in tiny.

1. `create_pretraining_data` on the sample corpus (8 short documents);
2. a short pretraining of a small BERT (the released `uncased_L-2_H-128_A-2`
   config: 2 layers, hidden size 128) from scratch, with evaluation;
3. a short fine-tuning on 12 MRPC-format rows, initialised from step 2's
   checkpoint, with evaluation on 6 rows and prediction on 5.

A smoke test of the whole path on a tiny model and a dozen rows: its
accuracies mean nothing. Each step runs the real command line, printed before
it runs, so the demo is also a copy-paste example. The data is the bundled
`sample_data` (of the checkout, or the installed package's copy) unless
`--data_dir` names another folder of the same files; outputs go under
`./demo_output/` (or `--output_dir`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import textwrap
import time

import tensorflow as tf

from official_bert import configs

CONFIG_NAME = "uncased_L-2_H-128_A-2"
MAX_SEQ_LENGTH = 64
MAX_PREDICTIONS = 10
# The README section with the commands of real-size runs.
README_SECTION = "README.md, section 'From the demo to real runs'"
SUMMARY = f"""What this showed: every step of the original's workflow ran end to end on this
machine (pretraining data, pretraining, fine-tuning, evaluation, prediction) and
wrote the original's files. It is a smoke test, not a result: a 2-layer model
with hidden size 128, {{pretraining_steps}} pretraining steps on 8 short documents,
fine-tuned on 12 rows and evaluated on 6, so eval_accuracy is noise (one dev row
is 0.17 of it). For real-size runs (a released BERT-Base checkpoint on the full
GLUE MRPC set, pretraining on your corpus) see {README_SECTION}."""


def _run(args: list[str]) -> None:
    quoted = [shlex.quote(a) for a in args]
    flags_start = next((i for i, a in enumerate(args) if a.startswith("--")), len(args))
    printable = " \\\n    ".join([" ".join(quoted[:flags_start]), *quoted[flags_start:]])
    print(f"\n$ {printable}", flush=True)
    start = time.time()
    subprocess.run(args, check=True)
    print(f"(done in {time.time() - start:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data_dir",
        default=None,
        help="folder with corpus.txt, vocab.txt and MRPC/ (default: the bundled sample_data)",
    )
    parser.add_argument("--output_dir", default="demo_output")
    parser.add_argument("--num_train_steps", type=int, default=30)
    args = parser.parse_args(argv)

    sample = os.path.abspath(args.data_dir or configs.bundled_dir("sample_data"))
    config = configs.path(CONFIG_NAME)
    out = os.path.abspath(args.output_dir)
    data = os.path.join(out, "pretraining_data", "tf_examples.tfrecord")
    pretrain_dir = os.path.join(out, "pretraining")
    classifier_dir = os.path.join(out, "classifier_mrpc")
    vocab = os.path.join(sample, "vocab.txt")
    python = sys.executable

    _run(
        [
            python, "-m", "official_bert.create_pretraining_data",
            f"--input_file={os.path.join(sample, 'corpus.txt')}",
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
            python, "-m", "official_bert.pretraining",
            f"--input_file={data}",
            f"--output_dir={pretrain_dir}",
            "--do_train=True",
            "--do_eval=True",
            f"--bert_config_file={config}",
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
            python, "-m", "official_bert.classifier",
            "--task_name=MRPC",
            "--do_train=True",
            "--do_eval=True",
            "--do_predict=True",
            f"--data_dir={os.path.join(sample, 'MRPC')}",
            f"--vocab_file={vocab}",
            f"--bert_config_file={config}",
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
    summary = " ".join(SUMMARY.format(pretraining_steps=args.num_train_steps).split())
    print("\n" + textwrap.fill(summary, width=80))


if __name__ == "__main__":
    main()
