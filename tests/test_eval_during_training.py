"""--eval_every_n_steps, --keep_best_checkpoint and eval_history.jsonl (issue 18).

The runs fine-tune the tiny BERT on the golden MRPC rows (12 train, 6 dev) for 6
steps, dropout on, with a seed. Which evaluation is the best is fixed by
replacing the task score with a table indexed by the step (`scripted_scores`):
the real score of 6 dev rows of an untrained model would decide nothing.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from test_reproducibility import Files, assert_identical, checkpoint_tensors
from test_run_classifier import RELEASED, TINY_CONFIG, tiny_flags

from official_bert import checkpoints, classifier, glue_metrics
from official_bert.modeling import BertConfig

# Step -> score: the best is step 3; step 5 ties it, which is not an improvement.
SCORES = {1: 0.5, 2: 0.9, 3: 0.95, 4: 0.6, 5: 0.95, 6: 0.7}
BEST_STEP = 3


@pytest.fixture
def scripted_scores(monkeypatch):
    monkeypatch.setattr(
        glue_metrics, "task_score", lambda task, results: SCORES[int(results["global_step"])]
    )


def run(tmp_path, name, **overrides):
    values = dict(
        init_checkpoint=RELEASED, num_train_epochs=2.0, random_seed=5, save_checkpoints_steps=2,
        iterations_per_loop=1000,
    )  # fmt: skip
    values.update(overrides)
    output_dir = tmp_path / name
    flag_values = tiny_flags(Files(tmp_path), output_dir, task="MRPC", **values)
    return output_dir, flag_values


def history(output_dir):
    lines = (output_dir / "eval_history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def eval_events(output_dir):
    """{tag: [steps]} of the TensorBoard scalars under output_dir/eval."""
    steps = {}
    for path in tf.io.gfile.glob(str(output_dir / "eval" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    return steps


def test_keep_best_evaluates_every_step_and_ends_on_the_best_checkpoint(tmp_path, scripted_scores):
    plain_dir, plain_flags = run(tmp_path, "plain", do_predict=False)
    classifier.run(plain_flags)
    output_dir, flag_values = run(tmp_path, "best", eval_every_n_steps=1, keep_best_checkpoint=True)
    result = classifier.run(flag_values)

    # Training saw the same batches and dropout masks: evaluating changes nothing.
    assert_identical(
        checkpoint_tensors(str(plain_dir / "model.ckpt-6")),
        checkpoint_tensors(str(output_dir / "model.ckpt-6")),
    )
    entries = history(output_dir)
    assert [e["global_step"] for e in entries] == [1, 2, 3, 4, 5, 6]
    expected_keys = {"eval_accuracy", "eval_f1", "eval_loss", "global_step", "loss", "score"}
    assert all(set(e) == expected_keys for e in entries)
    assert [e["score"] for e in entries] == pytest.approx([SCORES[s] for s in range(1, 7)])
    assert sorted(eval_events(output_dir)["eval_accuracy"]) == [1, 2, 3, 4, 5, 6]

    best_dir = output_dir / "best_checkpoint"
    assert sorted(os.listdir(best_dir)) == [
        "checkpoint", "eval_results.txt",
        f"model.ckpt-{BEST_STEP}.data-00000-of-00001", f"model.ckpt-{BEST_STEP}.index",
    ]  # fmt: skip
    assert checkpoints.latest_checkpoint(str(best_dir)).endswith(f"model.ckpt-{BEST_STEP}")
    best_tensors = checkpoint_tensors(str(best_dir / f"model.ckpt-{BEST_STEP}"))
    assert best_tensors["global_step"] == BEST_STEP
    assert "output_weights/adam_m" in best_tensors  # the original's full checkpoint
    # The final results are the best model's, evaluated again after restoring it.
    final = (output_dir / "eval_results.txt").read_text()
    assert final == (best_dir / "eval_results.txt").read_text()
    assert f"global_step = {BEST_STEP}\n" in final
    best_entry = entries[BEST_STEP - 1]
    assert float(result.eval_results["eval_loss"]) == best_entry["eval_loss"]
    assert result.best_checkpoint == str(best_dir / f"model.ckpt-{BEST_STEP}")
    assert (output_dir / "test_results.tsv").exists()
    # The normal rotation of output_dir (save every 2 steps) never touches the best.
    assert checkpoints.latest_checkpoint(str(output_dir)).endswith("model.ckpt-6")


class Killed(Exception):
    """Stands for the process being killed."""


def test_a_resumed_run_keeps_the_schedule_and_the_best_so_far(
    tmp_path, scripted_scores, monkeypatch
):
    output_dir, flag_values = run(
        tmp_path, "out", eval_every_n_steps=1, keep_best_checkpoint=True, do_predict=False
    )
    evaluate = classifier.DevEvaluation.evaluate

    def evaluate_then_die_at_step_3(self):
        results = evaluate(self)
        if self.trainer.global_step == 3:
            raise Killed
        return results

    with monkeypatch.context() as patch:
        patch.setattr(classifier.DevEvaluation, "evaluate", evaluate_then_die_at_step_3)
        with pytest.raises(Killed):
            classifier.run(flag_values)
    # Killed after evaluating (and keeping) step 3, whose checkpoint was never written.
    assert [e["global_step"] for e in history(output_dir)] == [1, 2, 3]
    assert checkpoints.latest_checkpoint(str(output_dir)).endswith("model.ckpt-2")
    assert (output_dir / "best_checkpoint" / f"model.ckpt-{BEST_STEP}.index").exists()

    result = classifier.run(flag_values)
    # Steps 3..6 evaluated again after resuming from step 2, each once.
    assert [e["global_step"] for e in history(output_dir)] == [1, 2, 3, 4, 5, 6]
    # Step 3 is not strictly better than the best read back from best_checkpoint/.
    assert int(result.eval_results["global_step"]) == BEST_STEP
    assert os.listdir(output_dir / "best_checkpoint").count(f"model.ckpt-{BEST_STEP}.index") == 1
    assert len([f for f in os.listdir(output_dir / "best_checkpoint") if f.endswith(".index")]) == 1


@pytest.mark.parametrize(
    "overrides, flag",
    [
        (dict(keep_best_checkpoint=True, do_eval=False), "keep_best_checkpoint"),
        (dict(keep_best_checkpoint=True, do_train=False), "keep_best_checkpoint"),
        (dict(eval_every_n_steps=10, do_eval=False), "eval_every_n_steps"),
        (dict(eval_every_n_steps=-1), "eval_every_n_steps"),
    ],
)
def test_flags_that_need_training_and_eval_name_themselves(tmp_path, overrides, flag):
    output_dir, flag_values = run(tmp_path, "out", **overrides)
    with pytest.raises(ValueError, match=f"--{flag}"):
        classifier.run(flag_values)
    assert not output_dir.exists()


def test_defaults_are_the_original_s():
    classifier.define_flags()
    assert flags.FLAGS["eval_every_n_steps"].default == 0
    assert flags.FLAGS["keep_best_checkpoint"].default is False


def test_cola_eval_results_gain_the_mcc_of_the_real_examples(tmp_path):
    output_dir = tmp_path / "cola"
    flag_values = tiny_flags(
        Files(tmp_path), output_dir, task="CoLA", init_checkpoint=RELEASED, do_train=False,
        do_predict=False, random_seed=1,
    )  # fmt: skip
    classifier.run(flag_values)
    lines = (output_dir / "eval_results.txt").read_text().splitlines()
    keys = [line.split(" = ")[0] for line in lines]
    assert keys == ["eval_accuracy", "eval_loss", "eval_mcc", "global_step", "loss"]
    assert not (output_dir / "eval_history.jsonl").exists()  # no training run


def test_classifier_task_turns_confusion_counts_into_mcc_and_f1():
    config = BertConfig.from_json_file(TINY_CONFIG)
    # Labels and argmax predictions of 6 examples; the last one is TPU padding.
    labels = [1, 1, 0, 0, 1, 0]
    predicted = [1, 0, 1, 0, 1, 1]
    logits = tf.one_hot(predicted, 2)
    features = {"label_ids": tf.constant(labels), "is_real_example": tf.constant([1] * 5 + [0])}
    outputs = {"logits": logits, "per_example_loss": tf.ones([6])}
    # Real examples: tp = 2, fn = 1, fp = 1, tn = 1.
    # MCC = (2*1 - 1*1) / sqrt(3 * 3 * 2 * 2) = 1/6; F1 = 4 / (4 + 1 + 1) = 2/3.
    for task, name, expected in (("cola", "eval_mcc", 1 / 6), ("mrpc", "eval_f1", 2 / 3)):
        task_ = classifier.ClassifierTask(config, 2, task_name=task)
        sums = task_.metric_sums(outputs, features)
        values = task_.metric_values({k: (float(n), float(d)) for k, (n, d) in sums.items()})
        assert set(values) == {"eval_accuracy", "eval_loss", name}
        np.testing.assert_allclose(values[name], expected, rtol=1e-6)
        np.testing.assert_allclose(values["eval_accuracy"], 3 / 5, rtol=1e-6)
    plain = classifier.ClassifierTask(config, 2)  # no task name: the original's two metrics
    assert set(plain.metric_sums(outputs, features)) == {"eval_accuracy", "eval_loss"}
