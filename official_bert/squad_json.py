"""JSON text in the layout of `json.dumps(obj, indent=4) + "\\n"`, for the prediction files.

`json.dumps` with an indent runs Python's pure-Python encoder; the three files
run_squad writes (predictions, n-best lists, null odds) have fixed shapes, so
they are formatted directly here: strings through the C string encoder that
`json` uses, numbers as `json` writes them (`float.__repr__`, NaN, Infinity).
Anything of another shape goes through `json.dumps` itself.
"""

from __future__ import annotations

import json
from typing import Any

_quote = json.encoder.encode_basestring_ascii
# float.__repr__ of the floats json writes differently.
_SPECIAL_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _scalar(value: Any) -> str:
    """A str, float or int as json.dumps writes it; TypeError for anything else."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is float:
        text = float.__repr__(value)
        return _SPECIAL_FLOATS.get(text, text)
    if kind is int:
        return int.__repr__(value)
    raise TypeError(f"not a JSON scalar: {value!r}")


def _entries(value: list, indent: str) -> str:
    """A list of flat dicts (n-best entries) at the given indent."""
    if not value:
        return "[]"
    inner = indent + "    "
    field = inner + "    "
    parts = []
    for entry in value:
        if type(entry) is not dict:
            raise TypeError(f"not a dict: {entry!r}")
        if not entry:
            parts.append(inner + "{}")
            continue
        fields = ",\n".join([f"{field}{_quote(k)}: {_scalar(v)}" for k, v in entry.items()])
        parts.append(f"{inner}{{\n{fields}\n{inner}}}")
    return "[\n" + ",\n".join(parts) + "\n" + indent + "]"


def dumps_indent4(obj: dict[Any, Any]) -> str:
    """json.dumps(obj, indent=4) + "\\n" for the three prediction files' shapes.

    `obj` maps str to a str, float or int, or to a list of flat dicts of those;
    anything else (a non-str key, another value type) goes through json.dumps.
    """
    if not obj:
        return "{}\n"
    try:
        lines = []
        for key, value in obj.items():
            if type(key) is not str:
                raise TypeError(f"not a str key: {key!r}")
            text = _entries(value, "    ") if type(value) is list else _scalar(value)
            lines.append(f"    {_quote(key)}: {text}")
    except TypeError:
        return json.dumps(obj, indent=4) + "\n"
    return "{\n" + ",\n".join(lines) + "\n}\n"
