"""Tests of the export command (official_bert.export).

A tiny classifier with the uncased vocabulary (random weights, saved as a
run_classifier checkpoint) is exported three ways (MRPC pairs, CoLA single
sentences, the encoder with its preprocessing); the SavedModels are loaded by a
Python that cannot import this project (`-I -S`, only the venv's site-packages
on its path, without the editable install's finder, cwd outside the repo),
and what they serve is compared with the library: `BertClassifier` on
`classifier_features`' features and `BertModel` on the same ids, to 1e-6.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import sysconfig

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import logging as absl_logging
from command_line import exit_code_of

from official_bert import checkpoints, cli, export, tokenization
from official_bert import classifier_data as cd
from official_bert import classifier_features as cf
from official_bert.errors import InputError, MissingFileError
from official_bert.modeling import BertConfig, BertModel
from official_bert.models import BertClassifier

REPO = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
VOCAB_FILE = str(GOLDEN / "uncased_vocab.txt")
MRPC_DIR = str(GOLDEN / "glue" / "MRPC")
SEQ_LENGTH = 32
CONFIG = BertConfig(
    vocab_size=30522,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    initializer_range=0.2,  # 10x the usual: rows then give logits that differ by far more than 1e-6
)
TOLERANCE = 1e-6
# Rows served besides MRPC's test set: short (fewer columns than max_seq_length),
# long (truncated), an empty text_b, and bytes that are not UTF-8.
INVALID_UTF8_PAIR = (b"caf\xe9 au lait \xff\xfe", b"trunc\xe2\x82ated")
EXTRA_PAIRS = [
    (b"Hi.", b"Yes!"),
    (b"one two three " * 20, b"four five"),
    (b"Nobody wrote a second text.", b""),
    INVALID_UTF8_PAIR,
    tuple(text.decode("utf-8", "ignore").encode() for text in INVALID_UTF8_PAIR),
]

# Run by a Python that must not see this project: loads the exports and serves them.
SERVE_SCRIPT = r"""
import importlib.util, json, sys
request = json.load(open(sys.argv[1]))
out = {"official_bert_found": importlib.util.find_spec("official_bert") is not None,
       "sys_path": sys.path}
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

def strings(texts):
    return tf.constant([t.encode("latin-1") for t in texts])  # JSON carries bytes as latin-1

def arrays(result):
    if isinstance(result, dict):
        return {k: arrays(v) for k, v in result.items()}
    if isinstance(result, (list, tuple)):
        return [arrays(v) for v in result]
    return result.numpy().tolist()

def error(call):
    try:
        call()
    except Exception as e:  # what a caller sees
        return f"{type(e).__name__}: {e}"
    return None

pair = tf.saved_model.load(request["pair"])
text_a, text_b = strings(request["text_a"]), strings(request["text_b"])
out["pair"] = arrays(pair.signatures["serving_default"](text_a=text_a, text_b=text_b))
out["pair_call"] = arrays(pair.classify_text(text_a, text_b))
ids = {k: tf.constant(v, tf.int32) for k, v in request["features"].items()}
out["pair_ids"] = arrays(pair.signatures["classify_ids"](**ids))
out["labels"] = open(pair.labels_file.asset_path.numpy().decode()).read()
out["mismatched_batch"] = error(
    lambda: pair.signatures["serving_default"](text_a=text_a, text_b=text_b[:1]))

single = tf.saved_model.load(request["single"])
out["single"] = arrays(single.signatures["serving_default"](text_a=text_a))
out["single_sig_text_b"] = error(
    lambda: single.signatures["serving_default"](text_a=text_a, text_b=text_b))
out["single_call_text_b"] = error(lambda: single.classify_text(text_a, text_b))

encoder = tf.saved_model.load(request["encoder"])
hub_ids = {"input_word_ids": ids["input_ids"], "input_mask": ids["input_mask"],
           "input_type_ids": ids["segment_ids"]}
out["encoder"] = arrays(encoder(hub_ids))
out["encoder_signature"] = arrays(encoder.signatures["serving_default"](**hub_ids))
out["do_lower_case"] = bool(encoder.do_lower_case.numpy())

pre = tf.saved_model.load(request["preprocessing"])
out["preprocess"] = arrays(pre(text_a))
tokens_a, tokens_b = pre.tokenize(text_a), pre.tokenize(text_b)
out["tokenize"] = tokens_a.to_list()
out["pack_pair"] = arrays(pre.bert_pack_inputs([tokens_a, tokens_b]))
out["pack_pair_16"] = arrays(pre.bert_pack_inputs([tokens_a, tokens_b], seq_length=16))
json.dump(out, open(sys.argv[2], "w"))
"""


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def _isolated_python(script: str, args: list[str], cwd: pathlib.Path) -> None:
    """Runs `script` with no site hooks (the editable install's finder is a .pth): -I -S."""
    bootstrap = (
        f"import sys; sys.path.append({_site_packages()!r}); sys.argv = [''] + {args!r}; "
        f"exec(compile(open({script!r}).read(), {script!r}, 'exec'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", bootstrap],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny 2-label classifier saved as run_classifier's output_dir/model.ckpt-3."""
    run_dir = tmp_path_factory.mktemp("run")
    keras.utils.set_random_seed(16)
    model = BertClassifier(CONFIG, num_labels=2)
    # A head trained away from its initialisation (0.02 normal, zero bias).
    head = np.random.default_rng(0).normal(scale=0.2, size=(2, CONFIG.hidden_size))
    model.output_weights.assign(head)
    model.output_bias.assign([0.7, -0.4])
    prefix = checkpoints.save_checkpoint(str(run_dir), model, global_step=3)
    config_file = str(run_dir / "bert_config.json")
    pathlib.Path(config_file).write_text(CONFIG.to_json_string())
    return {"model": model, "prefix": prefix, "config_file": config_file, "dir": run_dir}


def _flags(trained, **kwargs):
    values = dict(
        bert_config_file=trained["config_file"],
        vocab_file=VOCAB_FILE,
        init_checkpoint=trained["prefix"],
        max_seq_length=SEQ_LENGTH,
        do_lower_case=True,
    )
    values.update(kwargs)
    return values


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def exports(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    handler, logger = _Records(), logging.getLogger("absl")
    level, verbosity = logger.level, absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        paths = {
            "pair": export.run(
                "classifier", export_dir=str(out / "mrpc"), task_name="MRPC", **_flags(trained)
            ),
            "single": export.run(
                "classifier", export_dir=str(out / "cola"), task_name="CoLA", **_flags(trained)
            ),
            "hub": export.run("encoder", export_dir=str(out / "hub"), **_flags(trained)),
        }
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        absl_logging.set_verbosity(verbosity)
    paths["encoder"] = os.path.join(paths["hub"], export.ENCODER_DIR)
    paths["preprocessing"] = os.path.join(paths["hub"], export.PREPROCESSING_DIR)
    paths["log"] = handler.messages
    return paths


@pytest.fixture(scope="module")
def rows():
    examples = cd.get_processor("MRPC").get_test_examples(MRPC_DIR)
    pairs = [(_bytes(e.text_a), _bytes(e.text_b)) for e in examples] + EXTRA_PAIRS
    return [cd.InputExample(f"row-{i}", a, b, "0") for i, (a, b) in enumerate(pairs)]


def _features(examples, single=False):
    tokenizer = tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)
    if single:
        examples = [cd.InputExample(e.guid, e.text_a, None, "0") for e in examples]
    features = cf.convert_examples_to_features(examples, ["0", "1"], SEQ_LENGTH, tokenizer)
    return {
        name: np.array([getattr(f, name) for f in features], np.int32)
        for name in ("input_ids", "input_mask", "segment_ids")
    }


@pytest.fixture(scope="module")
def served(exports, rows, tmp_path_factory):
    """What the exports serve, from a Python that cannot import official_bert."""
    work = tmp_path_factory.mktemp("serve")
    script, request, response = work / "serve.py", work / "request.json", work / "response.json"
    script.write_text(SERVE_SCRIPT)
    request.write_text(
        json.dumps(
            {
                **{k: exports[k] for k in ("pair", "single", "encoder", "preprocessing")},
                "text_a": [e.text_a.decode("latin-1") for e in rows],
                "text_b": [e.text_b.decode("latin-1") for e in rows],
                "features": {k: v.tolist() for k, v in _features(rows).items()},
            }
        )
    )
    _isolated_python(str(script), [str(request), str(response)], cwd=work)
    return json.loads(response.read_text())


def _close(actual, expected, rtol=0.0):
    """Equal to TOLERANCE (probabilities); `rtol` adds a relative part for values above 1."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=TOLERANCE)


# ----------------------------------------------------------------------------- serving


def test_loading_python_cannot_import_this_project(served):
    assert served["official_bert_found"] is False
    # Only the interpreter's own folders and the venv's site-packages (whose editable
    # install of this project is a finder the -S flag keeps from being installed).
    assert str(REPO) not in served["sys_path"] and "" not in served["sys_path"]
    assert not any(
        os.path.isdir(os.path.join(entry, "official_bert")) for entry in served["sys_path"]
    )


def test_pair_export_serves_raw_text_with_the_librarys_probabilities(served, trained, rows):
    assert len(rows) > export.SERVING_CHUNK_ROWS  # rows of two chunks, sorted by length
    expected = trained["model"](_features(rows), training=False)
    for key in ("pair", "pair_call", "pair_ids"):
        _close(served[key]["probabilities"], expected["probabilities"])
        _close(served[key]["logits"], expected["logits"], rtol=TOLERANCE)
    # The rows' probabilities differ by far more than the tolerance.
    assert np.ptp(np.asarray(served["pair"]["probabilities"])[:, 0]) > 0.05


def test_single_sentence_export_serves_text_a(served, trained, rows):
    expected = trained["model"](_features(rows, single=True), training=False)
    _close(served["single"]["probabilities"], expected["probabilities"])


def test_single_sentence_export_refuses_text_b_naming_it(served):
    assert "unexpected keyword argument 'text_b'" in served["single_sig_text_b"]
    # Positionally: the error shows the signature, text_a alone.
    assert "text_a" in served["single_call_text_b"]


def test_pairs_of_unequal_batches_are_refused_with_a_message(served):
    assert "text_a and text_b must hold the same number of strings" in served["mismatched_batch"]


def test_non_utf8_strings_are_served_with_the_invalid_bytes_dropped(served, rows):
    # The last two rows: EXTRA_PAIRS' invalid bytes, then the same texts without them.
    assert rows[-2].text_a == INVALID_UTF8_PAIR[0]
    tokens = served["tokenize"]
    assert tokens[-2] == tokens[-1] and len(tokens[-1]) > 3
    tokenizer = tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)
    assert tokens[-2] == tokenizer.convert_tokens_to_ids(tokenizer.tokenize(rows[-2].text_a))
    probabilities = np.asarray(served["pair"]["probabilities"])
    _close(probabilities[-2], probabilities[-1])


def test_labels_are_in_the_assets_in_the_processors_order(served, exports):
    assert served["labels"].splitlines() == cd.get_processor("MRPC").get_labels()
    assets = sorted(os.listdir(os.path.join(exports["pair"], "assets")))
    assert assets == sorted([export.LABELS_FILE, export.VOCAB_FILE, export.CONFIG_FILE])


def test_encoder_outputs_equal_bert_models_on_the_same_ids(served, trained, rows):
    bert = BertModel(CONFIG)
    checkpoints.restore_checkpoint(trained["prefix"], bert, strict=True, log=False)
    f = _features(rows)
    expected = bert(f["input_ids"], f["input_mask"], f["segment_ids"], training=False)
    for out in (served["encoder"], served["encoder_signature"]):
        _close(out["pooled_output"], expected["pooled_output"])
        _close(out["sequence_output"], expected["sequence_output"], rtol=TOLERANCE)
        _close(out["default"], expected["pooled_output"])
    layers = expected["all_encoder_layers"]
    assert len(served["encoder"]["encoder_outputs"]) == len(layers) == CONFIG.num_hidden_layers
    for i, layer in enumerate(layers):
        _close(served["encoder"]["encoder_outputs"][i], layer, rtol=TOLERANCE)
        _close(served["encoder_signature"][f"encoder_outputs_{i}"], layer, rtol=TOLERANCE)
    assert served["do_lower_case"] is True


def test_preprocessing_export_gives_the_librarys_features(served, rows):
    hub = {
        "input_word_ids": "input_ids",
        "input_mask": "input_mask",
        "input_type_ids": "segment_ids",
    }
    singles, pairs = _features(rows, single=True), _features(rows)
    for ours, name in hub.items():
        assert served["preprocess"][ours] == singles[name].tolist()
        assert served["pack_pair"][ours] == pairs[name].tolist()
    short = [cd.InputExample(e.guid, e.text_a, e.text_b, "0") for e in rows]
    tokenizer = tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)
    expected = cf.convert_examples_to_features(short, ["0", "1"], 16, tokenizer)
    assert served["pack_pair_16"]["input_word_ids"] == [f.input_ids for f in expected]
    assert served["pack_pair_16"]["input_type_ids"] == [f.segment_ids for f in expected]


def test_export_log_says_to_import_tensorflow_text_first(exports):
    notes = [m for m in exports["log"] if "import tensorflow_text" in m]
    assert len(notes) == 3


# ----------------------------------------------------------------------------- variables


def test_saved_model_variables_keep_the_original_names(exports, trained):
    reader = tf.train.load_checkpoint(os.path.join(exports["pair"], "variables", "variables"))
    keys = set(reader.get_variable_to_shape_map())
    names = {v.path for v in trained["model"].weights}
    assert "bert/encoder/layer_0/attention/self/query/kernel" in names
    assert {n + export.VARIABLE_SUFFIX for n in names} <= keys
    for name in names:
        np.testing.assert_array_equal(
            reader.get_tensor(name + export.VARIABLE_SUFFIX),
            _value(trained["model"], name),
        )


def _value(model, name):
    return next(v.numpy() for v in model.weights if v.path == name)


def test_saved_model_reads_back_into_a_tf1_checkpoint(exports, trained, tmp_path):
    prefix = export.write_tf1_checkpoint(exports["pair"], str(tmp_path / "tf1"))
    assert sorted(checkpoints.list_variables(prefix)) == sorted(
        v.path for v in trained["model"].weights
    )
    fresh = BertClassifier(CONFIG, num_labels=2)
    checkpoints.restore_checkpoint(prefix, fresh, strict=True, log=False)
    for variable in fresh.weights:
        np.testing.assert_array_equal(variable.numpy(), _value(trained["model"], variable.path))
    encoder_weights = export.tf1_variables(exports["encoder"])
    assert sorted(encoder_weights) == sorted(v.path for v in BertModel(CONFIG).weights)


# ----------------------------------------------------------------------------- bad input


def _assert_nothing_written(directory: pathlib.Path, before: set[str]):
    assert set(os.listdir(directory)) == before


@pytest.fixture
def out_dir(tmp_path):
    return tmp_path / "out"


def _fails(error, match, out_dir, **kwargs):
    out_dir.mkdir(exist_ok=True)
    before = set(os.listdir(out_dir))
    kwargs.setdefault("model", "classifier")
    kwargs.setdefault("task_name", "MRPC")
    with pytest.raises(error, match=match):
        export.run(export_dir=str(out_dir / "model"), **kwargs)
    _assert_nothing_written(out_dir, before)


def test_missing_files_are_named(trained, out_dir, tmp_path):
    missing = str(tmp_path / "nope.txt")
    _fails(MissingFileError, "nope.txt", out_dir, **_flags(trained, vocab_file=missing))
    _fails(MissingFileError, "nope.txt", out_dir, **_flags(trained, bert_config_file=missing))
    _fails(MissingFileError, "nope.txt", out_dir, **_flags(trained, init_checkpoint=missing))


def test_a_checkpoint_of_another_model_is_refused(trained, out_dir, tmp_path):
    wider = BertConfig.from_dict({**CONFIG.to_dict(), "hidden_size": 48})
    config_file = tmp_path / "wider.json"
    config_file.write_text(wider.to_json_string())
    _fails(
        InputError,
        "Shape mismatch for variable .*bert_config.json",
        out_dir,
        **_flags(trained, bert_config_file=str(config_file)),
    )
    _fails(InputError, "3 labels|2 labels", out_dir, **_flags(trained), task_name="MNLI")


def test_a_pretrained_checkpoint_is_refused_for_the_classifier_but_exports_as_encoder(
    trained, out_dir, tmp_path
):
    bert = BertModel(CONFIG)
    prefix = checkpoints.save_checkpoint(str(tmp_path / "pre"), bert, basename="bert_model.ckpt")
    _fails(InputError, "no classifier", out_dir, **_flags(trained, init_checkpoint=prefix))
    bogus = checkpoints.save_checkpoint(
        str(tmp_path / "bogus"), [tf.Variable([1.0], name="something/else")], basename="x.ckpt"
    )
    _fails(InputError, "lacks", out_dir, model="encoder", **_flags(trained, init_checkpoint=bogus))


def test_vocab_config_and_length_mismatches_are_refused(trained, out_dir, tmp_path):
    small = BertConfig.from_dict({**CONFIG.to_dict(), "vocab_size": 1000})
    config_file = tmp_path / "small.json"
    config_file.write_text(small.to_json_string())
    _fails(
        InputError, "vocab_size=1000", out_dir, **_flags(trained, bert_config_file=str(config_file))
    )
    _fails(InputError, "max_position_embeddings", out_dir, **_flags(trained, max_seq_length=65))
    _fails(InputError, "Task not found", out_dir, **_flags(trained), task_name="nope")
    _fails(InputError, "--model", out_dir, **_flags(trained), model="decoder")


def test_a_non_empty_export_dir_is_not_overwritten(trained, out_dir):
    target = out_dir / "model"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    _fails(InputError, "not empty", out_dir, **_flags(trained))
    assert os.listdir(target) == ["keep.txt"]


def test_a_failure_while_writing_leaves_nothing_behind(trained, out_dir, monkeypatch):
    def broken_save(root, signatures, path):
        tf.io.gfile.makedirs(path)
        pathlib.Path(path, "saved_model.pb").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_save", broken_save)
    _fails(RuntimeError, "disk full", out_dir, **_flags(trained))


# ----------------------------------------------------------------------------- command line


def _command(args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_command_line_lists_its_flags(tmp_path):
    result = _command([str(REPO / "export.py"), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    for flag in (
        "model",
        "bert_config_file",
        "vocab_file",
        "do_lower_case",
        "max_seq_length",
        "init_checkpoint",
        "task_name",
        "export_dir",
    ):
        assert re.search(rf"--(\[no\])?{flag}:", result.stdout), flag


def test_command_line_reports_bad_input_in_one_line(trained, tmp_path, capsys):
    args = [f"--{k}={v}" for k, v in _flags(trained).items()]
    argv = ["export.py", *args, "--task_name=nope", f"--export_dir={tmp_path / 'm'}"]
    assert exit_code_of(export, argv) == cli.INPUT_ERROR_EXIT_CODE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("export.py: error: ") and "Task not found: nope" in line, line
    assert not (tmp_path / "m").exists()
