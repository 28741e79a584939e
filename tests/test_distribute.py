"""official_bert.distribute: strategies and their private TensorFlow hooks."""

import numpy as np
import tensorflow as tf

from official_bert import distribute


def test_two_mirrored_strategies_in_one_process_do_not_collide():
    # TensorFlow's private `_collective_key_base` is what get_strategy advances.
    assert hasattr(tf.distribute.MirroredStrategy, "_collective_key_base"), (
        "tf.distribute.MirroredStrategy._collective_key_base is gone: update distribute.py"
    )
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    assert len(devices) == 2, "tests/conftest.py must configure 2 logical CPU devices"
    results = []
    for width in (3, 5):  # different shapes: colliding collectives would mismatch
        strategy = distribute.get_strategy("mirrored", devices=devices)

        @tf.function
        def step(strategy=strategy, width=width):
            def replica_fn():
                context = tf.distribute.get_replica_context()
                return context.all_reduce("sum", tf.ones([width]))

            return strategy.run(replica_fn)

        results.append(strategy.experimental_local_results(step())[0].numpy())
    np.testing.assert_array_equal(results[0], np.full([3], 2.0))
    np.testing.assert_array_equal(results[1], np.full([5], 2.0))
