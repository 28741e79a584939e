"""The installed package: top-level names, the configs lookup, and a real wheel install.

The wheel test builds a wheel of a copy of the project (setuptools, without
build isolation: nothing is downloaded), installs it without dependencies
into a fresh virtualenv that sees this environment's packages (TensorFlow is
not installed again) and runs a console script and the configs lookup from
there, outside the checkout.
"""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv

import pytest
import tomllib

import official_bert
from official_bert import configs
from official_bert.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a wheel is built from (the rest of a checkout is not shipped).
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_DIRS = ("official_bert", "configs", "sample_data")
CONSOLE_SCRIPTS = (
    "bert-create-pretraining-data",
    "bert-run-pretraining",
    "bert-run-classifier",
    "bert-run-squad",
    "bert-extract-features",
    "bert-convert-checkpoint",
    "bert-export",
    "bert-demo",
    "bert-stability",
)


def test_top_level_names_are_the_library_classes():
    from official_bert import modeling, models, optimization, tf_tokenization, tokenization

    assert official_bert.BertConfig is modeling.BertConfig
    assert official_bert.BertModel is modeling.BertModel
    assert official_bert.BertClassifier is models.BertClassifier
    assert official_bert.BertPretrainer is models.BertPretrainer
    assert official_bert.FullTokenizer is tokenization.FullTokenizer
    assert official_bert.TFTextTokenizer is tf_tokenization.TFTextTokenizer
    assert official_bert.create_optimizer is optimization.create_optimizer
    assert official_bert.AdamWeightDecayOptimizer is optimization.AdamWeightDecayOptimizer
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert project["tool"]["setuptools"]["dynamic"]["version"]["attr"] == (
        "official_bert.__version__"
    )
    assert official_bert.__version__ == importlib.metadata.version("official_bert")


def test_console_scripts_name_the_cli_functions():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert sorted(scripts) == sorted(CONSOLE_SCRIPTS)
    for target in scripts.values():
        module_name, function = target.split(":")
        module = __import__(module_name, fromlist=[function])
        assert callable(getattr(module, function)), target


def test_configs_path_finds_every_released_config():
    names = configs.names()
    assert len(names) == len(os.listdir(os.path.join(ROOT, "configs")))
    assert "uncased_L-12_H-768_A-12" in names and "uncased_L-2_H-128_A-2" in names
    path = configs.path("uncased_L-12_H-768_A-12")
    assert path == os.path.join(ROOT, "configs", "uncased_L-12_H-768_A-12", "bert_config.json")
    config = official_bert.BertConfig.from_json_file(path)
    assert (config.hidden_size, config.num_hidden_layers) == (768, 12)
    assert configs.path("uncased_L-12_H-768_A-12/bert_config.json") == path


def test_an_unknown_config_name_lists_the_known_ones():
    with pytest.raises(InputError, match="uncased_L-24_H-1024_A-16") as error:
        configs.path("uncased_L-12_H-768")
    assert "'uncased_L-12_H-768'" in str(error.value)


def _copy_project(destination):
    for name in PROJECT_FILES:
        shutil.copy(os.path.join(ROOT, name), destination)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    for name in PROJECT_DIRS:
        shutil.copytree(os.path.join(ROOT, name), os.path.join(destination, name), ignore=ignore)


def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv with the project's wheel installed; yields its bin directory."""
    try:
        import setuptools
        import wheel  # noqa: F401  (bdist_wheel)
    except ImportError as error:
        pytest.skip(f"cannot build a wheel without build isolation: {error} (pip install wheel)")
    if int(setuptools.__version__.split(".")[0]) < 61:
        pytest.skip(f"setuptools {setuptools.__version__} cannot read pyproject.toml (needs 61)")
    root = tmp_path_factory.mktemp("package")
    source, dist, env_dir = root / "source", root / "dist", root / "venv"
    source.mkdir()
    _copy_project(source)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--wheel-dir", str(dist), str(source)]
    )  # fmt: skip
    (wheel_file,) = dist.glob("official_bert-*.whl")

    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env_site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    # This environment's packages (TensorFlow, ...) after the new one's own.
    (open(os.path.join(env_site.stdout.strip(), "parent_env.pth"), "w")).write(
        sysconfig.get_path("purelib") + "\n"
    )
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel_file)]
    )  # fmt: skip
    return env_dir / "bin"


@pytest.mark.slow
def test_the_installed_wheel_has_the_console_scripts_and_the_configs(installed, tmp_path):
    for script in CONSOLE_SCRIPTS:
        assert (installed / script).is_file(), script
    env = dict(os.environ, PYTHONPATH="")
    help_run = _run([str(installed / "bert-run-classifier"), "--help"], cwd=tmp_path, env=env)
    assert "--task_name: The name of the task to train." in help_run.stdout
    assert "--init_checkpoint: Initial checkpoint" in help_run.stdout
    demo_help = _run([str(installed / "bert-demo"), "--help"], cwd=tmp_path, env=env)
    assert "--data_dir" in demo_help.stdout

    lookup = (
        "import json, official_bert; from official_bert import configs; "
        "print(json.dumps([official_bert.__file__, configs.path('uncased_L-12_H-768_A-12'), "
        "configs.names(), configs.bundled_dir('sample_data')]))"
    )
    done = _run([str(installed / "python"), "-c", lookup], cwd=tmp_path, env=env)
    package_file, config_path, names, sample_data = json.loads(done.stdout.strip().splitlines()[-1])
    package_dir = os.path.dirname(package_file)
    assert not package_dir.startswith(ROOT)  # the installed copy, not the checkout
    assert config_path == os.path.join(
        package_dir, "bert_configs", "uncased_L-12_H-768_A-12", "bert_config.json"
    )
    with open(config_path) as f:
        assert json.load(f)["hidden_size"] == 768
    assert names == configs.names()
    assert sorted(os.listdir(sample_data)) == sorted(os.listdir(os.path.join(ROOT, "sample_data")))
