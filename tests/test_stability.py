"""Tests of the fine-tuning stability study (official_bert.stability, .stability_report).

The study runs the tiny golden BERT (tests/golden/tiny_bert, 99-token vocab) on a
tiny hand-written SST-2-format task, with two short recipes (`original` and
`mosbach` with fewer epochs: 2 and 4 steps) and two seeds, as subprocesses of
the real command line: the first invocation has one run made to crash, the
second resumes (only that run runs again). The report's statistics are checked
against hand-computed values on records built by hand.
"""

import contextlib
import csv
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from absl import flags
from absl import logging as absl_logging

from official_bert import stability, stability_report
from official_bert.errors import InputError, MissingFileError

FLAGS = flags.FLAGS
TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
TINY = os.path.join(TESTS, "golden", "tiny_bert")
TINY_CONFIG = os.path.join(TINY, "bert_config.json")
RELEASED = os.path.join(TINY, "released", "bert_model.ckpt")
UNCASED_VOCAB = os.path.join(TESTS, "golden", "uncased_vocab.txt")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# 16 training sentences (batches of 8: 2 steps per epoch), 10 dev sentences (6 positive).
TRAIN = [
    ("a fine and moving film", 1),
    ("the best of the year", 1),
    ("it is a joy to watch", 1),
    ("warm, funny and wise", 1),
    ("a great cast", 1),
    ("he is in fine form", 1),
    ("it was a delight", 1),
    ("smart and moving", 1),
    ("a dull and tired film", 0),
    ("the worst of the year", 0),
    ("it is a chore to sit through", 0),
    ("cold, flat and dumb", 0),
    ("a bad cast", 0),
    ("he is lost", 0),
    ("it was a mess", 0),
    ("dumb and dull", 0),
]
DEV = [
    ("a fine cast", 1),
    ("it is moving", 1),
    ("the joy of it", 1),
    ("funny and smart", 1),
    ("a delight to watch", 1),
    ("great", 1),
    ("a dull mess", 0),
    ("flat and cold", 0),
    ("it was bad", 0),
    ("tired", 0),
]


def tiny_vocab():
    """99 tokens (the tiny model's vocab_size): any lower-case English word splits into them."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *("##" + c for c in letters)]
    vocab += list("0123456789") + list(".,'\"-()?!;:/$%&")
    vocab += "the a of to and in is that it was he for on with as his be".split()
    assert len(vocab) == 99
    return vocab


def write_sst2(folder, train=TRAIN, dev=DEV):
    os.makedirs(folder, exist_ok=True)
    for name, rows in (("train.tsv", train), ("dev.tsv", dev)):
        with open(os.path.join(folder, name), "w") as f:
            f.write("sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows))


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("stability_task")
    data = root / "data"
    write_sst2(str(data))
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(tiny_vocab()) + "\n")
    return SimpleNamespace(root=root, data=str(data), vocab=str(vocab))


# Short versions of the two recipes: 1 epoch (2 steps) and 2 epochs (4 steps, evaluated
# after each epoch, best checkpoint kept).
SHORT_RECIPES = [
    "--recipe=orig:recipe=original,num_train_epochs=1",
    "--recipe=mos:recipe=mosbach,num_train_epochs=2",
    "--recipes=orig,mos",
]


def study_args(task, output_dir, *extra):
    return [
        "--task_name=sst-2",
        f"--data_dir={task.data}",
        f"--vocab_file={task.vocab}",
        f"--bert_config_file={TINY_CONFIG}",
        f"--init_checkpoint={RELEASED}",
        "--max_seq_length=16",
        "--train_batch_size=8",
        "--eval_batch_size=5",
        f"--output_dir={output_dir}",
        *SHORT_RECIPES,
        *extra,
    ]


def run_cli(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "official_bert.stability", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


@contextlib.contextmanager
def parsed(args):
    """absl's FLAGS parsed from the study's command line, unparsed afterwards."""
    stability.define_flags()
    verbosity = absl_logging.get_verbosity()
    FLAGS.unparse_flags()
    try:
        FLAGS(["bert-stability", *args])
        yield FLAGS
    finally:
        FLAGS.unparse_flags()
        absl_logging.set_verbosity(verbosity)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def assert_valid_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(PNG_MAGIC), path
    assert len(data) > 5000, f"{path}: only {len(data)} bytes"
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    # Not a blank canvas: the plot has many distinct colours.
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20


def mtimes(paths):
    return {path: os.stat(path).st_mtime_ns for path in paths}


# --------------------------------------------------------------------------- end to end


def test_command_line_runs_each_run_in_its_own_process_and_writes_every_file(task, tmp_path):
    out = tmp_path / "study"
    result = run_cli(study_args(task, out, "--num_seeds=1", "--parallel=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(out / "runs.csv")
    assert [(r["recipe"], r["seed"], r["status"]) for r in rows] == [
        ("orig", "1", "ok"),
        ("mos", "1", "ok"),
    ]
    for row in rows:
        results = stability.read_eval_results(os.path.join(row["run_dir"], "eval_results.txt"))
        assert float(row["score"]) == pytest.approx(results["eval_accuracy"])
        assert float(row["eval_accuracy"]) == pytest.approx(results["eval_accuracy"])
        assert float(row["wall_time_s"]) > 0
        log = open(os.path.join(row["run_dir"], "log.txt")).read()
        assert "Running training" in log  # run_classifier's own log, from its process
    assert [r["train_steps"] for r in rows] == ["2", "4"]
    # Each run is a normal run_classifier run in its own folder, with its flags.
    run_flags = open(os.path.join(rows[1]["run_dir"], "flags.txt")).read().split("\n")
    for expected in (
        "--bias_correction=true",
        "--num_train_epochs=2",
        "--learning_rate=2e-5",
        "--eval_every_n_steps=2",
        "--keep_best_checkpoint=true",
        "--random_seed=1",
        "--do_train=true",
        "--task_name=sst-2",
    ):
        assert expected in run_flags
    assert "--bias_correction=false" in open(os.path.join(rows[0]["run_dir"], "flags.txt")).read()
    assert os.path.isdir(os.path.join(rows[1]["run_dir"], "best_checkpoint"))
    report = (out / "report.md").read_text()
    for name in ("scores.png", "loss_curves.png", "dev_curves.png"):
        assert_valid_png(out / name)
        assert f"]({name})" in report
    assert json.load(open(out / "summary.json"))["majority_baseline"]["score"] == pytest.approx(0.6)
    assert "[2/2]" in result.stderr and "ETA" in result.stderr


def test_a_crashed_run_is_recorded_the_study_goes_on_and_resumes(task, tmp_path):
    out = tmp_path / "study"
    # One run is made to crash: a folder where it must write its training records.
    blocker = out / "runs" / "mos" / "seed_2" / "train.tf_record"
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("x")
    with parsed(study_args(task, out, "--num_seeds=2")):
        stability.run_study(FLAGS, in_process=True)

    rows = read_csv(out / "runs.csv")
    assert [(r["recipe"], r["seed"]) for r in rows] == [
        ("orig", "1"),
        ("mos", "1"),
        ("orig", "2"),
        ("mos", "2"),
    ]
    crashed = rows[3]
    assert crashed["status"] == "failed" and crashed["score"] == ""
    assert crashed["error"].startswith("exit code 1: ") and "train.tf_record" in crashed["error"]
    assert [r["status"] for r in rows[:3]] == ["ok", "ok", "ok"]
    summary = json.load(open(out / "summary.json"))
    assert summary["recipes"]["orig"]["n"] == 2 and summary["recipes"]["orig"]["crashed"] == 0
    assert summary["recipes"]["mos"]["n"] == 1 and summary["recipes"]["mos"]["crashed"] == 1
    orig_scores = [float(r["score"]) for r in rows if r["recipe"] == "orig"]
    assert summary["recipes"]["orig"]["mean"] == pytest.approx(np.mean(orig_scores))
    report = (out / "report.md").read_text()
    assert "| orig | 2 |" in report and "crashed: exit code 1" in report

    # Resume: the three finished runs are skipped, the crashed one runs again.
    finished = [
        os.path.join(r["run_dir"], n)
        for r in rows[:3]
        for n in ("study_run.json", "eval_results.txt", "flags.txt")
    ]
    before = mtimes(finished)
    (blocker / "keep").unlink()
    blocker.rmdir()
    with parsed(study_args(task, out, "--num_seeds=2")):
        study = stability.run_study(FLAGS, in_process=True)
    assert mtimes(finished) == before
    assert [row.status for row in study.rows] == ["ok"] * 4
    rows = read_csv(out / "runs.csv")
    assert [r["status"] for r in rows] == ["ok"] * 4
    summary = json.load(open(out / "summary.json"))
    assert summary["recipes"]["mos"]["n"] == 2 and summary["recipes"]["mos"]["crashed"] == 0

    # Other flags in the same folder are refused, naming the run folder.
    with parsed([*study_args(task, out, "--num_seeds=2"), "--max_seq_length=32"]):
        with pytest.raises(InputError, match="seed_1 was started with other flags"):
            stability.run_study(FLAGS, in_process=True)


def test_bad_num_seeds_is_refused_before_anything_is_written(task, tmp_path):
    with parsed(study_args(task, tmp_path / "s", "--num_seeds=0")):
        with pytest.raises(InputError, match="--num_seeds must be at least 1"):
            stability.run_study(FLAGS, in_process=True)
    assert not (tmp_path / "s").exists()


# --------------------------------------------------------------------------- planning


def test_recipes_by_name_and_as_flag_sets():
    original, mosbach, mine = stability.resolve_recipes(
        "original,mosbach,mine", ["mine:recipe=mosbach,learning_rate=1e-5"]
    )
    assert original.flags == {
        "bias_correction": "false",
        "num_train_epochs": "3",
        "learning_rate": "2e-5",
        "warmup_proportion": "0.1",
    }
    assert mosbach.flags["bias_correction"] == "true"
    assert mosbach.flags["num_train_epochs"] == "20"
    assert mosbach.flags["keep_best_checkpoint"] == "true"
    assert mine.flags == {**mosbach.flags, "learning_rate": "1e-5"}


@pytest.mark.parametrize(
    "recipes, definitions, message",
    [
        ("original,nosuch", [], "unknown recipe 'nosuch'"),
        ("original", ["mine:learning_rate=1e-5"], "does not run it"),
        ("original", ["original:learning_rate=1e-5"], "built-in recipe"),
        ("mine", ["mine:recipe=nosuch"], "base recipe 'nosuch'"),
        ("mine", ["mine learning_rate=1e-5"], "NAME:flag=value"),
        ("", [], "names no recipe"),
    ],
)
def test_bad_recipes_are_refused(recipes, definitions, message):
    with pytest.raises(InputError, match=message):
        stability.resolve_recipes(recipes, definitions)


def test_recipe_flags_must_be_valid_run_classifier_flags():
    with parsed([]):
        bad = stability.resolve_recipes("mine", ["mine:learnin_rate=1e-5"])
        with pytest.raises(InputError, match="--learnin_rate is not a run_classifier flag"):
            stability.check_recipe_flags(bad, FLAGS)
        bad = stability.resolve_recipes("mine", ["mine:num_train_epochs=many"])
        with pytest.raises(InputError, match="recipe 'mine' .*invalid value"):
            stability.check_recipe_flags(bad, FLAGS)
        bad = stability.resolve_recipes("mine", ["mine:random_seed=3"])
        with pytest.raises(InputError, match="set by the study"):
            stability.check_recipe_flags(bad, FLAGS)
    with parsed(["--learning_rate=3e-5"]):
        recipes = stability.resolve_recipes("original", [])
        with pytest.raises(InputError, match="--learning_rate is given on the command line"):
            stability.check_recipe_flags(recipes, FLAGS)


def test_seeds():
    assert stability.resolve_seeds(3, None) == [1, 2, 3]
    assert stability.resolve_seeds(None, None) == [1, 2, 3, 4, 5]
    assert stability.resolve_seeds(None, ["1", "2", "5"]) == [1, 2, 5]
    for num_seeds, seeds, message in [
        (0, None, "--num_seeds must be at least 1"),
        (None, ["1", "x"], "--seeds: 'x'"),
        (None, ["2", "2"], "twice"),
        (2, ["1"], "not both"),
    ]:
        with pytest.raises(InputError, match=message):
            stability.resolve_seeds(num_seeds, seeds)


def test_plan_gives_every_run_the_command_line_and_its_recipe(task, tmp_path):
    args = study_args(task, tmp_path / "s", "--seeds=3,7", "--do_lower_case=true")
    with parsed(args):
        recipes = stability.resolve_recipes(FLAGS.recipes, FLAGS.recipe)
        data = stability.read_task_data(stability.SimpleFlags(FLAGS))
        runs = stability.plan_runs(recipes, [3, 7], data, FLAGS)
    assert data.num_train_examples == 16 and data.dev_label_ids == [1] * 6 + [0] * 4
    assert [(r.recipe, r.seed) for r in runs] == [("orig", 3), ("mos", 3), ("orig", 7), ("mos", 7)]
    mos = runs[1]
    assert mos.run_dir == os.path.join(str(tmp_path / "s"), "runs", "mos", "seed_3")
    assert mos.train_steps == 4  # int(16 / 8 * 2)
    assert f"--data_dir={task.data}" in mos.flags and "--max_seq_length=16" in mos.flags
    assert "--do_lower_case" in mos.flags
    # Once per epoch: int(16 / 8) steps.
    assert "--eval_every_n_steps=2" in mos.flags
    assert f"--output_dir={mos.run_dir}" in mos.flags and "--random_seed=3" in mos.flags
    assert not any(f.startswith("--recipe") or f.startswith("--seeds") for f in mos.flags)


def test_data_folder_without_split_files_is_refused_naming_the_file(task, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with parsed(study_args(task, tmp_path / "s")):
        values = stability.SimpleFlags(FLAGS)
        FLAGS.data_dir = str(empty)
        with pytest.raises(MissingFileError, match="train.tsv"):
            stability.read_task_data(values)
        FLAGS.data_dir = task.data
        FLAGS.task_name = "nosuch"
        with pytest.raises(InputError, match="nosuch"):
            stability.read_task_data(values)


def test_vocab_that_does_not_match_the_model_is_refused(task, tmp_path):
    with parsed(study_args(task, tmp_path / "s")):
        FLAGS.vocab_file = UNCASED_VOCAB  # 30522 tokens for a model of 99
        with pytest.raises(InputError, match="--vocab_file=.*vocab_size=99"):
            stability.read_task_data(stability.SimpleFlags(FLAGS))


# --------------------------------------------------------------------------- the report


def record(score, steps=10, wall=1.5, status="ok", error=""):
    if status != "ok":
        return {"status": status, "error": error, "train_steps": steps, "wall_time_s": wall}
    metrics = {"eval_accuracy": score, "eval_loss": 0.5, "global_step": steps, "loss": 0.4}
    return {"status": "ok", "score": score, "metrics": metrics, "train_steps": steps,
            "wall_time_s": wall}  # fmt: skip


def test_statistics_against_hand_computed_values():
    stats = stability_report.recipe_statistics([0.5, 0.7, 0.9, 0.6], baseline=0.6, crashed=1)
    # mean (0.5 + 0.7 + 0.9 + 0.6) / 4; squared deviations .030625 + .000625 + .050625
    # + .005625 = .0875, / 3 -> std sqrt(.0291667); median (0.6 + 0.7) / 2; failed: 0.5 and
    # 0.6 (at the baseline counts).
    assert stats["n"] == 4
    assert stats["mean"] == pytest.approx(0.675)
    assert stats["std"] == pytest.approx(0.170782513)
    assert stats["median"] == pytest.approx(0.65)
    assert (stats["min"], stats["max"]) == (0.5, 0.9)
    assert stats["failed"] == 2 and stats["failed_rate"] == pytest.approx(0.5)
    assert stats["crashed"] == 1
    one = stability_report.recipe_statistics([0.8], baseline=0.6)
    assert one["std"] is None and one["failed"] == 0


def test_majority_baseline_of_the_dev_set():
    # SST-2: 3 of 5 are label 0 -> accuracy 0.6.
    sst = stability_report.majority_baseline("sst-2", [0, 1, 0, 1, 0])
    assert (sst["label_id"], sst["score"], sst["share"]) == (0, pytest.approx(0.6), 0.6)
    # MRPC: always 1 on [1, 1, 1, 0]: accuracy 3/4, F1 2*3 / (2*3 + 1) = 6/7.
    mrpc = stability_report.majority_baseline("mrpc", [1, 1, 1, 0])
    assert mrpc["score"] == pytest.approx((0.75 + 6 / 7) / 2)
    # CoLA: a constant prediction has Matthews correlation 0.
    assert stability_report.majority_baseline("cola", [1, 1, 0])["score"] == 0.0
    # A tie goes to the first label.
    assert stability_report.majority_baseline("sst-2", [1, 0])["label_id"] == 0


def test_report_files_from_records(tmp_path):
    dev = [1] * 6 + [0] * 4  # majority 0.6
    runs = [
        ("original", 1, str(tmp_path / "r1"), record(0.6)),
        ("original", 2, str(tmp_path / "r2"), record(0.9)),
        ("original", 3, str(tmp_path / "r3"), record(None, status="failed", error="boom")),
        ("mosbach", 1, str(tmp_path / "m1"), record(0.8)),
        ("mosbach", 2, str(tmp_path / "m2"), record(0.85)),
        ("mosbach", 3, str(tmp_path / "m3"), record(0.75)),
    ]
    study = stability_report.StudyReport.build(
        task_name="sst-2", data_dir="DATA", init_checkpoint="CKPT", label_list=["0", "1"],
        num_train_examples=16, dev_label_ids=dev,
        recipes=[("original", "--a=1"), ("mosbach", "--b=2")], seeds=[1, 2, 3], runs=runs,
    )  # fmt: skip
    paths = study.write(str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == sorted(
        ["runs.csv", "summary.json", "report.md", "scores.png", "loss_curves.png"]
    )
    rows = read_csv(tmp_path / "runs.csv")
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok", "ok", "ok"]
    assert [r["below_majority"] for r in rows] == ["1", "0", "", "0", "0", "0"]
    assert rows[2]["error"] == "boom"
    summary = json.load(open(tmp_path / "summary.json"))
    original = summary["recipes"]["original"]
    assert (original["n"], original["failed"], original["crashed"]) == (2, 1, 1)
    assert original["mean"] == pytest.approx(0.75)
    assert original["std"] == pytest.approx(np.std([0.6, 0.9], ddof=1))
    mosbach = summary["recipes"]["mosbach"]
    assert mosbach["median"] == pytest.approx(0.8) and mosbach["failed_rate"] == 0.0
    assert mosbach["scores"] == {"1": 0.8, "2": 0.85, "3": 0.75}
    report = (tmp_path / "report.md").read_text()
    assert "| original | 2 | 75.00 | 21.21 | 75.00 | 60.00 | 90.00 | 1 | 50% | 1 |" in report
    assert "| mosbach | 3 | 80.00 | 5.00 | 80.00 | 75.00 | 85.00 | 0 | 0% | 0 |" in report
    assert "scores **60.00**" in report
    assert_valid_png(tmp_path / "scores.png")


def test_loss_curve_is_read_from_tensorboard_events(tmp_path):
    import tensorflow as tf

    from official_bert.results import write_scalar_summary

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step, loss in [(1, 0.7), (2, 0.5), (3, 0.25)]:
            with tf.summary.record_if(True):
                tf.summary.experimental.set_step(step)
                write_scalar_summary("loss", loss)
                write_scalar_summary("learning_rate", 1e-5)
    writer.close()
    steps, losses = stability_report.read_loss_curve(str(tmp_path))
    assert steps == [1, 2, 3]
    assert losses == pytest.approx([0.7, 0.5, 0.25])


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InputError, match=r"official_bert\[plots\]"):
        stability_report.require_matplotlib()


def test_thread_environment_limits_each_run():
    env = stability.thread_environment(2, {})
    expected = str(max(1, (os.cpu_count() or 1) // 2))
    assert env["TF_NUM_INTRAOP_THREADS"] == expected == env["OMP_NUM_THREADS"]
    assert env["TF_NUM_INTEROP_THREADS"] == "1"
    assert stability.thread_environment(2, {"OMP_NUM_THREADS": "7"})["OMP_NUM_THREADS"] == "7"
    assert "TF_NUM_INTRAOP_THREADS" not in stability.thread_environment(1, {})
