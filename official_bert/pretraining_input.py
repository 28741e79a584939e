"""The tf.data pipeline over the pretraining TFRecords, as the original's `input_fn_builder`.

Records are the `tf.train.Example`s written by create_pretraining_data.py:
`input_ids`, `input_mask`, `segment_ids` (int64 [max_seq_length]),
`masked_lm_positions`, `masked_lm_ids` (int64 [max_predictions_per_seq]),
`masked_lm_weights` (float [max_predictions_per_seq]) and
`next_sentence_labels` (int64 [1]). Integers are cast to int32.

Training reads the files in shuffled order, forever, `cycle_length` files at a
time (interleaved, not deterministically), shuffles records in a buffer of 100
and drops the last partial batch. Evaluation reads the files in order, also
forever (the caller bounds it with `max_eval_steps`), without shuffling.

`dataset_fn_builder` returns a function of a `tf.distribute.InputContext` for
`strategy.distribute_datasets_from_function`: per-replica batches, and with
several input pipelines (workers) each reads its own shard of the files, or of
the records when there are fewer files than pipelines.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

# Files read in parallel by the training pipeline: the original's num_cpu_threads.
NUM_CPU_THREADS = 4
# Records shuffled together by the training pipeline, as in the original.
SHUFFLE_BUFFER_SIZE = 100


def name_to_features(max_seq_length: int, max_predictions_per_seq: int) -> dict:
    """The parsing spec of a pretraining record."""
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


def decode_record(record: tf.Tensor, spec: dict) -> dict[str, tf.Tensor]:
    """Parses one serialized Example; int64 features become int32 (as the TPU needs)."""
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in example.items()}


def glob_input_files(input_file: str) -> list[str]:
    """Expands `--input_file`: comma-separated globs, each of which must match a file.

    Raises:
      ValueError: the flag is empty, or a glob matches no file (naming it).
    """
    if not input_file:
        raise ValueError("--input_file must name the pretraining TFRecord files.")
    files: list[str] = []
    for pattern in input_file.split(","):
        pattern = pattern.strip()
        if not pattern:
            continue
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise ValueError(
                f"--input_file: no file matches {pattern!r}. Check the path, or create "
                "the TFRecords with create_pretraining_data.py."
            )
        files.extend(matched)
    return files


def check_record_shapes(
    input_files: list[str], max_seq_length: int, max_predictions_per_seq: int
) -> None:
    """Checks that the first record of each file has the lengths of the flags.

    Raises:
      ValueError: a file is empty or not pretraining data, or its
        max_seq_length or max_predictions_per_seq differs from the flags
        (naming the file and both values).
    """
    for path in input_files:
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.OpError as error:
            raise ValueError(f"Cannot read the TFRecord file {path}: {error.message}") from error
        if first is None:
            raise ValueError(f"The TFRecord file {path} holds no records.")
        example = tf.train.Example.FromString(first.numpy())
        feature = example.features.feature
        for name in ("input_ids", "masked_lm_positions"):
            if name not in feature:
                raise ValueError(
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
                raise ValueError(
                    f"{path} was written with {flag}={in_file} but --{flag}={in_flag}; "
                    f"pass --{flag}={in_file} (it must match data generation)."
                )


def make_dataset(
    input_files: list[str],
    max_seq_length: int,
    max_predictions_per_seq: int,
    is_training: bool,
    batch_size: int,
    input_context: tf.distribute.InputContext | None = None,
    num_cpu_threads: int = NUM_CPU_THREADS,
) -> tf.data.Dataset:
    """Batches of decoded pretraining features (see the module docstring).

    Args:
      input_files: TFRecord paths.
      max_seq_length, max_predictions_per_seq: the lengths written in the records.
      is_training: shuffled and interleaved (True) or in file order (False).
      batch_size: examples per batch (per replica under tf.distribute).
      input_context: with several input pipelines, this pipeline's shard is read.
      num_cpu_threads: at most this many files are read in parallel.

    Returns:
      A `tf.data.Dataset` of dicts of int32 / float32 Tensors
      `[batch_size, max_seq_length]` / `[batch_size, max_predictions_per_seq]` /
      `[batch_size, 1]`, repeating forever, every batch full.
    """
    spec = name_to_features(max_seq_length, max_predictions_per_seq)
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    shard_files = num_pipelines > 1 and len(input_files) >= num_pipelines
    if is_training:
        files = tf.data.Dataset.from_tensor_slices(tf.constant(input_files))
        if shard_files:
            files = files.shard(num_pipelines, pipeline_id)
            num_files = len(input_files[pipeline_id::num_pipelines])
        else:
            num_files = len(input_files)
        files = files.repeat().shuffle(buffer_size=num_files)
        d = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(num_cpu_threads, num_files),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=False,
        )
        if num_pipelines > 1 and not shard_files:
            d = d.shard(num_pipelines, pipeline_id)
        d = d.shuffle(buffer_size=SHUFFLE_BUFFER_SIZE)
    else:
        files = input_files[pipeline_id::num_pipelines] if shard_files else input_files
        d = tf.data.TFRecordDataset(files)
        if num_pipelines > 1 and not shard_files:
            d = d.shard(num_pipelines, pipeline_id)
        d = d.repeat()
    d = d.map(
        lambda record: decode_record(record, spec),
        num_parallel_calls=num_cpu_threads,
        deterministic=not is_training,
    )
    d = d.batch(batch_size, drop_remainder=True)
    return d.prefetch(tf.data.AUTOTUNE)


def dataset_fn_builder(
    input_files: list[str],
    max_seq_length: int,
    max_predictions_per_seq: int,
    is_training: bool,
    global_batch_size: int,
    num_cpu_threads: int = NUM_CPU_THREADS,
) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A dataset function for `strategy.distribute_datasets_from_function` (or `Trainer`).

    The function makes per-replica batches of `global_batch_size / replicas`.
    """

    def dataset_fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        batch_size = global_batch_size
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        return make_dataset(
            input_files,
            max_seq_length,
            max_predictions_per_seq,
            is_training,
            batch_size,
            input_context,
            num_cpu_threads,
        )

    return dataset_fn
