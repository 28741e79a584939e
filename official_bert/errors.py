"""The exceptions this project raises on purpose for bad flags, files, configs or data.

Their message names the flag, file, key or record and says what to do. The
entry points print such an error's message alone (no traceback) and exit
non-zero; any other exception is a bug and keeps its traceback.

`InputError` subclasses `ValueError`, so `except ValueError` keeps working for
callers of the library; `MissingFileError` is also a `FileNotFoundError`.
"""

from __future__ import annotations


class InputError(ValueError):
    """A bad flag, file, config or data record; the message says which and what to do."""


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder named by a flag or a config does not exist."""


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after writing a checkpoint.

    The message says where the checkpoint is and how to resume. Entry points
    print it alone and exit with `exit_code` (128 + the signal number, as a
    shell reports a process ended by that signal).

    Attributes:
      signum: the signal that stopped training.
      checkpoint: the checkpoint written at the stop (None on non-chief workers).
    """

    def __init__(self, message: str, signum: int, checkpoint: str | None = None):
        super().__init__(message)
        self.signum = signum
        self.checkpoint = checkpoint

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
