"""The dev evaluations of a fine-tuning run: their history and the best checkpoint.

Beyond the original (Mosbach et al.'s stable fine-tuning, issue 18): every dev
evaluation of a `--do_train --do_eval` run is recorded in
`output_dir/eval_history.jsonl`, and with `--keep_best_checkpoint` the best one
is kept in `output_dir/best_checkpoint/` and the run ends on it. Used by
`official_bert.classifier`; `read_eval_history` is also the study's reader
(`official_bert.stability_report`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import tensorflow as tf
from absl import logging

from official_bert import checkpoints, files, glue_metrics
from official_bert.errors import InputError
from official_bert.results import read_eval_results, write_eval_results
from official_bert.training import EVAL_RESULTS_FILENAME, Trainer

# One JSON object per dev evaluation of a training run (eval_results' keys + "score").
EVAL_HISTORY_FILENAME = "eval_history.jsonl"
# --keep_best_checkpoint: the best evaluation's checkpoint and eval_results.txt.
BEST_CHECKPOINT_DIRNAME = "best_checkpoint"
# The key of an eval_history.jsonl entry that holds the task's score (glue_metrics).
SCORE_KEY = "score"


class EvalSet(Protocol):
    """A dev set that can be evaluated as often as needed (classifier.EvalSet)."""

    def evaluate(self, summaries: bool = True) -> dict:
        """`Trainer.evaluate` on the whole dev set."""
        ...


def read_eval_history(path: str) -> list[dict[str, Any]]:
    """The entries of an eval_history.jsonl (none when the file does not exist).

    Raises:
      InputError: a line is not a JSON object with an integer `global_step`.
    """
    if not tf.io.gfile.exists(path):
        return []
    entries = []
    with tf.io.gfile.GFile(path, "r") as f:
        for number, line in enumerate(f.read().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or not isinstance(entry.get("global_step"), int):
                    raise ValueError(line)
            except ValueError:
                raise InputError(
                    f"{path}, line {number}: not an evaluation entry (a JSON object with an "
                    f"integer global_step): {line[:200]!r}. Delete the file to start its "
                    "history afresh."
                ) from None
            entries.append(entry)
    return entries


def _json_value(value: Any) -> Any:
    """A metric as JSON: int for global_step, and the float32 value as a Python float."""
    value = np.asarray(value)[()]
    if isinstance(value, (np.integer, int)):
        return int(value)
    return float(np.float32(value))


class DevEvaluation:
    """The dev evaluations of a training run: the history, the best checkpoint.

    `evaluate()` evaluates the model at the current global step, logs the
    results and the task's score (`glue_metrics.task_score`), and rewrites
    `output_dir/eval_history.jsonl` atomically with one JSON object per
    evaluation (the keys of eval_results.txt plus `score`). With
    `keep_best`, an evaluation whose score is strictly better than the best so
    far writes its checkpoint (model, Adam slots, global_step; the original's
    format) to `output_dir/best_checkpoint/model.ckpt-<step>`, then that
    folder's eval_results.txt, and only then deletes the previous best: the
    folder's eval_results.txt always names a checkpoint that is there.

    A resumed run keeps the entries of the steps up to the one it resumed
    from (later ones belong to steps it is about to redo) and reads the best
    so far back from `best_checkpoint/eval_results.txt`. The best checkpoint
    is never discarded, even when it is newer than the step resumed from.

    Args:
      trainer: the Trainer, already restored.
      eval_set: the dev set.
      task_name: the task (its score).
      output_dir: where the history and the best checkpoint go.
      keep_best: keep the best checkpoint.
    """

    def __init__(
        self,
        trainer: Trainer,
        eval_set: EvalSet,
        task_name: str,
        output_dir: str,
        keep_best: bool = False,
    ):
        self.trainer = trainer
        self.eval_set = eval_set
        self.task_name = task_name
        self.keep_best = keep_best
        self.history_path = os.path.join(output_dir, EVAL_HISTORY_FILENAME)
        self.best_dir = os.path.join(output_dir, BEST_CHECKPOINT_DIRNAME)
        start = trainer.global_step
        history = read_eval_history(self.history_path)
        self.history = [e for e in history if e["global_step"] <= start]
        self.best: dict[str, Any] | None = None
        self.best_prefix: str | None = None
        self._last: dict | None = None
        if keep_best:
            self._read_best()

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else glue_metrics.task_score(self.task_name, self.best)

    def _read_best(self) -> None:
        path = os.path.join(self.best_dir, EVAL_RESULTS_FILENAME)
        if not tf.io.gfile.exists(path):
            return
        best = read_eval_results(path)
        step = best.get("global_step")
        prefix = os.path.join(self.best_dir, f"{checkpoints.DEFAULT_BASENAME}-{step}")
        if not checkpoints.is_restorable(prefix):
            logging.warning(
                "%s names step %s but %s cannot be restored: the best so far is forgotten.",
                path,
                best["global_step"],
                prefix,
            )
            return
        self.best, self.best_prefix = best, prefix
        if self.trainer.is_chief:
            # A newer checkpoint there was written but never committed (a crash).
            checkpoints.keep_only(self.best_dir, prefix)
        logging.info(
            "Best dev %s so far: %.6g at step %d (%s).",
            glue_metrics.score_name(self.task_name),
            self.best_score,
            best["global_step"],
            prefix,
        )

    def evaluate(self) -> dict:
        """Evaluates the current model (once per global step), records it; returns the results."""
        step = self.trainer.global_step
        if self._last is not None and int(self._last["global_step"]) == step:
            return self._last
        results = self.eval_set.evaluate()
        score = glue_metrics.task_score(self.task_name, results)
        entry = {key: _json_value(value) for key, value in sorted(results.items())}
        entry[SCORE_KEY] = float(np.float32(score))
        self.history = [e for e in self.history if e["global_step"] < step] + [entry]
        improved = self.keep_best and (self.best is None or score > self.best_score)
        if self.trainer.is_chief:
            files.write_text_atomically(
                self.history_path, "".join(json.dumps(e) + "\n" for e in self.history)
            )
            if improved:
                self._write_best(results)
        logging.info(
            "Dev evaluation at step %d: %s = %.6g%s",
            step,
            glue_metrics.score_name(self.task_name),
            score,
            f" (best so far: step {self.best['global_step']})" if self.keep_best else "",
        )
        self._last = results
        return results

    def _write_best(self, results: Mapping[str, Any]) -> None:
        step = int(results["global_step"])
        prefix = os.path.join(self.best_dir, f"{checkpoints.DEFAULT_BASENAME}-{step}")
        # Kept beside the previous best until eval_results.txt names it.
        checkpoints.save_checkpoint(
            self.best_dir,
            self.trainer.model,
            self.trainer.optimizer,
            max_to_keep=None,
            overwrite=(prefix,),
        )
        write_eval_results(os.path.join(self.best_dir, EVAL_RESULTS_FILENAME), results)
        checkpoints.keep_only(self.best_dir, prefix)
        self.best, self.best_prefix = dict(results), prefix
        logging.info("New best checkpoint: %s", prefix)

    def catch_up(self, every_n_steps: int, num_train_steps: int) -> None:
        """Evaluates now if the step resumed from is on the schedule but was not evaluated
        (a run stopped by a signal right at such a step)."""
        step = self.trainer.global_step
        on_schedule = 0 < step < num_train_steps and step % every_n_steps == 0
        if on_schedule and not any(e["global_step"] == step for e in self.history):
            self.evaluate()

    def final_results(self) -> dict:
        """The results of the end of training, for eval_results.txt.

        The final step is evaluated (and recorded) if it was not yet. With
        `keep_best`, the model (and optimizer) is then restored from the best
        checkpoint and evaluated again, so eval_results.txt and a following
        prediction are the best model's (its global_step is the best's step).
        """
        results = self.evaluate()
        if not self.keep_best or self.best_prefix is None:
            return results
        if int(self.best["global_step"]) == int(results["global_step"]):
            return results
        logging.info("Restoring the best checkpoint %s for eval and predict.", self.best_prefix)
        checkpoints.restore_checkpoint(
            self.best_prefix, self.trainer.model, self.trainer.optimizer, strict=True, log=False
        )
        # Not written to TensorBoard: the curve already has this step's point.
        return self.eval_set.evaluate(summaries=False)
