"""The README's two-workers-on-one-machine recipe for `run_pretraining.py`.

Two `run_pretraining.py --strategy=multi_worker_mirrored` processes on
localhost train and evaluate the tiny model on the golden pretraining records;
only the chief (worker 0) writes the checkpoints, the summaries and
eval_results.txt, and both see the same losses.
"""

import json
import os
import pathlib
import re
import sys

import distributed_worker as dw
import pytest

from official_bert import checkpoints

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
DEMO_RECORDS = os.path.join(TESTS, "golden", "pretraining_data", "demo.tfrecord")
STEPS = 4


@pytest.mark.slow
@pytest.mark.localhost_cluster
def test_run_pretraining_on_two_local_workers(tmp_path):
    with open(os.path.join(dw.TINY, "bert_config.json")) as f:
        config = json.load(f)
    config.update(vocab_size=30522, max_position_embeddings=128)  # the demo records' vocab
    config_file = tmp_path / "bert_config.json"
    config_file.write_text(json.dumps(config))
    output_dir = tmp_path / "out"
    args = [
        f"--bert_config_file={config_file}", f"--input_file={DEMO_RECORDS}",
        "--strategy=multi_worker_mirrored", f"--output_dir={output_dir}", "--do_train",
        "--do_eval", "--train_batch_size=4", "--eval_batch_size=4",
        f"--num_train_steps={STEPS}", "--num_warmup_steps=1", "--save_checkpoints_steps=2",
        "--log_every_n_steps=2", "--max_eval_steps=2",
    ]  # fmt: skip
    log_paths = [str(tmp_path / f"worker{index}.log") for index in range(2)]
    command = [sys.executable, os.path.join(ROOT, "run_pretraining.py")]
    workers = dw.start_workers(2, args, log_paths, command=command)
    dw.wait_for_workers(workers, log_paths, timeout=240)
    logs = [pathlib.Path(path).read_text() for path in log_paths]

    assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(str(output_dir))) == STEPS
    assert "Saved checkpoint" in logs[0] and "Saved checkpoint" not in logs[1]
    assert (output_dir / "eval_results.txt").is_file() and os.listdir(output_dir / "eval")
    losses = [re.findall(r"step = \d+\S*, loss = (\S+),", log) for log in logs]
    assert losses[0] and losses[0] == losses[1]  # one global batch per step, all-reduced
