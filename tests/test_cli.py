"""Tests of the command lines (official_bert/cli.py and the root scripts).

Each script's `--help` runs in a subprocess and must list every flag the
script defines (found independently, by importing the script in another
subprocess) with its help text; the errors the project raises on purpose
print one line without a traceback; a CPU run starts with the project's own
log lines, without TensorFlow's start-up noise (checked on extract_features'
command line, in test_extract_features.py).
"""

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import types

import pytest
from test_run_pretraining import ORIGINAL_DEFAULTS, TF2_DEFAULTS
from test_run_squad import SQUAD, read_json

from official_bert import cli
from official_bert.errors import InputError, MissingFileError, TrainingInterrupted

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

# The flags of the original scripts (google-research/bert), each of which
# must be a flag of the port's script of the same name.
ORIGINAL_FLAGS = {
    "run_pretraining.py": (
        "bert_config_file input_file output_dir init_checkpoint max_seq_length "
        "max_predictions_per_seq do_train do_eval train_batch_size eval_batch_size "
        "learning_rate num_train_steps num_warmup_steps save_checkpoints_steps "
        "iterations_per_loop max_eval_steps use_tpu tpu_name tpu_zone gcp_project master "
        "num_tpu_cores"
    ),
    "run_classifier.py": (
        "data_dir bert_config_file task_name vocab_file output_dir init_checkpoint "
        "do_lower_case max_seq_length do_train do_eval do_predict train_batch_size "
        "eval_batch_size predict_batch_size learning_rate num_train_epochs warmup_proportion "
        "save_checkpoints_steps iterations_per_loop use_tpu tpu_name tpu_zone gcp_project "
        "master num_tpu_cores"
    ),
    "run_squad.py": (
        "bert_config_file vocab_file output_dir train_file predict_file init_checkpoint "
        "do_lower_case max_seq_length doc_stride max_query_length do_train do_predict "
        "train_batch_size predict_batch_size learning_rate num_train_epochs warmup_proportion "
        "save_checkpoints_steps iterations_per_loop n_best_size max_answer_length use_tpu "
        "tpu_name tpu_zone gcp_project master num_tpu_cores verbose_logging "
        "version_2_with_negative null_score_diff_threshold"
    ),
    "create_pretraining_data.py": (
        "input_file output_file vocab_file do_lower_case do_whole_word_mask max_seq_length "
        "max_predictions_per_seq random_seed dupe_factor masked_lm_prob short_seq_prob"
    ),
    "extract_features.py": (
        "input_file output_file layers bert_config_file max_seq_length init_checkpoint "
        "vocab_file do_lower_case batch_size use_tpu master num_tpu_cores "
        "use_one_hot_embeddings"
    ),
}
REQUIRED = {
    "run_pretraining.py": {"input_file", "bert_config_file", "output_dir"},
    "run_classifier.py": {"data_dir", "task_name", "vocab_file", "bert_config_file", "output_dir"},
    "run_squad.py": {"vocab_file", "bert_config_file", "output_dir"},
    "create_pretraining_data.py": {"input_file", "output_file", "vocab_file"},
    "extract_features.py": {
        "input_file",
        "vocab_file",
        "bert_config_file",
        "init_checkpoint",
        "output_file",
    },
}
# Runs `python SCRIPT --help` after writing, to the file of argv[2], every flag
# that importing the script defines, with its help and default (found without
# official_bert.cli).
HELP_AND_DEFINED_FLAGS = """
import json, runpy, sys
script, output = sys.argv[1], sys.argv[2]
sys.argv = [script]
__import__(script[:-3])
from absl import flags
defined = {}
for name, flag in flags.FLAGS._flags().items():
    module = flags.FLAGS.find_module_defining_flag(name)
    if name == flag.name and not module.startswith(("absl", "tensorflow", "keras")):
        defined[name] = {"help": flag.help, "default": flag.default}
with open(output, "w") as f:
    json.dump(defined, f)
sys.argv = [script, "--help"]
runpy.run_path(script, run_name="__main__")
"""
# TensorFlow's start-up lines on a CPU machine (TF 2.21).
NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|Could not find cuda drivers|cuInit|"
    r"cpu_feature_guard|This TensorFlow binary is optimized"
)
# A log line of the project's own Python code (absl's format).
PROJECT_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ [a-z_]+\.py:\d+\] ")


def _env(**overrides):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONPATH=ROOT, **overrides)
    return env


def _run(args, env=None, timeout=180):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _words(text):
    """The text without its whitespace (absl's --help wraps lines, also at hyphens)."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def helps(tmp_path_factory):
    """For each script: (its --help run, the flags it defines {name: {"help", "default"}})."""
    root = tmp_path_factory.mktemp("helps")
    with concurrent.futures.ThreadPoolExecutor(len(ORIGINAL_FLAGS)) as pool:
        runs = {
            script: pool.submit(_run, ["-c", HELP_AND_DEFINED_FLAGS, script, str(root / script)])
            for script in ORIGINAL_FLAGS
        }
        out = {}
        for script, run in runs.items():
            done = run.result()
            assert os.path.exists(root / script), done.stderr[-3000:]
            with open(root / script) as f:
                out[script] = (done, json.load(f))
    return out


@pytest.mark.parametrize("script", sorted(ORIGINAL_FLAGS))
def test_help_lists_every_flag_of_the_script_with_its_help(helps, script):
    help_run, defined = helps[script]
    assert help_run.returncode == 0, help_run.stderr[-3000:]
    text = help_run.stdout
    assert set(ORIGINAL_FLAGS[script].split()) <= set(defined)
    for name, flag in defined.items():
        help_text = flag["help"]
        match = re.search(rf"^  (-\w,)?--(\[no\])?{name}: (.*?)(?=^  -|^\S|\Z)", text, re.M | re.S)
        assert match, f"--{name} is not in {script} --help"
        assert _words(help_text) in _words(match.group(3)), name
    assert "Try --helpfull" in text and "--verbosity" in text
    assert not NOISE.search(help_run.stderr), help_run.stderr


@pytest.mark.parametrize("script", sorted(ORIGINAL_FLAGS))
def test_help_groups_the_required_flags_first_and_the_tpu_flags_apart(helps, script):
    text = helps[script][0].stdout
    sections = re.split(r"^(\S[^\n]*):\n", text, flags=re.M)
    groups = {sections[i]: sections[i + 1] for i in range(1, len(sections) - 1, 2)}
    listed = {
        heading: set(re.findall(r"^  (?:-\w,)?--(?:\[no\])?(\w+):", body, re.M))
        for heading, body in groups.items()
    }
    assert list(groups)[0] == cli.REQUIRED
    assert listed[cli.REQUIRED] == REQUIRED[script]
    if "use_tpu" in ORIGINAL_FLAGS[script]:
        assert {"use_tpu", "master", "num_tpu_cores"} <= listed[cli.TPU]


def test_run_pretraining_flags_have_the_original_names_and_defaults(helps):
    defined = helps["run_pretraining.py"][1]
    for name, default in {**ORIGINAL_DEFAULTS, **TF2_DEFAULTS}.items():
        assert defined[name]["default"] == default, name
        assert defined[name]["help"].rstrip().endswith("."), (name, defined[name]["help"])


def test_run_squad_help_shows_the_original_defaults(helps):
    # Its own process (the fixture's): absl flags are defined once per process,
    # and run_classifier's max_seq_length (128) would win if it came first.
    shown = {}  # flag -> the default --help shows
    for block in re.split(r"^(?=  --)", helps["run_squad.py"][0].stdout, flags=re.M):
        name = re.match(r"  --(?:\[no\])?(\w+):", block)
        default = re.search(r"\(default: '([^']*)'\)", block)
        if name and default:
            shown[name.group(1)] = default.group(1)
    # The original's values of the flags its e2e command line did not set.
    golden = read_json(os.path.join(SQUAD, "e2e", "v1.1", "flags.json"))
    on_command_line = {arg[2:].split("=")[0] for arg in golden["argv"]}
    expected = {
        name: value for name, value in golden["flags"].items() if name not in on_command_line
    }
    expected.update(max_seq_length=384, doc_stride=128, max_query_length=64, predict_batch_size=8,
                    n_best_size=20, max_answer_length=30, do_lower_case=True)  # fmt: skip
    for name, value in expected.items():
        if value is None:
            assert name not in shown, name
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            assert shown[name] == text, name


def test_python_dash_m_gives_the_same_help_and_tf_cpp_min_log_level_0_shows_everything():
    # A user-set TF_CPP_MIN_LOG_LEVEL=0 turns the start-up filter off: without
    # it this machine's TensorFlow does print its start-up lines (the other
    # side of test_extract_features' command-line test).
    done = _run(["-m", "official_bert.classifier", "--help"], env=_env(TF_CPP_MIN_LOG_LEVEL="0"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage: python -m official_bert.classifier" in done.stdout
    assert "--task_name: The name of the task to train." in done.stdout
    assert NOISE.search(done.stderr), done.stderr


def test_extract_features_help_says_what_num_tpu_cores_does(helps):
    text = _words(helps["extract_features.py"][0].stdout)
    assert _words("a TPUStrategy uses every core of the TPU, and a warning is logged") in text


# ----------------------------------------------------------------- errors


def test_an_input_error_prints_one_line_without_a_traceback_and_exits_2():
    args = [
        "run_classifier.py", "--task_name=MRPC", "--data_dir=.", "--vocab_file=v.txt",
        "--bert_config_file=c.json", "--output_dir=out", "--do_train=false",
    ]  # fmt: skip
    done = _run(args)
    assert done.returncode == cli.INPUT_ERROR_EXIT_CODE, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "run_classifier.py: error: At least one of `do_train`, `do_eval` or `do_predict' "
        "must be True."
    ]


def _module(main):
    return types.SimpleNamespace(__name__="fake", main=main)


def _raiser(error):
    def main(argv):
        raise error

    return main


def test_input_errors_exit_2_and_tracebacks_need_debug_verbosity(capsys, monkeypatch):
    from absl import logging

    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["prog.py"])
    for error in (InputError("bad --flag."), MissingFileError("no such file x.txt.")):
        with pytest.raises(SystemExit) as exit_info:
            cli.call_main(_module(_raiser(error)), ["prog.py"])
        assert exit_info.value.code == cli.INPUT_ERROR_EXIT_CODE
        assert capsys.readouterr().err == f"prog.py: error: {error}\n"

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.DEBUG)
    try:
        with pytest.raises(SystemExit):
            cli.call_main(_module(_raiser(InputError("bad --flag."))), ["prog.py"])
    finally:
        logging.set_verbosity(verbosity)
    assert "Traceback (most recent call last)" in capsys.readouterr().err

    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")  # or the environment variable
    with pytest.raises(SystemExit) as exit_info:
        cli.call_main(_module(_raiser(InputError("bad --flag."))), ["prog.py"])
    assert exit_info.value.code == cli.INPUT_ERROR_EXIT_CODE
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == "prog.py: error: bad --flag."


def test_an_interrupted_run_exits_with_128_plus_the_signal(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog.py"])
    error = TrainingInterrupted("SIGTERM received: checkpoint written.", signal.SIGTERM)
    with pytest.raises(SystemExit) as exit_info:
        cli.call_main(_module(_raiser(error)), ["prog.py"])
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "prog.py: SIGTERM received: checkpoint written.\n"


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        cli.call_main(_module(lambda argv: 1 / 0), ["prog.py"])


# ----------------------------------------------------------------- quiet start-up


def test_startup_filter_drops_only_the_known_lines():
    line_filter = cli._StartupLineFilter()
    cuinit = (
        "E0000 00:00:1796162107.321309 20339 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"
    )
    assert line_filter.keep(cuinit)  # with a driver installed, a real error
    for noise in (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796162104.485685 20339 port.cc:153] oneDNN custom operations are on. "
        "You may see slightly different numerical results.",
        "I0000 00:00:1796162104.486062 20339 cudart_stub.cc:31] Could not find cuda drivers "
        "on your machine, GPU will not be used.",
    ):
        assert not line_filter.keep(noise), noise
    assert not line_filter.keep(cuinit)  # no driver: no GPU was expected
    for kept in (
        "W0000 00:00:1.0 1 op_kernel.cc:1844] OP_REQUIRES failed at save_restore_v2_ops.cc",
        "Traceback (most recent call last):",
        "I1201 21:58:13.065536 140084552702848 checkpoints.py:275] Restoring from checkpoint",
    ):
        assert line_filter.keep(kept), kept


def test_a_flag_two_entry_points_share_takes_the_default_of_the_last_definer():
    # run_squad's max_seq_length is 384, run_classifier's 128: in one process
    # (a test session, say) each entry point parses with its own default.
    from absl import flags

    from official_bert import classifier, squad_run

    for module, expected in ((squad_run, 384), (classifier, 128), (squad_run, 384)):
        module.define_flags()
        assert flags.FLAGS["max_seq_length"].default == expected, module.__name__
    flags.FLAGS(["run_squad.py", "--max_seq_length=64"])
    try:
        classifier.define_flags()  # a value given on the command line stays
        assert flags.FLAGS.max_seq_length == 64
    finally:
        flags.FLAGS.unparse_flags()
