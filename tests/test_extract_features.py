"""Tests of `python -m official_bert.extract_features` on the tiny golden BERT."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import two_cpu_mirrored_strategy
from test_cli import NOISE, PROJECT_LOG_LINE

from official_bert import checkpoints, extract_features
from official_bert.errors import InputError
from official_bert.modeling import BertConfig, BertModel
from official_bert.tokenization import FullTokenizer

TINY = os.path.join(os.path.dirname(__file__), "golden", "tiny_bert")
CONFIG_FILE = os.path.join(TINY, "bert_config.json")
RELEASED = os.path.join(TINY, "released", "bert_model.ckpt")
WORDS = ["the", "dog", "is", "hairy", ".", "jack", "##son", "##ville", "?", "no", "it", "not"]
LINES = [
    "The dog is hairy.",
    "Is this Jacksonville? ||| No it is not.",
    "",
    "the dog the dog the dog the dog the dog ||| is it",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    vocab += [f"unused{i}" for i in range(99 - len(vocab))]  # the tiny model's vocab_size
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (root / "input.txt").write_text("\n".join(LINES) + "\n")
    return root


def run(files, output_name, **kwargs):
    output = str(files / output_name)
    extract_features.run(
        input_file=str(files / "input.txt"),
        output_file=output,
        bert_config_file=CONFIG_FILE,
        init_checkpoint=RELEASED,
        vocab_file=str(files / "vocab.txt"),
        **{"layers": "-1,0", "max_seq_length": 10, "batch_size": 3, **kwargs},
    )
    with open(output) as f:
        return [json.loads(line) for line in f]


def test_features_are_the_model_outputs_rounded(files):
    lines = run(files, "out.jsonl")
    assert [line["linex_index"] for line in lines] == [0, 1, 2, 3]
    tokens = [[f["token"] for f in line["features"]] for line in lines]
    assert tokens[0] == ["[CLS]", "the", "dog", "is", "hairy", ".", "[SEP]"]
    assert tokens[1][:5] == ["[CLS]", "is", "[UNK]", "jack", "##son"]
    assert tokens[2] == ["[CLS]", "[SEP]"]
    # 10 tokens: the longer text_a is cut until [CLS] a [SEP] b [SEP] fits.
    assert tokens[3] == ["[CLS]", *["the", "dog"] * 2, "the", "[SEP]", "is", "it", "[SEP]"]

    tokenizer = FullTokenizer(str(files / "vocab.txt"), do_lower_case=True)
    examples = extract_features.read_examples(str(files / "input.txt"))
    features = extract_features.convert_examples_to_features(examples, 10, tokenizer)
    assert features[3].input_type_ids == [0] * 7 + [1] * 3
    assert features[0].input_mask == [1] * 7 + [0] * 3 and features[0].input_ids[-3:] == [0] * 3
    model = BertModel(BertConfig.from_json_file(CONFIG_FILE))
    checkpoints.restore_checkpoint(RELEASED, model, log=False)
    names = ("input_ids", "input_mask", "input_type_ids")
    column = {n: np.array([getattr(f, n) for f in features]) for n in names}
    out = model(column["input_ids"], column["input_mask"], column["input_type_ids"])
    layers = {-1: out["all_encoder_layers"][-1].numpy(), 0: out["all_encoder_layers"][0].numpy()}
    for line, feature in zip(lines, features):
        for t, token_features in enumerate(line["features"]):
            assert [layer["index"] for layer in token_features["layers"]] == [-1, 0]
            for layer in token_features["layers"]:
                expected = [
                    round(float(x), 6) for x in layers[layer["index"]][feature.unique_id, t]
                ]
                np.testing.assert_allclose(layer["values"], expected, atol=2e-6)
                assert all(v == round(v, 6) for v in layer["values"])


def test_mirrored_strategy_gives_the_same_file(files):
    default = run(files, "default.jsonl")
    strategy = two_cpu_mirrored_strategy()
    mirrored = run(files, "mirrored.jsonl", batch_size=2, strategy=strategy)
    assert len(mirrored) == len(default)
    for a, b in zip(mirrored, default):
        assert a["linex_index"] == b["linex_index"]
        assert [f["token"] for f in a["features"]] == [f["token"] for f in b["features"]]
        values = [[la["values"] for la in f["layers"]] for f in a["features"]]
        expected = [[lb["values"] for lb in f["layers"]] for f in b["features"]]
        np.testing.assert_allclose(values, expected, atol=2e-6)  # other batch shapes


def test_bad_layer_index_is_named(files):
    with pytest.raises(ValueError, match=r"--layers has -3.*2 layers"):
        run(files, "bad.jsonl", layers="-1,-3")


def test_no_output_and_no_temporary_file_when_the_checkpoint_is_missing(files, tmp_path):
    output = tmp_path / "out.jsonl"
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        extract_features.run(
            input_file=str(files / "input.txt"),
            output_file=str(output),
            bert_config_file=CONFIG_FILE,
            init_checkpoint=str(tmp_path / "missing.ckpt"),
            vocab_file=str(files / "vocab.txt"),
            layers="-1",
            max_seq_length=10,
        )
    assert os.listdir(tmp_path) == []


def run_expecting_error(files, tmp_path, **kwargs):
    """`extract_features.run` with one argument replaced; checks nothing was written."""
    arguments = {
        "input_file": str(files / "input.txt"),
        "output_file": str(tmp_path / "out.jsonl"),
        "bert_config_file": CONFIG_FILE,
        "init_checkpoint": RELEASED,
        "vocab_file": str(files / "vocab.txt"),
        "layers": "-1",
        "max_seq_length": 10,
        **kwargs,
    }
    with pytest.raises(InputError) as error:
        extract_features.run(**arguments)
    assert not os.path.exists(tmp_path / "out.jsonl")
    return str(error.value)


def test_vocabulary_larger_than_the_model_is_refused_before_the_model_runs(files, tmp_path):
    vocab = tmp_path / "big_vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n" + "".join(f"token{i}\n" for i in range(146)))
    message = run_expecting_error(files, tmp_path, vocab_file=str(vocab))
    assert str(vocab) in message and "150 token ids" in message and "vocab_size=99" in message
    assert CONFIG_FILE in message


def test_input_that_is_not_utf8_names_the_file_and_the_line(files, tmp_path):
    input_file = tmp_path / "latin1.txt"
    input_file.write_bytes(b"the dog\nthe caf\xe9 is hairy\n")
    message = run_expecting_error(files, tmp_path, input_file=str(input_file))
    assert f"--input_file {input_file}, line 2 is not valid UTF-8" in message


def test_sequence_longer_than_the_position_embeddings_is_refused(files, tmp_path):
    message = run_expecting_error(files, tmp_path, max_seq_length=65)
    assert "--max_seq_length=65" in message and "max_position_embeddings=64" in message
    assert CONFIG_FILE in message


def test_an_output_folder_that_does_not_exist_is_named_before_the_model_runs(files, tmp_path):
    output = tmp_path / "missing" / "out.jsonl"
    message = run_expecting_error(files, tmp_path, output_file=str(output))
    assert message.startswith("--output_file: ") and str(tmp_path / "missing") in message


def test_command_line_uses_the_original_flags_and_starts_with_the_projects_own_lines(files):
    reference = run(files, "reference.jsonl", layers="-1,-2")
    output = files / "cli.jsonl"
    # TF_CPP_MIN_LOG_LEVEL unset, as a user's shell: the project's quiet start-up applies.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [
            sys.executable, "-m", "official_bert.extract_features",
            f"--input_file={files / 'input.txt'}", f"--output_file={output}",
            f"--vocab_file={files / 'vocab.txt'}", f"--bert_config_file={CONFIG_FILE}",
            f"--init_checkpoint={RELEASED}", "--layers=-1,-2", "--max_seq_length=10",
            "--do_lower_case=true", "--batch_size=8", "--use_tpu=false",
        ],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with open(output) as f:
        assert [json.loads(line) for line in f] == reference
    # A CPU run's first line is the project's own, and TensorFlow's start-up noise is gone.
    lines = done.stderr.splitlines()
    assert lines and PROJECT_LOG_LINE.match(lines[0]), lines[:5]
    assert not [line for line in lines if NOISE.search(line)]
