"""Tests of records (ordered tf.train.Example encoding, atomic TFRecord writer) and
pretraining_records (the pretraining format). The golden byte-identity tests of both
writers are in test_create_pretraining_data.py and test_classifier_data.py.
"""

import os
import random

import pytest
import tensorflow as tf

from official_bert import pretraining_records, records


def _feature_order(serialized: bytes) -> list[str]:
    """The keys of a serialized Example's feature map, in the order of the bytes."""
    example = tf.train.Example.FromString(serialized)
    names = list(example.features.feature)
    return sorted(
        names, key=lambda name: serialized.index(b"\x0a" + bytes([len(name)]) + name.encode())
    )


def test_encoder_gives_the_protobuf_example_in_the_given_order():
    rng = random.Random(0)
    features = [("zeta", records.INT64), ("alpha", records.FLOAT), ("mid", records.INT64)]
    encoder = records.OrderedExampleEncoder(features)
    for _ in range(50):
        values = {
            "zeta": [
                rng.choice([0, 1, 127, 128, 2**31, 2**63 - 1, -1, -(2**63)])
                for _ in range(rng.randrange(0, 6))
            ],  # fmt: skip
            "alpha": [rng.uniform(-2, 2) for _ in range(rng.randrange(0, 4))],
            "mid": [rng.randrange(0, 40000) for _ in range(rng.randrange(0, 200))],
        }
        serialized = encoder.encode(values)
        expected = tf.train.Example()
        feature = expected.features.feature
        feature["zeta"].int64_list.value[:] = values["zeta"]
        feature["alpha"].float_list.value[:] = values["alpha"]
        feature["mid"].int64_list.value[:] = values["mid"]
        assert tf.train.Example.FromString(serialized) == expected
        assert _feature_order(serialized) == ["zeta", "alpha", "mid"]


def test_varint_of_negative_ints_is_protobufs():
    for value in (-1, -2, -(2**63), 2**63 - 1, 0, 300):
        example = tf.train.Example()
        example.features.feature["x"].int64_list.value.append(value)
        assert records.varint(value) in example.SerializeToString()
    assert len(records.varint(-1)) == 10


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="'bytes'"):
        records.OrderedExampleEncoder([("x", "bytes")])


def test_write_tfrecords_goes_round_robin(tmp_path):
    paths = [str(tmp_path / "sub" / f"{i}.tfrecord") for i in range(3)]
    counts = records.write_tfrecords(paths, (bytes([k]) for k in range(7)), make_dirs=True)
    assert counts == [3, 2, 2]
    for i, path in enumerate(paths):
        assert [r.numpy() for r in tf.data.TFRecordDataset(path)] == [
            bytes([k]) for k in range(i, 7, 3)
        ]


def test_write_tfrecords_changes_no_file_on_an_error(tmp_path):
    first = tmp_path / "a.tfrecord"
    first.write_bytes(b"old")

    def failing():
        yield b"1"
        yield b"2"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        records.write_tfrecords([str(first), str(tmp_path / "b.tfrecord")], failing())
    assert os.listdir(tmp_path) == ["a.tfrecord"]
    assert first.read_bytes() == b"old"


def test_write_tfrecords_names_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        records.write_tfrecords([str(tmp_path / "nowhere" / "a.tfrecord")], [b"x"])


def test_record_encoder_encodes_ids_beyond_the_tabulated_ones():
    encoder = pretraining_records.RecordEncoder(8, 2, max_id=10)
    instance = pretraining_records.TrainingInstance(
        input_ids=[1, 10**6, 2**40, 3], segment_ids=[0, 0, 1, 1],
        masked_lm_positions=[2], masked_lm_ids=[99999], is_random_next=True,
    )  # fmt: skip
    feature = tf.train.Example.FromString(encoder.encode(instance)).features.feature
    assert list(feature["input_ids"].int64_list.value) == [1, 10**6, 2**40, 3, 0, 0, 0, 0]
    assert list(feature["segment_ids"].int64_list.value) == [0, 0, 1, 1, 0, 0, 0, 0]
    assert list(feature["input_mask"].int64_list.value) == [1] * 4 + [0] * 4
    assert list(feature["masked_lm_positions"].int64_list.value) == [2, 0]
    assert list(feature["masked_lm_ids"].int64_list.value) == [99999, 0]
    assert list(feature["masked_lm_weights"].float_list.value) == [1.0, 0.0]
    assert list(feature["next_sentence_labels"].int64_list.value) == [1]
    assert _feature_order(encoder.encode(instance)) == list(pretraining_records.FEATURE_ORDER)


def test_records_parse_with_the_spec():
    encoder = pretraining_records.RecordEncoder(6, 3, max_id=100)
    instance = pretraining_records.TrainingInstance([5, 6, 7], [0, 0, 1], [1], [6], False)
    parsed = tf.io.parse_single_example(
        encoder.encode(instance), pretraining_records.name_to_features(6, 3)
    )
    assert sorted(parsed) == sorted(pretraining_records.FEATURE_NAMES)
    assert parsed["input_ids"].numpy().tolist() == [5, 6, 7, 0, 0, 0]
