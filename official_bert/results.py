"""Eval results and summaries in the original's formats.

`write_eval_results` writes `eval_results.txt` as the original (`key = value`,
sorted, float32 formatting) and `read_eval_results` reads it back; `write_scalar_summary` writes a TensorBoard
scalar without the tensorboard package. Used by `official_bert.training`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from official_bert import files
from official_bert.errors import InputError

# TensorBoard shows summaries tagged with this plugin name as scalar plots.
_SCALARS_PLUGIN = "scalars"


def write_scalar_summary(name: str, value: float) -> None:
    """Writes a float32 scalar summary to the default writer, as `tf.summary.scalar`.

    `tf.summary.scalar` needs the tensorboard package; this writes the same
    event (a scalar tensor tagged for TensorBoard's scalars plugin) without it.
    """
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = _SCALARS_PLUGIN
    tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata.SerializeToString())


def format_metric_value(value: Any) -> str:
    """`str()` of a metric as the original's numpy results print.

    Floats are printed as numpy float32 (the dtype of the original's metrics):
    `str(np.float32(0.84313726))` is `0.84313726`, where the Python float of the
    same number prints as `0.843137264251709`. Integers print as they are.
    """
    if isinstance(value, tf.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (float, np.floating)):
        return str(np.float32(value))
    return str(value)


def write_eval_results(path: str, result: Mapping[str, Any]) -> None:
    """Writes `key = value` lines in sorted key order, atomically (the original's format)."""
    text = "".join(f"{key} = {format_metric_value(result[key])}\n" for key in sorted(result))
    files.write_text_atomically(path, text)


def read_eval_results(path: str) -> dict[str, Any]:
    """Parses an eval_results.txt (`key = value` lines): `global_step` int, the rest float.

    Raises:
      InputError: a line is not `key = value` (naming the file and line).
    """
    results: dict[str, Any] = {}
    with tf.io.gfile.GFile(path, "r") as f:
        for number, line in enumerate(f.read().splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition(" = ")
            try:
                if not sep:
                    raise ValueError(line)
                results[key] = int(value) if key == "global_step" else float(value)
            except ValueError:
                raise InputError(
                    f"{path}, line {number}: expected `key = number`, found {line!r}."
                ) from None
    return results
