"""The report of a fine-tuning stability study (`official_bert.stability`).

From the runs' records it writes into the study's folder:

* `runs.csv`: one row per run: recipe, seed, status (`ok`, or `failed` when
  the run did not finish, with its error), the task's score, every metric of
  its `eval_results.txt`, `below_majority` (1 when the score is at or below
  the majority baseline), the steps it trained, its wall time and folder;
* `summary.json`: the task, the majority baseline, and per recipe n, mean,
  std, median, min, max of the dev score over the finished runs, the failed
  count and rate, and each seed's score;
* `report.md`: the same as tables, with the recipes' flags and the plots;
* `scores.png`: per recipe the dev scores over seeds (a box and each seed's
  point) with the majority baseline drawn; `loss_curves.png`: the training
  loss of every seed per recipe (the run's TensorBoard scalar `loss`);
  `dev_curves.png` when runs evaluated during training (`eval_history.jsonl`).

Definitions (Mosbach et al., ICLR 2021). The score is the task's selection
score (`glue_metrics.task_score`: accuracy; Matthews correlation for CoLA;
the mean of accuracy and F1 for MRPC and QQP) of the run's final
`eval_results.txt`, which with `--keep_best_checkpoint` is the best dev
checkpoint's. The majority baseline is the score of predicting, for every dev
example, the most frequent label of the dev set itself (ties: the first in
the processor's label order), computed from the dev file with
`glue_metrics.metrics_from_predictions`. A run *failed* (the paper's
"failed run") when its score is at or below that baseline; the failed rate is
over the finished runs. std is the sample standard deviation (n - 1); none for
one run. Runs that did not finish (status `failed` in runs.csv) are counted
apart as `crashed` and left out of the statistics. report.md shows scores x 100,
as GLUE tables do; runs.csv and summary.json keep eval_results.txt's units.

The plots use matplotlib's Agg renderer (no display needed): install the
`plots` extra (`pip install "official_bert[plots]"`; `make install` does).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import math
import os
import statistics
from collections.abc import Sequence
from typing import Any

from absl import logging

from official_bert import dev_evaluation, files, glue_metrics
from official_bert.errors import InputError

RUNS_CSV = "runs.csv"
SUMMARY_JSON = "summary.json"
REPORT_MD = "report.md"
SCORES_PNG = "scores.png"
LOSS_PNG = "loss_curves.png"
DEV_PNG = "dev_curves.png"
# Scores compare as float32 (eval_results.txt prints float32): a run exactly at the
# baseline must count as failed whatever the last digits.
BASELINE_TOLERANCE = 1e-6
# The loss scalar run_classifier writes to its TensorBoard events.
LOSS_TAG = "loss"
DPI = 110


def require_matplotlib() -> None:
    """Raises InputError saying how to install matplotlib when it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            "The stability report's plots need matplotlib, which is not installed: "
            'pip install "official_bert[plots]" (or `make install` in a checkout).'
        ) from None


# --------------------------------------------------------------------------- statistics


def majority_baseline(task_name: str, dev_label_ids: Sequence[int]) -> dict[str, Any]:
    """The dev set's majority label, its share and the task's metrics and score for it."""
    if not dev_label_ids:
        raise InputError("The dev set has no examples: no majority baseline.")
    counts: dict[int, int] = {}
    for label in dev_label_ids:
        counts[label] = counts.get(label, 0) + 1
    majority = min(counts, key=lambda label: (-counts[label], label))
    predictions = [majority] * len(dev_label_ids)
    metrics = glue_metrics.metrics_from_predictions(task_name, list(dev_label_ids), predictions)
    return {
        "label_id": majority,
        "share": counts[majority] / len(dev_label_ids),
        "metrics": metrics,
        "score": glue_metrics.task_score(task_name, metrics),
    }


def is_below_baseline(score: float, baseline: float) -> bool:
    """Mosbach et al.'s failed run: score <= the majority baseline (float32 tolerance)."""
    return score <= baseline + BASELINE_TOLERANCE


def recipe_statistics(scores: Sequence[float], baseline: float, crashed: int = 0) -> dict:
    """n, mean, std (n - 1), median, min, max of `scores` and the failed count and rate."""
    n = len(scores)
    failed = sum(is_below_baseline(score, baseline) for score in scores)
    return {
        "n": n,
        "mean": statistics.fmean(scores) if n else None,
        "std": statistics.stdev(scores) if n >= 2 else None,
        "median": statistics.median(scores) if n else None,
        "min": min(scores) if n else None,
        "max": max(scores) if n else None,
        "failed": failed,
        "failed_rate": failed / n if n else None,
        "crashed": crashed,
    }


# --------------------------------------------------------------------------- run files


def read_loss_curve(run_dir: str) -> tuple[list[int], list[float]]:
    """(steps, losses) of the TensorBoard scalar `loss` in the run folder's event files.

    A resumed run has one event file per process; a step logged twice keeps the
    later file's value.
    """
    import tensorflow as tf

    by_step: dict[int, float] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        if files.is_temp_file(path):
            continue
        try:
            for raw in tf.data.TFRecordDataset(path):
                event = tf.compat.v1.Event.FromString(raw.numpy())
                for value in event.summary.value:
                    if value.tag != LOSS_TAG:
                        continue
                    if value.HasField("tensor"):
                        number = float(tf.make_ndarray(value.tensor))
                    else:
                        number = float(value.simple_value)
                    by_step[int(event.step)] = number
        except tf.errors.DataLossError:  # a file cut short by a killed run: keep what was read
            continue
    steps = sorted(by_step)
    return steps, [by_step[step] for step in steps]


def read_eval_history(run_dir: str, task_name: str) -> tuple[list[int], list[float]]:
    """(global steps, scores) of the run's evaluations during training (eval_history.jsonl);
    none (with a warning) when the file is unreadable."""
    path = os.path.join(run_dir, dev_evaluation.EVAL_HISTORY_FILENAME)
    try:
        entries = dev_evaluation.read_eval_history(path)
    except InputError as error:
        logging.warning("No dev curve for %s: %s", run_dir, error)
        return [], []
    by_step: dict[int, float] = {}
    for entry in entries:
        score = entry.get(dev_evaluation.SCORE_KEY)
        if score is None:
            score = glue_metrics.task_score(task_name, entry)
        by_step[entry["global_step"]] = float(score)
    steps = sorted(by_step)
    return steps, [by_step[step] for step in steps]


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class RunRow:
    """One run of the study, as runs.csv shows it."""

    recipe: str
    seed: int
    run_dir: str
    status: str
    error: str
    score: float | None
    metrics: dict[str, float]
    train_steps: int
    wall_time_s: float | None
    below_majority: bool | None


@dataclasses.dataclass
class StudyReport:
    """Everything the report files show; `write(output_dir)` writes them."""

    task_name: str
    score_name: str
    data_dir: str
    init_checkpoint: str | None
    label_list: list[str]
    num_train_examples: int
    num_dev_examples: int
    majority: dict[str, Any]
    recipes: list[tuple[str, str]]
    seeds: list[int]
    rows: list[RunRow]
    statistics: dict[str, dict]
    settings: dict[str, Any]
    study_seconds: float

    @classmethod
    def build(
        cls,
        *,
        task_name: str,
        data_dir: str,
        init_checkpoint: str | None,
        label_list: Sequence[str],
        num_train_examples: int,
        dev_label_ids: Sequence[int],
        recipes: Sequence[tuple[str, str]],
        seeds: Sequence[int],
        runs: Sequence[tuple[str, int, str, dict]],
        settings: dict[str, Any] | None = None,
        study_seconds: float = 0.0,
    ) -> StudyReport:
        """The report of `runs`: (recipe, seed, run folder, study_run.json record) each.

        A record has `status` ("ok" with `score` and `metrics`, or "failed" with
        `error`), `train_steps` and `wall_time_s`.
        """
        majority = majority_baseline(task_name, dev_label_ids)
        majority["label"] = label_list[majority["label_id"]]
        rows = []
        for recipe, seed, run_dir, record in runs:
            ok = record.get("status") == "ok"
            score = float(record["score"]) if ok else None
            rows.append(
                RunRow(
                    recipe=recipe,
                    seed=seed,
                    run_dir=run_dir,
                    status="ok" if ok else "failed",
                    error="" if ok else str(record.get("error", "")),
                    score=score,
                    metrics=dict(record.get("metrics", {})) if ok else {},
                    train_steps=int(record.get("train_steps", 0)),
                    wall_time_s=record.get("wall_time_s"),
                    below_majority=is_below_baseline(score, majority["score"]) if ok else None,
                )
            )
        stats = {}
        for name, _ in recipes:
            mine = [row for row in rows if row.recipe == name]
            scores = [row.score for row in mine if row.status == "ok"]
            crashed = sum(row.status != "ok" for row in mine)
            stats[name] = recipe_statistics(scores, majority["score"], crashed)
        return cls(
            task_name=task_name,
            score_name=glue_metrics.score_name(task_name),
            data_dir=data_dir,
            init_checkpoint=init_checkpoint,
            label_list=list(label_list),
            num_train_examples=num_train_examples,
            num_dev_examples=len(dev_label_ids),
            majority=majority,
            recipes=list(recipes),
            seeds=list(seeds),
            rows=rows,
            statistics=stats,
            settings=dict(settings or {}),
            study_seconds=study_seconds,
        )

    # ------------------------------------------------------------------ files

    def write(self, output_dir: str) -> list[str]:
        """Writes runs.csv, summary.json, report.md and the plots; returns their paths."""
        paths = [os.path.join(output_dir, name) for name in (RUNS_CSV, SUMMARY_JSON, REPORT_MD)]
        files.write_text_atomically(paths[0], self.runs_csv())
        files.write_text_atomically(paths[1], json.dumps(self.summary(), indent=2) + "\n")
        plots = self.write_plots(output_dir)
        files.write_text_atomically(paths[2], self.report_markdown(plots))
        return paths + [os.path.join(output_dir, name) for name in plots]

    def metric_names(self) -> list[str]:
        names: set[str] = set()
        for row in self.rows:
            names.update(row.metrics)
        return sorted(names)

    def runs_csv(self) -> str:
        metrics = self.metric_names()
        header = ["recipe", "seed", "status", "error", "score", *metrics]
        header += ["below_majority", "train_steps", "wall_time_s", "run_dir"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            writer.writerow(
                [row.recipe, row.seed, row.status, row.error, _csv(row.score)]
                + [_csv(row.metrics.get(name)) for name in metrics]
                + [
                    "" if row.below_majority is None else int(row.below_majority),
                    row.train_steps,
                    _csv(row.wall_time_s),
                    row.run_dir,
                ]
            )
        return out.getvalue()

    def summary(self) -> dict:
        return {
            "task_name": self.task_name,
            "score_name": self.score_name,
            "data_dir": self.data_dir,
            "init_checkpoint": self.init_checkpoint,
            "num_train_examples": self.num_train_examples,
            "num_dev_examples": self.num_dev_examples,
            "settings": self.settings,
            "seeds": self.seeds,
            "majority_baseline": self.majority,
            "failed_run_rule": (
                "final dev score <= the score of predicting the dev set's majority label "
                f"for every dev example (tolerance {BASELINE_TOLERANCE})"
            ),
            "std": "sample standard deviation (n - 1) over the finished runs",
            "recipes": {
                name: {
                    "flags": flags,
                    **self.statistics[name],
                    "scores": {
                        str(row.seed): row.score
                        for row in self.rows
                        if row.recipe == name and row.status == "ok"
                    },
                }
                for name, flags in self.recipes
            },
            "study_seconds": round(self.study_seconds, 1),
        }

    def summary_line(self) -> str:
        parts = []
        for name, _ in self.recipes:
            s = self.statistics[name]
            if s["n"]:
                std = "-" if s["std"] is None else f"{100 * s['std']:.2f}"
                parts.append(
                    f"{name}: mean {100 * s['mean']:.2f}, std {std}, failed {s['failed']}/{s['n']}"
                )
            else:
                parts.append(f"{name}: no finished run")
        return (
            f"{self.task_name} dev {self.score_name} x 100 (majority "
            f"{100 * self.majority['score']:.2f}): " + "; ".join(parts)
        )

    def report_markdown(self, plots: Sequence[str]) -> str:
        m = self.majority
        lines = [
            f"# Fine-tuning stability: {self.task_name}",
            "",
            f"{len(self.recipes)} recipes x {len(self.seeds)} seeds "
            f"({', '.join(map(str, self.seeds))}) on `{self.data_dir}` "
            f"({self.num_train_examples} training, {self.num_dev_examples} dev examples), "
            f"from `{self.init_checkpoint or '(no checkpoint: random initialisation)'}`"
            + "".join(f", {key} {value}" for key, value in self.settings.items())
            + f". Study time {_duration(self.study_seconds)} (runs skipped as finished "
            "not counted).",
            "",
            f"Score: dev `{self.score_name}` x 100 of each run's final eval_results.txt (the "
            "best dev checkpoint's with --keep_best_checkpoint). Majority baseline: label "
            f"`{m['label']}` ({100 * m['share']:.1f}% of dev) scores **{100 * m['score']:.2f}**; "
            "a run **failed** when its score is at or below it (Mosbach et al., ICLR 2021). "
            "std is the sample standard deviation (n - 1).",
            "",
            "| recipe | runs | mean | std | median | min | max | failed | failed rate | crashed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, _ in self.recipes:
            s = self.statistics[name]
            rate = "-" if s["failed_rate"] is None else f"{100 * s['failed_rate']:.0f}%"
            lines.append(
                f"| {name} | {s['n']} | {_pct(s['mean'])} | {_pct(s['std'])} | "
                f"{_pct(s['median'])} | {_pct(s['min'])} | {_pct(s['max'])} | {s['failed']} | "
                f"{rate} | {s['crashed']} |"
            )
        lines += ["", "## Recipes", ""]
        lines += [f"- `{name}`: `{flags}`" for name, flags in self.recipes]
        lines += [
            "",
            "## Runs",
            "",
            "| recipe | seed | status | score | steps | wall time | folder |",
            "| --- | ---: | --- | ---: | ---: | ---: | --- |",
        ]
        for row in self.rows:
            status = row.status
            if row.status == "ok" and row.below_majority:
                status = "ok (failed: <= majority)"
            elif row.status != "ok":
                status = f"crashed: {row.error}".replace("|", "\\|")
            wall = "-" if row.wall_time_s is None else _duration(row.wall_time_s)
            lines.append(
                f"| {row.recipe} | {row.seed} | {status} | {_pct(row.score)} | "
                f"{row.train_steps} | {wall} | `{row.run_dir}` |"
            )
        if plots:
            lines += ["", "## Plots", ""]
            lines += [f"![{name}]({name})" for name in plots]
        lines.append("")
        return "\n".join(lines)

    # ------------------------------------------------------------------ plots

    def write_plots(self, output_dir: str) -> list[str]:
        """scores.png, loss_curves.png and (with evaluations during training) dev_curves.png."""
        require_matplotlib()
        written = [SCORES_PNG]
        _save(self._scores_figure(), os.path.join(output_dir, SCORES_PNG))
        loss = {
            name: [
                (row.seed, *read_loss_curve(row.run_dir)) for row in self.rows if row.recipe == name
            ]
            for name, _ in self.recipes
        }
        _save(self._curves_figure(loss, "training loss", None), os.path.join(output_dir, LOSS_PNG))
        written.append(LOSS_PNG)
        dev = {
            name: [
                (row.seed, *read_eval_history(row.run_dir, self.task_name))
                for row in self.rows
                if row.recipe == name
            ]
            for name, _ in self.recipes
        }
        if any(len(steps) > 1 for curves in dev.values() for _, steps, _ in curves):
            scaled = {
                name: [(seed, steps, [100 * v for v in values]) for seed, steps, values in curves]
                for name, curves in dev.items()
            }
            figure = self._curves_figure(
                scaled, f"dev {self.score_name} x 100", 100 * self.majority["score"]
            )
            _save(figure, os.path.join(output_dir, DEV_PNG))
            written.append(DEV_PNG)
        return written

    def _scores_figure(self):
        from matplotlib.figure import Figure

        names = [name for name, _ in self.recipes]
        figure = Figure(figsize=(max(4.5, 1.8 * len(names) + 2), 4.5), dpi=DPI)
        ax = figure.subplots()
        data = [
            [100 * row.score for row in self.rows if row.recipe == n and row.status == "ok"]
            for n in names
        ]
        positions = list(range(1, len(names) + 1))
        boxed = [(p, d) for p, d in zip(positions, data) if d]
        if boxed:
            ax.boxplot(
                [d for _, d in boxed], positions=[p for p, _ in boxed], widths=0.5, showfliers=False
            )
        for position, scores in zip(positions, data):
            # Points spread evenly across the box (deterministic, unlike random jitter).
            offsets = (
                [0.0]
                if len(scores) == 1
                else [-0.18 + 0.36 * i / (len(scores) - 1) for i in range(len(scores))]
            )
            ax.scatter([position + o for o in offsets], scores, s=28, zorder=3, alpha=0.8)
        baseline = 100 * self.majority["score"]
        ax.axhline(
            baseline,
            color="tab:red",
            linestyle="--",
            linewidth=1.2,
            label=f"majority class ({baseline:.2f})",
        )
        labels = []
        for name in names:
            s = self.statistics[name]
            label = f"{name}\nn={s['n']}, failed {s['failed']}"
            if s["crashed"]:
                label += f"\n{s['crashed']} crashed"
            labels.append(label)
        ax.set_xticks(positions)
        ax.set_xticklabels(labels)
        ax.set_xlim(0.4, len(names) + 0.6)
        ax.set_ylabel(f"dev {self.score_name} x 100")
        ax.set_title(f"{self.task_name}: dev score over {len(self.seeds)} seeds")
        ax.legend(loc="best", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        return figure

    def _curves_figure(self, curves: dict, ylabel: str, baseline: float | None):
        from matplotlib.figure import Figure

        names = [name for name, _ in self.recipes]
        figure = Figure(figsize=(4.2 * len(names) + 0.6, 4.0), dpi=DPI)
        axes = figure.subplots(1, len(names), squeeze=False, sharey=True)[0]
        for ax, name in zip(axes, names):
            drawn = 0
            for seed, steps, values in curves[name]:
                if steps:
                    ax.plot(
                        steps,
                        values,
                        linewidth=1.1,
                        marker="." if len(steps) < 30 else None,
                        label=f"seed {seed}",
                    )
                    drawn += 1
            if baseline is not None:
                ax.axhline(
                    baseline, color="tab:red", linestyle="--", linewidth=1.0, label="majority class"
                )
            if not drawn:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if drawn:
                ax.legend(fontsize="x-small", loc="best")
        axes[0].set_ylabel(ylabel)
        figure.suptitle(f"{self.task_name}: {ylabel} of every seed")
        figure.tight_layout()
        return figure


def _save(figure, path: str) -> None:
    """A figure as PNG (matplotlib's Agg renderer), written atomically."""
    with files.atomic_write(path, make_dirs=True) as tmp:
        with open(tmp, "wb") as f:
            figure.savefig(f, format="png")


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
