"""Files: atomic writes, temporary names, and the `--input_file` globs.

Every output of this project (records, checkpoints, results, JSON lines) is
written through `atomic_write`: to a hidden temporary file in the same folder
(`.NAME.tmp-PID-HEX`), renamed onto `NAME` only when complete. A reader
therefore sees the old file or the new one, never half of one, and the usual
globs of the original's command lines (`out.tfrecord*`, `model.ckpt-*`) cannot
match a temporary file, which starts with a dot. A temporary file is removed on
every failure that Python can catch; ones left by a killed process are removed
by `remove_stale_temp_files` the next time the tool writes to that folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence

import tensorflow as tf

from official_bert.errors import InputError, MissingFileError

# `.NAME.tmp-PID-HEX`, and `.NAME.tmp-PID-HEX.SUFFIX` for writers (the checkpoint
# saver) that add suffixes of their own to a temporary prefix.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}(?:\..*)?$")


def temp_path(path: str) -> str:
    """A fresh hidden temporary name beside `path`: `DIR/.BASENAME.tmp-PID-HEX`."""
    directory, basename = os.path.split(path)
    return os.path.join(directory, f".{basename}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def is_temp_file(path: str) -> bool:
    """Whether `path` is a temporary file named by `temp_path` (or a suffixed one)."""
    return _TEMP_RE.match(os.path.basename(path)) is not None


def remove_quietly(path: str) -> None:
    """Removes `path` if it exists; errors while removing are ignored."""
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except (tf.errors.OpError, OSError):
        pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(directory: str, name_prefix: str = "") -> list[str]:
    """Removes this project's temporary files left in `directory` by dead processes.

    Only files named by `temp_path` (`.NAME.tmp-PID-HEX...`) whose `NAME` starts
    with `name_prefix` and whose process no longer runs are removed, and only
    directly in `directory` (never below it).

    Returns:
      The paths removed.
    """
    if not directory:
        directory = "."
    if not tf.io.gfile.isdir(directory):
        return []
    removed = []
    for entry in tf.io.gfile.listdir(directory):
        match = _TEMP_RE.match(entry)
        if not match or not match.group("name").startswith(name_prefix):
            continue
        if _process_alive(int(match.group("pid"))):
            continue
        path = os.path.join(directory, entry)
        if tf.io.gfile.isdir(path):
            continue
        remove_quietly(path)
        removed.append(path)
    return removed


def check_directory_exists(path: str) -> None:
    """Raises FileNotFoundError naming `path` if the folder it would be written in is missing."""
    directory = os.path.dirname(path)
    if directory and not tf.io.gfile.isdir(directory):
        raise MissingFileError(f"Cannot write {path}: directory {directory} does not exist.")


@contextlib.contextmanager
def atomic_write(path: str, make_dirs: bool = False) -> Iterator[str]:
    """Yields a temporary path to write; it is renamed onto `path` on success.

    On any exception (KeyboardInterrupt included) the temporary file is
    removed and `path` is left as it was.

    Args:
      path: the final file.
      make_dirs: create `path`'s folder if missing (else a missing folder is a
        FileNotFoundError naming `path`).

    Example:
        with atomic_write("out/eval_results.txt") as tmp:
            with tf.io.gfile.GFile(tmp, "w") as f:
                f.write(text)
    """
    directory = os.path.dirname(path)
    if make_dirs and directory:
        tf.io.gfile.makedirs(directory)
    else:
        check_directory_exists(path)
    tmp = temp_path(path)
    try:
        yield tmp
        tf.io.gfile.rename(tmp, path, overwrite=True)
    finally:
        remove_quietly(tmp)


def write_text_atomically(path: str, text: str, make_dirs: bool = True) -> None:
    """Writes `text` (UTF-8) to `path` through `atomic_write`."""
    with atomic_write(path, make_dirs=make_dirs) as tmp:
        with tf.io.gfile.GFile(tmp, "w") as writer:
            writer.write(text)


def expand_input_patterns(input_file: str | Sequence[str], flag: str = "--input_file") -> list[str]:
    """Expands comma-separated globs (or a list of them) into files, as the original.

    Each pattern goes through `tf.io.gfile.glob`, as the original's
    `tf.gfile.Glob`, and the files come in its order, pattern after pattern.
    Empty entries (a trailing comma) match nothing, as in the original, and are
    skipped. Temporary files of this project's writers are never returned.

    Raises:
      InputError: naming `flag`, when no pattern is given, or a pattern
        matches no file (MissingFileError).
    """
    patterns = input_file.split(",") if isinstance(input_file, str) else list(input_file)
    patterns = [pattern.strip() for pattern in patterns if pattern and pattern.strip()]
    if not patterns:
        raise InputError(f"{flag}={input_file!r} names no file.")
    files = []
    for pattern in patterns:
        matches = [path for path in tf.io.gfile.glob(pattern) if not is_temp_file(path)]
        if not matches:
            raise MissingFileError(f"{flag} pattern {pattern!r} matches no file.")
        files.extend(matches)
    return files
