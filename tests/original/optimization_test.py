# Adapted from google-research/bert's optimization_test.py (Apache-2.0).
#
# What changed, and why: the original builds a TF1 graph (tf.get_variable,
# tf.gradients, a train op run 100 times in a session). Keras 3 optimizers do
# not run in TF1 sessions, so the same steps run eagerly: the variable is a
# tf.Variable with the same initial value, the gradient comes from a
# GradientTape, and `apply_gradients` is called without `global_step` (the
# optimizer's `iterations` is it). The optimizer, its learning rate, the loss,
# the 100 steps, the target and the tolerance are the original's.
import tensorflow as tf

from official_bert import optimization


class OptimizationTest(tf.test.TestCase):
    def test_adam(self):
        w = tf.Variable([0.1, -0.2, -0.1], name="w")
        x = tf.constant([0.4, 0.2, -0.5])
        optimizer = optimization.AdamWeightDecayOptimizer(learning_rate=0.2)

        @tf.function
        def train_op():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(x - w))
            tvars = [w]
            grads = tape.gradient(loss, tvars)
            optimizer.apply_gradients(zip(grads, tvars))

        for _ in range(100):
            train_op()
        w_np = w.numpy()
        self.assertAllClose(w_np.flat, [0.4, 0.2, -0.5], rtol=1e-2, atol=1e-2)


if __name__ == "__main__":
    tf.test.main()
