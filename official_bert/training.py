"""The training and evaluation loop shared by run_pretraining.py and run_classifier.py.

It replaces the original's TPUEstimator with a custom `tf.distribute` loop that
keeps the original's observable behaviour:

* the model is restored from the latest checkpoint of `output_dir` (optimizer
  state and `global_step` included) if there is one, else initialised from
  `init_checkpoint` (model variables only, logging which were initialised);
* training runs until `global_step == num_train_steps`, `iterations_per_loop`
  steps per `tf.function` call, and writes a checkpoint in the original's
  name-based format every `save_checkpoints_steps` steps and at the end, so a
  crash loses at most `save_checkpoints_steps` steps and a restarted run
  resumes where the last checkpoint left off;
* evaluation accumulates weighted metrics like `tf.metrics.accuracy` /
  `tf.metrics.mean` and adds `global_step` and `loss` (the mean of the batch
  losses), as `Estimator.evaluate` did; `write_eval_results` writes them in
  the original's `key = value` format.

What a model contributes is a `Task`: its Keras model, its loss and its
metrics. Losses are replica-exact: each replica returns its share of the loss
of the global batch (the shares sum to the single-device loss), computed from
totals all-reduced over replicas before the forward pass, and the optimizer
sums the gradients across replicas before clipping them.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official_bert import checkpoints, distribute, throughput
from official_bert.errors import InputError, TrainingInterrupted
from official_bert.layers import seeded_dropout, xla_compiled, xla_elementwise
from official_bert.optimization import OPTIMIZERS, AdamWeightDecayOptimizer, create_optimizer

# Re-exported: callers import these from training (their home before the split).
from official_bert.results import (  # noqa: F401
    format_metric_value,
    write_eval_results,
    write_scalar_summary,
)
from official_bert.run_control import AUTO_LOG_SECONDS, Progress, StopOnSignals  # noqa: F401

SUM = tf.distribute.ReduceOp.SUM
# The original's file of evaluation results, in `output_dir`.
EVAL_RESULTS_FILENAME = "eval_results.txt"

Features = Mapping[str, tf.Tensor]
# A metric is accumulated as a (numerator, denominator) pair of sums; its value
# is numerator / denominator, or 0 when the denominator is 0 (as tf.metrics).
MetricSums = Mapping[str, tuple[tf.Tensor, tf.Tensor]]


# --------------------------------------------------------------------------- tasks


def batch_size_of(features: Features) -> tf.Tensor:
    """The number of examples in a batch: float32 scalar, the first dimension of any feature."""
    return tf.cast(tf.shape(tf.nest.flatten(features)[0])[0], tf.float32)


def replica_mean(values: tf.Tensor, global_count: tf.Tensor) -> tf.Tensor:
    """This replica's share of a mean over the global batch: sum(values) / global_count."""
    return tf.reduce_sum(tf.cast(values, tf.float32)) / global_count


def replica_weighted_mean(
    values: tf.Tensor, weights: tf.Tensor, global_weight: tf.Tensor, epsilon: float = 0.0
) -> tf.Tensor:
    """This replica's share of sum(w * v) / (sum(w) + epsilon) over the global batch.

    Args:
      values: float Tensor with n elements.
      weights: float Tensor with n elements.
      global_weight: float32 scalar, sum(weights) over all replicas.
      epsilon: added to the global weight (the masked LM loss uses 1e-5).
    """
    values = tf.reshape(tf.cast(values, tf.float32), [-1])
    weights = tf.reshape(tf.cast(weights, tf.float32), [-1])
    return tf.reduce_sum(weights * values) / (global_weight + epsilon)


def accuracy_sums(
    labels: tf.Tensor, predictions: tf.Tensor, weights: tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """(sum(w * [label == prediction]), sum(w)), the sums of `tf.metrics.accuracy`."""
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int32), [-1])
    correct = tf.cast(tf.equal(labels, predictions), tf.float32)
    if weights is None:
        weights = tf.ones_like(correct)
    weights = tf.reshape(tf.cast(weights, tf.float32), [-1])
    return tf.reduce_sum(weights * correct), tf.reduce_sum(weights)


def mean_sums(values: tf.Tensor, weights: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """(sum(w * values), sum(w)), the sums of `tf.metrics.mean`."""
    values = tf.reshape(tf.cast(values, tf.float32), [-1])
    if weights is None:
        weights = tf.ones_like(values)
    weights = tf.reshape(tf.cast(weights, tf.float32), [-1])
    return tf.reduce_sum(weights * values), tf.reduce_sum(weights)


class Task:
    """What the loop needs from a model: build it, its loss, its eval metrics.

    Subclasses implement `build_model`, `replica_loss` and `metric_sums`; they
    may extend `global_totals`. The model is called as
    `model(features, training=...)` and returns a dict of outputs.

    Example (a classifier; see `official_bert.pretraining.PretrainingTask`):

        class ClassifierTask(Task):
            def build_model(self, dtype_policy, use_one_hot_embeddings):
                return BertClassifier(config, num_labels, use_one_hot_embeddings,
                                      dtype=dtype_policy)
            def replica_loss(self, outputs, features, totals):
                return replica_mean(outputs["per_example_loss"], totals["num_examples"])
            def metric_sums(self, outputs, features):
                predictions = tf.argmax(outputs["logits"], axis=-1)
                weights = features.get("is_real_example")
                return {"eval_accuracy": accuracy_sums(features["label_ids"], predictions, weights),
                        "eval_loss": mean_sums(outputs["per_example_loss"], weights)}
    """

    def build_model(
        self, dtype_policy: keras.DTypePolicy, use_one_hot_embeddings: bool
    ) -> keras.Model:
        """Creates the model (called inside the strategy's scope)."""
        raise NotImplementedError

    def global_totals(self, features: Features) -> dict[str, tf.Tensor]:
        """Float32 scalars of this replica's batch that the loop sums over replicas.

        The sums are passed to `replica_loss` as `totals`. The default is the
        number of examples, `num_examples`.
        """
        return {"num_examples": batch_size_of(features)}

    def replica_loss(
        self, outputs: Mapping[str, tf.Tensor], features: Features, totals: Mapping[str, tf.Tensor]
    ) -> tf.Tensor:
        """This replica's share of the global batch's loss (float32 scalar).

        The shares of all replicas must add up to the loss that one device
        computes on the whole global batch: use `replica_mean` and
        `replica_weighted_mean` with the global `totals`.
        """
        raise NotImplementedError

    def metric_sums(self, outputs: Mapping[str, tf.Tensor], features: Features) -> MetricSums:
        """Eval metrics of this replica's batch as (numerator, denominator) sums."""
        return {}

    def metric_values(self, sums: Mapping[str, tuple[float, float]]) -> dict[str, float]:
        """The final metrics from the (numerator, denominator) sums over the whole eval set.

        The default is numerator / denominator (0 when the denominator is 0)
        for every sum. A task whose metric is not a ratio of sums (Matthews
        correlation, F1) sums counts (e.g. a confusion matrix) and turns them
        into its metrics here, leaving the counts out of the result.
        """
        return {name: n / d if d else 0.0 for name, (n, d) in sums.items()}


# --------------------------------------------------------------------------- config


@dataclasses.dataclass
class TrainerConfig:
    """Settings of a `Trainer`, named after the flags that set them.

    Attributes:
      output_dir: where checkpoints, summaries and results are written.
      learning_rate: peak learning rate of `create_optimizer`.
      num_train_steps: the step count training ends at (None when not training;
        the schedule then decays over 1 step, which no one uses).
      num_warmup_steps: linear warm-up steps.
      save_checkpoints_steps: a checkpoint every this many steps (and at the end).
      iterations_per_loop: the most steps run in one `tf.function` call.
      log_every_n_steps: a progress line (step, loss, learning rate,
        examples/s, model GFLOP/s and MFU, ETA) every this many steps; 0 (the default) logs about
        every `AUTO_LOG_SECONDS` seconds, measured from the step time.
      gradient_accumulation_steps: one optimizer step per this many
        micro-batches of `train_batch_size / N` examples; the global batch of
        one update (and so the schedule, `num_train_steps` and the logs) is
        the same as without accumulation.
      optimizer: `adamw` (the original's) or `lamb` (see official_bert.lamb).
      exclude_from_layer_adaptation: LAMB only: regexes of variables without
        the trust ratio; None (or []) uses the weight-decay exclusions (TF
        Addons, Model Garden), `lamb.ADAPT_EVERY_VARIABLE` gives every variable
        the ratio (NVIDIA's BERT).
      jit_compile: compile the forward and backward pass with XLA (with a
        bfloat16 compute dtype on CPU, only the elementwise blocks between the
        matmuls: XLA's CPU backend would run bfloat16 matmuls in float32; see
        `layers.xla_elementwise`).
      mixed_precision: `float32`, `mixed_float16` or `mixed_bfloat16`.
      bias_correction: passed to `create_optimizer`.
      use_one_hot_embeddings: look embeddings up by one-hot matmul; None (the
        default) decides from the strategy, as the original did from
        `--use_tpu`: one-hot on a TPU, gathers elsewhere.
      max_checkpoints_to_keep: as the TF1 Saver's `max_to_keep`.
      dropout_seed: `--random_seed`: every training step's dropout masks are
        drawn statelessly from this seed, the global step, the replica and the
        micro-batch (`layers.seeded_dropout`), so a resumed run draws the
        masks the uninterrupted run drew. None (the default, the original's
        way) draws them from TensorFlow's stateful generator.
    """

    output_dir: str
    learning_rate: float = 5e-5
    num_train_steps: int | None = None
    num_warmup_steps: int | None = None
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    log_every_n_steps: int = 0
    gradient_accumulation_steps: int = 1
    optimizer: str = "adamw"
    exclude_from_layer_adaptation: list[str] | None = None
    jit_compile: bool = False
    mixed_precision: str = "float32"
    bias_correction: bool = False
    use_one_hot_embeddings: bool | None = None
    max_checkpoints_to_keep: int = checkpoints.DEFAULT_MAX_TO_KEEP
    dropout_seed: int | None = None

    def validate(self) -> None:
        """Raises InputError naming the flag whose value cannot work."""
        if not self.output_dir:
            raise InputError("--output_dir must be set.")
        for name in (
            "save_checkpoints_steps",
            "iterations_per_loop",
            "gradient_accumulation_steps",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"--{name} must be at least 1; got {getattr(self, name)}.")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"--optimizer={self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}."
            )
        if self.optimizer != "lamb" and self.exclude_from_layer_adaptation is not None:
            raise InputError(
                "--lamb_layer_adaptation (exclude_from_layer_adaptation) applies to "
                f"--optimizer=lamb only; got --optimizer={self.optimizer}."
            )
        distribute.dtype_policy(self.mixed_precision)


def check_batch_size(
    flag: str, batch_size: int, strategy: tf.distribute.Strategy, accumulation_steps: int = 1
) -> None:
    """Raises InputError naming `--flag` unless the batch splits evenly over the replicas
    (and, with gradient accumulation, each replica's share over the micro-batches)."""
    if accumulation_steps < 1:
        raise InputError(
            f"--gradient_accumulation_steps must be at least 1; got {accumulation_steps}."
        )
    replicas = strategy.num_replicas_in_sync
    if batch_size < 1 or batch_size % replicas:
        raise InputError(
            f"--{flag}={batch_size} must be a positive multiple of the number of replicas "
            f"({replicas}): each replica gets {flag} / {replicas} examples."
        )
    if (batch_size // replicas) % accumulation_steps:
        raise InputError(
            f"--{flag}={batch_size} over {replicas} replica(s) does not split into "
            f"--gradient_accumulation_steps={accumulation_steps} equal micro-batches: "
            f"{flag} must be a multiple of {replicas * accumulation_steps}."
        )


def make_optimizer(config: TrainerConfig) -> AdamWeightDecayOptimizer:
    """`create_optimizer` with the config's learning rate, steps and bias correction."""
    return create_optimizer(
        config.learning_rate,
        config.num_train_steps or 1,
        config.num_warmup_steps or 0,
        bias_correction=config.bias_correction,
        optimizer=config.optimizer,
        exclude_from_layer_adaptation=config.exclude_from_layer_adaptation,
    )


# --------------------------------------------------------------------------- trainer


class Trainer:
    """Builds a task's model and optimizer under a strategy; trains, evaluates, saves.

    Args:
      task: the `Task`.
      config: the `TrainerConfig`.
      strategy: a `tf.distribute.Strategy` (default: the current one).

    Attributes:
      model: the Keras model (variables named as in the original's checkpoints).
      on_tpu: whether the strategy is a `TPUStrategy` (fixed batch shapes,
        one-hot embeddings).
      optimizer: the `AdamWeightDecayOptimizer` of `create_optimizer`.
      strategy, task, config.
    """

    def __init__(
        self, task: Task, config: TrainerConfig, strategy: tf.distribute.Strategy | None = None
    ):
        config.validate()
        self.task = task
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.is_chief = distribute.is_chief(self.strategy)
        # The checkpoint this run resumed from: the only one it may overwrite.
        self._restored_from: str | None = None
        self.on_tpu = distribute.is_tpu_strategy(self.strategy)
        use_one_hot_embeddings = config.use_one_hot_embeddings
        if use_one_hot_embeddings is None:
            use_one_hot_embeddings = self.on_tpu
        policy = distribute.dtype_policy(config.mixed_precision)
        with self.strategy.scope():
            self.model = task.build_model(policy, use_one_hot_embeddings)
            self.optimizer = make_optimizer(config)
            self._loss_scale = policy.name == "mixed_float16"
            if self._loss_scale:
                self._train_optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            else:
                self._train_optimizer = self.optimizer
            self._train_optimizer.build(self.model.trainable_variables)
        jit_matmuls = distribute.xla_compiles_matmuls(policy, self.strategy)
        if config.jit_compile and not self.on_tpu and jit_matmuls:
            # Only the model's math is compiled: the all-reduces and the
            # optimizer stay outside (XLA cannot compile collectives on CPU),
            # and the optimizer's per-variable update is compiled on its own.
            self._forward_backward = tf.function(
                self._forward_backward_compiled, jit_compile=True, reduce_retracing=True
            )
        elif config.jit_compile and not self.on_tpu:
            # bfloat16 on CPU: XLA would run the matmuls in float32, so they
            # stay TensorFlow's (oneDNN, AMX) and XLA compiles the elementwise
            # blocks between them, forward and backward.
            self._forward_backward = xla_elementwise()(self._forward_backward_eager)
        else:
            self._forward_backward = self._forward_backward_eager
        with tf.init_scope():
            # Read by the training loop before every step: see `request_stop`.
            self._stop_requested = tf.Variable(False, trainable=False, name="stop_requested")
        self._train_loop = tf.function(self._train_loop_eager)
        self._eval_step = tf.function(self._eval_step_eager, reduce_retracing=True)
        self._predict_step = tf.function(self._predict_step_eager, reduce_retracing=True)

    # ----------------------------------------------------------------- state

    @property
    def global_step(self) -> int:
        """The optimizer's iteration count: the original's `global_step`."""
        return int(self.optimizer.iterations.numpy())

    def restore(self, init_checkpoint: str | None = None) -> checkpoints.RestoreResult | None:
        """Resumes from `output_dir`'s latest checkpoint, else initialises from `init_checkpoint`.

        Resuming restores every model variable, the Adam slots and
        `global_step`, and fails if any is missing. `init_checkpoint` restores
        the model variables it has (not the optimizer), like the original's
        `init_from_checkpoint`, and logs which variables it initialised.

        Raises:
          ValueError: a variable's shape differs between the checkpoint and the
            model (naming the variable, both shapes and the checkpoint).
        """
        latest = checkpoints.latest_checkpoint(self.config.output_dir)
        if latest:
            _check_no_newer_checkpoints(self.config.output_dir, latest)
            logging.info("Resuming from %s (the latest checkpoint in --output_dir).", latest)
            try:
                result = checkpoints.restore_checkpoint(
                    latest, self.model, self.optimizer, strict=True
                )
            except ValueError as error:
                raise InputError(
                    f"{error} --output_dir={self.config.output_dir} holds a checkpoint of "
                    "another model or run: use a new --output_dir, or the bert_config_file "
                    "of that run."
                ) from None
            result.resumed = True
            self._restored_from = result.checkpoint
            return result
        if init_checkpoint:
            try:
                result = checkpoints.restore_checkpoint(init_checkpoint, self.model)
            except ValueError as error:
                raise InputError(f"{error} (--init_checkpoint={init_checkpoint})") from None
            if not result.initialized:
                raise InputError(
                    f"--init_checkpoint={init_checkpoint} shares no variable name with the "
                    "model: is it a BERT checkpoint in the original's format?"
                )
            return result
        logging.info("No checkpoint in --output_dir and no --init_checkpoint: random init.")
        logging.info("**** Trainable Variables ****")
        for variable in self.model.trainable_variables:
            logging.info("  name = %s:0, shape = %s", variable.path, tuple(variable.shape))
        return None

    def save_checkpoint(self) -> str | None:
        """Writes `output_dir/model.ckpt-<global_step>` (chief only); returns its prefix."""
        step = self.global_step
        if not self.is_chief:
            return None
        prefix = checkpoints.save_checkpoint(
            self.config.output_dir,
            self.model,
            self.optimizer,
            max_to_keep=self.config.max_checkpoints_to_keep,
            overwrite=(self._restored_from,) if self._restored_from else (),
        )
        logging.info("Saved checkpoint for step %d: %s", step, prefix)
        return prefix

    # ----------------------------------------------------------------- input

    def distribute(self, data: tf.data.Dataset | Callable) -> Any:
        """A distributed dataset from a dataset of global batches or a dataset function.

        A `tf.data.Dataset` yields global batches, split across replicas. A
        function `f(input_context) -> tf.data.Dataset` yields per-replica
        batches (`input_context.get_per_replica_batch_size(global_batch_size)`),
        sharded by `input_context.input_pipeline_id` on multiple workers.
        """
        if isinstance(data, tf.data.Dataset):
            return self.strategy.experimental_distribute_dataset(data)
        return self.strategy.distribute_datasets_from_function(data)

    # ----------------------------------------------------------------- training

    def _forward_backward_eager(self, features, totals, dropout_key=None):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            with seeded_dropout(dropout_key):
                outputs = self.model(features, training=True)
            loss = self.task.replica_loss(outputs, features, totals)
            scaled_loss = self._train_optimizer.scale_loss(loss) if self._loss_scale else loss
        grads = tape.gradient(scaled_loss, variables)
        if self._loss_scale:
            # Keras' LossScaleOptimizer densifies gathered (IndexedSlices)
            # gradients when it unscales them; do it here, where it is explicit.
            # The clip then uses the norm of the summed rows (see README).
            grads = [
                tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads
            ]
        # Otherwise gathered gradients reach the optimizer as IndexedSlices: it
        # clips by their norm over positions, as the original's GPU/CPU path,
        # and densifies them before its (dense) cross-replica sum.
        return loss, grads

    def _forward_backward_compiled(self, features, totals, dropout_key=None):
        """`_forward_backward_eager`, traced for XLA to compile whole (`layers.xla_compiled`)."""
        with xla_compiled():
            return self._forward_backward_eager(features, totals, dropout_key)

    def _dropout_key(self, context) -> tf.Tensor | None:
        """The key of this step's dropout masks on this replica (see `seeded_dropout`).

        A function of `dropout_seed`, the global step (the updates made
        before this one) and the replica's id; None when the run is unseeded.
        """
        if self.config.dropout_seed is None:
            return None
        key = tf.constant([self.config.dropout_seed, 0], tf.int64)
        key = tf.random.experimental.stateless_fold_in(
            key, tf.convert_to_tensor(self.optimizer.iterations)
        )
        return tf.random.experimental.stateless_fold_in(key, context.replica_id_in_sync_group)

    def _accumulated_forward_backward(self, features, totals, dropout_key=None):
        """Sums loss and gradients over `gradient_accumulation_steps` micro-batches.

        The replica's batch [b, ...] is split into N micro-batches [b / N, ...];
        each micro-batch's loss is its share of the whole global batch's loss
        (`totals` are the global batch's), so the sums are exactly the loss and
        gradients of one pass over the whole batch. Gathered (IndexedSlices)
        gradients are densified into the sum, and their half squared norms over
        positions summed alongside, for the original's clip.

        Returns:
          (loss, dense gradients, [(variable, half squared norm)] of gathered ones).
        """
        n = self.config.gradient_accumulation_steps
        variables = self.model.trainable_variables

        def micro_batch(i):
            def split(t):
                shape = tf.concat([[n, -1], tf.shape(t)[1:]], axis=0)
                return tf.reshape(t, shape)[i]

            return tf.nest.map_structure(split, features)

        def micro_key(i):
            return (
                None
                if dropout_key is None
                else tf.random.experimental.stateless_fold_in(dropout_key, i)
            )

        loss, grads = self._forward_backward(micro_batch(0), totals, micro_key(0))
        gathered = [i for i, g in enumerate(grads) if isinstance(g, tf.IndexedSlices)]
        half_norms = [tf.nn.l2_loss(tf.cast(grads[i].values, tf.float32)) for i in gathered]
        # Only the gradients that exist are summed (the loop cannot carry None):
        # a variable the loss does not use (SQuAD's pooler) keeps None.
        present = [i for i, g in enumerate(grads) if g is not None]
        sums = [tf.convert_to_tensor(grads[i]) for i in present]
        for i in tf.range(1, n):
            micro_loss, micro_grads = self._forward_backward(micro_batch(i), totals, micro_key(i))
            loss += micro_loss
            half_norms = [
                h + tf.nn.l2_loss(tf.cast(micro_grads[j].values, tf.float32))
                for h, j in zip(half_norms, gathered)
            ]
            sums = [g + tf.convert_to_tensor(micro_grads[j]) for g, j in zip(sums, present)]
        grads = [None] * len(grads)
        for i, g in zip(present, sums):
            grads[i] = g
        return loss, grads, [(variables[j], h) for j, h in zip(gathered, half_norms)]

    def _with_gradients(self, grads) -> list[tuple[Any, Any]]:
        """(gradient, variable) pairs of the trainable variables that have a gradient.

        A variable the loss does not use (SQuAD's pooler, as in the original)
        gets no update and no slots; it is logged once, when the step is
        traced, instead of Keras' "Gradients do not exist" warning.
        """
        variables = self.model.trainable_variables
        missing = [v.path for g, v in zip(grads, variables) if g is None]
        if missing:
            logging.info("Not trained (the loss does not depend on them): %s.", ", ".join(missing))
        return [(g, v) for g, v in zip(grads, variables) if g is not None]

    def _replica_train_step(self, features):
        context = tf.distribute.get_replica_context()
        totals = context.all_reduce(SUM, self.task.global_totals(features))
        learning_rate = tf.cast(self.optimizer.learning_rate, tf.float32)
        dropout_key = self._dropout_key(context)
        if self.config.gradient_accumulation_steps > 1:
            loss, grads, half_norms = self._accumulated_forward_backward(
                features, totals, dropout_key
            )
            if half_norms:
                self.optimizer.apply_gradients(
                    self._with_gradients(grads), gathered_half_norms=half_norms
                )
                return loss, batch_size_of(features), learning_rate
        else:
            loss, grads = self._forward_backward(features, totals, dropout_key)
        grads_and_vars = self._with_gradients(grads)
        grads = [g for g, _ in grads_and_vars]
        variables = [v for _, v in grads_and_vars]
        replicas = context.num_replicas_in_sync
        if self._loss_scale and replicas > 1:
            # Keras' LossScaleOptimizer skips a step when *its replica's*
            # gradients are not finite, assuming every replica sees the same
            # gradients. Make it so: each replica holds the mean of the summed
            # gradients, which the optimizer's own all-reduce sums back up.
            grads = [g / replicas for g in context.all_reduce(SUM, grads)]
        self._train_optimizer.apply_gradients(zip(grads, variables))
        return loss, batch_size_of(features), learning_rate

    def _train_loop_eager(self, iterator, num_steps):
        loss_sum = tf.constant(0.0)
        examples = tf.constant(0.0)
        learning_rate = tf.constant(0.0)
        steps = tf.constant(0)
        for _ in tf.range(num_steps):
            # A stop request (SIGINT/SIGTERM, see `train`) ends the call at the
            # next step boundary, however many steps it was given.
            if self._stop_requested:
                break
            loss, count, rate = self.strategy.run(self._replica_train_step, args=(next(iterator),))
            loss_sum += self.strategy.reduce(SUM, loss, axis=None)
            examples += self.strategy.reduce(SUM, count, axis=None)
            learning_rate = self.strategy.experimental_local_results(rate)[0]
            steps += 1
        return {
            "loss": loss_sum / tf.cast(tf.maximum(steps, 1), tf.float32),
            "learning_rate": learning_rate,
            "examples": examples,
            "steps": steps,
        }

    def train_steps(self, iterator, num_steps: int) -> dict[str, float]:
        """Runs up to `num_steps` training steps in one `tf.function` call.

        Args:
          iterator: an iterator over `self.distribute(...)`.
          num_steps: the number of steps (>= 1); fewer run when a stop is
            requested (`request_stop`).

        Returns:
          `loss` (the mean over the steps of the global batch's loss),
          `learning_rate` (the rate the last step used), `examples` and
          `steps` (the number of steps run).
        """
        logs = self._train_loop(iterator, tf.constant(num_steps, tf.int32))
        return {name: float(value.numpy()) for name, value in logs.items()}

    def request_stop(self) -> None:
        """Makes the running (or next) `train_steps` call return at the next step boundary."""
        self._stop_requested.assign(True)

    def _next_stop(self, step: int, target: int, log_every: int, every_n_steps: int = 0) -> int:
        """The next step at which to return to Python: log line, loop size, checkpoint,
        `every_n_steps` callback or end."""
        stops = [target, step + max(1, log_every)]
        for every in (self.config.iterations_per_loop, self.config.save_checkpoints_steps):
            stops.append((step // every + 1) * every)
        if every_n_steps > 0:
            stops.append((step // every_n_steps + 1) * every_n_steps)
        return min(stops)

    def train(
        self,
        data: tf.data.Dataset | Callable,
        num_train_steps: int | None = None,
        *,
        every_n_steps: int = 0,
        on_every_n_steps: Callable[[int], None] | None = None,
    ) -> dict:
        """Trains until `global_step == num_train_steps`, saving checkpoints on the way.

        A progress line (step, loss, learning rate, examples/s, model GFLOP/s
        and model FLOP/s utilisation, ETA) is logged every
        `config.log_every_n_steps` steps, or about every
        `AUTO_LOG_SECONDS` seconds when that is 0; at most
        `config.iterations_per_loop` steps run per `tf.function` call.

        Called from the main thread, training stops on SIGINT or SIGTERM at the
        next step boundary (the steps run in a worker thread so that the
        signal is seen at once), writes a checkpoint and raises
        `TrainingInterrupted`; a second signal exits the process at once
        (the last checkpoint stays intact: checkpoints are written atomically).

        Args:
          data: a dataset function (preferred; see `distribute`) or a dataset of
            global batches; it must not run out before training ends.
          num_train_steps: where to stop; default `config.num_train_steps`.
          every_n_steps: with `on_every_n_steps`, call it at every global step
            that is a multiple of this (the end included when it is one), on
            the same input iterator: training then goes on with the next batch
            of the same stream, so the batches seen do not depend on it. A
            resumed run calls it at the same steps as an uninterrupted one.
          on_every_n_steps: called with the global step (e.g. a dev-set
            evaluation), after the step's summaries and before its checkpoint,
            so a run killed during the call redoes it when it resumes; not
            called when a stop signal ends the loop.

        Returns:
          The logs of the last call (`step`, `loss`, `learning_rate`,
          `examples_per_sec`, `steps_per_sec`, and `model_flops_per_sec` and
          `model_flops_utilization` when the model's FLOPs are known: see
          official_bert.throughput), or {} if training was already done.

        Raises:
          TrainingInterrupted: on SIGINT/SIGTERM, after the checkpoint is written.
        """
        target = num_train_steps if num_train_steps is not None else self.config.num_train_steps
        if not target:
            raise InputError("num_train_steps must be set to train.")
        if every_n_steps < 0:
            raise InputError(f"every_n_steps must be 0 or positive; got {every_n_steps}.")
        callback_every = every_n_steps if on_every_n_steps is not None else 0
        step = self.global_step
        if step >= target:
            logging.info("global_step %d >= num_train_steps %d: nothing to train.", step, target)
            return {}
        logging.info("***** Training from step %d to %d *****", step, target)
        iterator = iter(self.distribute(data))
        writer = self._summary_writer()
        meter = self._throughput_meter(iterator)
        progress = Progress(step, target, self.config.log_every_n_steps)
        logs: dict = {}
        with StopOnSignals(self) as stopper:
            while step < target:
                num_steps = (
                    self._next_stop(step, target, progress.steps_per_call(), callback_every) - step
                )
                start = time.perf_counter()
                result = stopper.call(self.train_steps, iterator, num_steps)
                elapsed = time.perf_counter() - start
                step = self.global_step
                done = int(result["steps"])
                if done:
                    logs = {
                        "step": step,
                        "loss": result["loss"],
                        "learning_rate": result["learning_rate"],
                        "examples_per_sec": result["examples"] / elapsed,
                        "steps_per_sec": done / elapsed,
                    }
                    if meter is not None:
                        logs.update(meter.rates(logs["examples_per_sec"]))
                    progress.update(step, done, elapsed, logs)
                    with writer.as_default(step=step):
                        write_scalar_summary("loss", logs["loss"])
                        write_scalar_summary("learning_rate", logs["learning_rate"])
                        write_scalar_summary("examples/sec", logs["examples_per_sec"])
                        write_scalar_summary("global_step/sec", logs["steps_per_sec"])
                        if meter is not None:
                            write_scalar_summary(
                                "model_gflops/sec", logs["model_flops_per_sec"] / 1e9
                            )
                            write_scalar_summary(
                                "model_flops_utilization", logs["model_flops_utilization"]
                            )
                if stopper.signum is not None:
                    writer.flush()
                    self._stop_on_signal(stopper.signum, step, target)
                if callback_every and done and step % callback_every == 0:
                    on_every_n_steps(step)
                if step % self.config.save_checkpoints_steps == 0 or step >= target:
                    self.save_checkpoint()
        writer.flush()
        return logs

    def _throughput_meter(self, iterator) -> Any:
        """The model's FLOPs per example and the matmul rate, for the progress lines.

        Counted from a trace of the model's forward on the iterator's shapes,
        and measured once per process and dtype (official_bert.throughput),
        before the loop starts; None when the shapes are not static.
        """
        return throughput.measure(
            throughput.training_loss(self.task, self.model),
            iterator.element_spec,
            self.strategy,
            self.config.mixed_precision,
        )

    def _stop_on_signal(self, signum: int, step: int, target: int) -> None:
        """Writes a checkpoint of `step` and raises `TrainingInterrupted`."""
        name = signal.Signals(signum).name
        prefix = None
        if self.is_chief:
            state = checkpoints.latest_checkpoint(self.config.output_dir)
            if state and checkpoints.checkpoint_step(state) == step:
                prefix = state
            else:
                prefix = self.save_checkpoint()
        where = f"checkpoint {prefix}" if prefix else f"the chief's checkpoint of step {step}"
        message = (
            f"{name} received: training stopped at step {step} of {target}, {where} written. "
            f"Run the same command again (same --output_dir={self.config.output_dir}) to "
            "resume from it."
        )
        # Not logged here: the entry points print the exception's message.
        raise TrainingInterrupted(message, signum, prefix)

    def _summary_writer(self):
        if self.is_chief:
            return tf.summary.create_file_writer(self.config.output_dir)
        return tf.summary.create_noop_writer()

    # ----------------------------------------------------------------- evaluation

    def _eval_step_eager(self, batch):
        def replica_fn(features):
            context = tf.distribute.get_replica_context()
            totals = context.all_reduce(SUM, self.task.global_totals(features))
            outputs = self.model(features, training=False)
            loss = self.task.replica_loss(outputs, features, totals)
            return loss, self.task.metric_sums(outputs, features)

        loss, sums = self.strategy.run(replica_fn, args=(batch,))

        def reduce(value):
            return self.strategy.reduce(SUM, value, axis=None)

        return reduce(loss), tf.nest.map_structure(reduce, sums)

    def evaluate(
        self, data: tf.data.Dataset | Callable, steps: int | None = None, *, summaries: bool = True
    ) -> dict:
        """Evaluates the current model on `steps` batches (all of them if None).

        Args:
          summaries: write the results as TensorBoard scalars at the global
            step under `output_dir/eval` (as the Estimator did).

        Returns:
          The task's metrics as numpy float32 (`Task.metric_values` of the sums
          over the batches: by default numerator sum / denominator sum, 0 if
          the denominator is 0), `loss` (float32, the mean of the batches'
          losses) and `global_step` (int64), as the original's
          `estimator.evaluate`.
        """
        numerators: dict[str, float] = {}
        denominators: dict[str, float] = {}
        losses = []
        for index, batch in enumerate(self.distribute(data)):
            if steps is not None and index >= steps:
                break
            loss, sums = self._eval_step(batch)
            losses.append(float(loss.numpy()))
            for name, (numerator, denominator) in sums.items():
                numerators[name] = numerators.get(name, 0.0) + float(numerator.numpy())
                denominators[name] = denominators.get(name, 0.0) + float(denominator.numpy())
        values = self.task.metric_values(
            {name: (numerators[name], denominators[name]) for name in numerators}
        )
        result: dict[str, Any] = {name: np.float32(value) for name, value in values.items()}
        result["loss"] = np.float32(np.mean(losses) if losses else 0.0)
        result["global_step"] = np.int64(self.global_step)
        logging.info("***** Eval results *****")
        for key in sorted(result):
            logging.info("  %s = %s", key, str(result[key]))
        if self.is_chief and summaries:
            # As the Estimator: every metric at its global step, under output_dir/eval.
            writer = tf.summary.create_file_writer(os.path.join(self.config.output_dir, "eval"))
            with writer.as_default(step=self.global_step):
                for key in sorted(result):
                    if key != "global_step":
                        write_scalar_summary(key, float(result[key]))
            writer.flush()
            writer.close()
        return result

    def _predict_step_eager(self, batch):
        outputs = self.strategy.run(lambda f: self.model(f, training=False), args=(batch,))
        return tf.nest.map_structure(self.strategy.experimental_local_results, outputs)

    def predict(self, dataset: tf.data.Dataset, keys: list[str]) -> dict[str, np.ndarray]:
        """Runs the model on every batch of `dataset` (global batches, in order).

        Returns:
          {key: numpy array of the outputs `key` of all examples, concatenated}.
        """
        collected: dict[str, list] = {key: [] for key in keys}
        for batch in self.distribute(dataset):
            outputs = self._predict_step(batch)
            for key in keys:
                collected[key].extend(t.numpy() for t in outputs[key])
        return {
            key: np.concatenate(parts) if parts else np.zeros([0])
            for key, parts in collected.items()
        }


def _check_no_newer_checkpoints(output_dir: str, latest: str) -> None:
    """Refuses to resume when a newer (unrestorable) checkpoint would be overwritten."""
    step = checkpoints.checkpoint_step(latest)
    newer = [
        p for s, p in checkpoints.checkpoints_by_step(output_dir) if step is not None and s > step
    ]
    if newer:
        raise InputError(
            f"--output_dir={output_dir} holds {', '.join(os.path.basename(p) for p in newer)}, "
            f"newer than {os.path.basename(latest)} but not restorable; resuming would overwrite "
            "it. Move it out of the folder (or restore its missing files) and run again."
        )
