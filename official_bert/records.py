"""tf.train.Example records with their features in a chosen order, and their atomic writer.

A `tf.train.Example` holds its features in a protobuf map, and a map has no
order: the protobuf library the original ran with wrote the entries in the
order of its hash table, and `SerializeToString(deterministic=True)` sorts them
by key. Every order parses to the same Example; only one gives the original's
bytes. `OrderedExampleEncoder` writes the wire format directly, with the
entries in the order given, so a file can equal the original's byte for byte:

    Example    { Features features = 1; }
    Features   { map<string, Feature> feature = 1; }    (entry: key = 1, value = 2)
    Feature    { FloatList float_list = 2; Int64List int64_list = 3; }
    Int64List  { repeated int64 value = 1 [packed]; }   FloatList: repeated float, packed

`write_tfrecords` writes records round-robin to one or more TFRecord files,
each through `files.atomic_write`.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable, Mapping, Sequence

import tensorflow as tf

from official_bert import files

# Wire-format tags: (field number << 3) | wire type 2 (length-delimited).
TAG_1 = b"\x0a"
TAG_2 = b"\x12"
TAG_3 = b"\x1a"
# The Feature field of each kind of value list.
INT64 = "int64"
FLOAT = "float"
_KIND_TAGS = {INT64: TAG_3, FLOAT: TAG_2}
# int64 values are varints of their 64-bit two's complement.
_UINT64_MASK = (1 << 64) - 1


def varint(value: int) -> bytes:
    """The protobuf varint of an int64 (a negative one takes 10 bytes, as in protobuf)."""
    value &= _UINT64_MASK
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class VarintTable(dict):
    """int -> its varint, computed on first use (for the lengths inside a record)."""

    def __missing__(self, value: int) -> bytes:
        encoded = self[value] = varint(value)
        return encoded


class OrderedExampleEncoder:
    """Serializes tf.train.Examples with their features in a fixed order.

    Feature values are given as Python sequences (`encode`), or, for callers
    that cache parts of a record, as already packed bytes (`entry`, `example`).
    Not thread-safe (it reuses one protobuf list): use one encoder per thread.
    """

    def __init__(self, features: Sequence[tuple[str, str]]):
        """Args:
        features: (name, kind) of every feature, in serialization order; kind is
          `INT64` or `FLOAT`.
        """
        for name, kind in features:
            if kind not in _KIND_TAGS:
                raise ValueError(f"Feature {name!r}: kind {kind!r} is not {INT64!r} or {FLOAT!r}.")
        self.features = tuple(features)
        self.varints = VarintTable()
        # Packs int64 values: protobuf's C encoder is 2-4x faster than a Python
        # table of varints on lists of token ids.
        self._int64_list = tf.train.Int64List()
        self._kinds = dict(self.features)
        self._key_prefixes = {
            name: TAG_1 + varint(len(name.encode())) + name.encode() + TAG_2
            for name, _ in self.features
        }

    def int64_values(self, values: Iterable[int]) -> bytes:
        """The packed varints of int64 values."""
        if type(values) is list or type(values) is tuple:
            # Values in [0, 127] (masks, segment ids, positions) are their own
            # one-byte varints, which `bytes` packs fastest.
            try:
                packed = bytes(values)
            except (ValueError, TypeError):  # a value outside [0, 255], or not an int
                pass
            else:
                if packed.isascii():
                    return packed
        int64_list = self._int64_list
        int64_list.value[:] = values
        serialized = int64_list.SerializeToString()
        # TAG_1, the varint of the packed length, the packed values (nothing if empty).
        start = 2
        while start <= len(serialized) and serialized[start - 1] & 0x80:
            start += 1
        return serialized[start:]

    @staticmethod
    def float_values(values: Sequence[float]) -> bytes:
        """The packed little-endian float32s of float values."""
        return struct.pack(f"<{len(values)}f", *values)

    def entry(self, name: str, packed: bytes) -> bytes:
        """The Features map entry of feature `name`, whose packed values are `packed`."""
        varints = self.varints
        # An empty list is an empty Int64List/FloatList message, as protobuf writes it.
        value_list = TAG_1 + varints[len(packed)] + packed if packed else b""
        feature = _KIND_TAGS[self._kinds[name]] + varints[len(value_list)] + value_list
        entry = self._key_prefixes[name] + varints[len(feature)] + feature
        return TAG_1 + varints[len(entry)] + entry

    def example(self, entries: Iterable[bytes]) -> bytes:
        """The serialized Example of map entries (from `entry`, in the encoder's order)."""
        features = b"".join(entries)
        return TAG_1 + self.varints[len(features)] + features

    def encode(self, values: Mapping[str, Sequence[int] | Sequence[float]]) -> bytes:
        """The serialized Example of every feature's values, in the encoder's order."""
        entries = []
        for name, kind in self.features:
            feature_values = values[name]
            packed = (
                self.int64_values(feature_values)
                if kind == INT64
                else self.float_values(feature_values)
            )
            entries.append(self.entry(name, packed))
        return self.example(entries)


def write_tfrecords(
    output_files: Sequence[str], records: Iterable[bytes], make_dirs: bool = False
) -> list[int]:
    """Writes records round-robin to TFRecord files, all of them atomically.

    Record k goes to output_files[k % len(output_files)], as the original's
    writers do. Each file is written to a hidden temporary name in its folder
    (see `files.atomic_write`) and renamed into place when every record has
    been written; on any error no file is changed and the temporary files are
    removed. Temporary files of killed earlier runs writing the same names are
    removed first.

    Args:
      output_files: the paths (at least one).
      records: serialized records; may be a generator.
      make_dirs: create missing folders (else a missing folder is an error naming it).

    Returns:
      The number of records written to each file.
    """
    if not output_files:
        raise ValueError("write_tfrecords needs at least one output file.")
    for path in output_files:
        directory, basename = os.path.split(path)
        files.remove_stale_temp_files(directory, basename)
    counts = [0] * len(output_files)
    with contextlib.ExitStack() as stack:
        temp_files = [
            stack.enter_context(files.atomic_write(path, make_dirs=make_dirs))
            for path in output_files
        ]
        # Entered after the atomic writes, so closed before they rename.
        writers = [stack.enter_context(tf.io.TFRecordWriter(temp)) for temp in temp_files]
        num_files = len(writers)
        file_index = 0
        for record in records:
            writers[file_index].write(record)
            counts[file_index] += 1
            file_index = file_index + 1 if file_index + 1 < num_files else 0
    return counts
