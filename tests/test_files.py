"""official_bert.files: atomic writes, temporary names, input globs."""

import os

import pytest

from official_bert import files


def _names(directory):
    return sorted(os.listdir(directory))


def test_atomic_write_success_replaces_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    files.write_text_atomically(str(path), "new")
    assert path.read_text() == "new"
    assert _names(tmp_path) == ["out.txt"]


def test_atomic_write_failure_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with files.atomic_write(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            assert os.path.exists(tmp)
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert _names(tmp_path) == ["out.txt"]


def test_atomic_write_keyboard_interrupt_removes_temp(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_write(str(path)) as tmp:
            open(tmp, "w").close()
            raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_atomic_write_missing_folder_names_the_file(tmp_path):
    path = tmp_path / "missing" / "out.txt"
    with pytest.raises(FileNotFoundError, match="out.txt"):
        with files.atomic_write(str(path)):
            pass
    files.write_text_atomically(str(path), "x", make_dirs=True)
    assert path.read_text() == "x"


def test_temp_names_are_hidden_and_not_matched_by_the_usual_globs(tmp_path):
    tmp = files.temp_path(str(tmp_path / "out.tfrecord"))
    assert os.path.basename(tmp).startswith(".out.tfrecord.tmp-")
    assert files.is_temp_file(tmp)
    assert files.is_temp_file(tmp + ".index")
    assert not files.is_temp_file(str(tmp_path / "out.tfrecord"))
    open(tmp, "w").close()
    (tmp_path / "out.tfrecord").write_text("x")
    assert files.expand_input_patterns(str(tmp_path / "*")) == [str(tmp_path / "out.tfrecord")]
    assert files.expand_input_patterns(str(tmp_path / "out.tfrecord*")) == [
        str(tmp_path / "out.tfrecord")
    ]


def test_remove_stale_temp_files_removes_only_dead_writers_own_files(tmp_path):
    dead = tmp_path / ".out.tfrecord.tmp-999999999-0123abcd"
    alive = tmp_path / f".out.tfrecord.tmp-{os.getpid()}-0123abcd"
    other = tmp_path / ".out.tfrecord.tmp-keep"
    unrelated = tmp_path / "model.ckpt-5.index"
    for path in (dead, alive, other, unrelated):
        path.write_text("x")
    removed = files.remove_stale_temp_files(str(tmp_path), "out.tfrecord")
    assert removed == [str(dead)]
    assert _names(tmp_path) == sorted(p.name for p in (alive, other, unrelated))
    # Another tool's prefix leaves them alone.
    dead.write_text("x")
    assert files.remove_stale_temp_files(str(tmp_path), "model.ckpt") == []


def test_expand_input_patterns_keeps_pattern_order_and_names_the_bad_one(tmp_path):
    for name in ("a.txt", "b.txt", "c.dat"):
        (tmp_path / name).write_text("x")
    got = files.expand_input_patterns(f"{tmp_path}/c.dat,{tmp_path}/a.txt,")
    assert got == [str(tmp_path / "c.dat"), str(tmp_path / "a.txt")]
    assert files.expand_input_patterns([str(tmp_path / "b.txt")]) == [str(tmp_path / "b.txt")]
    with pytest.raises(ValueError, match=r"--input_file pattern .*nothing\*.* matches no file"):
        files.expand_input_patterns(f"{tmp_path}/a.txt,{tmp_path}/nothing*")
    with pytest.raises(ValueError, match="--train_file=''"):
        files.expand_input_patterns("", flag="--train_file")
