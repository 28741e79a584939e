"""Tests of official_bert.throughput: model FLOPs, the matmul rate, the progress lines.

The FLOP counts read from the traced graphs are compared, exactly, with BERT's
analytic formula written out here for the tiny config. No timing is asserted:
the speed-dependent figures are only checked for consistency with each other.
"""

import re

import distributed_worker as dw  # tests/ is on sys.path, as for conftest
import pytest
import tensorflow as tf
from conftest import two_cpu_mirrored_strategy

from official_bert import throughput
from official_bert.classifier import ClassifierTask
from official_bert.pretraining import PretrainingTask
from official_bert.squad_run import SquadTask

SEQ_LENGTH = 16
PREDICTIONS = 4  # max_predictions_per_seq
NUM_LABELS = 3


def encoder_forward_flops(config, seq_length):
    """Per example, per layer: 2*S*(4*H^2 + 2*H*I) + 2*2*S^2*H.

    (q/k/v/attention output and the feed-forward layers; scores and context.)
    """
    s, h, i = seq_length, config.hidden_size, config.intermediate_size
    return config.num_hidden_layers * (2 * s * (4 * h * h + 2 * h * i) + 2 * 2 * s * s * h)


def pretraining_forward_flops(config, seq_length, predictions):
    h, v = config.hidden_size, config.vocab_size
    heads = (
        2 * h * h  # pooler
        + 2 * h * 2  # next sentence classifier
        + 2 * predictions * h * h  # masked LM transform
        + 2 * predictions * h * v  # masked LM output (the word embeddings)
    )
    return encoder_forward_flops(config, seq_length) + heads


def classifier_forward_flops(config, seq_length, num_labels):
    h = config.hidden_size
    return encoder_forward_flops(config, seq_length) + 2 * h * h + 2 * h * num_labels


def squad_forward_flops(config, seq_length):
    # No pooler: the span head reads the sequence output, and the unused
    # pooler is pruned from the graph.
    return encoder_forward_flops(config, seq_length) + 2 * seq_length * config.hidden_size * 2


def pretraining_spec(batch=4):
    ints = lambda *shape: tf.TensorSpec(shape, tf.int32)  # noqa: E731
    return {
        "input_ids": ints(batch, SEQ_LENGTH),
        "input_mask": ints(batch, SEQ_LENGTH),
        "segment_ids": ints(batch, SEQ_LENGTH),
        "masked_lm_positions": ints(batch, PREDICTIONS),
        "masked_lm_ids": ints(batch, PREDICTIONS),
        "masked_lm_weights": tf.TensorSpec([batch, PREDICTIONS], tf.float32),
        "next_sentence_labels": ints(batch, 1),
    }


def text_spec(batch=4, seq_length=SEQ_LENGTH, **extra):
    spec = {
        name: tf.TensorSpec([batch, seq_length], tf.int32)
        for name in ("input_ids", "input_mask", "segment_ids")
    }
    spec.update({name: tf.TensorSpec([batch], tf.int32) for name in extra})
    return spec


def train_flops(task, spec, use_one_hot_embeddings=False):
    model = task.build_model(tf.keras.mixed_precision.Policy("float32"), use_one_hot_embeddings)
    return throughput.train_flops_per_example(throughput.training_loss(task, model), spec)


# ----------------------------------------------------------------- FLOP counts


def test_pretraining_flops_equal_the_analytic_formula():
    config = dw.tiny_config()
    expected = 3 * pretraining_forward_flops(config, SEQ_LENGTH, PREDICTIONS)
    assert train_flops(PretrainingTask(config), pretraining_spec()) == expected


def test_classifier_flops_equal_the_analytic_formula():
    config = dw.tiny_config()
    task = ClassifierTask(config, NUM_LABELS)
    expected = 3 * classifier_forward_flops(config, SEQ_LENGTH, NUM_LABELS)
    assert train_flops(task, text_spec(label_ids=None)) == expected


def test_squad_flops_equal_the_analytic_formula_without_the_unused_pooler():
    config = dw.tiny_config()
    spec = text_spec(seq_length=24, start_positions=None, end_positions=None)
    assert train_flops(SquadTask(config), spec) == 3 * squad_forward_flops(config, 24)


def test_one_hot_embedding_lookups_do_not_count():
    config = dw.one_layer_config()
    task = ClassifierTask(config, NUM_LABELS)
    spec = text_spec(label_ids=None)
    expected = 3 * classifier_forward_flops(config, SEQ_LENGTH, NUM_LABELS)
    assert train_flops(task, spec, use_one_hot_embeddings=True) == expected


def test_a_forward_compiled_with_xla_counts_inside_the_nested_function():
    from official_bert.models import BertClassifier

    config = dw.one_layer_config()
    task = ClassifierTask(config, NUM_LABELS)
    model = BertClassifier(config, NUM_LABELS, jit_compile=True)
    flops = throughput.train_flops_per_example(
        throughput.training_loss(task, model), text_spec(label_ids=None)
    )
    assert flops == 3 * classifier_forward_flops(config, SEQ_LENGTH, NUM_LABELS)


def test_the_batch_dimension_of_the_spec_does_not_matter():
    config = dw.one_layer_config()
    task = PretrainingTask(config)
    assert train_flops(task, pretraining_spec(batch=None)) == train_flops(
        task, pretraining_spec(batch=8)
    )


def test_matmul_einsum_and_batch_matmul_flops_follow_their_attributes():
    @tf.function
    def f(a, b, c, d):
        return (
            tf.matmul(a, b, transpose_a=True),  # [3, 5]^T @ [3, 7]: k = 3
            tf.matmul(c, c, adjoint_b=True),  # [2, 4, 6] @ [2, 6, 4]: k = 6
            tf.einsum("...ij,jk->...ik", c, d),  # [2, 4, 6] @ [6, 9]
            tf.einsum("ij->ji", a),  # one operand: no FLOPs
        )

    specs = [tf.TensorSpec(s) for s in ([3, 5], [3, 7], [2, 4, 6], [6, 9])]
    graph = f.get_concrete_function(*specs).graph
    expected = 2 * 5 * 7 * 3 + 2 * (2 * 4 * 4) * 6 + 2 * 2 * 4 * 6 * 9
    assert throughput.matmul_flops(graph) == expected


def test_unused_matmuls_do_not_count():
    @tf.function
    def f(a):
        tf.matmul(a, a)  # result unused: pruned by TensorFlow
        return tf.reduce_sum(a)

    assert throughput.matmul_flops(f.get_concrete_function(tf.TensorSpec([4, 4])).graph) == 0


def test_a_sequence_length_that_is_not_static_is_reported_not_guessed(caplog):
    config = dw.one_layer_config()
    task = ClassifierTask(config, NUM_LABELS)
    model = task.build_model(tf.keras.mixed_precision.Policy("float32"), False)
    spec = text_spec(seq_length=None, label_ids=None)
    with pytest.raises(ValueError, match="not static"):
        throughput.train_flops_per_example(throughput.training_loss(task, model), spec)
    with caplog.at_level("WARNING", logger="absl"):
        meter = throughput.measure(
            throughput.training_loss(task, model), spec, tf.distribute.get_strategy(), "float32"
        )
    assert meter is None
    assert "Model FLOPs unknown" in caplog.text


# ----------------------------------------------------------------- the machine


def test_matmul_rate_is_measured_once_per_process_and_dtype(monkeypatch):
    shape = (64, 32, 48)  # small: a rate of its own, cheap to measure
    first = throughput.matmul_rate("bfloat16", shape)
    assert first > 0 and first != float("inf")

    def fail(*args):
        raise AssertionError("measured twice")

    monkeypatch.setattr(throughput, "_measure_matmul_rate", fail)
    assert throughput.matmul_rate(tf.bfloat16, shape) == first
    with pytest.raises(AssertionError, match="measured twice"):
        throughput.matmul_rate("float32", shape)


def test_compute_dtype_of_the_mixed_precision_policies():
    assert throughput.compute_dtype("float32") == "float32"
    assert throughput.compute_dtype("mixed_bfloat16") == "bfloat16"
    policy = tf.keras.mixed_precision.Policy("mixed_float16")
    assert throughput.compute_dtype(policy) == "float16"


def test_cpu_replicas_of_one_worker_share_one_roofline():
    strategy = two_cpu_mirrored_strategy()
    assert strategy.num_replicas_in_sync == 2
    assert throughput.machine_flops(strategy, 100.0) == 100.0
    assert throughput.machine_flops(tf.distribute.get_strategy(), 100.0) == 100.0


def test_rates_are_flops_per_example_times_examples_per_second():
    meter = throughput.Throughput(flops_per_example=3e9, peak_flops=200e9, dtype="float32")
    assert meter.rates(10.0) == {
        "model_flops_per_sec": 30e9,
        "model_flops_utilization": 0.15,
    }


# ----------------------------------------------------------------- the training loop

_NUMBER = r"([0-9.e+-]+)"
LINE = re.compile(rf"examples/sec = {_NUMBER}, model GFLOP/s = {_NUMBER}, MFU = {_NUMBER}%, ETA = ")
RATE = re.compile(
    rf"Model FLOPs: {_NUMBER} GFLOP per training example .*matmul rate: "
    rf"{_NUMBER} GFLOP/s \(float32, 1024x768x3072\)"
)


def test_progress_lines_give_model_flops_consistent_with_examples_per_second(tmp_path, caplog):
    trainer = dw.make_trainer(
        None, str(tmp_path), num_train_steps=4, iterations_per_loop=100, log_every_n_steps=2
    )
    with caplog.at_level("INFO", logger="absl"):
        logs = trainer.train(dw.dataset_fn, 4)
    messages = [r.getMessage() for r in caplog.records]
    rate_lines = [m for m in messages if RATE.search(m)]
    assert len(rate_lines) == 1, messages  # logged once, before the loop
    logged_gflop_per_example, logged_rate = map(float, RATE.search(rate_lines[0]).groups())

    per_example = 3 * pretraining_forward_flops(dw.one_layer_config(), SEQ_LENGTH, PREDICTIONS)
    assert logged_gflop_per_example == pytest.approx(per_example / 1e9, rel=5e-4)
    rate = throughput.matmul_rate("float32")
    assert logged_rate == pytest.approx(rate / 1e9, rel=5e-4)

    lines = [m for m in messages if m.startswith("step = ")]
    assert [line.split(",")[0] for line in lines] == ["step = 2/4", "step = 4/4"]
    for line in lines:
        examples_per_sec, gflops, mfu = map(float, LINE.search(line).groups())
        # examples/sec is printed to 0.01, GFLOP/s and MFU to 4 and 3 digits.
        slack = per_example * 0.005 / 1e9
        assert abs(gflops - per_example * examples_per_sec / 1e9) <= slack + 5e-4 * gflops
        assert mfu == pytest.approx(100 * gflops * 1e9 / rate, rel=5e-3, abs=1e-12)

    assert logs["model_flops_per_sec"] == pytest.approx(per_example * logs["examples_per_sec"])
    assert logs["model_flops_utilization"] == pytest.approx(logs["model_flops_per_sec"] / rate)

    tags = set()
    for path in tmp_path.glob("events.out.tfevents*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    assert {"examples/sec", "model_gflops/sec", "model_flops_utilization"} <= tags
