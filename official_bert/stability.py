"""Fine-tuning stability: one task, K seeds, several recipes, one report (`bert-stability`).

    python -m official_bert.stability --task_name=sst-2 --data_dir=DATA \
      --vocab_file=M/vocab.txt --bert_config_file=M/bert_config.json \
      --init_checkpoint=M/bert_model.ckpt --max_seq_length=64 \
      --recipes=original,mosbach --num_seeds=5 --output_dir=STUDY

Every run is an ordinary `python -m official_bert.classifier` run of the
task (train, then evaluate on the dev set) in its own folder
`STUDY/runs/RECIPE/seed_K/`, started from `flags.txt` there
(`--flagfile=flags.txt`: the exact command, to inspect or rerun by hand), with
its log in `log.txt`. When a run ends, the study writes `study_run.json`
beside them (status, metrics, score, steps, wall time), then the report:
`runs.csv`, `summary.json`, `report.md`, `scores.png`, `loss_curves.png` (see
`official_bert.stability_report`).

Flags. Every run gets the run_classifier flags given on this command line
(`--task_name`, `--data_dir`, the model, `--max_seq_length`,
`--train_batch_size`, ...), then its recipe's flags, then
`--random_seed=K --output_dir=RUN_DIR --do_train --do_eval`. A recipe is a
named flag set:

* `original`: the original's fine-tuning: Adam without bias correction,
  3 epochs, learning rate 2e-5, 10% warm-up, one evaluation at the end;
* `mosbach`: Mosbach et al. (ICLR 2021): bias-corrected Adam, 20 epochs,
  learning rate 2e-5, 10% warm-up, an evaluation once per epoch
  (`--eval_every_n_steps=epoch`: int(train examples / train_batch_size)
  steps) and the best dev checkpoint kept (`--keep_best_checkpoint`), whose
  dev results are the run's;
* your own: `--recipe=NAME:flag=value,flag=value` (repeatable), e.g.
  `--recipe=mosbach_lr1e-5:recipe=mosbach,learning_rate=1e-5` (`recipe=BASE`
  starts from a named recipe; without it, from run_classifier's defaults).
  `eval_every_n_steps=epoch` means once per epoch. Name it in `--recipes`.

A flag that a recipe sets cannot also be given on the command line (which one
would win is not obvious); `--random_seed`, `--output_dir` of a run, and
`--do_train` / `--do_eval` are the study's.

Resuming. Running the same command again skips every run whose
`study_run.json` says `ok`; any other run starts again, and run_classifier
resumes it from the latest checkpoint in its folder. A run folder made with
other flags is refused (use a new `--output_dir`). A run that fails (its
process exits non-zero) is recorded as `failed` with the last line of its log
(the error run_classifier printed) and the study goes on; it is retried the
next time. Ctrl-C stops the running runs at a checkpoint and the study
without a report; the same command resumes.

Parallel runs. `--parallel=P` runs P processes at once. Each gets
`TF_NUM_INTRAOP_THREADS` = `OMP_NUM_THREADS` = max(1, cpus // P) and
`TF_NUM_INTEROP_THREADS=1` unless those are set in the environment, so P
runs share the cores instead of each starting one thread per core. On a CPU
P > 1 only pays when a run cannot use all cores (small models); for a model
like BERT-Base, P=1 is as fast.

Before any run starts the study checks the task, the data files (train and
dev), the config, the vocabulary against the config and `--init_checkpoint`,
every recipe and the seeds, that matplotlib is installed, and that each
recipe trains at least one step; an error names the flag or file.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging as python_logging
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

from absl import flags as absl_flags
from absl import logging

from official_bert import (
    checkpoints,
    classifier,
    classifier_data,
    cli,
    files,
    flags_common,
    glue_metrics,
    stability_report,
    tokenization,
)
from official_bert.errors import InputError, MissingFileError
from official_bert.modeling import BertConfig, check_max_seq_length
from official_bert.results import read_eval_results

FLAGS = absl_flags.FLAGS

REQUIRED_FLAGS = ("task_name", "data_dir", "vocab_file", "bert_config_file", "output_dir")

# The recipes known by name: run_classifier flags, as on a command line.
# "epoch" for eval_every_n_steps is resolved to the steps of one epoch.
EPOCH = "epoch"
RECIPES: dict[str, dict[str, str]] = {
    "original": {
        "bias_correction": "false",
        "num_train_epochs": "3",
        "learning_rate": "2e-5",
        "warmup_proportion": "0.1",
    },
    "mosbach": {
        "bias_correction": "true",
        "num_train_epochs": "20",
        "learning_rate": "2e-5",
        "warmup_proportion": "0.1",
        "eval_every_n_steps": EPOCH,
        "keep_best_checkpoint": "true",
    },
}
# Flags the study sets for every run; neither a recipe nor the command line may.
STUDY_SET_FLAGS = ("random_seed", "do_train", "do_eval")
# Flags that define the task: the same for every recipe (the baseline is computed from them).
TASK_FLAGS = ("task_name", "data_dir", "output_dir")
# Files of a run folder.
RUNS_DIRNAME = "runs"
RUN_FLAGS_FILENAME = "flags.txt"
RUN_LOG_FILENAME = "log.txt"
RUN_RECORD_FILENAME = "study_run.json"
# Loss points per run in the curves when --log_every_n_steps is not given.
LOSS_POINTS_PER_RUN = 100
# How often the study logs the step of each running run.
HEARTBEAT_SECONDS = 60.0
POLL_SECONDS = 0.5
# run_classifier's progress line: `step = 120/312, loss = ...`.
_STEP_LINE = re.compile(rb"step = (\d+)/(\d+)")


# --------------------------------------------------------------------------- flags


def define_flags() -> None:
    """run_classifier's flags (passed to every run) and the study's own."""
    classifier.define_flags()
    cli.define_flag(
        "string",
        "recipes",
        "original,mosbach",
        "Comma-separated recipes to compare, in this order: `original`, `mosbach`, or the "
        "names of --recipe definitions.",
        group=cli.PORT,
    )
    cli.define_flag(
        "multi_string",
        "recipe",
        None,
        "Defines a recipe as a flag set: `NAME:flag=value,flag=value` with run_classifier "
        "flags; `recipe=BASE` starts from a named recipe; `eval_every_n_steps=epoch` "
        "evaluates once per epoch. Repeatable; name it in --recipes.",
        group=cli.PORT,
    )
    cli.define_flag(
        "integer",
        "num_seeds",
        None,
        "Run seeds 1..K of every recipe (--random_seed of each run). Default 5 unless "
        "--seeds is given.",
        group=cli.PORT,
    )
    cli.define_flag(
        "list",
        "seeds",
        None,
        "Comma-separated seeds to run instead of 1..K, e.g. 1,2,5.",
        group=cli.PORT,
    )
    cli.define_flag(
        "integer",
        "parallel",
        1,
        "How many runs at once, each in its own process with cpus // P threads.",
        group=cli.PORT,
    )


DEFAULT_NUM_SEEDS = 5


def classifier_flag_names() -> set[str]:
    """The names of run_classifier's flags (defined by classifier.define_flags).

    The flags official_bert's modules defined, but this command's own: in the
    study's process those are exactly run_classifier's. (A process that also
    defined another entry point's flags, a test session say, sees those too:
    a flag shared by two entry points is registered under the first definer.)
    """
    classifier.define_flags()
    names = set()
    for module_name, module_flags in FLAGS.flags_by_module_dict().items():
        if module_name.startswith("official_bert.") and module_name != __name__:
            names.update(flag.name for flag in module_flags)
    return names


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named set of run_classifier flags (values as on a command line)."""

    name: str
    flags: dict[str, str]

    def describe(self) -> str:
        return " ".join(f"--{k}={v}" for k, v in self.flags.items())


@dataclasses.dataclass
class PlannedRun:
    """One run of the study.

    Attributes:
      recipe, seed: what it runs.
      run_dir: its folder, STUDY/runs/RECIPE/seed_K.
      flags: its run_classifier command line, `--name=value` items.
      train_steps: the steps it trains for (run_classifier's formula).
    """

    recipe: str
    seed: int
    run_dir: str
    flags: list[str]
    train_steps: int

    @property
    def label(self) -> str:
        return f"{self.recipe} seed {self.seed}"


@dataclasses.dataclass
class TaskData:
    """What the study needs to know of the task's data.

    Attributes:
      label_list: the processor's labels.
      num_train_examples: rows of the train split.
      dev_label_ids: int label ids of the dev split, in file order.
    """

    label_list: list[str]
    num_train_examples: int
    dev_label_ids: list[int]


def parse_recipe_definition(text: str, known: dict[str, dict[str, str]]) -> Recipe:
    """A `--recipe=NAME:flag=value,...` definition (`recipe=BASE` starts from BASE)."""
    name, sep, body = text.partition(":")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise InputError(
            f"--recipe={text!r}: write NAME:flag=value,flag=value with a NAME of letters, "
            "digits and _.+-, e.g. --recipe=mosbach_lr1e-5:recipe=mosbach,learning_rate=1e-5."
        )
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not eq or not key:
            raise InputError(f"--recipe={text!r}: {item!r} is not flag=value.")
        if key == "recipe":
            if value not in known:
                raise InputError(
                    f"--recipe={text!r}: base recipe {value!r} is unknown; known: "
                    f"{', '.join(known)}."
                )
            values = {**known[value], **values}
        else:
            values[key] = value.strip()
    return Recipe(name, values)


def resolve_recipes(recipes_flag: str, definitions: Sequence[str] | None) -> list[Recipe]:
    """The recipes named by --recipes, built in or defined by --recipe."""
    known = {name: dict(values) for name, values in RECIPES.items()}
    defined: dict[str, Recipe] = {}
    for text in definitions or ():
        recipe = parse_recipe_definition(text, known)
        if recipe.name in RECIPES:
            raise InputError(
                f"--recipe={text!r}: {recipe.name!r} is a built-in recipe; give yours another name."
            )
        if recipe.name in defined:
            raise InputError(f"--recipe: {recipe.name!r} is defined twice.")
        defined[recipe.name] = recipe
        known[recipe.name] = recipe.flags
    names = [name.strip() for name in (recipes_flag or "").split(",") if name.strip()]
    if not names:
        raise InputError("--recipes names no recipe; e.g. --recipes=original,mosbach.")
    if len(set(names)) != len(names):
        raise InputError(f"--recipes={recipes_flag} names a recipe twice.")
    recipes = []
    for name in names:
        if name in RECIPES:
            recipes.append(Recipe(name, dict(RECIPES[name])))
        elif name in defined:
            recipes.append(defined[name])
        else:
            raise InputError(
                f"--recipes: unknown recipe {name!r}; known: {', '.join([*RECIPES, *defined])} "
                "(define your own with --recipe=NAME:flag=value,...)."
            )
    unused = [name for name in defined if name not in names]
    if unused:
        raise InputError(
            f"--recipe defines {', '.join(unused)} but --recipes={recipes_flag} does not run "
            "it: add it to --recipes."
        )
    return recipes


def check_recipe_flags(recipes: Sequence[Recipe], flag_values: Any = FLAGS) -> None:
    """Each recipe flag is a run_classifier flag with a valid value, not set twice."""
    names = classifier_flag_names()
    for recipe in recipes:
        for key, value in recipe.flags.items():
            where = f"recipe {recipe.name!r} (--{key}={value})"
            if key not in names:
                close = sorted(n for n in names if key[:4] in n)[:5]
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise InputError(f"{where}: --{key} is not a run_classifier flag{hint}")
            if key in STUDY_SET_FLAGS or key in TASK_FLAGS:
                raise InputError(
                    f"{where}: --{key} is set by the study for every run; a recipe cannot set it."
                )
            if key == "eval_every_n_steps" and value == EPOCH:
                continue
            try:
                flag_values[key].parser.parse(value)
            except (ValueError, absl_flags.Error) as error:
                raise InputError(f"{where}: invalid value ({error}).") from None
            if flag_values[key].present:
                raise InputError(
                    f"--{key} is given on the command line but recipe {recipe.name!r} sets it "
                    f"to {value}: define a recipe with the value you want instead "
                    f"(--recipe=NAME:recipe={recipe.name},{key}=...)."
                )


def resolve_seeds(num_seeds: int | None, seeds: Sequence[str] | None) -> list[int]:
    """The seeds of --seeds, or 1..--num_seeds (default 1..5)."""
    if seeds:
        if num_seeds is not None:
            raise InputError("Give --num_seeds or --seeds, not both.")
        out = []
        for text in seeds:
            try:
                out.append(int(text))
            except ValueError:
                raise InputError(f"--seeds: {text!r} is not an integer.") from None
        if len(set(out)) != len(out):
            raise InputError(f"--seeds={','.join(seeds)} names a seed twice.")
        if any(seed < 0 for seed in out):
            raise InputError("--seeds must be non-negative integers.")
        return out
    k = DEFAULT_NUM_SEEDS if num_seeds is None else num_seeds
    if k < 1:
        raise InputError(f"--num_seeds must be at least 1; got {k}.")
    return list(range(1, k + 1))


def read_task_data(flag_values: Any) -> TaskData:
    """Checks the task, data, config, vocabulary and checkpoint; reads train and dev.

    Raises:
      InputError / MissingFileError naming the flag or file.
    """
    flags_common.check_required_flags(flag_values, REQUIRED_FLAGS)
    processor = classifier_data.get_processor(flag_values.task_name)
    label_list = processor.get_labels()
    if not os.path.isdir(flag_values.data_dir):
        raise MissingFileError(f"--data_dir={flag_values.data_dir} is not a folder.")
    train = processor.get_train_examples(flag_values.data_dir)
    dev = processor.get_dev_examples(flag_values.data_dir)
    bert_config = BertConfig.from_json_file(flag_values.bert_config_file)
    check_max_seq_length(bert_config, flag_values.max_seq_length, flag_values.bert_config_file)
    tokenization.validate_case_matches_checkpoint(
        flag_values.do_lower_case, flag_values.init_checkpoint
    )
    vocab = tokenization.load_vocab(flag_values.vocab_file)
    flags_common.check_vocab_fits(
        vocab, bert_config, flag_values.vocab_file, flag_values.bert_config_file
    )
    if flag_values.init_checkpoint:
        _check_init_checkpoint(flag_values, bert_config, max(vocab.values(), default=-1) + 1)
    label_index = {label: i for i, label in enumerate(label_list)}
    return TaskData(
        label_list=label_list,
        num_train_examples=len(train),
        dev_label_ids=[label_index[example.label] for example in dev],
    )


def _check_init_checkpoint(flag_values: Any, bert_config: BertConfig, vocab_ids: int) -> None:
    """The checkpoint exists and its word embeddings fit the config and the vocabulary."""
    try:
        variables = checkpoints.list_variables(flag_values.init_checkpoint)
    except MissingFileError as error:
        raise MissingFileError(f"--init_checkpoint: {error}") from None
    shape = variables.get("bert/embeddings/word_embeddings", (None,))[0]
    if shape is None:
        return
    rows, width = shape
    if rows != bert_config.vocab_size or width != bert_config.hidden_size:
        raise InputError(
            f"--init_checkpoint={flag_values.init_checkpoint} has word embeddings of shape "
            f"[{rows}, {width}] but --bert_config_file={flag_values.bert_config_file} says "
            f"[{bert_config.vocab_size}, {bert_config.hidden_size}]: pass the model's own config."
        )
    if vocab_ids != rows:
        logging.warning(
            "--vocab_file=%s has %d token ids for the %d word embeddings of --init_checkpoint; "
            "check that it is the model's own vocabulary.",
            flag_values.vocab_file,
            vocab_ids,
            rows,
        )


def num_train_steps(num_examples: int, batch_size: int, epochs: float) -> int:
    """run_classifier's number of steps: int(examples / batch size * epochs)."""
    return int(num_examples / batch_size * epochs)


def _flag_value(name: str, recipe: Recipe, flag_values: Any) -> Any:
    """The value a run of `recipe` gets for --name (recipe, else command line/default)."""
    if name in recipe.flags:
        return flag_values[name].parser.parse(recipe.flags[name])
    return flag_values[name].value


def plan_runs(
    recipes: Sequence[Recipe],
    seeds: Sequence[int],
    data: TaskData,
    flag_values: Any = FLAGS,
) -> list[PlannedRun]:
    """Every run's folder, flags and step count; seed-major order (recipes side by side)."""
    names = classifier_flag_names()
    # The run_classifier flags of this command line, for every run.
    common = [
        flag_values[name].serialize()
        for name in sorted(names)
        if flag_values[name].present and name not in ("output_dir",)
    ]
    for name in STUDY_SET_FLAGS:
        if flag_values[name].present:
            raise InputError(
                f"--{name} is the study's: "
                + (
                    "give the seeds with --seeds or --num_seeds."
                    if name == "random_seed"
                    else "every run trains and evaluates."
                )
            )
    batch_size = flag_values["train_batch_size"].value
    steps_per_epoch = max(1, int(data.num_train_examples / max(1, batch_size)))
    output_dir = flag_values["output_dir"].value
    runs = []
    for seed in seeds:
        for recipe in recipes:
            epochs = _flag_value("num_train_epochs", recipe, flag_values)
            batch = _flag_value("train_batch_size", recipe, flag_values)
            steps = num_train_steps(data.num_train_examples, batch, epochs)
            if steps < 1:
                raise InputError(
                    f"recipe {recipe.name!r}: {data.num_train_examples} training examples in "
                    f"batches of {batch} for {epochs} epochs give {steps} training steps."
                )
            recipe_flags = []
            for key, value in recipe.flags.items():
                if key == "eval_every_n_steps" and value == EPOCH:
                    value = str(steps_per_epoch)
                recipe_flags.append(f"--{key}={value}")
            run_dir = os.path.join(output_dir, RUNS_DIRNAME, recipe.name, f"seed_{seed}")
            extra = [
                f"--random_seed={seed}",
                f"--output_dir={run_dir}",
                "--do_train=true",
                "--do_eval=true",
            ]
            if (
                not flag_values["log_every_n_steps"].present
                and "log_every_n_steps" not in recipe.flags
            ):
                extra.append(f"--log_every_n_steps={max(1, steps // LOSS_POINTS_PER_RUN)}")
            runs.append(
                PlannedRun(recipe.name, seed, run_dir, common + recipe_flags + extra, steps)
            )
    return runs


# --------------------------------------------------------------------------- records


def read_run_record(run_dir: str) -> dict | None:
    """The run's study_run.json, or None if it has none (not run, or interrupted)."""
    path = os.path.join(run_dir, RUN_RECORD_FILENAME)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _check_run_folder(run: PlannedRun) -> None:
    """Refuses a run folder started with other flags."""
    path = os.path.join(run.run_dir, RUN_FLAGS_FILENAME)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        old = [line.rstrip("\n") for line in f if line.strip()]
    if old != run.flags:
        changed = sorted(set(old).symmetric_difference(run.flags))
        raise InputError(
            f"{run.run_dir} was started with other flags ({', '.join(changed)}): a study "
            "resumes only with the same flags. Use a new --output_dir (or remove that folder)."
        )


def _last_line(path: str, since: int = 0) -> str:
    """The last non-empty line of a log file written after byte `since`."""
    try:
        with open(path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _current_step(path: str) -> tuple[int, int] | None:
    """(step, total) of the last progress line in a run's log, if any."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 65536))
            matches = _STEP_LINE.findall(f.read())
    except OSError:
        return None
    return (int(matches[-1][0]), int(matches[-1][1])) if matches else None


def finish_record(
    run: PlannedRun,
    task_name: str,
    returncode: int,
    wall_time_s: float,
    log_offset: int,
) -> dict:
    """The study_run.json of a finished process (written atomically) and returned."""
    log_path = os.path.join(run.run_dir, RUN_LOG_FILENAME)
    results_path = os.path.join(run.run_dir, classifier.EVAL_RESULTS_FILENAME)
    record: dict[str, Any] = {
        "recipe": run.recipe,
        "seed": run.seed,
        "status": "failed",
        "error": "",
        "train_steps": run.train_steps,
        "wall_time_s": round(wall_time_s, 3),
        "flags": run.flags,
    }
    if returncode == 0 and os.path.exists(results_path):
        metrics = read_eval_results(results_path)
        try:
            record["score"] = glue_metrics.task_score(task_name, metrics)
            record["metrics"] = metrics
            record["status"] = "ok"
        except KeyError as error:
            record["error"] = f"{results_path}: {error.args[0]}"
    elif returncode == 0:
        record["error"] = f"exited 0 without writing {results_path}"
    else:
        last = _last_line(log_path, log_offset) or "(no output)"
        if returncode < 0:
            record["error"] = f"killed by {signal.Signals(-returncode).name}: {last}"
        else:
            record["error"] = f"exit code {returncode}: {last}"
    files.write_text_atomically(
        os.path.join(run.run_dir, RUN_RECORD_FILENAME), json.dumps(record, indent=2) + "\n"
    )
    return record


# --------------------------------------------------------------------------- running


def thread_environment(parallel: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a run: TF/OpenMP threads limited to cpus // parallel (unless set)."""
    env = dict(os.environ if environ is None else environ)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, parallel)))
    if parallel > 1:
        env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
        env.setdefault("OMP_NUM_THREADS", threads)
        env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return env


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Progress:
    """Counts finished runs and estimates the time left from their seconds per step."""

    def __init__(self, total: int, pending_steps: int, parallel: int):
        self.total = total
        self.done = 0
        self.pending_steps = pending_steps
        self.parallel = parallel
        self.seconds = 0.0
        self.steps = 0

    def finished(self, run: PlannedRun, record: dict) -> str:
        self.done += 1
        self.pending_steps -= run.train_steps
        self.seconds += record["wall_time_s"]
        self.steps += run.train_steps
        if record["status"] == "ok":
            what = f"ok, score {100 * record['score']:.2f}"
        else:
            what = f"FAILED ({record['error']})"
        if self.pending_steps <= 0:
            eta = "0s"
        else:
            eta = _format_seconds(self.pending_steps * self.seconds / self.steps / self.parallel)
        return (
            f"[{self.done}/{self.total}] {run.label}: {what}; {run.train_steps} steps in "
            f"{_format_seconds(record['wall_time_s'])}; ETA {eta}"
        )


@dataclasses.dataclass
class _Active:
    run: PlannedRun
    process: subprocess.Popen
    start: float
    log_offset: int
    log: Any


def _write_run_flags(run: PlannedRun) -> None:
    os.makedirs(run.run_dir, exist_ok=True)
    files.write_text_atomically(
        os.path.join(run.run_dir, RUN_FLAGS_FILENAME), "\n".join(run.flags) + "\n"
    )


def _start(run: PlannedRun, env: dict[str, str]) -> _Active:
    _write_run_flags(run)
    log_path = os.path.join(run.run_dir, RUN_LOG_FILENAME)
    log = open(log_path, "ab")
    log.write(f"===== study: starting {run.label} at {time.ctime()} =====\n".encode())
    log.flush()
    offset = log.tell()
    command = [
        sys.executable,
        "-m",
        "official_bert.classifier",
        f"--flagfile={os.path.join(run.run_dir, RUN_FLAGS_FILENAME)}",
    ]
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    logging.info("Started %s: %s (log: %s)", run.label, run.run_dir, log_path)
    return _Active(run, process, time.time(), offset, log)


def run_in_process(run: PlannedRun, task_name: str) -> dict:
    """One run through `classifier.run` in this process; returns its record.

    The run's flags are parsed by absl exactly as its subprocess would parse
    them (a private copy of run_classifier's flags), and its log lines go to
    its log.txt. For tests and debugging: runs do not run in parallel, and
    a run shares this process's TensorFlow state.
    """
    _write_run_flags(run)
    values = absl_flags.FlagValues()
    for name in classifier_flag_names():
        values[name] = copy.deepcopy(FLAGS[name])
    values(["run_classifier", *run.flags])
    log_path = os.path.join(run.run_dir, RUN_LOG_FILENAME)
    with open(log_path, "ab") as log:
        log.write(
            f"===== study: starting {run.label} in process at {time.ctime()} =====\n".encode()
        )
        offset = log.tell()
    handler = python_logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(python_logging.Formatter("%(levelname)s %(asctime)s %(message)s"))
    absl_logger = python_logging.getLogger("absl")
    absl_logger.addHandler(handler)
    start = time.time()
    returncode = 0
    try:
        classifier.run(SimpleFlags(values))
    except Exception as error:  # the subprocess would exit non-zero with this last line
        returncode = 1
        with open(log_path, "a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception_only(type(error), error)))
    finally:
        absl_logger.removeHandler(handler)
        handler.close()
    return finish_record(run, task_name, returncode, time.time() - start, offset)


def execute_runs(
    runs: Sequence[PlannedRun], task_name: str, parallel: int = 1, in_process: bool = False
) -> dict[tuple[str, int], dict]:
    """Runs every run without an `ok` record, `parallel` at a time; returns all records.

    With `in_process`, the runs run one after another in this process
    (`run_in_process`); else each in its own `python -m official_bert.classifier`.

    Raises:
      KeyboardInterrupt: after the running processes stopped (they write a checkpoint
        on SIGINT), so the study can be resumed.
    """
    records: dict[tuple[str, int], dict] = {}
    pending = []
    for run in runs:
        record = read_run_record(run.run_dir)
        if record is not None and record.get("status") == "ok" and record.get("flags") == run.flags:
            records[(run.recipe, run.seed)] = record
        else:
            _check_run_folder(run)
            pending.append(run)
    skipped = len(runs) - len(pending)
    if skipped:
        logging.info("%d of %d runs finished already (skipped).", skipped, len(runs))
    if not pending:
        return records
    logging.info(
        "Running %d runs (%d steps), %d at a time.",
        len(pending),
        sum(run.train_steps for run in pending),
        parallel,
    )
    progress = _Progress(len(runs), sum(run.train_steps for run in pending), parallel)
    progress.done = skipped
    if in_process:
        for run in pending:
            record = run_in_process(run, task_name)
            records[(run.recipe, run.seed)] = record
            logging.info("%s", progress.finished(run, record))
        return records
    env = thread_environment(parallel)
    queue = list(pending)
    active: list[_Active] = []
    last_heartbeat = time.time()
    try:
        while queue or active:
            while queue and len(active) < parallel:
                active.append(_start(queue.pop(0), env))
            time.sleep(POLL_SECONDS)
            for job in list(active):
                returncode = job.process.poll()
                if returncode is None:
                    continue
                active.remove(job)
                job.log.close()
                record = finish_record(
                    job.run, task_name, returncode, time.time() - job.start, job.log_offset
                )
                records[(job.run.recipe, job.run.seed)] = record
                logging.info("%s", progress.finished(job.run, record))
            if active and time.time() - last_heartbeat >= HEARTBEAT_SECONDS:
                last_heartbeat = time.time()
                for job in active:
                    step = _current_step(os.path.join(job.run.run_dir, RUN_LOG_FILENAME))
                    at = f"step {step[0]}/{step[1]}" if step else "starting"
                    logging.info(
                        "  running %s: %s, %s",
                        job.run.label,
                        at,
                        _format_seconds(time.time() - job.start),
                    )
    except KeyboardInterrupt:
        # The runs got the same SIGINT (one process group): they write a checkpoint and exit.
        for job in active:
            try:
                job.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
            job.log.close()
        raise
    return records


# --------------------------------------------------------------------------- main


def run_study(flag_values: Any = FLAGS, in_process: bool = False) -> stability_report.StudyReport:
    """Checks everything, runs the runs that are not finished and writes the report.

    Args:
      flag_values: the parsed flags (absl's FLAGS after `define_flags()`).
      in_process: run the runs in this process, one at a time (see
        `run_in_process`); the command line always uses subprocesses.
    """
    stability_report.require_matplotlib()
    recipes = resolve_recipes(flag_values["recipes"].value, flag_values["recipe"].value)
    check_recipe_flags(recipes, flag_values)
    seeds = resolve_seeds(flag_values["num_seeds"].value, flag_values["seeds"].value)
    parallel = flag_values["parallel"].value
    if parallel < 1:
        raise InputError(f"--parallel must be at least 1; got {parallel}.")
    data = read_task_data(SimpleFlags(flag_values))
    runs = plan_runs(recipes, seeds, data, flag_values)
    output_dir = flag_values["output_dir"].value
    os.makedirs(output_dir, exist_ok=True)
    logging.info(
        "Study of %s: %d recipes (%s) x %d seeds (%s) = %d runs in %s.",
        flag_values["task_name"].value,
        len(recipes),
        ", ".join(r.name for r in recipes),
        len(seeds),
        ",".join(map(str, seeds)),
        len(runs),
        os.path.join(output_dir, RUNS_DIRNAME),
    )
    start = time.time()
    task_name = flag_values["task_name"].value
    records = execute_runs(runs, task_name, parallel, in_process=in_process)
    study = stability_report.StudyReport.build(
        task_name=task_name,
        data_dir=flag_values["data_dir"].value,
        init_checkpoint=flag_values["init_checkpoint"].value,
        label_list=data.label_list,
        num_train_examples=data.num_train_examples,
        dev_label_ids=data.dev_label_ids,
        recipes=[(r.name, r.describe()) for r in recipes],
        seeds=seeds,
        runs=[(run.recipe, run.seed, run.run_dir, records[(run.recipe, run.seed)]) for run in runs],
        settings={
            name: flag_values[name].value
            for name in ("max_seq_length", "train_batch_size", "eval_batch_size", "do_lower_case")
        },
        study_seconds=time.time() - start,
    )
    paths = study.write(output_dir)
    logging.info("Wrote %s.", ", ".join(paths))
    logging.info("%s", study.summary_line())
    return study


class SimpleFlags:
    """Attribute access to flag values (`flag_values.task_name`)."""

    def __init__(self, flag_values: Any):
        self._flag_values = flag_values

    def __getattr__(self, name: str) -> Any:
        return self._flag_values[name].value


def main(argv: list[str]) -> None:
    """The command line's main."""
    del argv
    try:
        run_study(FLAGS)
    except KeyboardInterrupt:
        logging.warning(
            "Interrupted: the running runs stopped at a checkpoint; run the same command "
            "again to resume (finished runs are kept)."
        )
        raise


if __name__ == "__main__":
    cli.run("official_bert.stability")
