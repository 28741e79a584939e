"""The plumbing every command line of official_bert shares.

Each entry point is a library module with `define_flags()`, `main(argv)` and
`REQUIRED_FLAGS` (official_bert.pretraining, .classifier,
.create_pretraining_data, .extract_features). The root scripts
(`python run_classifier.py`), `python -m official_bert.classifier` and the
console scripts (`bert-run-classifier`) all call `run(module)`, which:

* defines the module's flags (`define_flag` is the one way to define a flag:
  idempotent, with the `--help` group it belongs to) and marks its
  `REQUIRED_FLAGS` as required;
* answers `--help` (also `-h`, `-?`, `--helpshort`) with every flag of the
  command and its help, grouped as in the original (required, other, TPU) plus
  this port's flags and `--verbosity`, and exits 0; `--helpfull` stays absl's;
* initialises TensorFlow's devices with its start-up noise filtered out, so a
  run starts with the project's own log lines (see below);
* runs `module.main` under `absl.app.run` and turns the errors the project
  raises on purpose into one line on stderr without a traceback:
  `errors.InputError` (a bad flag, file, config or record) exits with
  `INPUT_ERROR_EXIT_CODE` (2, the usual code of a usage error);
  `errors.TrainingInterrupted` (SIGINT/SIGTERM, checkpoint written) with its
  `exit_code` (128 + the signal number), and a KeyboardInterrupt outside
  training with 130. Any other exception is a bug and keeps its traceback
  (exit code 1). `--verbosity=1` or `OFFICIAL_BERT_TRACEBACK=1` in the
  environment shows the traceback of an InputError too.

TensorFlow's start-up noise. TF 2.21 logs through absl C++ logging, and the
lines it writes while its libraries load (the "All log messages before
absl::InitializeLog() ..." warning, the oneDNN notice, "Could not find cuda
drivers", and, at the first device query, "failed call to cuInit") come before
it reads `TF_CPP_MIN_LOG_LEVEL`, so no environment variable silences them.
`quiet_tensorflow_startup()` sets the default `TF_CPP_MIN_LOG_LEVEL=1`
(TensorFlow's C++ INFO lines off; warnings and errors stay) and, while
TensorFlow loads, drops exactly those known lines from file descriptor 2 and
passes every other line through. `official_bert/__init__.py` calls it before
it imports TensorFlow: the package is imported before any entry point code
runs (`python -m`, console scripts), so that is the one place early enough.
A value the user set wins: `TF_CPP_MIN_LOG_LEVEL=0` shows everything, the
start-up lines included.

This module imports only the standard library and absl at import time (no
TensorFlow), for that reason.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any, NoReturn

from absl import app, flags, logging

# Exit code of a run refused for a bad flag, file, config or record (an
# `errors.InputError`): 2, as argparse and the shells use for a usage error;
# 1 stays the code of a genuine crash (and of absl's own flag-parsing errors).
INPUT_ERROR_EXIT_CODE = 2
# Environment variable that shows the traceback of an InputError.
TRACEBACK_ENV = "OFFICIAL_BERT_TRACEBACK"

# The --help groups, in the order they are shown.
REQUIRED = "Required parameters"
OTHER = "Other parameters"
TPU = "TPU parameters"
PORT = "Parameters of this port (not in the original)"
LOGGING = "Logging"
GROUPS = (REQUIRED, OTHER, TPU, PORT, LOGGING)
# absl's flags shown by --help (all of absl's are in --helpfull).
LOGGING_FLAGS = ("verbosity",)
VERBOSITY_LEVELS = (
    "--verbosity levels: -1 warnings and errors only; 0 (the default) also the "
    "original's INFO logs (flags, input files, the *INIT_FROM_CKPT* variable "
    "listing, example dumps, progress lines, eval results); 1 also debug logs, "
    f"and the traceback of an input error (or set {TRACEBACK_ENV}=1)."
)

# The group of each flag defined with `define_flag` (name -> group).
_FLAG_GROUPS: dict[str, str] = {}
# The modules whose `define_flags` has run in this process.
_DEFINED_MODULES: set[str] = set()

# --------------------------------------------------------------------------- quiet start-up

# Environment defaults set before TensorFlow is imported (a value already set wins).
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "1"}
# TensorFlow's start-up lines on a machine without a GPU, dropped while it loads.
_STARTUP_NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written "
        r"to STDERR$",
        r"\] oneDNN custom operations are on\. ",
        r"\] Could not find cuda drivers on your machine, GPU will not be used\.$",
        r"\] This TensorFlow binary is optimized to use available CPU instructions ",
        r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate "
        r"compiler flags\.$",
    )
)
# Dropped only once "Could not find cuda drivers" was seen (no driver, so no
# GPU is expected); on a machine with a driver it is a real error and stays.
_NO_DRIVER_CUINIT = re.compile(r"\] failed call to cuInit: ")
# How long to wait for the last filtered lines after TensorFlow has loaded.
_FILTER_JOIN_SECONDS = 5.0


def _set_quiet_environment() -> bool:
    """Sets `QUIET_ENVIRONMENT`'s defaults; returns whether start-up lines are filtered."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() != "0"


class _StartupLineFilter:
    """Forwards the lines written to fd 2 to the real stderr, except TensorFlow's start-up noise."""

    def __init__(self):
        self.no_cuda_driver = False

    def keep(self, line: str) -> bool:
        if any(pattern.search(line) for pattern in _STARTUP_NOISE):
            if "Could not find cuda drivers" in line:
                self.no_cuda_driver = True
            return False
        return not (self.no_cuda_driver and _NO_DRIVER_CUINIT.search(line))

    def forward(self, read_fd: int, write_fd: int) -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                if self.keep(raw.decode("utf-8", "replace").rstrip("\r\n")):
                    while raw:
                        raw = raw[os.write(write_fd, raw) :]


_LINE_FILTER = _StartupLineFilter()


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """Within the block, fd 2 goes through `_LINE_FILTER` (C++ and Python writes alike)."""
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    forwarder = threading.Thread(
        target=_LINE_FILTER.forward, args=(read_fd, saved), name="stderr-filter", daemon=True
    )
    forwarder.start()
    try:
        yield
    finally:
        if sys.stderr is not None:
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's write end: the forwarder reads to its end
        forwarder.join(_FILTER_JOIN_SECONDS)
        if not forwarder.is_alive():  # else it still writes there (a copy of the pipe lives)
            os.close(saved)


@contextlib.contextmanager
def quiet_tensorflow_startup() -> Iterator[None]:
    """Import TensorFlow inside this block to load it without its start-up noise.

    Sets the `QUIET_ENVIRONMENT` defaults and filters TensorFlow's known
    start-up lines from stderr while the block runs; does nothing once
    TensorFlow is imported, and filters nothing when the user set
    `TF_CPP_MIN_LOG_LEVEL=0`.
    """
    if "tensorflow" in sys.modules or not _set_quiet_environment():
        yield
        return
    with _filtered_stderr():
        yield


def initialize_devices_quietly() -> None:
    """Lists the physical devices (TensorFlow's first device query) with the noise filtered.

    This is where "failed call to cuInit" is logged on a machine without a
    GPU. It does not create the eager context, so a MultiWorkerMirroredStrategy
    can still be built afterwards.
    """
    if not _set_quiet_environment():
        return
    with _filtered_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()


# --------------------------------------------------------------------------- flags


def define_flag(
    kind: str, name: str, default: Any, help_text: str, *, group: str = OTHER, **kwargs
) -> None:
    """Defines `--name` in absl's FLAGS, unless defined already; records its --help group.

    A flag defined already (by another entry point in this process) keeps its
    definition and takes this `default`, unless its value was given on the
    command line.

    Args:
      kind: absl's DEFINE_ suffix: `string`, `integer`, `float`, `bool`, `enum`.
      name, default, help_text: as for absl (help as sentences, as the original).
      group: `OTHER`, `TPU` or `PORT`; required flags are shown under
        `REQUIRED` from the module's `REQUIRED_FLAGS`, whatever their group.
      **kwargs: passed to absl (`enum_values=` for an enum).
    """
    _FLAG_GROUPS.setdefault(name, group)
    if name in flags.FLAGS:  # defined by another entry point in this process
        # Its default may be another's (max_seq_length: 128 in run_classifier,
        # 384 in run_squad). The entry point defining its flags last is the one
        # about to parse them: it gets its own default.
        flag = flags.FLAGS[name]
        if flag.default_unparsed != default:
            flags.FLAGS.set_default(name, default)
        return
    # Attributed to the module that calls this (absl would name this one):
    # --helpfull lists flags by module.
    caller = sys._getframe(1).f_globals.get("__name__")
    if caller and caller != "__main__":
        kwargs["module_name"] = caller
    if kind == "enum":
        flags.DEFINE_enum(name, default, kwargs.pop("enum_values"), help_text, **kwargs)
    else:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text, **kwargs)


def _module(module: ModuleType | str) -> ModuleType:
    return importlib.import_module(module) if isinstance(module, str) else module


def define_flags(module: ModuleType | str) -> flags.FlagValues:
    """Runs `module.define_flags()` once per process; returns absl's FLAGS."""
    module = _module(module)
    if module.__name__ not in _DEFINED_MODULES:
        module.define_flags()
        _DEFINED_MODULES.add(module.__name__)
    return flags.FLAGS


def _required_flag_names(module: ModuleType) -> tuple[str, ...]:
    """The module's `REQUIRED_FLAGS`, else the flags its define_flags marked required."""
    names = getattr(module, "REQUIRED_FLAGS", None)
    if names is not None:
        return tuple(names)
    # absl's mark_flag_as_required registers a validator with this message.
    return tuple(
        flag.name
        for flag in _command_flags()
        if any(
            getattr(v, "message", None) == f"Flag --{flag.name} must have a value other than None."
            for v in flag.validators
        )
    )


def _command_flags() -> list[flags.Flag]:
    """The flags defined by official_bert's modules (and by the main script), in order."""
    out: list[flags.Flag] = []
    for module_name, module_flags in flags.FLAGS.flags_by_module_dict().items():
        if module_name.startswith("official_bert") or module_name == sys.argv[0]:
            out.extend(f for f in module_flags if f not in out)
    return out


def flag_groups(module: ModuleType | str) -> dict[str, list[flags.Flag]]:
    """The command's flags by --help group (`GROUPS` order; empty groups left out)."""
    module = _module(module)
    required = set(_required_flag_names(module))
    groups: dict[str, list[flags.Flag]] = {group: [] for group in GROUPS}
    for flag in _command_flags():
        group = REQUIRED if flag.name in required else _FLAG_GROUPS.get(flag.name, OTHER)
        groups[group].append(flag)
    groups[LOGGING] = [flags.FLAGS[name] for name in LOGGING_FLAGS if name in flags.FLAGS]
    return {group: members for group, members in groups.items() if members}


def _program(module: ModuleType | None = None) -> str:
    """How the command was called: the script's name, or `python -m module`."""
    script = sys.argv[0] if sys.argv and sys.argv[0] else "official_bert"
    module_file = getattr(module, "__file__", None)
    if module_file and os.path.abspath(script) == os.path.abspath(module_file):
        return f"python -m {module.__name__}"
    return os.path.basename(script)


def help_text(module: ModuleType | str) -> str:
    """What `--help` prints: the command's description, then every flag by group."""
    module = _module(module)
    description = (module.__doc__ or "").strip().split("\n\n")[0]
    program = _program(module)
    lines = [description, "", f"usage: {program} --flag=value ...", ""]
    for group, members in flag_groups(module).items():
        # absl's own rendering of a flag list (help, default, type), under our heading.
        renderer = flags.FlagValues()
        for flag in members:
            renderer[flag.name] = flag
            renderer.register_key_flag_for_module(group, flag)
        lines.append(renderer.module_help(group).strip("\n"))
        lines.append("")
    lines.append(flags.text_wrap(VERBOSITY_LEVELS))
    lines.append("")
    lines.append("Try --helpfull to get a list of all flags, absl's included.")
    return "\n".join(lines)


_HELP_ARGS = frozenset({"-h", "-?", "--help", "-help", "--helpshort", "-helpshort"})
_HELP_VALUES = frozenset({"true", "1", "t", "yes", "y"})


def _asks_for_help(argv: Sequence[str]) -> bool:
    for arg in argv[1:]:
        if arg == "--":
            return False
        if arg in _HELP_ARGS:
            return True
        name, sep, value = arg.partition("=")
        if sep and name.lstrip("-") in ("help", "helpshort") and value.lower() in _HELP_VALUES:
            return True
    return False


# --------------------------------------------------------------------------- running


def _show_tracebacks() -> bool:
    if os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
        return True
    return logging.get_verbosity() >= logging.DEBUG


def _fail(message: str, exit_code: int, prefix: str = "error: ") -> NoReturn:
    """Prints `PROGRAM: error: message` (one line, no traceback) and exits."""
    if sys.stdout is not None:
        sys.stdout.flush()
    print(f"{_program()}: {prefix}{message}", file=sys.stderr, flush=True)
    sys.exit(exit_code)


def _log_tensorflow_records_once() -> None:
    """Leaves TensorFlow's Python log records to absl's handler alone.

    TensorFlow gives its logger a stderr handler of its own when it is
    imported before any root handler exists (here: before app.run installs
    absl's), so each of its records would print twice, once as
    `INFO:tensorflow:...` and once in absl's format.
    """
    import logging as python_logging

    if logging.get_absl_handler() in python_logging.getLogger().handlers:
        python_logging.getLogger("tensorflow").handlers.clear()


def call_main(module: ModuleType, argv: Sequence[str]) -> None:
    """Calls `module.main(argv)`, reporting the project's deliberate errors without a traceback."""
    from official_bert.errors import InputError, TrainingInterrupted

    _log_tensorflow_records_once()
    try:
        module.main(argv)
    except TrainingInterrupted as error:  # not an error: the run stopped as asked
        _fail(str(error), error.exit_code, prefix="")
    except InputError as error:
        if _show_tracebacks():
            traceback.print_exc()
        _fail(str(error), INPUT_ERROR_EXIT_CODE)
    except KeyboardInterrupt:
        if _show_tracebacks():
            traceback.print_exc()
        _fail("interrupted (SIGINT).", 128 + signal.SIGINT, prefix="")


def run(module: ModuleType | str, argv: Sequence[str] | None = None) -> NoReturn:
    """The command line of an entry point module: flags, --help, errors (see the module doc)."""
    module = _module(module)
    define_flags(module)
    argv = list(sys.argv if argv is None else argv)
    for name in getattr(module, "REQUIRED_FLAGS", ()):
        flags.mark_flag_as_required(name)
    # absl's --helpshort/--helpxml show the main module's key flags: make the
    # command's flags key flags of the main module (sys.argv[0], absl's name for it).
    for flag in _command_flags():
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    if _asks_for_help(argv):
        print(help_text(module))
        sys.exit(0)
    initialize_devices_quietly()
    app.run(lambda args: call_main(module, args), argv=argv)
    sys.exit(0)  # app.run exits itself; this is for the type checker


# --------------------------------------------------------------------------- console scripts


def create_pretraining_data() -> NoReturn:
    """`bert-create-pretraining-data`."""
    run("official_bert.create_pretraining_data")


def run_pretraining() -> NoReturn:
    """`bert-run-pretraining`."""
    run("official_bert.pretraining")


def run_classifier() -> NoReturn:
    """`bert-run-classifier`."""
    run("official_bert.classifier")


def run_squad() -> NoReturn:
    """`bert-run-squad`."""
    run("official_bert.squad_run")


def export() -> NoReturn:
    """`bert-export`."""
    run("official_bert.export")


def extract_features() -> NoReturn:
    """`bert-extract-features`."""
    run("official_bert.extract_features")


def convert_checkpoint() -> NoReturn:
    """`bert-convert-checkpoint`."""
    run("official_bert.convert_checkpoint")


def stability() -> NoReturn:
    """`bert-stability`."""
    run("official_bert.stability")
