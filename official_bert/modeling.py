"""BertConfig and BertModel, the core of BERT, as in the original `modeling.py`.

`BertModel` is a Keras 3 model whose every variable's `.path` is its name in
Google's checkpoints (`bert/embeddings/word_embeddings`,
`bert/encoder/layer_3/attention/self/query/kernel`, `bert/pooler/dense/bias`)
with the original's shapes, so loading a released checkpoint is a lookup by
name (see `official_bert.checkpoints`).

The model creates its variables when it is constructed, outside any enclosing
layer's name scope, so its paths stay `bert/...` when it is later called from
inside another model (`official_bert.heads`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import keras
import tensorflow as tf

from official_bert.embeddings import BertEmbeddings
from official_bert.layers import (  # noqa: F401  (re-exported: the original's names)
    ATTENTION_MASK_ADDER,
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


class BertConfig:
    """Configuration of a `BertModel`; the fields are the JSON keys of bert_config.json.

    Args:
      vocab_size: size of the `input_ids` vocabulary.
      hidden_size: width of the encoder layers and the pooler.
      num_hidden_layers: number of Transformer layers.
      num_attention_heads: attention heads per layer; must divide hidden_size.
      intermediate_size: width of the feed-forward ("intermediate") layer.
      hidden_act: activation of the feed-forward layer and the masked LM
        transform: "gelu", "relu", "tanh" or "linear".
      hidden_dropout_prob: dropout of the embeddings and of every dense output
        in the encoder.
      attention_probs_dropout_prob: dropout of the attention probabilities.
      max_position_embeddings: longest sequence the model accepts.
      type_vocab_size: size of the `token_type_ids` vocabulary.
      initializer_range: standard deviation of the truncated-normal
        initializer of every weight matrix.
      **extra: other keys of a config file (e.g. `directionality`,
        `pooler_fc_size` in the multilingual configs), kept and written back.
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
        initializer_range: float = 0.02,
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
        self.validate()

    def validate(self) -> None:
        """Raises ValueError if the configuration cannot describe a BertModel."""
        if self.vocab_size is None:
            raise ValueError("BertConfig needs `vocab_size`.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"The hidden size ({self.hidden_size}) is not a multiple of the number of "
                f"attention heads ({self.num_attention_heads}); fix hidden_size or "
                "num_attention_heads in the BERT config."
            )
        get_activation(self.hidden_act)

    @classmethod
    def from_dict(cls, json_object: dict) -> BertConfig:
        """Builds a BertConfig from a dict of bert_config.json keys."""
        if not isinstance(json_object, dict):
            raise TypeError(f"A BERT config must be a JSON object, got {type(json_object)}.")
        if "vocab_size" not in json_object:
            raise ValueError("The BERT config has no `vocab_size`.")
        return cls(**json_object)

    @classmethod
    def from_json_file(cls, json_file: str) -> BertConfig:
        """Reads a bert_config.json file (local or any tf.io.gfile path)."""
        if not tf.io.gfile.exists(json_file):
            raise FileNotFoundError(
                f"BERT config file {json_file} does not exist; pass the bert_config.json "
                "that came with the checkpoint."
            )
        try:
            with tf.io.gfile.GFile(json_file, "r") as reader:
                text = reader.read()
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError, tf.errors.OpError) as error:
            raise ValueError(f"Cannot read the BERT config file {json_file}: {error}") from error

    def to_dict(self) -> dict:
        """All fields (including extra keys) as a dict."""
        return copy.deepcopy(self.__dict__)

    def to_json_string(self) -> str:
        """The config as bert_config.json text: indented, sorted keys."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"BertConfig({self.to_dict()})"


class BertModel(keras.Model):
    """BERT ("Bidirectional Encoder Representations from Transformers").

    Example:
      config = BertConfig(vocab_size=32000, hidden_size=512, num_hidden_layers=8,
                          num_attention_heads=8, intermediate_size=1024)
      model = BertModel(config)              # variables are bert/...
      out = model(input_ids, input_mask, token_type_ids, training=True)
      pooled = out["pooled_output"]          # [batch_size, hidden_size]

    Args:
      config: the BertConfig (copied).
      use_one_hot_embeddings: look word embeddings up by a one-hot matmul
        instead of a gather (as the original's flag; useful on TPUs).
      jit_compile: run the forward pass (and so its gradient) as one XLA
        computation, even when the caller's `tf.function` is not compiled;
        BERT-Base inference on CPU is about 1.15x faster
        (benchmarks/README_forward.md), at the cost of one compilation per
        input shape.
      name: the root of every variable path; "bert" as in the original.
    """

    def __init__(
        self,
        config: BertConfig,
        use_one_hot_embeddings: bool = False,
        jit_compile: bool = False,
        name: str = "bert",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        config = copy.deepcopy(config)
        config.validate()
        self.config = config
        self.use_one_hot_embeddings = use_one_hot_embeddings
        self._jit_compile_forward = jit_compile  # not Keras' `jit_compile` (for fit)
        self._forward_fn = maybe_jit_compile(self._forward, jit_compile)
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

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "config": self.config.to_dict(),
            "use_one_hot_embeddings": self.use_one_hot_embeddings,
            "jit_compile": self._jit_compile_forward,
        }

    @classmethod
    def from_config(cls, config: dict) -> BertModel:
        config = dict(config)
        bert_config = BertConfig.from_dict(config.pop("config"))
        return cls(bert_config, **config)
