"""Tests of `python -m official_bert.extract_features` on the tiny golden BERT."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import two_cpu_mirrored_strategy

from official_bert import checkpoints, extract_features
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


def test_command_line_uses_the_original_flags(files):
    reference = run(files, "reference.jsonl", layers="-1,-2")
    output = files / "cli.jsonl"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [
            sys.executable, "-m", "official_bert.extract_features",
            f"--input_file={files / 'input.txt'}", f"--output_file={output}",
            f"--vocab_file={files / 'vocab.txt'}", f"--bert_config_file={CONFIG_FILE}",
            f"--init_checkpoint={RELEASED}", "--layers=-1,-2", "--max_seq_length=10",
            "--do_lower_case=true", "--batch_size=8", "--use_tpu=false",
        ],
        check=True, env=env, capture_output=True, cwd=os.path.dirname(os.path.dirname(__file__)),
    )  # fmt: skip
    with open(output) as f:
        assert [json.loads(line) for line in f] == reference
