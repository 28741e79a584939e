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
