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
import uuid
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

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
    """

    checkpoint: str
    initialized: list[str]
    not_initialized: list[str]
    unused: list[str]
    optimizer_initialized: list[str]


def resolve_checkpoint(path: str) -> str:
    """Returns the checkpoint prefix for `path`, a prefix or a model directory.

    A directory resolves to its latest checkpoint (per its `checkpoint` file).

    Raises:
      FileNotFoundError: nothing readable is at `path`, naming it.
    """
    path = os.fspath(path)
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(
                f"No checkpoint found in the directory {path} (no `checkpoint` state file "
                "pointing at an existing checkpoint); pass a checkpoint prefix such as "
                f"{os.path.join(path, 'bert_model.ckpt')}."
            )
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(
            f"Checkpoint {path} does not exist ({path}.index not found). Pass the prefix "
            "without the .index / .data-* suffix, e.g. .../bert_model.ckpt."
        )
    return path


def list_variables(path: str) -> dict[str, tuple[list[int], tf.DType]]:
    """Maps each entry of a checkpoint to its (shape, dtype)."""
    reader = tf.train.load_checkpoint(resolve_checkpoint(path))
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
        name = getattr(variable, "path", None) or re.sub(r":\d+$", "", variable.name)
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


def _optimizer_variables(optimizer: Any, model_variables: dict[str, keras.Variable]) -> dict:
    """Maps checkpoint names to the optimizer's state: slots and `global_step`."""
    optimizer = _unwrap_optimizer(optimizer)
    if not optimizer.built:
        optimizer.build([v for v in model_variables.values() if v.trainable])
    state = dict(optimizer.slot_variables())
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
        raise ValueError(
            f"Shape mismatch for variable {name}: checkpoint {prefix} has shape {ckpt_shape}, "
            f"the model has {var_shape}. Check that bert_config.json (or num_labels) matches "
            "the checkpoint."
        )
    value = reader.get_tensor(name)
    var_dtype, ckpt_dtype = tf.as_dtype(variable.dtype), dtypes[name]
    same_kind = (ckpt_dtype.is_floating and var_dtype.is_floating) or (
        ckpt_dtype.is_integer and var_dtype.is_integer
    )
    if not same_kind:
        raise ValueError(
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
      strict: raise if any model variable (or, with an optimizer, any
        optimizer entry) is missing from the checkpoint.
      log: log the original's "**** Trainable Variables ****" listing.

    Returns:
      A `RestoreResult`.

    Raises:
      FileNotFoundError: the checkpoint does not exist.
      ValueError: a shape or dtype disagrees (naming the variable and both
        shapes), or `strict` and entries are missing (listing them).
    """
    prefix = resolve_checkpoint(path)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    named = _named_variables(model)
    state = _optimizer_variables(optimizer, named) if optimizer is not None else {}

    missing = [n for n in named if n not in shapes]
    missing_state = [n for n in state if n not in shapes]
    if strict and (missing or missing_state):
        raise ValueError(
            f"Checkpoint {prefix} lacks {len(missing) + len(missing_state)} required "
            f"variables: {missing + missing_state}."
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

    Returns:
      The prefix of the written checkpoint.
    """
    model_dir = os.fspath(model_dir)
    named = _named_variables(model)
    tensors: dict[str, tf.Tensor] = {n: tf.convert_to_tensor(v) for n, v in named.items()}
    if optimizer is not None:
        state = _optimizer_variables(optimizer, named)
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
    tmp_prefix = os.path.join(model_dir, f".{prefix_name}.tmp-{uuid.uuid4().hex}")
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=tmp_prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tensors[n] for n in names],
    )
    tmp_files = tf.io.gfile.glob(tmp_prefix + ".data-*")
    for tmp_file in tmp_files:
        tf.io.gfile.rename(tmp_file, prefix + tmp_file[len(tmp_prefix) :], overwrite=True)
    tf.io.gfile.rename(tmp_prefix + ".index", prefix + ".index", overwrite=True)
    _update_state_file(model_dir, prefix, max_to_keep)
    return prefix


def _checkpoint_files(prefix: str) -> list[str]:
    return tf.io.gfile.glob(prefix + ".index") + tf.io.gfile.glob(prefix + ".data-*")


def _update_state_file(model_dir: str, prefix: str, max_to_keep: int | None) -> None:
    """Points the `checkpoint` file at `prefix`, keeping the last `max_to_keep`."""
    previous: list[str] = []
    state = tf.train.get_checkpoint_state(model_dir)
    if state is not None:
        previous = [
            p if os.path.isabs(p) else os.path.join(model_dir, p)
            for p in state.all_model_checkpoint_paths
        ]
    kept = [p for p in previous if p != prefix and _checkpoint_files(p)] + [prefix]
    if max_to_keep:
        for old in kept[:-max_to_keep]:
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
    state_path = os.path.join(model_dir, CHECKPOINT_STATE_FILENAME)
    tmp_path = f"{state_path}.tmp-{uuid.uuid4().hex}"
    with tf.io.gfile.GFile(tmp_path, "w") as writer:
        writer.write("\n".join(lines) + "\n")
    tf.io.gfile.rename(tmp_path, state_path, overwrite=True)


def latest_checkpoint(model_dir: str) -> str | None:
    """The newest checkpoint prefix of `model_dir` per its state file, or None."""
    return tf.train.latest_checkpoint(os.fspath(model_dir))
