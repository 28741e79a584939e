"""The flags that run_pretraining.py and run_classifier.py share, defined once.

`define_common_flags()` defines the original's shared flags with their names,
defaults and help (bert_config_file, output_dir, init_checkpoint, do_train,
do_eval, the batch sizes, learning_rate, save_checkpoints_steps,
iterations_per_loop and the TPU flags) and the TF2 flags of this port
(strategy, jit_compile, mixed_precision, bias_correction). Each entry point
then defines its own flags (input_file, max_seq_length, ...).

Defining is idempotent: a flag already defined (by the other entry point in
the same process) is left as it is.
"""

from __future__ import annotations

from typing import Any

from absl import flags

from official_bert import distribute
from official_bert.training import TrainerConfig


def _define(kind: str, name: str, default: Any, help_text: str, **kwargs) -> None:
    if name in flags.FLAGS:
        return
    if kind == "enum":
        flags.DEFINE_enum(name, default, kwargs.pop("enum_values"), help_text, **kwargs)
    else:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text, **kwargs)


def define_common_flags() -> None:
    """Defines the shared flags in absl's global `flags.FLAGS`."""
    ## Required parameters
    _define(
        "string",
        "bert_config_file",
        None,
        "The config json file corresponding to the pre-trained BERT model. "
        "This specifies the model architecture.",
    )
    _define(
        "string",
        "output_dir",
        None,
        "The output directory where the model checkpoints will be written.",
    )

    ## Other parameters
    _define(
        "string",
        "init_checkpoint",
        None,
        "Initial checkpoint (usually from a pre-trained BERT model).",
    )
    _define("bool", "do_train", False, "Whether to run training.")
    _define("bool", "do_eval", False, "Whether to run eval on the dev set.")
    _define("integer", "train_batch_size", 32, "Total batch size for training.")
    _define("integer", "eval_batch_size", 8, "Total batch size for eval.")
    _define("float", "learning_rate", 5e-5, "The initial learning rate for Adam.")
    _define("integer", "save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    _define(
        "integer",
        "iterations_per_loop",
        1000,
        "How many steps to make in each estimator call. Here: the number of steps "
        "run in one tf.function call, and how often the loss is logged.",
    )

    ## TPU parameters, as in the original
    _define("bool", "use_tpu", False, "Whether to use TPU or GPU/CPU.")
    _define(
        "string",
        "tpu_name",
        None,
        "The Cloud TPU to use for training. This should be either the name used when "
        "creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 url.",
    )
    _define(
        "string",
        "tpu_zone",
        None,
        "[Optional] GCE zone where the Cloud TPU is located in. If not specified, we "
        "will attempt to automatically detect the GCE project from metadata.",
    )
    _define(
        "string",
        "gcp_project",
        None,
        "[Optional] Project name for the Cloud TPU-enabled project. If not specified, "
        "we will attempt to automatically detect the GCE project from metadata.",
    )
    _define("string", "master", None, "[Optional] TensorFlow master URL.")
    _define(
        "integer",
        "num_tpu_cores",
        8,
        "Only used if `use_tpu` is True. Total number of TPU cores to use.",
    )

    ## TensorFlow 2 parameters of this port
    _define(
        "enum",
        "strategy",
        "default",
        "The tf.distribute strategy: `default` runs on one device, `mirrored` on all "
        "local GPUs, `multi_worker_mirrored` on the workers named in TF_CONFIG, and "
        "`tpu` on a Cloud TPU (the same as --use_tpu=True).",
        enum_values=list(distribute.STRATEGIES),
    )
    _define(
        "bool",
        "jit_compile",
        False,
        "Whether to compile the forward and backward pass of each training step with XLA.",
    )
    _define(
        "enum",
        "mixed_precision",
        "float32",
        "The Keras dtype policy of the model: `float32`, `mixed_float16` (with dynamic "
        "loss scaling) or `mixed_bfloat16`. Variables and the optimizer stay float32.",
        enum_values=list(distribute.MIXED_PRECISION_POLICIES),
    )
    _define(
        "bool",
        "bias_correction",
        False,
        "Whether Adam uses bias-corrected moments. The original does not; Mosbach et "
        "al. (ICLR 2021) recommend them for stable fine-tuning.",
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
    """
    f = flag_values if flag_values is not None else flags.FLAGS
    return TrainerConfig(
        output_dir=f.output_dir,
        learning_rate=f.learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        save_checkpoints_steps=f.save_checkpoints_steps,
        iterations_per_loop=f.iterations_per_loop,
        jit_compile=f.jit_compile,
        mixed_precision=f.mixed_precision,
        bias_correction=f.bias_correction,
    )
