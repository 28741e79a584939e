"""Checkpoint state files, recovery and containment (issue 13): nothing good is lost."""

import logging
import os
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from official_bert import checkpoints
from official_bert.errors import InputError


def _variables(value=1.0):
    return [
        keras.Variable(np.full([3], value, np.float32), name="w"),
        keras.Variable(np.full([2], value, np.float32), name="b"),
    ]


def _save(directory, step, value=None, **kwargs):
    return checkpoints.save_checkpoint(
        str(directory), _variables(step if value is None else value), global_step=step, **kwargs
    )


def _value(prefix):
    return float(tf.train.load_checkpoint(prefix).get_tensor("w")[0])


def test_missing_state_file_recovers_the_newest_restorable_checkpoint(tmp_path, caplog):
    _save(tmp_path, 2)
    _save(tmp_path, 4)
    os.remove(tmp_path / "checkpoint")
    with caplog.at_level(logging.WARNING):
        latest = checkpoints.latest_checkpoint(str(tmp_path))
    assert latest == str(tmp_path / "model.ckpt-4")
    assert "recovered" in caplog.text and "state file is missing" in caplog.text


def test_garbage_state_file_recovers_and_names_nothing_outside(tmp_path):
    _save(tmp_path, 3)
    (tmp_path / "checkpoint").write_bytes(b"\x00\xffnot a state file")
    assert checkpoints.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-3")


def test_state_file_naming_a_broken_checkpoint_falls_back_to_an_older_one(tmp_path):
    _save(tmp_path, 2)
    _save(tmp_path, 4)
    os.remove(tmp_path / "model.ckpt-4.data-00000-of-00001")
    assert checkpoints.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-2")


def test_empty_state_file_without_checkpoints_names_the_file(tmp_path):
    (tmp_path / "checkpoint").write_text("")
    with pytest.raises(InputError, match=r"Invalid checkpoint state file .*checkpoint.*Delete it"):
        checkpoints.latest_checkpoint(str(tmp_path))


def test_checkpoint_files_none_restorable_stop_with_the_folder_named(tmp_path):
    _save(tmp_path, 5)
    (tmp_path / "model.ckpt-5.index").write_bytes(b"truncated")
    os.remove(tmp_path / "checkpoint")
    with pytest.raises(InputError, match=r"model.ckpt-5.*none can be restored.*Nothing was"):
        checkpoints.latest_checkpoint(str(tmp_path))
    assert (tmp_path / "model.ckpt-5.index").read_bytes() == b"truncated"


def test_an_existing_checkpoint_not_restored_from_is_never_overwritten(tmp_path):
    prefix = _save(tmp_path, 60, value=60.0)
    with pytest.raises(InputError, match="model.ckpt-60.*not overwritten"):
        _save(tmp_path, 60, value=0.0)
    assert _value(prefix) == 60.0
    _save(tmp_path, 60, value=1.0, overwrite=[prefix])
    assert _value(prefix) == 1.0


def test_absolute_state_file_as_the_original_writes_it_is_read(tmp_path):
    first = _save(tmp_path, 1)
    second = _save(tmp_path, 2)
    # What the TF1 Saver writes when given an absolute save path.
    tf.compat.v1.train.update_checkpoint_state(
        str(tmp_path), second, all_model_checkpoint_paths=[first, second]
    )
    assert f'model_checkpoint_path: "{second}"' in (tmp_path / "checkpoint").read_text()
    assert checkpoints.latest_checkpoint(str(tmp_path)) == second
    state = checkpoints.read_checkpoint_state(str(tmp_path))
    assert state.all_model_checkpoint_paths == [first, second]
    _save(tmp_path, 3, max_to_keep=2)
    assert not (tmp_path / "model.ckpt-1.index").exists()
    assert (tmp_path / "model.ckpt-2.index").exists()


def test_a_folder_copied_from_elsewhere_resolves_its_paths_inside_itself(tmp_path):
    original = tmp_path / "original"
    copy = tmp_path / "copy"
    copy.mkdir()
    _save(original, 7)
    for name in os.listdir(original):
        (copy / name).write_bytes((original / name).read_bytes())
    tf.compat.v1.train.update_checkpoint_state(
        str(copy), str(original / "model.ckpt-7"), all_model_checkpoint_paths=[]
    )
    assert checkpoints.latest_checkpoint(str(copy)) == str(copy / "model.ckpt-7")


def test_pruning_never_deletes_outside_the_output_dir(tmp_path):
    victim = tmp_path / "victim"
    out = tmp_path / "out"
    _save(victim, 1)
    out.mkdir()
    (out / "checkpoint").write_text(
        'model_checkpoint_path: "../victim/model.ckpt-1"\n'
        'all_model_checkpoint_paths: "../victim/model.ckpt-1"\n'
        f'all_model_checkpoint_paths: "{victim}/model.ckpt-1"\n'
    )
    for step in range(2, 9):
        _save(out, step, max_to_keep=2)
    assert sorted(os.listdir(victim)) == [
        "checkpoint",
        "model.ckpt-1.data-00000-of-00001",
        "model.ckpt-1.index",
    ]
    assert sorted(p for p in os.listdir(out) if p.endswith(".index")) == [
        "model.ckpt-7.index",
        "model.ckpt-8.index",
    ]
    assert "victim" not in (out / "checkpoint").read_text()


def test_stale_temp_files_are_removed_and_a_failed_write_leaves_none(tmp_path):
    good = _save(tmp_path, 1)
    stale = tmp_path / ".model.ckpt-2.tmp-999999999-0123abcd.data-00000-of-00001"
    stale.write_bytes(b"x" * 100)
    real_save = tf.raw_ops.SaveV2

    def save_then_fail(**kwargs):
        real_save(**kwargs)
        raise OSError("No space left on device")

    with mock.patch.object(tf.raw_ops, "SaveV2", save_then_fail):
        with pytest.raises(OSError, match="No space"):
            _save(tmp_path, 2)
    names = sorted(os.listdir(tmp_path))
    assert names == ["checkpoint", "model.ckpt-1.data-00000-of-00001", "model.ckpt-1.index"]
    assert checkpoints.latest_checkpoint(str(tmp_path)) == good


def test_a_corrupt_init_checkpoint_is_named(tmp_path):
    prefix = _save(tmp_path / "a", 1)
    data = tmp_path / "a" / "model.ckpt-1.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:4])
    with pytest.raises(InputError, match=r"Checkpoint .*model.ckpt-1 cannot be read"):
        checkpoints.restore_checkpoint(prefix, _variables())
    (tmp_path / "a" / "model.ckpt-1.index").write_bytes(b"not an sstable")
    with pytest.raises(InputError, match=r"Checkpoint .*model.ckpt-1 cannot be read"):
        checkpoints.restore_checkpoint(prefix, _variables())


def test_saving_over_a_garbage_state_file_replaces_it_and_keeps_the_old_checkpoints(tmp_path):
    _save(tmp_path, 1)
    (tmp_path / "checkpoint").write_text("garbage")
    prefix = _save(tmp_path, 2, max_to_keep=1)
    assert checkpoints.latest_checkpoint(str(tmp_path)) == prefix
    assert (tmp_path / "model.ckpt-1.index").exists()  # untracked: never pruned
