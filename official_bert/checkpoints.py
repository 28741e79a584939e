"""Reading and writing the original's name-based (TF1) checkpoints.

A checkpoint of the original is a flat map from variable names to tensors:
`bert/encoder/layer_0/attention/self/query/kernel`, the optimizer slots
`NAME/adam_m` and `NAME/adam_v`, and an int64 `global_step`. The models of this
package name every variable so that `variable.path` is that name, and the
optimizer of `official_bert.optimization` names its slots the same way
(`optimizer.slot_variables()`), with `optimizer.iterations` as `global_step`.
Reading and writing are therefore lookups by name, with no conversion table.

* `restore_checkpoint(path, model, optimizer=None)`: restores the model's
  variables found in the checkpoint (like the original's
  `get_assignment_map_from_checkpoint` + `tf.train.init_from_checkpoint`), and
  optionally the optimizer state; logs "**** Trainable Variables ****" with
  ", *INIT_FROM_CKPT*" and reports what was and was not used.
* `save_checkpoint(model_dir, model, optimizer)`: writes `model.ckpt-N` with
  `tf.raw_ops.SaveV2` atomically and maintains the `checkpoint` state file of
  the TF1 Saver, keeping the last `max_to_keep` checkpoints.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official_bert import files
from official_bert.errors import InputError, MissingFileError
from official_bert.optimization import tf1_variable_name

# The name of the optimizer's step counter in the original's checkpoints.
GLOBAL_STEP_NAME = "global_step"
# The TF1 Saver's default number of checkpoints kept in a model directory.
DEFAULT_MAX_TO_KEEP = 5
# The TF1 Saver's checkpoint state file and checkpoint basename.
CHECKPOINT_STATE_FILENAME = "checkpoint"
DEFAULT_BASENAME = "model.ckpt"


@dataclasses.dataclass
class RestoreResult:
    """What `restore_checkpoint` did.

    Attributes:
      checkpoint: the checkpoint prefix that was read.
      initialized: names of the model variables restored from it.
      not_initialized: names of the model variables it lacks (left as they were).
      unused: checkpoint entries that were not restored into anything.
      optimizer_initialized: names of the optimizer entries restored
        (`NAME/adam_m`, `NAME/adam_v`, `global_step`).
      resumed: set by `Trainer.restore` when this resumed a run in its
        `output_dir` (rather than initialising from `init_checkpoint`).
    """

    checkpoint: str
    initialized: list[str]
    not_initialized: list[str]
    unused: list[str]
    optimizer_initialized: list[str]
    resumed: bool = False


def resolve_checkpoint(path: str) -> str:
    """Returns the checkpoint prefix for `path`, a prefix or a model directory.

    A directory resolves to its latest checkpoint (see `latest_checkpoint`).

    Raises:
      MissingFileError: nothing readable is at `path`, naming it.
    """
    path = os.fspath(path)
    if tf.io.gfile.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise MissingFileError(
                f"No checkpoint found in the directory {path} (no `checkpoint` state file "
                "pointing at an existing checkpoint); pass a checkpoint prefix such as "
                f"{os.path.join(path, 'bert_model.ckpt')}."
            )
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise MissingFileError(
            f"Checkpoint {path} does not exist ({path}.index not found). Pass the prefix "
            "without the .index / .data-* suffix, e.g. .../bert_model.ckpt."
        )
    return path


def load_reader(prefix: str) -> Any:
    """`tf.train.load_checkpoint`, with an error naming the checkpoint if it is unreadable."""
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError, IndexError) as error:
        raise InputError(
            f"Checkpoint {prefix} cannot be read ({_first_line(error)}): its .index or "
            ".data-* file is truncated or corrupt. Use another checkpoint, or copy it again."
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def list_variables(path: str) -> dict[str, tuple[list[int], tf.DType]]:
    """Maps each entry of a checkpoint to its (shape, dtype)."""
    reader = load_reader(resolve_checkpoint(path))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    return {name: (shapes[name], dtypes[name]) for name in sorted(shapes)}


def _named_variables(model_or_variables: Any) -> dict[str, keras.Variable]:
    """Maps TF1 name (`variable.path`) -> variable, rejecting two variables with one name."""
    if isinstance(model_or_variables, keras.layers.Layer):
        variables = model_or_variables.weights
    else:
        variables = list(model_or_variables)
    named: dict[str, keras.Variable] = {}
    for variable in variables:
        name = tf1_variable_name(variable)
        if name in named and named[name] is not variable:
            raise ValueError(
                f"Two different variables are named {name}; a name-based checkpoint needs "
                "unique names (was a model built twice, or inside another layer's scope?)."
            )
        named[name] = variable
    return named


def _unwrap_optimizer(optimizer: Any) -> Any:
    """The optimizer that holds the slots (inside a LossScaleOptimizer, if any)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def _optimizer_variables(
    optimizer: Any, model_variables: dict[str, keras.Variable], for_saving: bool = False
) -> dict:
    """Maps checkpoint names to the optimizer's state: slots and `global_step`.

    For saving, the slots of variables that no step has updated are left out, as
    the original has none for variables without a gradient (SQuAD's pooler).
    """
    optimizer = _unwrap_optimizer(optimizer)
    if not optimizer.built:
        optimizer.build([v for v in model_variables.values() if v.trainable])
    state = dict(optimizer.slot_variables(updated_only=for_saving))
    state[GLOBAL_STEP_NAME] = optimizer.iterations
    return state


def get_assignment_map_from_checkpoint(
    variables: Any, init_checkpoint: str
) -> tuple[dict[str, str], dict[str, int]]:
    """The original's helper: which model variables the checkpoint can initialise.

    Returns:
      (assignment_map, initialized_variable_names): checkpoint name -> variable
      name for every shared name, and those names (with and without `:0`) -> 1.
    """
    named = _named_variables(variables)
    assignment_map, initialized = {}, {}
    for name in list_variables(init_checkpoint):
        if name in named:
            assignment_map[name] = name
            initialized[name] = 1
            initialized[name + ":0"] = 1
    return assignment_map, initialized


def _assign_from(
    reader: Any, prefix: str, name: str, variable: Any, shapes: dict, dtypes: dict
) -> None:
    """Assigns checkpoint entry `name` to `variable`, checking shape and dtype."""
    ckpt_shape = list(shapes[name])
    var_shape = list(variable.shape)
    if ckpt_shape != var_shape:
        raise InputError(
            f"Shape mismatch for variable {name}: checkpoint {prefix} has shape {ckpt_shape}, "
            f"the model has {var_shape}. Check that bert_config.json (or num_labels) matches "
            "the checkpoint."
        )
    try:
        value = reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError) as error:
        raise InputError(
            f"Checkpoint {prefix} cannot be read: variable {name}: {_first_line(error)}. "
            "Its .data-* file is truncated or corrupt; use another checkpoint, or copy it again."
        ) from None
    var_dtype, ckpt_dtype = tf.as_dtype(variable.dtype), dtypes[name]
    same_kind = (ckpt_dtype.is_floating and var_dtype.is_floating) or (
        ckpt_dtype.is_integer and var_dtype.is_integer
    )
    if not same_kind:
        raise InputError(
            f"Dtype mismatch for variable {name}: checkpoint {prefix} has "
            f"{ckpt_dtype.name}, the model has {var_dtype.name}."
        )
    variable.assign(np.asarray(value, dtype=var_dtype.as_numpy_dtype))


def restore_checkpoint(
    path: str,
    model: Any,
    optimizer: Any = None,
    *,
    strict: bool = False,
    log: bool = True,
) -> RestoreResult:
    """Restores a model (and optionally its optimizer) from a TF1 checkpoint by name.

    Works with a released checkpoint (weights only), a pretraining or
    classifier run's checkpoint (with `NAME/adam_m`, `NAME/adam_v` and
    `global_step`), or any subset: variables the checkpoint lacks keep their
    values, as with the original's `init_from_checkpoint`.

    Args:
      path: checkpoint prefix (e.g. `.../bert_model.ckpt`, `.../model.ckpt-3`)
        or a model directory (its latest checkpoint).
      model: a Keras layer/model, or an iterable of its variables; each
        variable's `.path` is looked up in the checkpoint.
      optimizer: optional optimizer with `slot_variables()` and `iterations`
        (built on the model's trainable variables if it is not built yet);
        its slots and `global_step` are restored when the checkpoint has them.
      strict: raise if any model variable (or, with an optimizer,
        `global_step`) is missing from the checkpoint. Missing Adam slots are
        allowed: the original writes none for variables without a gradient.
      log: log the original's "**** Trainable Variables ****" listing.

    Returns:
      A `RestoreResult`.

    Raises:
      FileNotFoundError: the checkpoint does not exist.
      ValueError: a shape or dtype disagrees (naming the variable and both
        shapes), or `strict` and entries are missing (listing them).
    """
    prefix = resolve_checkpoint(path)
    reader = load_reader(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    named = _named_variables(model)
    state = _optimizer_variables(optimizer, named) if optimizer is not None else {}

    missing = [n for n in named if n not in shapes]
    missing_state = [n for n in state if n not in shapes]
    # A variable that never had a gradient has no slots in the original's
    # checkpoints: its slots stay 0, which is what they would hold.
    missing_required = missing + [n for n in missing_state if n == GLOBAL_STEP_NAME]
    if strict and missing_required:
        raise InputError(
            f"Checkpoint {prefix} lacks {len(missing_required)} required "
            f"variables: {missing_required}."
        )
    missing_slots = [n for n in missing_state if n != GLOBAL_STEP_NAME]
    if missing_slots and log:
        logging.info(
            "%d optimizer slots not in %s (variables never updated there) start at 0: %s",
            len(missing_slots),
            prefix,
            ", ".join(missing_slots),
        )
    initialized, optimizer_initialized = [], []
    for name, variable in named.items():
        if name in shapes:
            _assign_from(reader, prefix, name, variable, shapes, dtypes)
            initialized.append(name)
    for name, variable in state.items():
        if name in shapes:
            _assign_from(reader, prefix, name, variable, shapes, dtypes)
            optimizer_initialized.append(name)
    used = set(initialized) | set(optimizer_initialized)
    result = RestoreResult(
        checkpoint=prefix,
        initialized=initialized,
        not_initialized=missing,
        unused=sorted(n for n in shapes if n not in used),
        optimizer_initialized=optimizer_initialized,
    )
    if log:
        _log_restore(result, named)
    return result


def _log_restore(result: RestoreResult, named: dict[str, keras.Variable]) -> None:
    """Logs like the original's model_fn after init_from_checkpoint."""
    logging.info("Restoring from checkpoint %s", result.checkpoint)
    logging.info("**** Trainable Variables ****")
    restored = set(result.initialized)
    for name, variable in named.items():
        init_string = ", *INIT_FROM_CKPT*" if name in restored else ""
        logging.info("  name = %s:0, shape = %s%s", name, tuple(variable.shape), init_string)
    if result.optimizer_initialized:
        logging.info("Restored %d optimizer entries.", len(result.optimizer_initialized))
    if result.unused:
        logging.info(
            "%d checkpoint entries not used: %s", len(result.unused), ", ".join(result.unused)
        )


def save_checkpoint(
    model_dir: str,
    model: Any,
    optimizer: Any = None,
    *,
    global_step: int | None = None,
    basename: str = DEFAULT_BASENAME,
    max_to_keep: int | None = DEFAULT_MAX_TO_KEEP,
    overwrite: tuple[str, ...] | list[str] = (),
) -> str:
    """Writes a TF1 name-based checkpoint, atomically, and updates the state file.

    The checkpoint holds every model variable under its `.path`, and with an
    optimizer also `NAME/adam_m`, `NAME/adam_v` and an int64 `global_step`:
    exactly what the original's Saver writes, so the original code (and
    `tf.train.load_checkpoint`) reads it.

    Files are written under a temporary prefix and renamed (data first, index
    last), so a reader never sees half a checkpoint. The `checkpoint` state
    file is then rewritten (also via a rename) to point at the new checkpoint,
    and checkpoints beyond the newest `max_to_keep` are deleted.

    Args:
      model_dir: directory of the checkpoints (created if needed).
      model: a Keras layer/model or an iterable of variables.
      optimizer: optional optimizer with `slot_variables()` and `iterations`.
      global_step: the step in the file name (`model.ckpt-N`) and the
        `global_step` entry; defaults to `optimizer.iterations`. With neither,
        the checkpoint is `model_dir/basename` and has no `global_step`.
      basename: checkpoint basename.
      max_to_keep: number of checkpoints kept; None or 0 keeps all.
      overwrite: prefixes that may be overwritten (the checkpoint a run
        restored from). Any other existing checkpoint of the same name is
        never overwritten.

    Returns:
      The prefix of the written checkpoint.

    Raises:
      InputError: a checkpoint of that name exists and is not in `overwrite`.
    """
    model_dir = os.fspath(model_dir)
    named = _named_variables(model)
    tensors: dict[str, tf.Tensor] = {n: tf.convert_to_tensor(v) for n, v in named.items()}
    if optimizer is not None:
        state = _optimizer_variables(optimizer, named, for_saving=True)
        if global_step is None:
            global_step = int(state[GLOBAL_STEP_NAME].numpy())
        for name, variable in state.items():
            if name != GLOBAL_STEP_NAME:
                tensors[name] = tf.convert_to_tensor(variable)
    if global_step is not None:
        tensors[GLOBAL_STEP_NAME] = tf.constant(int(global_step), tf.int64)
    prefix_name = basename if global_step is None else f"{basename}-{int(global_step)}"
    prefix = os.path.join(model_dir, prefix_name)

    tf.io.gfile.makedirs(model_dir)
    files.remove_stale_temp_files(model_dir, basename)
    files.remove_stale_temp_files(model_dir, CHECKPOINT_STATE_FILENAME)
    if _checkpoint_files(prefix) and os.path.normpath(prefix) not in {
        os.path.normpath(p) for p in overwrite
    }:
        raise InputError(
            f"{model_dir} already holds checkpoint {prefix_name}, which this run did not "
            "restore from; it is not overwritten. Move it out of the folder (or use another "
            "--output_dir) and run again."
        )
    tmp_prefix = files.temp_path(prefix)
    try:
        write_tensors(tmp_prefix, tensors)
        # Data first, index last: a prefix whose .index exists is complete.
        for tmp_file in tf.io.gfile.glob(tmp_prefix + ".data-*"):
            tf.io.gfile.rename(tmp_file, prefix + tmp_file[len(tmp_prefix) :], overwrite=True)
        tf.io.gfile.rename(tmp_prefix + ".index", prefix + ".index", overwrite=True)
    finally:
        for leftover in tf.io.gfile.glob(tmp_prefix + "*"):
            files.remove_quietly(leftover)
    _update_state_file(model_dir, prefix, max_to_keep)
    return prefix


def write_tensors(prefix: str, tensors: dict) -> None:
    """Writes `prefix.index` and `prefix.data-*`: a TF1 name-based checkpoint of `tensors`.

    Args:
      prefix: the checkpoint prefix.
      tensors: name -> Tensor or numpy array, written under that name as it is.

    Not atomic by itself and no state file: `save_checkpoint` writes through a
    temporary prefix; other callers write into a staging folder.
    """
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.convert_to_tensor(tensors[n]) for n in names],
    )


def _checkpoint_files(prefix: str) -> list[str]:
    return tf.io.gfile.glob(prefix + ".index") + tf.io.gfile.glob(prefix + ".data-*")


def keep_only(model_dir: str, prefix: str) -> None:
    """Makes `prefix` the only checkpoint of `model_dir`'s state file, deleting the others
    it listed (inside `model_dir` only)."""
    _update_state_file(model_dir, prefix, max_to_keep=1)


def _update_state_file(model_dir: str, prefix: str, max_to_keep: int | None) -> None:
    """Points the `checkpoint` file at `prefix`, keeping the last `max_to_keep`.

    Only checkpoints inside `model_dir` are ever deleted.
    """
    try:
        state = read_checkpoint_state(model_dir)
    except InputError:
        # An unreadable state file is replaced; the checkpoints it may have
        # listed stay on disk (untracked, so never pruned).
        state = None
    previous = state.all_model_checkpoint_paths if state else []
    kept = [p for p in previous if p != prefix and _checkpoint_files(p)] + [prefix]
    if max_to_keep:
        for old in kept[:-max_to_keep]:
            if not _is_inside(old, model_dir):
                continue
            for filename in _checkpoint_files(old):
                tf.io.gfile.remove(filename)
        kept = kept[-max_to_keep:]

    def quoted(path: str) -> str:
        # Relative to the directory when inside it, as the golden state files.
        if os.path.normpath(os.path.dirname(path)) == os.path.normpath(model_dir):
            path = os.path.basename(path)
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"model_checkpoint_path: {quoted(prefix)}"]
    lines += [f"all_model_checkpoint_paths: {quoted(p)}" for p in kept]
    files.write_text_atomically(
        os.path.join(model_dir, CHECKPOINT_STATE_FILENAME), "\n".join(lines) + "\n"
    )


# --------------------------------------------------------------------------- state file


@dataclasses.dataclass
class CheckpointState:
    """A `checkpoint` state file, its paths resolved inside the model directory.

    Attributes:
      model_checkpoint_path: the newest checkpoint's prefix (or "" if unset).
      all_model_checkpoint_paths: every listed prefix, oldest first.
    """

    model_checkpoint_path: str
    all_model_checkpoint_paths: list[str]


_STATE_LINE = re.compile(r'^\s*(\w+)\s*:\s*"((?:[^"\\]|\\.)*)"\s*$')
_CHECKPOINT_STEP = re.compile(r"^(?P<base>.+)-(?P<step>\d+)\.index$")


def _is_inside(path: str, directory: str) -> bool:
    real_dir = os.path.realpath(directory)
    return os.path.commonpath([os.path.realpath(path), real_dir]) == real_dir


def _resolve_listed_path(listed: str, model_dir: str) -> str:
    """Where a path of the state file points, never outside `model_dir`.

    A relative path is relative to the folder, an absolute one (the TF1
    Saver's) is taken as it is; either is kept when it lies inside the folder,
    and otherwise the checkpoint of the same base name in the folder is meant
    (a folder copied from elsewhere, or a state file naming `../other/...`).
    """
    path = listed if os.path.isabs(listed) else os.path.join(model_dir, listed)
    if _is_inside(path, model_dir):
        return path
    return os.path.join(model_dir, os.path.basename(listed))


def read_checkpoint_state(model_dir: str) -> CheckpointState | None:
    """Parses `model_dir/checkpoint` as the TF1 Saver writes it.

    Returns:
      The state, paths resolved by `_resolve_listed_path`; None when the file
      is missing.

    Raises:
      InputError: the file is empty or not a checkpoint state (naming it).
    """
    path = os.path.join(os.fspath(model_dir), CHECKPOINT_STATE_FILENAME)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as reader:
        data = reader.read()
    fields: dict[str, list[str]] = {}
    try:
        text = data.decode("utf-8")
        for line in text.splitlines():
            if not line.strip():
                continue
            match = _STATE_LINE.match(line)
            if not match:
                raise ValueError(line)
            value = re.sub(r"\\(.)", r"\1", match.group(2))
            fields.setdefault(match.group(1), []).append(value)
    except (UnicodeDecodeError, ValueError):
        fields = {}
    if not fields.get("model_checkpoint_path"):
        raise InputError(
            f"Invalid checkpoint state file {path}: it is empty or not a TF1 `checkpoint` "
            "file. Delete it: the next run recovers the newest restorable model.ckpt-N "
            "of the folder by itself."
        )
    model_dir = os.fspath(model_dir)
    latest = _resolve_listed_path(fields["model_checkpoint_path"][0], model_dir)
    listed = [
        _resolve_listed_path(p, model_dir) for p in fields.get("all_model_checkpoint_paths", [])
    ]
    if latest not in listed:
        listed.append(latest)
    return CheckpointState(model_checkpoint_path=latest, all_model_checkpoint_paths=listed)


def is_restorable(prefix: str) -> bool:
    """Whether `prefix.index` and its data files exist and the index can be read."""
    if not tf.io.gfile.exists(prefix + ".index") or not tf.io.gfile.glob(prefix + ".data-*"):
        return False
    try:
        tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError, IndexError):
        return False
    return True


def checkpoint_step(prefix: str) -> int | None:
    """N of a `.../model.ckpt-N` prefix, or None."""
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else None


def checkpoints_by_step(model_dir: str, basename: str = DEFAULT_BASENAME) -> list[tuple[int, str]]:
    """(step, prefix) of every `basename-N.index` in `model_dir`, newest first."""
    found = []
    for entry in tf.io.gfile.listdir(model_dir) if tf.io.gfile.isdir(model_dir) else []:
        match = _CHECKPOINT_STEP.match(entry)
        if match and match.group("base") == basename:
            found.append(
                (int(match.group("step")), os.path.join(model_dir, entry[: -len(".index")]))
            )
    return sorted(found, reverse=True)


def latest_checkpoint(model_dir: str) -> str | None:
    """The checkpoint a run in `model_dir` resumes from, or None for a fresh start.

    The state file's newest checkpoint when it is restorable. When the state
    file is missing, or names a checkpoint that is gone or unreadable, the
    folder is scanned for the newest restorable `model.ckpt-N` and a warning
    says so. Paths are never followed outside `model_dir`.

    Raises:
      InputError: the state file is empty or garbage and no checkpoint is in
        the folder, or checkpoint files exist but none can be restored (naming
        the folder and what to do).
    """
    model_dir = os.fspath(model_dir)
    try:
        state = read_checkpoint_state(model_dir)
        state_error = None
    except InputError as error:
        state, state_error = None, error
    if state is not None and is_restorable(state.model_checkpoint_path):
        return state.model_checkpoint_path
    on_disk = checkpoints_by_step(model_dir)
    for _, prefix in on_disk:
        if is_restorable(prefix):
            why = (
                "its `checkpoint` state file is missing"
                if state is None and state_error is None
                else "its `checkpoint` state file is unreadable"
                if state is None
                else f"its state file names {state.model_checkpoint_path}, which cannot be restored"
            )
            logging.warning(
                "%s: %s; recovered %s, the newest restorable checkpoint in the folder.",
                model_dir,
                why,
                prefix,
            )
            return prefix
    if on_disk:
        raise InputError(
            f"{model_dir} holds checkpoint files ({', '.join(os.path.basename(p) for _, p in on_disk)}) "
            "but none can be restored (an .index or .data-* file is missing or corrupt). "
            "Nothing was overwritten. Move them out of the folder to start afresh, or restore "
            "the missing files to resume."
        )
    if state_error is not None:
        raise state_error
    return None
