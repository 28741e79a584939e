"""The flags that run_pretraining.py and run_classifier.py share, and the checks of flag values.

`define_common_flags()` defines the original's shared flags with their names,
defaults and help (bert_config_file, output_dir, init_checkpoint, do_train,
do_eval, the batch sizes, learning_rate, save_checkpoints_steps,
iterations_per_loop and the TPU flags) and the flags of this port (strategy,
jit_compile, mixed_precision, bias_correction, log_every_n_steps). Each entry
point then defines its own flags (input_file, max_seq_length, ...) in its
`define_flags()`, all with `cli.define_flag`; defining is idempotent.

The checks shared by the entry points live here too: the required flags of a
library call (`check_required_flags`) and the vocabulary against the model
(`check_vocab_fits`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from absl import flags

from official_bert import distribute
from official_bert.cli import PORT, TPU, define_flag
from official_bert.errors import InputError
from official_bert.lamb import ADAPT_EVERY_VARIABLE
from official_bert.modeling import BertConfig
from official_bert.training import TrainerConfig


def define_common_flags() -> None:
    """Defines the shared flags in absl's global `flags.FLAGS`."""
    ## Required parameters (which ones each entry point requires: its REQUIRED_FLAGS)
    define_flag(
        "string",
        "bert_config_file",
        None,
        "The config json file corresponding to the pre-trained BERT model. "
        "This specifies the model architecture.",
    )
    define_flag(
        "string",
        "output_dir",
        None,
        "The output directory where the model checkpoints will be written.",
    )

    ## Other parameters
    define_flag(
        "string",
        "init_checkpoint",
        None,
        "Initial checkpoint (usually from a pre-trained BERT model).",
    )
    define_flag("bool", "do_train", False, "Whether to run training.")
    define_flag("bool", "do_eval", False, "Whether to run eval on the dev set.")
    define_flag("integer", "train_batch_size", 32, "Total batch size for training.")
    define_flag("integer", "eval_batch_size", 8, "Total batch size for eval.")
    define_flag("float", "learning_rate", 5e-5, "The initial learning rate for Adam.")
    define_flag(
        "integer", "save_checkpoints_steps", 1000, "How often to save the model checkpoint."
    )
    define_flag(
        "integer",
        "iterations_per_loop",
        1000,
        "How many steps to make in each estimator call. Here: the most steps run in one "
        "tf.function call; progress is logged independently (--log_every_n_steps).",
    )

    ## TPU parameters, as in the original
    define_flag("bool", "use_tpu", False, "Whether to use TPU or GPU/CPU.", group=TPU)
    define_flag(
        "string",
        "tpu_name",
        None,
        "The Cloud TPU to use for training. This should be either the name used when "
        "creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 url.",
        group=TPU,
    )
    define_flag(
        "string",
        "tpu_zone",
        None,
        "[Optional] GCE zone where the Cloud TPU is located in. If not specified, we "
        "will attempt to automatically detect the GCE project from metadata.",
        group=TPU,
    )
    define_flag(
        "string",
        "gcp_project",
        None,
        "[Optional] Project name for the Cloud TPU-enabled project. If not specified, "
        "we will attempt to automatically detect the GCE project from metadata.",
        group=TPU,
    )
    define_flag("string", "master", None, "[Optional] TensorFlow master URL.", group=TPU)
    define_flag(
        "integer",
        "num_tpu_cores",
        8,
        "Only used if `use_tpu` is True. Total number of TPU cores to use.",
        group=TPU,
    )

    ## Parameters of this port
    define_flag(
        "enum",
        "strategy",
        "default",
        "The tf.distribute strategy: `default` runs on one device, `mirrored` on all "
        "local GPUs, `multi_worker_mirrored` on the workers named in TF_CONFIG, and "
        "`tpu` on a Cloud TPU (the same as --use_tpu=True).",
        enum_values=list(distribute.STRATEGIES),
        group=PORT,
    )
    define_flag(
        "bool",
        "jit_compile",
        False,
        "Whether to compile the forward and backward pass of each training step with XLA. "
        "With --mixed_precision=mixed_bfloat16 on a CPU only the elementwise work between the "
        "matmuls is compiled: XLA's CPU backend runs bfloat16 matmuls in float32, TensorFlow's "
        "oneDNN kernels run them in bfloat16 (on AMX where the CPU has it).",
        group=PORT,
    )
    define_flag(
        "enum",
        "mixed_precision",
        "float32",
        "The Keras dtype policy of the model: `float32`, `mixed_float16` (with dynamic "
        "loss scaling) or `mixed_bfloat16`. Variables and the optimizer stay float32.",
        enum_values=list(distribute.MIXED_PRECISION_POLICIES),
        group=PORT,
    )
    define_flag(
        "bool",
        "bias_correction",
        False,
        "Whether Adam uses bias-corrected moments. The original does not; Mosbach et "
        "al. (ICLR 2021) recommend them for stable fine-tuning. --optimizer=adamw only: "
        "LAMB always corrects.",
        group=PORT,
    )
    define_flag(
        "integer",
        "log_every_n_steps",
        0,
        "How often to log a progress line (step, loss, learning rate, examples/s, model "
        "GFLOP/s and model FLOP/s utilisation (MFU), ETA). "
        "0 (the default) logs about every 30 seconds, whatever the speed: the original "
        "logged once per --iterations_per_loop steps, which on a CPU can be hours.",
        group=PORT,
    )
    define_flag(
        "integer",
        "gradient_accumulation_steps",
        1,
        "Run each optimizer step as this many micro-batches of train_batch_size / N "
        "examples, summing their gradients. --train_batch_size stays the global batch of "
        "one update, so the schedule, num_train_steps and the logs mean what they mean "
        "without accumulation; it must be a multiple of N times the number of replicas. "
        "1 (the default) is the original.",
        group=PORT,
    )
    define_flag(
        "enum",
        "optimizer",
        "adamw",
        "`adamw`: the original's AdamWeightDecayOptimizer. `lamb`: LAMB (TF Addons' update) "
        "with the original's schedule, clip and weight-decay exclusions.",
        group=PORT,
        enum_values=["adamw", "lamb"],
    )
    define_flag(
        "enum",
        "lamb_layer_adaptation",
        "exclude_like_weight_decay",
        "Which variables LAMB's trust ratio applies to: `exclude_like_weight_decay` "
        "(TF Addons / Model Garden: not LayerNorm parameters and biases) or `all` "
        "(NVIDIA's BERT).",
        group=PORT,
        enum_values=["exclude_like_weight_decay", "all"],
    )
    define_flag(
        "integer",
        "random_seed",
        None,
        "Seed of the training input's shuffle and of the new variables' initial values "
        "and dropout. The same seed, flags and machine (and thread count) give identical "
        "checkpoints and eval results, also across an interruption: a resumed run "
        "continues the input stream where its checkpoint left it, and dropout masks are "
        "keyed by the seed and the global step. Another seed, another run. Not covered: "
        "--jit_compile where XLA compiles the whole step (its own stateful random "
        "numbers), several workers, other machines or TensorFlow builds. Op "
        "determinism is not switched on: the CPU kernels used here are deterministic "
        "already; on a GPU set TF_DETERMINISTIC_OPS=1. Unset (the default) is the "
        "original's unseeded behaviour: a resumed run restarts its input.",
        group=PORT,
    )


def check_required_flags(flag_values: Any, names: Iterable[str]) -> None:
    """Raises InputError with absl's message for the first of `names` that has no value.

    The command line checks its required flags when it parses them; this is
    the same check for a library call such as `classifier.run(flag_values)`.
    """
    for name in names:
        if getattr(flag_values, name, None) in (None, ""):
            raise InputError(f"Flag --{name} must have a value other than None.")


def check_vocab_fits(
    tokenizer_or_vocab: Any,
    bert_config: BertConfig,
    vocab_file: str,
    bert_config_file: str,
) -> None:
    """Refuses a vocabulary with ids the model has no embedding for.

    Without this check the first step fails inside the embedding lookup on a
    CPU (`indices[...] = 30000 is not in [0, 1000)`), and silently reads zeros
    (or another row) on a GPU or TPU.

    Args:
      tokenizer_or_vocab: a tokenizer with `.vocab`, or the token -> id mapping.
      bert_config: the model's config.
      vocab_file, bert_config_file: the files they came from, for the message.

    Raises:
      InputError: the vocabulary has an id >= `bert_config.vocab_size`.
    """
    vocab = getattr(tokenizer_or_vocab, "vocab", tokenizer_or_vocab)
    if not isinstance(vocab, Mapping):
        raise TypeError(f"check_vocab_fits wants a tokenizer or a mapping, got {vocab!r}.")
    vocab_ids = max(vocab.values(), default=-1) + 1
    if vocab_ids > bert_config.vocab_size:
        raise InputError(
            f"--vocab_file={vocab_file} has {vocab_ids} token ids but the model of "
            f"--bert_config_file={bert_config_file} has vocab_size="
            f"{bert_config.vocab_size}: pass the vocabulary that came with the model."
        )


def strategy_from_flags(flag_values: Any = None):
    """Builds the tf.distribute strategy named by the flags (see `distribute.get_strategy`)."""
    f = flag_values if flag_values is not None else flags.FLAGS
    return distribute.get_strategy(
        f.strategy,
        use_tpu=f.use_tpu,
        tpu_name=f.tpu_name,
        tpu_zone=f.tpu_zone,
        gcp_project=f.gcp_project,
        master=f.master,
        num_tpu_cores=f.num_tpu_cores,
    )


def trainer_config_from_flags(
    flag_values: Any = None,
    *,
    num_train_steps: int | None = None,
    num_warmup_steps: int | None = None,
) -> TrainerConfig:
    """A `TrainerConfig` from the shared flags and the run's step counts.

    run_pretraining passes `--num_train_steps` / `--num_warmup_steps`;
    run_classifier computes them from the number of examples and epochs.
    Whether embeddings are looked up by one-hot matmul is left to the
    `Trainer`, which decides it from the strategy (one-hot on a TPU).
    """
    f = flag_values if flag_values is not None else flags.FLAGS
    return TrainerConfig(
        output_dir=f.output_dir,
        learning_rate=f.learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        save_checkpoints_steps=f.save_checkpoints_steps,
        iterations_per_loop=f.iterations_per_loop,
        # Flag objects without it (a library caller's namespace) get the auto default.
        log_every_n_steps=getattr(f, "log_every_n_steps", 0),
        gradient_accumulation_steps=getattr(f, "gradient_accumulation_steps", 1),
        optimizer=getattr(f, "optimizer", "adamw"),
        exclude_from_layer_adaptation=(
            list(ADAPT_EVERY_VARIABLE)
            if getattr(f, "lamb_layer_adaptation", None) == "all"
            else None
        ),
        jit_compile=f.jit_compile,
        mixed_precision=f.mixed_precision,
        bias_correction=f.bias_correction,
        dropout_seed=getattr(f, "random_seed", None),
    )
