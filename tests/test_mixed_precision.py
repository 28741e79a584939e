"""Mixed precision: float32 state whatever the policy, and bfloat16 training that tracks float32.

Keras mixed precision as intended: variables, optimizer slots, checkpoints,
layer-norm statistics, softmax and losses in float32; matmuls in the compute
dtype. `mixed_float16` keeps its dynamic loss scaling on CPU, and the
`--jit_compile` path of `mixed_bfloat16` on CPU (TensorFlow's matmuls, XLA
blocks between them: `layers.xla_elementwise`) computes what the plain path
computes.
"""

import numpy as np
import pytest
import tensorflow as tf

from official_bert import layers
from official_bert.modeling import BertConfig
from official_bert.models import BertPretrainer
from official_bert.pretraining import PretrainingTask
from official_bert.training import Trainer, TrainerConfig

SEQ, PREDICTIONS, BATCH = 16, 4, 8

# A tiny BERT (vocabulary of 60 ids) with dropout on, as in pretraining.
CONFIG = BertConfig(
    vocab_size=60,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=SEQ,
)


def pretraining_batches(num_batches: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`num_batches` batches of a learnable task: the masked id is the id one position left."""
    rng = np.random.default_rng(seed)
    n = num_batches * BATCH
    ids = rng.integers(5, CONFIG.vocab_size, [n, SEQ]).astype(np.int32)
    positions = np.sort(
        np.stack([rng.choice(np.arange(1, SEQ), PREDICTIONS, replace=False) for _ in range(n)]),
        axis=1,
    ).astype(np.int32)
    masked_ids = np.take_along_axis(ids, positions - 1, axis=1)
    return {
        "input_ids": ids,
        "input_mask": np.ones([n, SEQ], np.int32),
        "segment_ids": (np.arange(SEQ)[None] >= SEQ // 2).repeat(n, 0).astype(np.int32),
        "masked_lm_positions": positions,
        "masked_lm_ids": masked_ids.astype(np.int32),
        "masked_lm_weights": np.ones([n, PREDICTIONS], np.float32),
        "next_sentence_labels": rng.integers(0, 2, [n, 1]).astype(np.int32),
    }


def make_trainer(tmp_path, policy: str, jit: bool = False, seed: int = 0) -> Trainer:
    tf.keras.utils.set_random_seed(seed)
    return Trainer(
        PretrainingTask(CONFIG),
        TrainerConfig(
            output_dir=str(tmp_path),
            learning_rate=1e-3,
            num_train_steps=200,
            num_warmup_steps=20,
            jit_compile=jit,
            mixed_precision=policy,
        ),
    )


def train(trainer: Trainer, steps: int, seed: int = 0) -> dict[str, float]:
    batches = tf.data.Dataset.from_tensor_slices(pretraining_batches(25, seed))
    iterator = iter(trainer.distribute(batches.batch(BATCH, drop_remainder=True).repeat()))
    return trainer.train_steps(iterator, steps)


def final_loss(tmp_path, policy: str, seed: int, jit: bool = False) -> float:
    trainer = make_trainer(tmp_path / f"{policy}{jit}{seed}", policy, jit, seed)
    train(trainer, 180, seed)
    return train(trainer, 20, seed)["loss"]  # mean loss of steps 181-200


# Measured (this test's setup, seeds 0-4, 2 CPU cores): the mean loss of steps
# 181-200 was 4.07-4.23 in float32 (from about ln(60) + ln(2) = 4.79 at the
# start), a seed-to-seed spread of 0.155. mixed_bfloat16 differed from float32
# of the same seed by at most 0.0012 without XLA and 0.0010 with --jit_compile
# (AMD EPYC, AVX512_BF16): the dropout noise is float32 in every policy, so the
# masks are float32's and the gap is the bfloat16 rounding alone. (When the
# noise was bfloat16, as tf.nn.dropout draws it, the gap was -0.071..+0.024.)
# The tolerance is about 8x the largest gap; a bfloat16 path that stops
# learning ends near 4.8 and fails it.
BFLOAT16_LOSS_TOLERANCE = 0.01
BFLOAT16_XLA_LOSS_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def float32_final_loss(tmp_path_factory):
    loss = final_loss(tmp_path_factory.mktemp("float32"), "float32", seed=0)
    assert loss < 4.5  # it learned: the initial loss is about 4.8
    return loss


def test_200_steps_of_mixed_bfloat16_end_at_the_loss_of_float32(tmp_path, float32_final_loss):
    loss = final_loss(tmp_path, "mixed_bfloat16", seed=0)
    assert abs(loss - float32_final_loss) < BFLOAT16_LOSS_TOLERANCE


def test_200_steps_of_mixed_bfloat16_with_jit_compile_end_at_the_loss_of_float32(
    tmp_path, float32_final_loss
):
    loss = final_loss(tmp_path, "mixed_bfloat16", seed=0, jit=True)
    assert abs(loss - float32_final_loss) < BFLOAT16_XLA_LOSS_TOLERANCE


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_variables_slots_and_losses_stay_float32_under_the_policy(tmp_path, policy):
    trainer = make_trainer(tmp_path, policy)
    train(trainer, 2)
    assert trainer.model.variables
    assert {v.dtype for v in trainer.model.variables} == {"float32"}
    assert {v.dtype for v in trainer.optimizer.variables if "iteration" not in v.name} == {
        "float32"
    }
    outputs = trainer.model(
        {k: v[:BATCH] for k, v in pretraining_batches(1).items()}, training=False
    )
    assert {outputs[k].dtype for k in outputs} == {tf.float32}


def test_layer_norm_and_softmax_compute_in_float32_and_return_the_compute_dtype():
    norm = layers.LayerNorm(dtype="mixed_bfloat16", name="LayerNorm")
    x = tf.constant([[1000.0, 1001.0, 1002.0, 1003.0]])  # bfloat16 cannot hold 1001
    # Statistics of the float32 input, not of its bfloat16 rounding.
    y = norm(x)
    assert y.dtype == tf.bfloat16
    expected = (x - tf.reduce_mean(x)) / tf.math.reduce_std(x)
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), expected.numpy(), rtol=1e-2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("noise_given", [False, True])
def test_dropout_of_low_precision_values_drops_rate_and_scales_in_float32(dtype, noise_given):
    """tf.nn.dropout on bfloat16 drops 10.16% (its bfloat16 noise) and scales by
    1.109375 (1 / 0.9 in bfloat16); float16 scales by 1.111328. The port keeps
    `noise >= rate` on float32 noise and rounds x * (1 / 0.9) once."""
    rate = 0.1
    tf.random.set_seed(5)
    x32 = tf.abs(tf.random.normal([4_000_000]))
    x = tf.cast(x32, dtype)
    if noise_given:
        y = layers.dropout_with_noise(x, rate, layers.dropout_noise(x, rate, training=True))
    else:
        y = layers.dropout(x, rate, training=True)
    assert y.dtype == x.dtype
    y, x = tf.cast(y, tf.float32).numpy(), tf.cast(x, tf.float32).numpy()
    kept = y != 0
    # 4M draws: the kept fraction's standard deviation is 1.5e-4.
    assert abs(kept.mean() - (1 - rate)) < 8e-4, kept.mean()
    scaled = tf.cast(tf.cast(x[kept], tf.float32) * (1.0 / (1.0 - rate)), dtype)
    np.testing.assert_array_equal(y[kept], tf.cast(scaled, tf.float32).numpy())
    # So the mean is kept (sampling noise 3e-4 of it; the bfloat16 rounding of the
    # scale alone would shrink it by 1.6e-3).
    assert abs(y.mean() / x.mean() - 1) < 1e-3


def test_checkpoints_of_mixed_bfloat16_hold_the_float32_names_and_dtypes(tmp_path):
    trainer = make_trainer(tmp_path, "mixed_bfloat16")
    train(trainer, 1)
    dtypes = tf.train.load_checkpoint(trainer.save_checkpoint()).get_variable_to_dtype_map()
    names = {v.path for v in trainer.model.trainable_variables}
    # The original's names: each variable, its two Adam slots and global_step.
    expected = names | {f"{n}/adam_m" for n in names} | {f"{n}/adam_v" for n in names}
    assert "bert/embeddings/word_embeddings" in names
    assert dtypes.keys() == expected | {"global_step"}
    assert {dtype for name, dtype in dtypes.items() if name != "global_step"} == {tf.float32}


def test_mixed_float16_trains_on_cpu_with_dynamic_loss_scaling(tmp_path):
    trainer = make_trainer(tmp_path, "mixed_float16")
    first = train(trainer, 1)["loss"]
    train(trainer, 40)
    logs = train(trainer, 20)
    assert np.isfinite(first) and np.isfinite(logs["loss"])
    assert logs["loss"] < first - 0.1
    # Steps with overflowing gradients are skipped while the scale comes down.
    assert 0 < trainer.global_step <= 61
    scale = float(trainer._train_optimizer.dynamic_scale.numpy())
    assert np.isfinite(scale) and scale >= 1.0


def test_xla_elementwise_blocks_compute_what_the_plain_layers_compute():
    # Dropout off: the two paths run the same ops, only compiled differently.
    model = BertPretrainer(CONFIG)
    features = {k: v[:BATCH] for k, v in pretraining_batches(1).items()}

    @tf.function
    def loss_and_grads():
        with tf.GradientTape() as tape:
            loss = model(features, training=False)["total_loss"]
        return loss, tape.gradient(loss, model.trainable_variables)

    plain_loss, plain_grads = loss_and_grads()
    with layers.xla_elementwise():
        fused_loss, fused_grads = tf.function(loss_and_grads.python_function)()
    np.testing.assert_allclose(fused_loss.numpy(), plain_loss.numpy(), rtol=1e-5)
    for plain, fused in zip(plain_grads, fused_grads):
        np.testing.assert_allclose(
            tf.convert_to_tensor(fused).numpy(),
            tf.convert_to_tensor(plain).numpy(),
            rtol=1e-4,
            atol=1e-6,
        )
