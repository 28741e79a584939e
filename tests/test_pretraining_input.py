"""Tests of pretraining_input: bad records and files are named with their record index.

The pipeline's batches on good files are tested in test_run_pretraining.py.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from official_bert import files, pretraining_input, pretraining_records, records

SEQ, PRED = 8, 2


def _instance(k: int, num_tokens: int = 6) -> pretraining_records.TrainingInstance:
    return pretraining_records.TrainingInstance(
        input_ids=[100 + k] * num_tokens,
        segment_ids=[0] * 3 + [1] * (num_tokens - 3),
        masked_lm_positions=[1],
        masked_lm_ids=[7],
        is_random_next=bool(k % 2),
    )


def _write(path, num_records, max_seq_length=SEQ, odd=None):
    """Writes records 0..num_records-1; record `odd` with max_seq_length - 2 values."""
    encoders = {
        n: pretraining_records.RecordEncoder(n, PRED, 200) for n in (max_seq_length, SEQ - 2)
    }
    data = [
        encoders[SEQ - 2 if k == odd else max_seq_length].encode(_instance(k, 5))
        for k in range(num_records)
    ]
    records.write_tfrecords([str(path)], data)
    return str(path)


def _read_all(paths, batch_size=1, is_training=False, num_batches=None):
    dataset = pretraining_input.make_dataset(list(paths), SEQ, PRED, is_training, batch_size)
    count = num_batches or sum(1 for _ in tf.data.TFRecordDataset(list(paths))) // batch_size
    return [batch["input_ids"].numpy() for batch in dataset.take(count)]


def test_every_record_is_read_across_count_blocks(monkeypatch, tmp_path):
    monkeypatch.setattr(pretraining_input, "READ_BLOCK_RECORDS", 2)
    paths = [_write(tmp_path / "a.tfrecord", 5), _write(tmp_path / "b.tfrecord", 3)]
    batches = _read_all(paths, num_batches=8)
    ids = [int(batch[0, 0]) for batch in batches]
    assert ids == [100, 101, 102, 103, 104, 100, 101, 102]


def test_a_truncated_file_is_named_with_the_first_unreadable_record(tmp_path):
    path = _write(tmp_path / "cut.tfrecord", 5)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-10])
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        _read_all([path], num_batches=5)
    message = error.value.message
    assert f"{path} is truncated or corrupted: its record 4 (counting from 0)" in message
    assert f"of its {len(data) - 10} bytes" in message


def test_a_corrupted_record_is_named_in_training_too(tmp_path):
    good = _write(tmp_path / "good.tfrecord", 4)
    path = _write(tmp_path / "bad.tfrecord", 4)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    record_bytes = len(data) // 4
    data[record_bytes + 20] ^= 0xFF  # inside the data of record 1
    with open(path, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match="its record 1 .counting from 0."):
        _read_all([good, path], batch_size=2, is_training=True, num_batches=20)


def test_a_record_of_other_lengths_after_the_first_is_named(tmp_path):
    path = _write(tmp_path / "mixed.tfrecord", 5, odd=3)
    pretraining_input.check_record_shapes([path], SEQ, PRED)  # the first record is fine
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        _read_all([path], batch_size=2)
    message = error.value.message
    assert f"{path}: record 3 (counting from 0) has input_ids of length {SEQ - 2}" in message
    assert f"--max_seq_length={SEQ} needs {SEQ} values" in message


def test_batches_equal_the_parse_of_each_record(tmp_path):
    path = _write(tmp_path / "a.tfrecord", 4)
    dataset = pretraining_input.make_dataset([path], SEQ, PRED, False, 2)
    spec = pretraining_records.name_to_features(SEQ, PRED)
    expected = [
        pretraining_input.decode_record(r, spec) for r in tf.data.TFRecordDataset(path).take(4)
    ]
    batches = list(dataset.take(2))
    for name in spec:
        got = np.concatenate([b[name].numpy() for b in batches])
        np.testing.assert_array_equal(got, np.stack([e[name].numpy() for e in expected]))
        assert batches[0][name].dtype == expected[0][name].dtype
        assert batches[0][name].shape == (2, *spec[name].shape)


def test_the_parse_spec_is_the_record_formats():
    assert pretraining_input.name_to_features is pretraining_records.name_to_features


def test_input_globs_skip_temporary_files(tmp_path):
    path = _write(tmp_path / "out.tfrecord", 1)
    (tmp_path / ".out.tfrecord.tmp-1-0123abcd").write_bytes(b"partial")
    assert pretraining_input.glob_input_files(str(tmp_path / "*")) == [path]
    assert pretraining_input.glob_input_files(path + "*") == files.expand_input_patterns(path)


def test_a_missing_input_file_is_named(tmp_path):
    missing = str(tmp_path / "gone.tfrecord")
    with pytest.raises(ValueError, match="gone.tfrecord"):
        pretraining_input.make_dataset([missing], SEQ, PRED, False, 1)
    assert not os.path.exists(missing)
