"""BertConfig and BertModel, the core of BERT, as in the original `modeling.py`.

`BertModel` is a Keras 3 model whose every variable's `.path` is its name in
Google's checkpoints (`bert/embeddings/word_embeddings`,
`bert/encoder/layer_3/attention/self/query/kernel`, `bert/pooler/dense/bias`)
with the original's shapes, so loading a released checkpoint is a lookup by
name (see `official_bert.checkpoints`).

The model creates its variables when it is constructed, outside any enclosing
layer's name scope, so its paths stay `bert/...` when it is later called from
inside another model (`official_bert.models`). `BertBase` is what BertModel
and the models of `official_bert.models` share: the validated config, the
one-hot flag, the optional XLA forward pass and `get_config` / `from_config`
(all are registered, so `keras.saving.load_model` needs no custom_objects).

`BertConfig` checks every key's type and range when it reads a file, and a
model checks its config (including hidden_size % num_attention_heads) when it
is built; `check_max_seq_length` is the one check of a `--max_seq_length` flag
against the config's position embeddings.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import numbers
from typing import Any

import keras
import tensorflow as tf
from absl import logging

from official_bert.embeddings import BertEmbeddings
from official_bert.errors import InputError, MissingFileError
from official_bert.layers import (  # noqa: F401  (re-exported: the original's names)
    ACTIVATION_NAMES,
    ATTENTION_MASK_ADDER,
    DEFAULT_INITIALIZER_RANGE,
    LAYER_NORM_EPSILON,
    DenseBlock,
    attention_mask_adder,
    create_initializer,
    gelu,
    get_activation,
    get_shape_list,
    maybe_jit_compile,
)
from official_bert.transformer import BertEncoder

# The keys of bert_config.json that must be integers >= 1.
_SIZE_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
# The keys that are dropout probabilities: numbers in [0, 1).
_PROBABILITY_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


def _is_integer(value: Any) -> bool:
    # bool is an int in Python, but `true` is not a size in a config; numpy
    # integers (a config built in Python) are fine.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _field_problem(key: str, value: Any) -> str | None:
    """What is wrong with `value` for the original config key `key`, or None."""
    got = f"got {value!r} ({type(value).__name__})"
    if key in _SIZE_KEYS:
        if not _is_integer(value):
            return f"must be an integer, {got}"
        if value < 1:
            return f"must be at least 1, {got}"
    elif key in _PROBABILITY_KEYS:
        if not _is_number(value) or not 0.0 <= value < 1.0:
            return f"must be a dropout probability in [0, 1), {got}"
    elif key == "initializer_range":
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            return f"must be a positive number (a standard deviation), {got}"
    elif key == "hidden_act":
        if value is None or callable(value):
            return None
        if not isinstance(value, str) or (value and value.lower() not in ACTIVATION_NAMES):
            return f"must be one of {', '.join(ACTIVATION_NAMES)}, {got}"
    return None


def _describe_source(source: str | None) -> str:
    """How messages name a config: by its file when it was read from one."""
    return "the BERT config" if source is None else f"the BERT config file {source}"


class BertConfig:
    """Configuration of a `BertModel`; the fields are the JSON keys of bert_config.json.

    Construction checks nothing, as the original's (its test builds a config
    with hidden size 37 and 12 heads); a model checks its config with
    `validate` when it is built, and `from_dict` / `from_json_file` check the
    type and range of every key as they read it. Keys a file leaves out take
    the defaults below, with a warning.

    Args:
      vocab_size: size of the `input_ids` vocabulary.
      hidden_size: width of the encoder layers and the pooler.
      num_hidden_layers: number of Transformer layers.
      num_attention_heads: attention heads per layer; must divide hidden_size.
      intermediate_size: width of the feed-forward ("intermediate") layer.
      hidden_act: activation of the feed-forward layer and the masked LM
        transform: "gelu", "relu", "tanh" or "linear" (or this port's
        "gelu_exact", the erf form of Hugging Face's `gelu`).
      hidden_dropout_prob: dropout of the embeddings and of every dense output
        in the encoder.
      attention_probs_dropout_prob: dropout of the attention probabilities.
      max_position_embeddings: longest sequence the model accepts.
      type_vocab_size: size of the `token_type_ids` vocabulary.
      initializer_range: standard deviation of the truncated-normal
        initializer of every weight matrix.
      **extra: other keys of a config file (e.g. `directionality`,
        `pooler_fc_size` in the multilingual configs), kept and written back.

    Attributes:
      source_file: the file the config was read from (None if built in
        Python); named in error messages, never written to JSON.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 16,
        initializer_range: float = DEFAULT_INITIALIZER_RANGE,
        **extra: Any,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.hidden_act = hidden_act
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.__dict__.update(extra)
        self._source_file: str | None = None

    @property
    def source_file(self) -> str | None:
        return self._source_file

    def _where(self) -> str:
        return _describe_source(self._source_file)

    def check_fields(self) -> None:
        """Checks the type and range of every key of the original config.

        Raises:
          errors.InputError: naming the key, its value and the config file.
        """
        for key in _ORIGINAL_KEYS:
            problem = _field_problem(key, getattr(self, key, None))
            if problem is not None:
                raise InputError(f"`{key}` in {self._where()} {problem}; fix it in the config.")

    def validate(self) -> None:
        """Checks that the config describes a BertModel; run when a model is built.

        Raises:
          errors.InputError: a key has a wrong type or range, or hidden_size
            is not a multiple of num_attention_heads (the message names both
            numbers and the config file).
        """
        self.check_fields()
        if self.hidden_size % self.num_attention_heads != 0:
            raise InputError(
                f"The hidden size ({self.hidden_size}) is not a multiple of the number of "
                f"attention heads ({self.num_attention_heads}) in {self._where()}; fix "
                "hidden_size or num_attention_heads."
            )

    @classmethod
    def from_dict(cls, json_object: dict, source: str | None = None) -> BertConfig:
        """Builds a BertConfig from a dict of bert_config.json keys, checking each.

        Args:
          json_object: the parsed bert_config.json.
          source: the file it came from, for messages.

        Raises:
          errors.InputError: not a JSON object, no `vocab_size`, or a key of
            the wrong type or range (named, with the file).
        """
        where = _describe_source(source)
        if not isinstance(json_object, dict):
            raise InputError(
                f"{where} must be a JSON object of bert_config.json keys, got "
                f"{type(json_object).__name__}."
            )
        if "vocab_size" not in json_object:
            raise InputError(
                f"{where} has no `vocab_size`; add the size of the model's vocabulary "
                "(the number of lines of its vocab.txt)."
            )
        for key in _ORIGINAL_KEYS:
            if key not in json_object:
                logging.warning("%s has no `%s`; using the default %r.", where, key, _DEFAULTS[key])
        config = cls(**json_object)
        config._source_file = source
        config.check_fields()
        return config

    @classmethod
    def from_json_file(cls, json_file: str) -> BertConfig:
        """Reads a bert_config.json file (local or any tf.io.gfile path).

        Raises:
          errors.MissingFileError: the file does not exist.
          errors.InputError: the file is not JSON, or a key is wrong (see
            `from_dict`).
        """
        if not tf.io.gfile.exists(json_file):
            raise MissingFileError(
                f"BERT config file {json_file} does not exist; pass the bert_config.json "
                "that came with the checkpoint."
            )
        try:
            with tf.io.gfile.GFile(json_file, "r") as reader:
                json_object = json.loads(reader.read())
        except (ValueError, tf.errors.OpError) as error:
            raise InputError(
                f"Cannot read the BERT config file {json_file}: {error}; it must be the "
                "JSON of a bert_config.json."
            ) from error
        return cls.from_dict(json_object, source=json_file)

    def to_dict(self) -> dict:
        """All fields (including extra keys) as a dict; not the source file."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "_source_file"}

    def to_json_string(self) -> str:
        """The config as bert_config.json text: indented, sorted keys."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"BertConfig({self.to_dict()})"


# The original's keys and their defaults, read off BertConfig's signature.
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(BertConfig.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and name != "self"
}
_ORIGINAL_KEYS = tuple(_DEFAULTS)


def check_max_seq_length(
    bert_config: BertConfig,
    max_seq_length: int,
    config_file: str | None = None,
    flag: str = "--max_seq_length",
) -> None:
    """Refuses a sequence length the model has no position embeddings for.

    Args:
      bert_config: the model's config.
      max_seq_length: the value of `flag`.
      config_file: the config's file, for the message (default: the file it
        was read from).
      flag: the flag that set `max_seq_length`.

    Raises:
      errors.InputError: `max_seq_length > max_position_embeddings`; the
        message names the flag, both numbers and the config file.
    """
    limit = bert_config.max_position_embeddings
    if max_seq_length <= limit:
        return
    source = _describe_source(config_file or bert_config.source_file)
    raise InputError(
        f"Cannot use sequence length {max_seq_length} because the BERT model was only "
        f"trained up to sequence length {limit} ({flag}={max_seq_length} is longer than "
        f"max_position_embeddings={limit} of {source}); use {flag} of at most {limit}."
    )


class BertBase(keras.Model):
    """What every model built on a `BertConfig` shares.

    Keeps a validated copy of the config, the one-hot flag and the forward
    pass (`_forward`, which subclasses define), compiled by XLA when
    `jit_compile`; `get_config` / `from_config` rebuild the same model, so
    `keras.saving.load_model` restores it with the same variable paths.

    Args:
      config: the BertConfig (copied and validated).
      use_one_hot_embeddings: look word embeddings up by a one-hot matmul
        instead of a gather (as the original's flag; useful on TPUs).
      jit_compile: run the forward pass (and so its gradient) as one XLA
        computation, even when the caller's `tf.function` is not compiled;
        BERT-Base inference on CPU is about 1.15x faster (the forward pass
        table of benchmarks/README.md), at the cost of one compilation per
        input shape.
      **kwargs: of `keras.Model` (`name`, `dtype`, ...).
    """

    def __init__(
        self,
        config: BertConfig,
        use_one_hot_embeddings: bool = False,
        jit_compile: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        config = copy.deepcopy(config)
        config.validate()
        self.config = config
        self.use_one_hot_embeddings = use_one_hot_embeddings
        self._jit_compile_forward = jit_compile  # not Keras' `jit_compile` (for fit)
        self._forward_fn = maybe_jit_compile(self._forward, jit_compile)

    def _forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define `_forward`.")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "config": self.config.to_dict(),
            "use_one_hot_embeddings": self.use_one_hot_embeddings,
            "jit_compile": self._jit_compile_forward,
        }

    @classmethod
    def from_config(cls, config: dict) -> BertBase:
        config = dict(config)
        bert_config = BertConfig.from_dict(config.pop("config"))
        return cls(bert_config, **config)


@keras.saving.register_keras_serializable(package="official_bert")
class BertModel(BertBase):
    """BERT ("Bidirectional Encoder Representations from Transformers").

    Example:
      config = BertConfig(vocab_size=32000, hidden_size=512, num_hidden_layers=8,
                          num_attention_heads=8, intermediate_size=1024)
      model = BertModel(config)              # variables are bert/...
      out = model(input_ids, input_mask, token_type_ids, training=True)
      pooled = out["pooled_output"]          # [batch_size, hidden_size]

    Args:
      config, use_one_hot_embeddings, jit_compile: see `BertBase`.
      name: the root of every variable path; "bert" as in the original.

    Raises:
      errors.InputError: the config cannot describe a model (see
        `BertConfig.validate`).
    """

    def __init__(
        self,
        config: BertConfig,
        use_one_hot_embeddings: bool = False,
        jit_compile: bool = False,
        name: str = "bert",
        **kwargs,
    ):
        super().__init__(config, use_one_hot_embeddings, jit_compile, name=name, **kwargs)
        config = self.config
        policy = self.dtype_policy
        self.embeddings = BertEmbeddings(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            type_vocab_size=config.type_vocab_size,
            max_position_embeddings=config.max_position_embeddings,
            hidden_dropout_prob=config.hidden_dropout_prob,
            initializer_range=config.initializer_range,
            use_one_hot_embeddings=use_one_hot_embeddings,
            dtype=policy,
            name="embeddings",
        )
        self.encoder = BertEncoder(
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            hidden_act=config.hidden_act,
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            initializer_range=config.initializer_range,
            dtype=policy,
            name="encoder",
        )
        self.pooler = DenseBlock(
            config.hidden_size,
            activation="tanh",
            initializer_range=config.initializer_range,
            dtype=policy,
            name="pooler",
        )
        # Create the variables now, so that their paths are `bert/...` whatever
        # scope the model is later called in.
        self.build()

    def build(self, input_shape=None):
        self.embeddings.build()
        self.encoder.build()
        self.pooler.build((None, self.config.hidden_size))

    def call(
        self,
        input_ids: tf.Tensor,
        input_mask: tf.Tensor | None = None,
        token_type_ids: tf.Tensor | None = None,
        training: bool | None = False,
    ) -> dict[str, Any]:
        """Runs BERT on a batch of token ids.

        Args:
          input_ids: int32 Tensor of shape [batch_size, seq_length].
          input_mask: optional int32 Tensor of shape [batch_size, seq_length],
            1 for real tokens and 0 for padding; all ones if None.
          token_type_ids: optional int32 Tensor of shape [batch_size,
            seq_length] (the segment ids); all zeros if None.
          training: dropout is applied only when True.

        Returns:
          A dict with
            `sequence_output`: float Tensor [batch_size, seq_length, hidden_size],
              the last encoder layer;
            `pooled_output`: float Tensor [batch_size, hidden_size], tanh(dense)
              of the first token's final hidden state;
            `all_encoder_layers`: list of num_hidden_layers float Tensors
              [batch_size, seq_length, hidden_size];
            `embedding_output`: float Tensor [batch_size, seq_length,
              hidden_size], the input of the first encoder layer.
        """
        input_ids = tf.convert_to_tensor(input_ids)
        if input_ids.shape.rank != 2:
            raise ValueError(
                f"input_ids must have shape [batch_size, seq_length], got {input_ids.shape}."
            )
        if input_mask is None:
            input_mask = tf.ones_like(input_ids, dtype=tf.int32)
        if token_type_ids is None:
            token_type_ids = tf.zeros_like(input_ids, dtype=tf.int32)
        return self._forward_fn(input_ids, input_mask, token_type_ids, training=bool(training))

    def _forward(
        self,
        input_ids: tf.Tensor,
        input_mask: tf.Tensor,
        token_type_ids: tf.Tensor,
        training: bool,
    ) -> dict[str, Any]:
        """The computation of `call`, compiled by XLA when `jit_compile`."""
        embedding_output = self.embeddings(input_ids, token_type_ids, training=training)
        mask_adder = attention_mask_adder(input_mask, embedding_output.dtype)  # [B, 1, 1, S]
        all_encoder_layers = self.encoder(embedding_output, mask_adder, training=training)
        sequence_output = all_encoder_layers[-1]
        first_token = sequence_output[:, 0]  # [B, hidden]
        pooled_output = self.pooler(first_token)
        return {
            "sequence_output": sequence_output,
            "pooled_output": pooled_output,
            "all_encoder_layers": all_encoder_layers,
            "embedding_output": embedding_output,
        }

    @property
    def embedding_table(self) -> keras.Variable:
        """The word embedding table: float32 variable [vocab_size, hidden_size]."""
        return self.embeddings.word_embeddings

    def get_embedding_table(self) -> keras.Variable:
        """The original's accessor for `embedding_table`."""
        return self.embedding_table
