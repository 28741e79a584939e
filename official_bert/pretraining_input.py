"""The tf.data pipeline over the pretraining TFRecords, as the original's `input_fn_builder`.

Records are the `tf.train.Example`s of `pretraining_records` (written by
create_pretraining_data.py): `input_ids`, `input_mask`, `segment_ids` (int64
[max_seq_length]), `masked_lm_positions`, `masked_lm_ids` (int64
[max_predictions_per_seq]), `masked_lm_weights` (float [max_predictions_per_seq])
and `next_sentence_labels` (int64 [1]). Integers are cast to int32.

Training reads the files in shuffled order, forever, `cycle_length` files at a
time (interleaved, not deterministically), shuffles records in a buffer of 100
and drops the last partial batch. Evaluation reads the files in order, also
forever (the caller bounds it with `max_eval_steps`), without shuffling.

Bad records fail the pipeline with an error naming the file and the record
(counted from 0 in its file), where the original fails with "Can't parse
serialized Example" or "corrupted record at <byte offset>" and no file name:
  * a record whose features do not have the lengths of the flags (or that lacks
    one): every record is checked as its batch is parsed (the batch is parsed
    as variable-length lists, counted per record, then reshaped; measured at
    no slower than the original's per-record fixed-length parse);
  * a truncated or corrupted file: each file is read until its first bad
    record and the bytes read are compared with the file's size, taken with
    one `stat` per file when the pipeline is built.
The errors are `tf.errors.InvalidArgumentError`s raised where the batch is read.

`dataset_fn_builder` returns a function of a `tf.distribute.InputContext` for
`strategy.distribute_datasets_from_function`: per-replica batches, and with
several input pipelines (workers) each reads its own shard of the files, or of
the records when there are fewer files than pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from official_bert import files, pretraining_records
from official_bert.errors import InputError

# The parse spec lives with the record format; importable from here as before.
from official_bert.pretraining_records import name_to_features  # noqa: F401

# Files read in parallel by the training pipeline: the original's num_cpu_threads.
NUM_CPU_THREADS = 4
# Records shuffled together by the training pipeline, as in the original.
SHUFFLE_BUFFER_SIZE = 100
# Records of a file counted at a time by the check for truncated or corrupted files.
READ_BLOCK_RECORDS = 256
# Bytes a TFRecord adds to each record: length (8), its CRC (4) and the data's CRC (4).
TFRECORD_FRAMING_BYTES = 16
# The flag that sets each feature's length (next_sentence_labels has one value).
_LENGTH_FLAGS = {
    "input_ids": "max_seq_length",
    "input_mask": "max_seq_length",
    "segment_ids": "max_seq_length",
    "masked_lm_positions": "max_predictions_per_seq",
    "masked_lm_ids": "max_predictions_per_seq",
    "masked_lm_weights": "max_predictions_per_seq",
}


def decode_record(record: tf.Tensor, spec: dict) -> dict[str, tf.Tensor]:
    """Parses one serialized Example; int64 features become int32 (as the TPU needs)."""
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in example.items()}


def glob_input_files(input_file: str) -> list[str]:
    """`files.expand_input_patterns` of `--input_file` (kept for old callers)."""
    return files.expand_input_patterns(input_file, flag="--input_file")


def check_record_shapes(
    input_files: list[str], max_seq_length: int, max_predictions_per_seq: int
) -> None:
    """Checks that the first record of each file has the lengths of the flags.

    Gives the flag to pass before training starts; the pipeline checks every
    record as it reads it.

    Raises:
      InputError: a file is empty or not pretraining data, or its
        max_seq_length or max_predictions_per_seq differs from the flags
        (naming the file and both values).
    """
    for path in input_files:
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.OpError as error:
            raise InputError(f"Cannot read the TFRecord file {path}: {error.message}") from error
        if first is None:
            raise InputError(f"The TFRecord file {path} holds no records.")
        example = tf.train.Example.FromString(first.numpy())
        feature = example.features.feature
        for name in ("input_ids", "masked_lm_positions"):
            if name not in feature:
                raise InputError(
                    f"{path} is not pretraining data: its records have no `{name}` feature "
                    "(create it with create_pretraining_data.py)."
                )
        lengths = {
            "max_seq_length": (len(feature["input_ids"].int64_list.value), max_seq_length),
            "max_predictions_per_seq": (
                len(feature["masked_lm_positions"].int64_list.value),
                max_predictions_per_seq,
            ),
        }
        for flag, (in_file, in_flag) in lengths.items():
            if in_file != in_flag:
                raise InputError(
                    f"{path} was written with {flag}={in_file} but --{flag}={in_flag}; "
                    f"pass --{flag}={in_file} (it must match data generation)."
                )


def _fail_unless(ok: tf.Tensor, message: Callable[[], tf.Tensor]) -> tf.Tensor:
    """An op raising InvalidArgumentError(`message()`) when `ok` is False.

    The message is built only on failure.
    """

    def fail() -> tf.Tensor:
        with tf.control_dependencies([tf.debugging.Assert(ok, [message()])]):
            return tf.identity(ok)

    return tf.cond(ok, lambda: tf.identity(ok), fail)


def _records_of_file(path: tf.Tensor, size: tf.Tensor) -> tf.data.Dataset:
    """(path, index, record) of each record of one TFRecord file, in order.

    Ends with an error naming the file and the first record that cannot be read
    when the file is truncated or corrupted: the reader stops at the first bad
    record, and then the bytes read fall short of the file's `size`. The count
    runs over blocks of READ_BLOCK_RECORDS records: a function per record would
    cost more than the parsing.
    """
    blocks = tf.data.TFRecordDataset(path).ignore_errors().batch(READ_BLOCK_RECORDS)
    # An empty block marks the end of the file (`batch` never gives one).
    blocks = blocks.concatenate(tf.data.Dataset.from_tensors(tf.zeros([0], tf.string)))

    def count(state, block):
        index, offset = state
        num_records = tf.size(block, out_type=tf.int64)
        framed = tf.reduce_sum(tf.strings.length(block, unit="BYTE"))
        framed = tf.cast(framed, tf.int64) + TFRECORD_FRAMING_BYTES * num_records

        def message():
            return tf.strings.join(
                [
                    path,
                    " is truncated or corrupted: its record ",
                    tf.strings.as_string(index),
                    " (counting from 0) cannot be read; the records before it hold ",
                    tf.strings.as_string(offset),
                    " of its ",
                    tf.strings.as_string(size),
                    " bytes. Copy or write the file again (create_pretraining_data.py).",
                ]
            )

        at_end = tf.equal(num_records, 0)
        ok = tf.logical_or(tf.logical_not(at_end), tf.equal(offset, size))
        with tf.control_dependencies([_fail_unless(ok, message)]):
            indices = index + tf.range(num_records)
        paths = tf.fill([num_records], path)
        return (index + num_records, offset + framed), (paths, indices, block)

    zero = tf.constant(0, tf.int64)
    return blocks.scan((zero, zero), count).unbatch()


def _parse_batch(
    paths: tf.Tensor,
    indices: tf.Tensor,
    records: tf.Tensor,
    batch_size: int,
    max_seq_length: int,
    max_predictions_per_seq: int,
) -> dict[str, tf.Tensor]:
    """Parses a batch of records, checking that every feature has its length.

    Args:
      paths, indices: string / int64 Tensors of shape [batch_size]: the file
        and index (from 0) of each record, for the error message.
      records: string Tensor of shape [batch_size], serialized Examples.

    Returns:
      int32 (masked_lm_weights: float32) Tensors of shape [batch_size, length].
    """
    spec = pretraining_records.name_to_features(max_seq_length, max_predictions_per_seq)
    parsed = tf.io.parse_example(
        records, {name: tf.io.VarLenFeature(feature.dtype) for name, feature in spec.items()}
    )
    features = {}
    for name, sparse in parsed.items():
        length = spec[name].shape[0]
        counts = tf.math.bincount(
            tf.cast(sparse.indices[:, 0], tf.int32),
            minlength=batch_size,
            maxlength=batch_size,
            dtype=tf.int64,
        )
        bad = tf.not_equal(counts, length)
        flag = _LENGTH_FLAGS.get(name)
        needs = f"--{flag}={length}" if flag else "the format"

        def message(bad=bad, counts=counts, name=name, needs=needs, length=length):
            first = tf.argmax(tf.cast(bad, tf.int32))
            return tf.strings.join(
                [
                    paths[first],
                    ": record ",
                    tf.strings.as_string(indices[first]),
                    f" (counting from 0) has {name} of length ",
                    tf.strings.as_string(counts[first]),
                    f", but {needs} needs {length} values. Pass the flags the file was "
                    "written with (create_pretraining_data.py), or write it again.",
                ]
            )

        with tf.control_dependencies([_fail_unless(tf.logical_not(tf.reduce_any(bad)), message)]):
            values = tf.reshape(sparse.values, [batch_size, length])
        features[name] = tf.cast(values, tf.int32) if values.dtype == tf.int64 else values
    return features


def make_dataset(
    input_files: list[str],
    max_seq_length: int,
    max_predictions_per_seq: int,
    is_training: bool,
    batch_size: int,
    input_context: tf.distribute.InputContext | None = None,
    num_cpu_threads: int = NUM_CPU_THREADS,
    seed: int | None = None,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """Batches of decoded pretraining features (see the module docstring).

    Args:
      input_files: TFRecord paths.
      max_seq_length, max_predictions_per_seq: the lengths written in the records.
      is_training: shuffled and interleaved (True) or in file order (False).
      batch_size: examples per batch (per replica under tf.distribute).
      input_context: with several input pipelines, this pipeline's shard is read.
      num_cpu_threads: at most this many files are read in parallel.
      seed: with a seed, training input is the same stream in every run (files
        and records shuffled with it, files interleaved in a fixed order);
        None is the original's unseeded input.
      skip_batches: with a seed, this many batches of this pipeline are
        skipped (as raw records, before parsing): a resumed run continues
        the stream where the checkpoint left it.

    Returns:
      A `tf.data.Dataset` of dicts of int32 / float32 Tensors
      `[batch_size, max_seq_length]` / `[batch_size, max_predictions_per_seq]` /
      `[batch_size, 1]`, repeating forever, every batch full.
    """
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    shard_files = num_pipelines > 1 and len(input_files) >= num_pipelines
    sizes = _file_sizes(input_files)
    if is_training:
        files_and_sizes = tf.data.Dataset.from_tensor_slices(
            (tf.constant(input_files, tf.string), tf.constant(sizes, tf.int64))
        )
        if shard_files:
            files_and_sizes = files_and_sizes.shard(num_pipelines, pipeline_id)
            num_files = len(input_files[pipeline_id::num_pipelines])
        else:
            num_files = len(input_files)
        files_and_sizes = files_and_sizes.repeat().shuffle(buffer_size=num_files, seed=seed)
        d = files_and_sizes.interleave(
            _records_of_file,
            cycle_length=min(num_cpu_threads, num_files),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=seed is not None,
        )
        if num_pipelines > 1 and not shard_files:
            d = d.shard(num_pipelines, pipeline_id)
        d = d.shuffle(buffer_size=SHUFFLE_BUFFER_SIZE, seed=seed)
        if seed is not None and skip_batches:
            d = d.skip(skip_batches * batch_size)
    else:
        if shard_files:
            input_files = input_files[pipeline_id::num_pipelines]
            sizes = sizes[pipeline_id::num_pipelines]
        d = tf.data.Dataset.from_tensor_slices(
            (tf.constant(input_files, tf.string), tf.constant(sizes, tf.int64))
        ).flat_map(_records_of_file)
        if num_pipelines > 1 and not shard_files:
            d = d.shard(num_pipelines, pipeline_id)
        d = d.repeat()
    # Batching the records, then parsing a batch at once, gives the original's
    # batches (it parses each record, then batches).
    d = d.batch(batch_size, drop_remainder=True)
    d = d.map(
        lambda paths, indices, records: _parse_batch(
            paths, indices, records, batch_size, max_seq_length, max_predictions_per_seq
        ),
        num_parallel_calls=num_cpu_threads,
        deterministic=not is_training or seed is not None,
    )
    return d.prefetch(tf.data.AUTOTUNE)


def _file_sizes(input_files: Sequence[str]) -> list[int]:
    """The size in bytes of each file (one `stat` each)."""
    sizes = []
    for path in input_files:
        try:
            sizes.append(tf.io.gfile.stat(path).length)
        except tf.errors.NotFoundError as error:
            raise InputError(f"--input_file: {path} does not exist.") from error
    return sizes


def dataset_fn_builder(
    input_files: list[str],
    max_seq_length: int,
    max_predictions_per_seq: int,
    is_training: bool,
    global_batch_size: int,
    num_cpu_threads: int = NUM_CPU_THREADS,
    seed: int | None = None,
    start_step: Callable[[], int] | None = None,
) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A dataset function for `strategy.distribute_datasets_from_function` (or `Trainer`).

    The function makes per-replica batches of `global_batch_size / replicas`.
    With a `seed`, the training stream is the same in every run and the
    batches of the `start_step()` steps already trained are skipped, so a run
    resumed from a checkpoint sees exactly what an uninterrupted run would.
    Without one, a resumed run restarts its input, as the original did.
    """

    def dataset_fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        batch_size, batches_per_step = global_batch_size, 1
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(global_batch_size)
            batches_per_step = (
                input_context.num_replicas_in_sync // input_context.num_input_pipelines
            )
        skip = start_step() * batches_per_step if seed is not None and start_step else 0
        return make_dataset(
            input_files,
            max_seq_length,
            max_predictions_per_seq,
            is_training,
            batch_size,
            input_context,
            num_cpu_threads,
            seed=seed,
            skip_batches=skip,
        )

    return dataset_fn
