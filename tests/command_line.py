"""An entry point's command line run in this process, for the tests of its error reports."""

import os
import sys
from types import ModuleType

import pytest
from absl import flags
from absl import logging as absl_logging

from official_bert import cli


def exit_code_of(module: ModuleType, argv: list[str]) -> int:
    """Parses `argv` (argv[0] the script) with `module`'s flags and runs `cli.call_main`.

    What the script does after absl parsed its flags, without starting a
    process; its error report goes to this process's stderr (read it with
    capsys). Returns the exit code; FLAGS, the verbosity, sys.argv and the
    traceback variable are restored.
    """
    module.define_flags()  # again: its defaults win over another entry point's
    saved_argv, verbosity = sys.argv, absl_logging.get_verbosity()
    traceback_env = os.environ.pop(cli.TRACEBACK_ENV, None)
    try:
        sys.argv = argv[:1]
        flags.FLAGS(argv)
        with pytest.raises(SystemExit) as exit_info:
            cli.call_main(module, argv[:1])
    finally:
        flags.FLAGS.unparse_flags()
        absl_logging.set_verbosity(verbosity)
        sys.argv = saved_argv
        if traceback_env is not None:
            os.environ[cli.TRACEBACK_ENV] = traceback_env
    return exit_info.value.code
