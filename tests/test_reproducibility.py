"""--random_seed reproduces a run (issue 18): same seed, same flags, same machine ->
the same eval_results.txt and bit-identical checkpoints; another seed -> another run.

Dropout is on in every run here (the tiny configs' 0.1, and the classifier's 0.1
on the pooled output), so the dropout masks are covered with the head's random
initial values and the training shuffle. Runs are in process, one after the
other, which also checks that nothing of an earlier run leaks into the next.
"""

import os

import numpy as np
import tensorflow as tf
from test_run_classifier import RELEASED, TINY_CONFIG, tiny_flags, tiny_vocab
from test_run_squad import SQUAD, golden_argv, parse

from official_bert import classifier, squad_run


def checkpoint_tensors(prefix):
    """Every tensor of a checkpoint (model variables, Adam slots, global_step)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_identical(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), f"{name} differs"


def differing(a, b):
    return [name for name in a if not np.array_equal(a[name], b[name])]


class Files:
    def __init__(self, root):
        (root / "vocab.txt").write_text("\n".join(tiny_vocab()) + "\n")
        self.vocab = str(root / "vocab.txt")
        self.config = TINY_CONFIG  # dropout 0.1


def classifier_run(tmp_path, name, seed, **overrides):
    """3 steps of MRPC from the released tiny BERT (new head), dropout on; checkpoint at 3."""
    output_dir = tmp_path / name
    values = dict(
        init_checkpoint=RELEASED, do_predict=False, save_checkpoints_steps=3,
        iterations_per_loop=1000,
    )  # fmt: skip
    if seed is not None:
        values["random_seed"] = seed
    values.update(overrides)
    result = classifier.run(tiny_flags(Files(tmp_path), output_dir, task="MRPC", **values))
    return output_dir, result


def test_the_same_seed_gives_identical_eval_results_and_checkpoints(tmp_path):
    first, _ = classifier_run(tmp_path, "first", seed=5)
    second, _ = classifier_run(tmp_path, "second", seed=5)
    assert (first / "eval_results.txt").read_text() == (second / "eval_results.txt").read_text()
    assert_identical(
        checkpoint_tensors(str(first / "model.ckpt-3")),
        checkpoint_tensors(str(second / "model.ckpt-3")),
    )
    other, _ = classifier_run(tmp_path, "other", seed=6)
    a = checkpoint_tensors(str(first / "model.ckpt-3"))
    b = checkpoint_tensors(str(other / "model.ckpt-3"))
    # Every trained variable moves differently (the head's start, dropout, batch order).
    assert "output_weights" in differing(a, b)
    assert "bert/encoder/layer_0/attention/self/query/kernel" in differing(a, b)
    assert (first / "eval_results.txt").read_text() != (other / "eval_results.txt").read_text()


def test_the_seed_fixes_the_new_head_s_initial_values(tmp_path):
    # Eval only: the model is the released encoder plus a new random head.
    def eval_loss(name, seed):
        _, result = classifier_run(tmp_path, name, seed, do_train=False)
        assert result.eval_results["global_step"] == 0
        return float(result.eval_results["eval_loss"])

    assert eval_loss("a", 11) == eval_loss("b", 11)
    assert eval_loss("c", 12) != eval_loss("a", 11)
    # Unset, as the original: two runs start from different heads.
    assert eval_loss("d", None) != eval_loss("e", None)


def squad_train(tmp_path, name, seed):
    """3 steps of the golden one-question SQuAD training, with dropout (bert_config.json)."""
    output_dir = tmp_path / name
    argv = golden_argv(
        os.path.join(SQUAD, "train", "flags.json"), output_dir,
        bert_config_file=os.path.join(SQUAD, "model", "bert_config.json"), random_seed=seed,
    )  # fmt: skip
    squad_run.run(parse(argv))
    (prefix,) = {p[: -len(".index")] for p in os.listdir(output_dir) if p.endswith(".index")}
    return checkpoint_tensors(str(output_dir / prefix))


def test_run_squad_same_seed_identical_checkpoint_other_seed_other_one(tmp_path):
    first = squad_train(tmp_path, "first", 3)
    assert_identical(first, squad_train(tmp_path, "second", 3))
    # The head comes from the init checkpoint: here dropout alone makes runs differ.
    assert "cls/squad/output_weights" in differing(first, squad_train(tmp_path, "other", 4))


def test_seeded_dropout_masks_are_a_function_of_the_key_and_the_place():
    from official_bert.layers import dropout, dropout_noise, dropout_with_noise, seeded_dropout

    x = tf.ones([256, 512])
    rate = 0.1

    def two_masks(key, dtype=tf.float32):
        with seeded_dropout(tf.constant(key, tf.int64)):
            return [dropout(tf.cast(x, dtype), rate, True) for _ in range(2)]

    first, second = two_masks([3, 1])
    again = two_masks([3, 1])
    other = two_masks([4, 1])
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    assert not np.array_equal(first, second)  # the second dropout draws anew
    assert not np.array_equal(other[0], first)  # another key, other masks
    # The rule of tf.nn.dropout: kept where the uniform noise >= rate, scaled by 1 / (1 - rate).
    values = first.numpy()
    assert set(np.unique(values)) == {0.0, np.float32(1.0) * np.float32(1.0 / (1.0 - rate))}
    kept = np.mean(values != 0)
    n = values.size
    assert abs(kept - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    # bfloat16 (noise drawn by dropout_noise) keeps the same values as float32.
    with seeded_dropout(tf.constant([3, 1], tf.int64)):
        noise = dropout_noise(x, rate, True)
    np.testing.assert_array_equal(dropout_with_noise(x, rate, noise), first)
    bf16_first, _ = two_masks([3, 1], tf.bfloat16)
    np.testing.assert_array_equal(bf16_first.numpy() != 0, values != 0)
