"""In-graph input preprocessing: raw text to the original's `input_ids`, `input_mask`, `segment_ids`.

`BertPackInputs` is a Keras layer that packs the word-piece ids of one or two
segments exactly as the original's `convert_single_example`
(`official_bert.classifier_features`) builds features:

- a pair is truncated as `truncate_seq_pair` does (one token at a time from the
  end of the longer segment, from `tokens_b` on a tie) to `max_seq_length - 3`
  tokens, for `[CLS] a [SEP] b [SEP]`;
- a single segment, and a pair whose second segment has no tokens (the original
  tests `if tokens_b:`), is cut to `max_seq_length - 2` tokens, for `[CLS] a [SEP]`;
- segment ids are 0 for `[CLS] a [SEP]`, 1 for `b [SEP]`; the mask is 1 on the
  real tokens; ids, mask and segment ids are padded with 0 to `max_seq_length`.

`BertPreprocessor` is `TFTextTokenizer` (the in-graph tokenizer with
`FullTokenizer`'s ids) followed by `BertPackInputs`: TensorFlow ops only, so it
runs in `tf.data`, in `tf.function` and inside a SavedModel (`official_bert.export`).

    preprocessor = BertPreprocessor("vocab.txt", do_lower_case=True, max_seq_length=128)
    features = preprocessor(["the first text"], ["and its pair"])  # int32 [1, 128] each
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from official_bert.errors import InputError
from official_bert.tf_tokenization import TFTextTokenizer
from official_bert.tokenization import load_vocab

CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
# The original pads ids, mask and segment ids with the number 0 (not the id of [PAD]).
PADDING_ID = 0
# The shortest features `convert_single_example` accepts (its check): [CLS] a [SEP]
# with one token of a (a pair then keeps no token of either text).
MIN_SEQ_LENGTH = 3
# The features, by the original's names, in the order `convert_single_example` returns them.
FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids")


def special_token_ids(vocab: Mapping[str, int], vocab_file: str | os.PathLike) -> tuple[int, int]:
    """The ids of [CLS] and [SEP] in `vocab` (read from `vocab_file`).

    Raises:
      InputError: a token is missing (the original would fail with a KeyError).
    """
    missing = [token for token in (CLS_TOKEN, SEP_TOKEN) if token not in vocab]
    if missing:
        raise InputError(
            f"Vocabulary file {os.fspath(vocab_file)!r} has no {' or '.join(missing)} token; "
            "BERT's inputs need both. Use the vocab.txt released with the model."
        )
    return vocab[CLS_TOKEN], vocab[SEP_TOKEN]


def truncated_lengths(
    len_a: tf.Tensor, len_b: tf.Tensor, max_length: tf.Tensor | int
) -> tuple[tf.Tensor, tf.Tensor]:
    """The lengths `truncate_seq_pair` leaves, for a batch of pairs, without a loop.

    The original pops from the longer segment (from b on a tie) until the pair
    fits. If the shorter segment is at most half of `max_length`, only the
    longer one loses tokens, down to `max_length - shorter`. Otherwise the
    longer one comes down to the shorter's length first, and then the two lose
    tokens in turn, b first: a keeps ceil(max_length / 2), b floor(max_length / 2).

    Args:
      len_a, len_b: int Tensors of shape [batch_size], the segments' lengths.
      max_length: scalar, the most tokens the pair may keep (>= 0).

    Returns:
      (len_a, len_b) after truncation, Tensors of the input dtype and shape.
    """
    max_length = tf.cast(max_length, len_a.dtype)
    fits = len_a + len_b <= max_length
    only_longer_shrinks = 2 * tf.minimum(len_a, len_b) <= max_length
    half_b = max_length // 2
    half_a = max_length - half_b
    a_is_shorter = len_a < len_b  # equal lengths that do not fit never shrink only one
    new_a = tf.where(
        fits,
        len_a,
        tf.where(only_longer_shrinks, tf.where(a_is_shorter, len_a, max_length - len_b), half_a),
    )
    new_b = tf.where(
        fits,
        len_b,
        tf.where(only_longer_shrinks, tf.where(a_is_shorter, max_length - len_a, len_b), half_b),
    )
    return new_a, new_b


def _as_token_rows(ids: Any) -> tf.RaggedTensor:
    """Word-piece ids as an int32 RaggedTensor [batch_size, (tokens)] with int64 row splits.

    Accepts [batch_size, (tokens)] or [batch_size, (words), (pieces)] (as
    tokenizers that keep words give), of any integer dtype.
    """
    if not isinstance(ids, tf.RaggedTensor):
        raise TypeError(
            "BertPackInputs wants RaggedTensors of token ids, [batch_size, (tokens)] "
            f"(e.g. TFTextTokenizer.tokenize's output), got {type(ids).__name__}."
        )
    if ids.ragged_rank > 1:
        ids = ids.merge_dims(1, -1)
    if ids.flat_values.shape.rank != 1:
        raise ValueError(f"BertPackInputs wants token ids of rank 2 or 3, got {ids.shape}.")
    ids = ids.with_row_splits_dtype(tf.int64)
    return ids.with_flat_values(tf.cast(ids.flat_values, tf.int32))


def _first_tokens(ids: tf.RaggedTensor, keep: tf.Tensor) -> tf.RaggedTensor:
    """Row i cut to its first `keep[i]` tokens."""
    position = tf.ragged.range(ids.row_lengths(), dtype=tf.int64)  # [B, (tokens)]
    return tf.ragged.boolean_mask(ids, position < tf.expand_dims(keep, 1))


def _column(value: int, lengths: tf.Tensor) -> tf.RaggedTensor:
    """A RaggedTensor [batch_size, (0 or 1)] holding `value` where `lengths` is 1."""
    lengths = tf.cast(lengths, tf.int64)
    values = tf.fill([tf.reduce_sum(lengths)], tf.constant(value, tf.int32))
    return tf.RaggedTensor.from_row_lengths(values, lengths, validate=False)


def pack_inputs(
    segments: Sequence[tf.RaggedTensor],
    max_seq_length: tf.Tensor | int,
    cls_id: int,
    sep_id: int,
) -> dict[str, tf.Tensor]:
    """The original's features of one or two segments of token ids (see the module doc).

    Args:
      segments: 1 or 2 RaggedTensors of token ids, [batch_size, (tokens)] or
        [batch_size, (words), (pieces)], with the same batch size.
      max_seq_length: int or scalar int Tensor (>= 3), the length of the features.
      cls_id, sep_id: the vocabulary's ids of [CLS] and [SEP].

    Returns:
      {"input_ids", "input_mask", "segment_ids"}: int32 Tensors [batch_size,
      max_seq_length], equal to `convert_single_example`'s features.
    """
    if not 1 <= len(segments) <= 2:
        raise ValueError(f"BertPackInputs packs 1 or 2 segments, got {len(segments)}.")
    if isinstance(max_seq_length, int) and max_seq_length < MIN_SEQ_LENGTH:
        raise ValueError(f"max_seq_length must be at least {MIN_SEQ_LENGTH}, got {max_seq_length}.")
    static_length = max_seq_length if isinstance(max_seq_length, int) else None
    max_seq_length = tf.cast(max_seq_length, tf.int64)
    ids_a = _as_token_rows(segments[0])
    len_a = ids_a.row_lengths()
    single_a = tf.minimum(len_a, max_seq_length - 2)  # room for [CLS] and [SEP]
    if len(segments) == 2:
        ids_b = _as_token_rows(segments[1])
        len_b = ids_b.row_lengths()
        # `if tokens_b:` in the original: a pair whose b has no tokens is packed as a single.
        has_b = len_b > 0
        pair_a, pair_b = truncated_lengths(len_a, len_b, max_seq_length - 3)
        keep_a = tf.where(has_b, pair_a, single_a)
        keep_b = tf.where(has_b, pair_b, tf.zeros_like(len_b))
    else:
        has_b = tf.zeros_like(len_a, dtype=tf.bool)
        keep_a = single_a
    ones = tf.ones_like(len_a)
    parts = [_column(cls_id, ones), _first_tokens(ids_a, keep_a), _column(sep_id, ones)]
    type_ids = [tf.zeros_like(part) for part in parts]
    if len(segments) == 2:
        b_parts = [_first_tokens(ids_b, keep_b), _column(sep_id, tf.cast(has_b, tf.int64))]
        parts += b_parts
        type_ids += [tf.ones_like(part) for part in b_parts]
    ids = tf.concat(parts, axis=1)  # [B, (tokens)], at most max_seq_length each
    shape = [None, static_length]

    def dense(rows: tf.RaggedTensor) -> tf.Tensor:
        padded = rows.to_tensor(PADDING_ID)  # [B, longest]
        padded = tf.pad(padded, [[0, 0], [0, max_seq_length - tf.shape(padded, tf.int64)[1]]])
        return tf.ensure_shape(padded, shape)

    return {
        "input_ids": dense(ids),
        "input_mask": dense(tf.ones_like(ids)),
        "segment_ids": dense(tf.concat(type_ids, axis=1)),
    }


@keras.saving.register_keras_serializable(package="official_bert")
class BertPackInputs(keras.layers.Layer):
    """Packs token ids of one or two segments into the original's features.

    Exactly `classifier_features.convert_single_example`'s `input_ids`,
    `input_mask` and `segment_ids` (see the module doc), from the ids
    `TFTextTokenizer.tokenize` gives. No variables.

    Args:
      max_seq_length: the length of the features, [CLS] and [SEP]s included (>= 3).
      cls_id, sep_id: the vocabulary's ids of [CLS] and [SEP] (see `from_vocab`).
    """

    def __init__(self, max_seq_length: int, cls_id: int, sep_id: int, **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        if max_seq_length < MIN_SEQ_LENGTH:
            raise InputError(
                f"max_seq_length must be at least {MIN_SEQ_LENGTH} ([CLS] a [SEP]), got "
                f"{max_seq_length}."
            )
        self.max_seq_length = int(max_seq_length)
        self.cls_id = int(cls_id)
        self.sep_id = int(sep_id)
        # Ragged inputs pass through Keras untouched, as keras-hub's preprocessing layers.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @classmethod
    def from_vocab(
        cls, vocab_file: str | os.PathLike, max_seq_length: int, **kwargs
    ) -> BertPackInputs:
        """The packer for the [CLS] and [SEP] of `vocab_file`."""
        cls_id, sep_id = special_token_ids(load_vocab(vocab_file), vocab_file)
        return cls(max_seq_length, cls_id, sep_id, **kwargs)

    def call(
        self, inputs: tf.RaggedTensor | Sequence[tf.RaggedTensor], max_seq_length: Any = None
    ) -> dict[str, tf.Tensor]:
        """Packs a batch.

        Args:
          inputs: a RaggedTensor of token ids [batch_size, (tokens)] (or
            [batch_size, (words), (pieces)]), or a list of one or two of them
            (text_a's ids, text_b's ids).
          max_seq_length: optional int or scalar int Tensor overriding the
            layer's length for this call.

        Returns:
          {"input_ids", "input_mask", "segment_ids"}: int32 [batch_size, max_seq_length].
        """
        segments = [inputs] if isinstance(inputs, tf.RaggedTensor) else list(inputs)
        if max_seq_length is None:
            max_seq_length = self.max_seq_length
        return pack_inputs(segments, max_seq_length, self.cls_id, self.sep_id)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_seq_length": self.max_seq_length,
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
        }


class BertPreprocessor(tf.Module):
    """Raw text to the original's features: `TFTextTokenizer` then `BertPackInputs`.

    TensorFlow and tensorflow-text ops only: use it in `tf.data.Dataset.map`,
    in a `tf.function` or inside a SavedModel. The features equal
    `FullTokenizer` + `classifier_features.convert_single_example`, id for id.
    Strings that are not valid UTF-8 lose their invalid bytes, as the
    original's `convert_to_unicode` (errors="ignore").

    Args:
      vocab_file: the vocabulary the model was trained with.
      do_lower_case: as the model was trained (True for uncased models).
      max_seq_length: the length of the features.
      name: the tf.Module's name.

    Raises:
      InputError: the vocabulary is missing, not UTF-8, or lacks [UNK], [CLS] or [SEP];
        `max_seq_length` < 3.
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        do_lower_case: bool = True,
        max_seq_length: int = 128,
        name: str | None = "bert_preprocessor",
    ):
        super().__init__(name=name)
        cls_id, sep_id = special_token_ids(load_vocab(vocab_file), vocab_file)
        self.tokenizer = TFTextTokenizer(vocab_file, do_lower_case=do_lower_case)
        self.packer = BertPackInputs(max_seq_length, cls_id, sep_id, name="bert_pack_inputs")
        self.do_lower_case = do_lower_case
        self.max_seq_length = self.packer.max_seq_length

    def tokenize(self, strings: Any) -> tf.RaggedTensor:
        """Word-piece ids: string Tensor [batch_size] -> int32 RaggedTensor [batch_size, (tokens)]."""
        ids = self.tokenizer.tokenize(strings)
        return ids.with_flat_values(tf.cast(ids.flat_values, tf.int32))

    def bert_pack_inputs(
        self, segments: Sequence[tf.RaggedTensor], max_seq_length: Any = None
    ) -> dict[str, tf.Tensor]:
        """`BertPackInputs` on one or two segments of `tokenize`'s ids."""
        return self.packer(list(segments), max_seq_length=max_seq_length)

    def __call__(
        self, text_a: Any, text_b: Any = None, max_seq_length: Any = None
    ) -> dict[str, tf.Tensor]:
        """Features of a batch of texts (or of text pairs).

        Args:
          text_a: string Tensor [batch_size] (or a list of str/bytes).
          text_b: optional string Tensor [batch_size], the second texts. An
            empty text_b gives the single-text features of its text_a.
          max_seq_length: optional override of the feature length.

        Returns:
          {"input_ids", "input_mask", "segment_ids"}: int32 [batch_size, max_seq_length].
        """
        segments = [self.tokenize(text_a)]
        if text_b is not None:
            segments.append(self.tokenize(text_b))
        return self.bert_pack_inputs(segments, max_seq_length)
