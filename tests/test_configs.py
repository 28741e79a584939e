"""Every bundled bert_config.json is a released model's config, with the original's keys."""

import glob
import json
import os
import re

import pytest

from official_bert.modeling import BertConfig

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
CONFIGS = sorted(glob.glob(os.path.join(CONFIG_DIR, "*", "bert_config.json")))
ORIGINAL_KEYS = {
    "attention_probs_dropout_prob",
    "hidden_act",
    "hidden_dropout_prob",
    "hidden_size",
    "initializer_range",
    "intermediate_size",
    "max_position_embeddings",
    "num_attention_heads",
    "num_hidden_layers",
    "type_vocab_size",
    "vocab_size",
}
# Released vocabulary sizes, by the prefix of the released directory name.
VOCAB_SIZES = {
    "uncased": 30522,
    "wwm_uncased": 30522,
    "cased": 28996,
    "wwm_cased": 28996,
    "multi_cased": 119547,
    "multilingual": 105879,
    "chinese": 21128,
}


def test_every_released_model_has_a_config():
    names = {os.path.basename(os.path.dirname(p)) for p in CONFIGS}
    expected = {
        "uncased_L-12_H-768_A-12",
        "uncased_L-24_H-1024_A-16",
        "cased_L-12_H-768_A-12",
        "cased_L-24_H-1024_A-16",
        "wwm_uncased_L-24_H-1024_A-16",
        "wwm_cased_L-24_H-1024_A-16",
        "multi_cased_L-12_H-768_A-12",
        "multilingual_L-12_H-768_A-12",
        "chinese_L-12_H-768_A-12",
    }
    expected |= {
        f"uncased_L-{layers}_H-{hidden}_A-{hidden // 64}"
        for layers in (2, 4, 6, 8, 10, 12)
        for hidden in (128, 256, 512, 768)
    }
    assert names == expected


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_config_loads_and_matches_its_name(path):
    with open(path) as f:
        config = json.load(f)
    assert ORIGINAL_KEYS <= set(config)
    name = os.path.basename(os.path.dirname(path))
    prefix, layers, hidden, heads = re.fullmatch(r"(\w+?)_L-(\d+)_H-(\d+)_A-(\d+)", name).groups()
    assert config["num_hidden_layers"] == int(layers)
    assert config["hidden_size"] == int(hidden)
    assert config["num_attention_heads"] == int(heads)
    assert config["intermediate_size"] == 4 * int(hidden)
    assert config["hidden_size"] % config["num_attention_heads"] == 0
    assert config["vocab_size"] == VOCAB_SIZES[prefix]
    assert config["max_position_embeddings"] == 512
    assert config["type_vocab_size"] == 2
    assert config["hidden_act"] == "gelu"
    assert config["initializer_range"] == 0.02
    assert config["hidden_dropout_prob"] == config["attention_probs_dropout_prob"] == 0.1


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_config_passes_the_libraries_checks_without_warnings(path, caplog):
    with caplog.at_level("WARNING"):
        config = BertConfig.from_json_file(path)
    config.validate()  # what a model checks when it is built
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    with open(path) as f:
        assert config.to_dict() == json.load(f)
