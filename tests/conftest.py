"""Test-session set-up shared by all tests."""

import logging
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from official_bert import cli  # noqa: E402

# Without TensorFlow's start-up lines on stderr (pytest-xdist's worker processes do
# not capture it while conftest.py is imported).
with cli.quiet_tensorflow_startup():
    import tensorflow as tf  # noqa: E402
cli.initialize_devices_quietly()

# Two logical CPU devices, so tf.distribute tests can mirror over 2 replicas on
# a machine without accelerators. This must happen before TensorFlow
# initialises its devices, hence here, at import time of the test session.
_cpus = tf.config.list_physical_devices("CPU")
if _cpus:
    try:
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:  # devices already initialised by an earlier import
        pass

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (its own hook)
def pytest_collection_modifyitems(config, items):
    """Groups the tests for pytest-xdist (`make test` passes --dist loadgroup).

    Tests marked `localhost_cluster` (processes listening on localhost ports) run in
    one process, one after another: two clusters started at once could be handed
    the same free port. The other tests of a module run in one process too, so a
    module-scoped fixture (an export, a training run, the scripts' --help) is built
    once, not once in each process.
    """
    for item in items:
        if item.get_closest_marker("localhost_cluster"):
            item.add_marker(pytest.mark.xdist_group("localhost_cluster"))
        elif not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    # Longest groups first (`make test` passes --no-loadscope-reorder, so the
    # scheduler hands out groups in this order): a long group started last
    # would run alone on one core at the end.
    items.sort(key=lambda item: -LONGEST_GROUPS.get(_group(item), 0.0))


def _group(item) -> str:
    return item.get_closest_marker("xdist_group").args[0]


# The groups that take longest, with their seconds in `make test` on the 2-core
# machine (2026-12-03): only the order matters; the rest follow in file order.
LONGEST_GROUPS = {
    "localhost_cluster": 119, "test_stability": 114, "test_training": 95, "test_export": 92,
    "test_run_classifier": 83, "test_signals": 82, "test_mixed_precision": 68,
    "test_seeded_resume": 65, "test_reproducibility": 60, "test_gradient_accumulation": 45,
    "test_run_squad": 43, "test_eval_during_training": 40, "test_run_pretraining": 38,
    "test_squad_data": 37, "test_cli": 37, "test_squad_postprocess": 34, "test_checkpoints": 32,
    "test_package": 24, "test_clip_norm_original": 24, "test_convert_checkpoint": 21,
    "test_modeling": 20,
}  # fmt: skip


@pytest.fixture(autouse=True, scope="session")
def _temp_files_stay_in_pytests_folder(tmp_path_factory):
    """TMPDIR is a folder of pytest's own (pruned by pytest after 3 sessions) for the
    whole session, subprocesses included: processes the tests kill (SIGKILL, the
    second signal's `os._exit`) cannot remove AutoGraph's `__autograph_generated_file*.py`
    files, which would otherwise pile up in /tmp."""
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("tmpdir"))
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    yield
    if previous is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = previous
    tempfile.tempdir = None


@pytest.fixture(autouse=True)
def _absl_logs_follow_caplog():
    """Each test starts with the absl logger at NOTSET, so `caplog.at_level(...)` decides
    what it captures whatever earlier tests did (parsing absl flags or TensorFlow's
    SavedModel code set the absl logger's own level); the level is restored after."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    yield
    logger.setLevel(level)


def two_cpu_mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """A MirroredStrategy over the 2 logical CPUs, with collective keys of its own.

    Every MirroredStrategy of a process numbers its collectives from the same
    keys (TF's `_collective_key_base` is never advanced), so a second strategy
    can collide with an earlier one's collectives of other shapes ("Shape
    mismatch in the collective instance"). Advancing the base before each new
    strategy avoids it.
    """
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest.py must configure 2 logical CPU devices"
    tf.distribute.MirroredStrategy._collective_key_base += 1_000_000
    return tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
