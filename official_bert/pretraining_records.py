"""The pretraining record format: features, their order, parse spec, encoder and writer.

One `tf.train.Example` per instance, as the original's `create_pretraining_data.py`
writes them and its `run_pretraining.py` reads them:

  input_ids, input_mask, segment_ids   int64 [max_seq_length], zero padded
  masked_lm_positions, masked_lm_ids   int64 [max_predictions_per_seq], zero padded
  masked_lm_weights                    float [max_predictions_per_seq], 1.0 per prediction
  next_sentence_labels                 int64 [1], 1 if segment B is a random next

`create_pretraining_data` writes them (`RecordEncoder`, `write_records`) and
`pretraining_input` parses them (`name_to_features`).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from absl import logging

from official_bert import records
from official_bert.errors import InputError

if TYPE_CHECKING:
    from official_bert.tokenization import Tokenizer

# The order of the features inside the original's serialized records (the protobuf
# map order of the library it ran with; every record of the golden files has it).
# Any order parses to the same tf.train.Example; this one gives identical bytes.
FEATURE_ORDER = (
    "masked_lm_ids",
    "input_ids",
    "masked_lm_positions",
    "next_sentence_labels",
    "input_mask",
    "masked_lm_weights",
    "segment_ids",
)
# Every feature is an int64 list but this one.
FLOAT_FEATURES = ("masked_lm_weights",)
# The features as the original lists them (its logging and parse order).
FEATURE_NAMES = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)
# The original logs the first 20 written instances.
NUM_LOGGED_EXAMPLES = 20


def name_to_features(max_seq_length: int, max_predictions_per_seq: int) -> dict:
    """The parsing spec of a pretraining record (`tf.io.parse_example`)."""
    import tensorflow as tf

    seq = tf.io.FixedLenFeature([max_seq_length], tf.int64)
    pred = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    return {
        "input_ids": seq,
        "input_mask": seq,
        "segment_ids": seq,
        "masked_lm_positions": pred,
        "masked_lm_ids": pred,
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


@dataclasses.dataclass
class TrainingInstance:
    """A single training instance (sentence pair), as token ids without padding.

    Attributes:
      input_ids: ids of `[CLS] A [SEP] B [SEP]` after masking.
      segment_ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`; as long as input_ids.
      masked_lm_positions: the masked positions, ascending.
      masked_lm_ids: the original token id at each masked position.
      is_random_next: whether B was drawn from another document.
    """

    input_ids: list[int]
    segment_ids: list[int]
    masked_lm_positions: list[int]
    masked_lm_ids: list[int]
    is_random_next: bool


_FLOAT_ONE = struct.pack("<f", 1.0)
_FLOAT_ZERO = struct.pack("<f", 0.0)


class RecordEncoder:
    """Encodes instances as the serialized tf.train.Example the original writes.

    Padding as in the original: input_ids, input_mask and segment_ids with 0 to
    max_seq_length; masked_lm_positions and masked_lm_ids with 0 and
    masked_lm_weights with 0.0 to max_predictions_per_seq. The features come in
    FEATURE_ORDER, so the bytes equal the original's.

    Until the final shuffle the instances are held `pack`ed: a 21-byte header and
    the varints of the unpadded ids, about a quarter of the padded record at
    max_seq_length=128.
    """

    # num_tokens, num_segment_a, num_masked, input_ids bytes, positions bytes, is_random_next.
    _HEADER = struct.Struct("<IIIII?")

    def __init__(self, max_seq_length: int, max_predictions_per_seq: int, max_id: int):
        """Args:
        max_seq_length: length input_ids, input_mask and segment_ids are padded to.
        max_predictions_per_seq: length the masked LM features are padded to.
        max_id: the largest token id (no longer needed; kept for old callers).
        """
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self._encoder = records.OrderedExampleEncoder(
            [
                (name, records.FLOAT if name in FLOAT_FEATURES else records.INT64)
                for name in FEATURE_ORDER
            ]
        )
        self._mask_entries: dict[int, bytes] = {}
        self._weight_entries: dict[int, bytes] = {}
        entry = self._encoder.entry
        self._label_entries = {
            label: entry("next_sentence_labels", bytes([label])) for label in (0, 1)
        }

    def pack(self, instance: TrainingInstance) -> bytes:
        """The compact in-memory form of an instance."""
        num_tokens = len(instance.input_ids)
        num_masked = len(instance.masked_lm_positions)
        if num_tokens > self.max_seq_length or num_masked > self.max_predictions_per_seq:
            raise ValueError(
                f"An instance of {num_tokens} tokens and {num_masked} predictions does not fit "
                f"max_seq_length={self.max_seq_length}, "
                f"max_predictions_per_seq={self.max_predictions_per_seq}."
            )
        int64_values = self._encoder.int64_values
        ids = int64_values(instance.input_ids)
        positions = int64_values(instance.masked_lm_positions)
        header = self._HEADER.pack(
            num_tokens,
            instance.segment_ids.count(0),
            num_masked,
            len(ids),
            len(positions),
            instance.is_random_next,
        )
        return b"".join((header, ids, positions, int64_values(instance.masked_lm_ids)))

    def record_from_packed(self, packed: bytes) -> bytes:
        """The serialized tf.train.Example of a packed instance."""
        num_tokens, num_a, num_masked, ids_size, positions_size, is_random_next = (
            self._HEADER.unpack_from(packed)
        )
        ids_end = self._HEADER.size + ids_size
        positions_end = ids_end + positions_size
        zeros = b"\x00" * (self.max_seq_length - num_tokens)
        pred_zeros = b"\x00" * (self.max_predictions_per_seq - num_masked)
        entry = self._encoder.entry
        mask_entry = self._mask_entries.get(num_tokens)
        if mask_entry is None:
            mask_entry = entry("input_mask", b"\x01" * num_tokens + zeros)
            self._mask_entries[num_tokens] = mask_entry
        weight_entry = self._weight_entries.get(num_masked)
        if weight_entry is None:
            weights = _FLOAT_ONE * num_masked + _FLOAT_ZERO * len(pred_zeros)
            weight_entry = self._weight_entries[num_masked] = entry("masked_lm_weights", weights)
        segment_ids = b"\x00" * num_a + b"\x01" * (num_tokens - num_a) + zeros
        # In FEATURE_ORDER.
        return self._encoder.example(
            (
                entry("masked_lm_ids", packed[positions_end:] + pred_zeros),
                entry("input_ids", packed[self._HEADER.size : ids_end] + zeros),
                entry("masked_lm_positions", packed[ids_end:positions_end] + pred_zeros),
                self._label_entries[is_random_next],
                mask_entry,
                weight_entry,
                entry("segment_ids", segment_ids),
            )
        )

    def encode(self, instance: TrainingInstance) -> bytes:
        """The serialized tf.train.Example of an instance."""
        return self.record_from_packed(self.pack(instance))


# ---------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------


def log_example(record: bytes, id_to_token: Mapping[int, str]) -> None:
    """Logs a record's tokens and features, as the original does for its first ones."""
    import tensorflow as tf

    features = tf.train.Example.FromString(record).features.feature
    num_tokens = sum(features["input_mask"].int64_list.value)
    input_ids = features["input_ids"].int64_list.value[:num_tokens]
    logging.info("*** Example ***")
    logging.info("tokens: %s", " ".join(id_to_token.get(i, "?") for i in input_ids))
    for name in FEATURE_NAMES:
        feature = features[name]
        values = feature.int64_list.value or feature.float_list.value
        logging.info("%s: %s", name, " ".join(str(v) for v in values))


def check_output_files(output_files: Sequence[str]) -> None:
    """Raises InputError for an empty list, an empty entry or a repeated file."""
    if not output_files or any(not path for path in output_files):
        raise InputError(f"--output_file={','.join(output_files)!r} has an empty entry.")
    if len(set(output_files)) != len(output_files):
        raise InputError(f"--output_file={','.join(output_files)!r} names a file twice.")


def write_records(
    records_or_packed: Sequence,
    output_files: Sequence[str],
    to_record: Callable[[object], bytes] | None = None,
    id_to_token: Mapping[int, str] | None = None,
    on_written: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Writes records round-robin to the output files, all of them atomically.

    Record k goes to output_files[k % len(output_files)] (see
    `records.write_tfrecords`: hidden temporary files, renamed when all are
    complete; on an error no output file changes). Missing folders are created.

    Args:
      records_or_packed: the records (or packed instances, with `to_record`), in order.
      output_files: the paths.
      to_record: optional function from an element of `records_or_packed` to its bytes.
      id_to_token: if given, the first NUM_LOGGED_EXAMPLES records are logged.
      on_written: called with the number of records written so far, after each one.

    Returns:
      The number of records written to each file.
    """
    check_output_files(output_files)
    to_record = to_record or (lambda r: r)

    def serialized():
        for k, item in enumerate(records_or_packed):
            record = to_record(item)
            if id_to_token is not None and k < NUM_LOGGED_EXAMPLES:
                log_example(record, id_to_token)
            yield record
            if on_written is not None:
                on_written(k + 1)

    counts = records.write_tfrecords(output_files, serialized(), make_dirs=True)
    logging.info("Wrote %d total instances", sum(counts))
    return dict(zip(output_files, counts))


def write_instance_to_example_files(
    instances: Sequence[TrainingInstance],
    tokenizer: Tokenizer,
    max_seq_length: int,
    max_predictions_per_seq: int,
    output_files: Sequence[str],
) -> None:
    """Writes `TrainingInstance`s as tf.train.Example records, round-robin (the original's API)."""
    encoder = RecordEncoder(max_seq_length, max_predictions_per_seq, max(tokenizer.vocab.values()))
    write_records(instances, output_files, to_record=encoder.encode)
