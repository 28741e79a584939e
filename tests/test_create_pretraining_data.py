"""Tests for official_bert.create_pretraining_data against the original's records.

The oracle beyond the golden fixtures is the plain port of the original in
tests/reference/original_pretraining_data.py.
"""

import json
import logging as py_logging
import os
import random
import subprocess
import sys

import pytest
import tensorflow as tf
from reference import original_pretraining_data

from official_bert import create_pretraining_data as cpd
from official_bert import files, tokenization
from official_bert.errors import InputError

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
GOLDEN_DIR = os.path.join(TESTS_DIR, "golden")
VOCAB_FILE = os.path.join(GOLDEN_DIR, "uncased_vocab.txt")
CORPUS_FILE = os.path.join(GOLDEN_DIR, "demo_corpus.txt")
FIXTURES = ("demo", "demo_wwm")
INT_FEATURES = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "next_sentence_labels",
)
# The golden json writes the demo files under data/.
GOLDEN_PATHS = {"data/uncased_vocab.txt": VOCAB_FILE, "data/demo_corpus.txt": CORPUS_FILE}


def _fixture(name):
    with open(os.path.join(GOLDEN_DIR, "pretraining_data", f"{name}.json"), encoding="utf-8") as f:
        spec = json.load(f)
    flag_values = dict(flag[2:].split("=", 1) for flag in spec["flags"])
    return flag_values, spec["instances"]


def _library_kwargs(flag_values):
    return {
        "max_seq_length": int(flag_values["max_seq_length"]),
        "max_predictions_per_seq": int(flag_values["max_predictions_per_seq"]),
        "random_seed": int(flag_values["random_seed"]),
        "dupe_factor": int(flag_values["dupe_factor"]),
        "masked_lm_prob": float(flag_values["masked_lm_prob"]),
        "short_seq_prob": float(flag_values["short_seq_prob"]),
        "do_whole_word_mask": flag_values.get("do_whole_word_mask", "False") == "True",
    }


def _records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


def _golden_records(name):
    return _records(os.path.join(GOLDEN_DIR, "pretraining_data", f"{name}.tfrecord"))


def _parsed(record):
    features = tf.train.Example.FromString(record).features.feature
    parsed = {name: list(features[name].int64_list.value) for name in INT_FEATURES}
    parsed["masked_lm_weights"] = list(features["masked_lm_weights"].float_list.value)
    assert set(features) == set(parsed)
    return parsed


@pytest.fixture(scope="module")
def tokenizers():
    return {
        lower: tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=lower)
        for lower in (True, False)
    }


@pytest.fixture(scope="module")
def reference():
    """The plain port of the original generator (tests/reference/)."""
    return original_pretraining_data


@pytest.fixture(scope="module")
def library_outputs(tokenizers, tmp_path_factory):
    """Each fixture run through the library with the json's flags."""
    out_dir = tmp_path_factory.mktemp("library")
    outputs = {}
    for name in FIXTURES:
        flag_values, _ = _fixture(name)
        path = str(out_dir / f"{name}.tfrecord")
        cpd.create_pretraining_data(
            CORPUS_FILE,
            path,
            tokenizers[flag_values["do_lower_case"] == "True"],
            **_library_kwargs(flag_values),
        )
        outputs[name] = path
    return outputs


def _write(path, text, mode="w"):
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        f.write(text)
    return str(path)


# ---------------------------------------------------------------------------
# The golden fixtures.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_records_are_the_originals_bytes(name, library_outputs):
    golden = os.path.join(GOLDEN_DIR, "pretraining_data", f"{name}.tfrecord")
    with open(library_outputs[name], "rb") as ours, open(golden, "rb") as gold:
        assert ours.read() == gold.read()


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_records_match_the_json_field_by_field(name, library_outputs):
    _, instances = _fixture(name)
    records = _records(library_outputs[name])
    assert len(records) == len(instances)
    for index, (record, expected) in enumerate(zip(records, instances)):
        parsed = _parsed(record)
        for feature, values in expected.items():
            assert parsed[feature] == values, f"instance {index}, feature {feature}"


@pytest.mark.parametrize("name", FIXTURES)
def test_create_training_instances_api_gives_the_golden_records(name, tokenizers, tmp_path):
    flag_values, _ = _fixture(name)
    kwargs = _library_kwargs(flag_values)
    tokenizer = tokenizers[True]
    instances = cpd.create_training_instances(
        [CORPUS_FILE],
        tokenizer,
        kwargs["max_seq_length"],
        kwargs["dupe_factor"],
        kwargs["short_seq_prob"],
        kwargs["masked_lm_prob"],
        kwargs["max_predictions_per_seq"],
        random.Random(kwargs["random_seed"]),
        kwargs["do_whole_word_mask"],
    )
    path = str(tmp_path / "out.tfrecord")
    cpd.write_instance_to_example_files(
        instances, tokenizer, kwargs["max_seq_length"], kwargs["max_predictions_per_seq"], [path]
    )
    assert _records(path) == _golden_records(name)


def test_cli_writes_the_golden_records(tmp_path):
    flag_values, _ = _fixture("demo_wwm")
    output = tmp_path / "cli.tfrecord"
    argv = [f"--{k}={GOLDEN_PATHS.get(v, v)}" for k, v in flag_values.items()]
    command = [sys.executable, "-m", "official_bert.create_pretraining_data", *argv]
    result = subprocess.run(
        [*command, f"--output_file={output}"],
        check=False,
        cwd=REPO_DIR,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert _records(str(output)) == _golden_records("demo_wwm")
    assert "Wrote 63 total instances" in result.stderr
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_reference_port_gives_the_golden_records(reference, tokenizers, tmp_path):
    """The reference port, used as the oracle below, agrees with the original."""
    for name in FIXTURES:
        flag_values, _ = _fixture(name)
        path = str(tmp_path / f"{name}.tfrecord")
        reference.reference_run(
            [CORPUS_FILE], [path], tokenizers[True], _library_kwargs(flag_values)
        )
        ours = [_parsed(r) for r in _records(path)]
        assert ours == [_parsed(r) for r in _golden_records(name)]


# ---------------------------------------------------------------------------
# Beyond the fixtures: the same random draws on every path.
# ---------------------------------------------------------------------------


def _varied_corpus(rng, num_documents):
    with open(CORPUS_FILE, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    lines = []
    for _ in range(num_documents):
        lines.extend(rng.choice(sentences) for _ in range(rng.choice([1, 1, 2, 3, 6, 12])))
        lines.append("")
        if rng.random() < 0.2:
            lines.append("")
    return "\n".join(lines)


@pytest.mark.parametrize(
    "seed, num_files, num_outputs, kwargs, lower",
    [
        (1, 2, 3, {"dupe_factor": 3, "short_seq_prob": 0.5}, True),
        (2, 3, 1, {"do_whole_word_mask": True, "max_seq_length": 24}, False),
        (3, 1, 2, {"short_seq_prob": 1.0, "max_seq_length": 16, "masked_lm_prob": 0.4}, True),
        (
            4,
            2,
            2,
            {"do_whole_word_mask": True, "max_predictions_per_seq": 2, "dupe_factor": 2},
            True,
        ),
        (5, 1, 1, {"max_seq_length": 5, "short_seq_prob": 0.3, "max_predictions_per_seq": 0}, True),
    ],
)
def test_library_matches_the_reference_port(
    seed, num_files, num_outputs, kwargs, lower, reference, tokenizers, tmp_path
):
    rng = random.Random(seed)
    inputs = []
    for i in range(num_files):
        text = _varied_corpus(rng, num_documents=rng.choice([1, 3, 6]))
        if i == 0 and num_files > 1:
            text = text.rstrip("\n")  # the last document runs on into the next file
        inputs.append(_write(tmp_path / f"in{i}.txt", text))
    flag_values = {
        "max_seq_length": 64,
        "max_predictions_per_seq": 10,
        "random_seed": seed * 1000,
        "dupe_factor": 1,
        "masked_lm_prob": 0.15,
        "short_seq_prob": 0.1,
        "do_whole_word_mask": False,
        **kwargs,
    }
    ours = [str(tmp_path / f"ours{i}.tfrecord") for i in range(num_outputs)]
    theirs = [str(tmp_path / f"ref{i}.tfrecord") for i in range(num_outputs)]
    cpd.create_pretraining_data(",".join(inputs), ",".join(ours), tokenizers[lower], **flag_values)
    reference.reference_run(
        inputs, theirs, reference.uncached_tokenizer(VOCAB_FILE, lower), flag_values
    )
    for a, b in zip(ours, theirs):
        records = _records(a)
        assert records
        assert [_parsed(r) for r in records] == [_parsed(r) for r in _records(b)]


def test_output_files_are_written_round_robin(tokenizers, tmp_path):
    flag_values, _ = _fixture("demo")
    paths = [str(tmp_path / f"shard{i}.tfrecord") for i in range(3)]
    stats = cpd.create_pretraining_data(
        CORPUS_FILE, ",".join(paths), tokenizers[True], **_library_kwargs(flag_values)
    )
    golden = _golden_records("demo")
    for i, path in enumerate(paths):
        assert _records(path) == golden[i::3]
        assert stats.instances_per_file[path] == len(golden[i::3])


def test_shuffle_makes_the_same_draws_as_random_shuffle():
    for seed in range(5):
        for length in [0, 1, 2, 3, 7, 8, 9, 64, 127, 128, 129, 513]:
            ours, theirs = random.Random(seed), random.Random(seed)
            items_ours, items_theirs = list(range(length)), list(range(length))
            cpd.shuffle(items_ours, ours)
            theirs.shuffle(items_theirs)
            assert items_ours == items_theirs
            assert ours.getstate() == theirs.getstate()


def test_token_ids_equal_the_originals_ids_on_golden_texts(tokenizers):
    with open(os.path.join(GOLDEN_DIR, "tokenization", "full_tokenizer_cases.json")) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        tokenizer = tokenizers[case["do_lower_case"]]
        assert cpd.token_ids(tokenizer, case["text"]) == case["ids"], case["text"]
        assert cpd.CachedTokenizer(tokenizer).token_ids(case["text"]) == case["ids"]


def test_a_control_whitespace_joins_words_as_in_the_tokenizer(tokenizers):
    for text in ["a\x1fb", "fire\x85fly", "sun\x0bflower and more", "x\x0cy"]:
        expected = tokenizers[True].convert_tokens_to_ids(tokenizers[True].tokenize(text))
        assert cpd.token_ids(tokenizers[True], text) == expected


def test_shuffle_in_blocks_makes_the_same_draws_and_reports_progress(monkeypatch):
    monkeypatch.setattr(cpd, "SHUFFLE_BLOCK", 3)
    for length in [0, 1, 2, 3, 4, 7, 8, 9, 17, 64, 65]:
        ours, theirs = random.Random(length), random.Random(length)
        items_ours, items_theirs = list(range(length)), list(range(length))
        done = []
        cpd.shuffle(items_ours, ours, done.append)
        theirs.shuffle(items_theirs)
        assert items_ours == items_theirs
        assert ours.getstate() == theirs.getstate()
        swaps = max(length - 1, 0)
        assert done == [min(k, swaps) for k in range(3, swaps + 3, 3)]


def test_vocab_tables_keep_the_originals_vocab_word_order():
    vocab = {"[PAD]": 0, "[CLS]": 5, "[SEP]": 2, "[MASK]": 3, "##ing": 4, "walk": 1}
    tables = cpd.VocabTables.from_vocab(vocab)
    assert tables.random_word_ids == (0, 5, 2, 3, 4, 1)
    assert tables.subword_ids == {4}


def test_whole_word_mask_groups_a_piece_after_sep_with_the_word_before():
    vocab = cpd.VocabTables.from_vocab({"[CLS]": 0, "[SEP]": 1, "[MASK]": 2, "a": 3, "##b": 4})
    input_ids = [0, 3, 1, 4, 1]
    _, positions, labels = cpd.create_masked_lm_predictions(
        input_ids, 1.0, 10, vocab, random.Random(0), do_whole_word_mask=True
    )
    assert positions == [1, 3]  # "a" and "##b" are one word, across the [SEP]
    assert labels == [3, 4]


# ---------------------------------------------------------------------------
# Reading.
# ---------------------------------------------------------------------------


def test_documents_run_on_across_files_without_a_blank_line(tokenizers, tmp_path):
    first = _write(tmp_path / "a.txt", "one two.\n\nthree four.")
    second = _write(tmp_path / "b.txt", "five six.\n")
    documents = cpd.read_documents([first, second], tokenizers[True])
    assert len(documents) == 2
    assert len(documents[1]) == 2


def test_carriage_returns_are_removed_as_gfile_readline_does(tokenizers, tmp_path):
    path = _write(tmp_path / "cr.txt", b"walk\ring\r\n\r\nsun\n", mode="wb")
    tokenizer = tokenizers[True]
    documents = cpd.read_documents([path], tokenizer)
    walking = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("walking"))
    assert documents == [[walking], [tokenizer.convert_tokens_to_ids(["sun"])]]


def test_documents_without_tokens_are_counted_and_logged(tokenizers, tmp_path, caplog):
    path = _write(tmp_path / "c.txt", "real text.\n\n\x00\x01\n\x02\n\nmore text.\n")
    stats = cpd.CorpusStats()
    with caplog.at_level(py_logging.WARNING):
        documents = cpd.read_documents([path], tokenizers[True], stats)
    assert len(documents) == 2
    assert stats.documents_without_tokens == 1
    assert stats.lines_without_tokens == 2
    assert "1 document(s) had text but no tokens" in caplog.text


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------


def test_a_glob_matching_nothing_is_an_error_naming_it(tokenizers, tmp_path):
    pattern = str(tmp_path / "missing-*.txt")
    with pytest.raises(ValueError, match="missing-"):
        cpd.create_pretraining_data(
            f"{CORPUS_FILE},{pattern}", str(tmp_path / "o.tfrecord"), tokenizers[True]
        )


def test_an_empty_input_file_is_an_error_naming_it(tokenizers, tmp_path):
    empty = _write(tmp_path / "empty.txt", "\n\n")
    with pytest.raises(ValueError, match="empty.txt"):
        cpd.create_pretraining_data(
            f"{CORPUS_FILE},{empty}", str(tmp_path / "o.tfrecord"), tokenizers[True]
        )
    assert not os.path.exists(tmp_path / "o.tfrecord")


def test_a_line_that_is_not_utf8_is_an_error_naming_file_and_line(tokenizers, tmp_path):
    path = _write(tmp_path / "latin1.txt", "fine.\n\ncaf\xe9 ok\n".encode("latin-1"), mode="wb")
    with pytest.raises(InputError, match=r"latin1\.txt, line 3 is not valid UTF-8"):
        cpd.read_documents([path], tokenizers[True])


def test_too_few_predictions_are_capped_with_one_warning(tokenizers, tmp_path, caplog):
    path = str(tmp_path / "o.tfrecord")
    with caplog.at_level(py_logging.WARNING):
        cpd.create_pretraining_data(
            CORPUS_FILE, path, tokenizers[True], max_predictions_per_seq=3, dupe_factor=1
        )
    assert caplog.text.count("--max_predictions_per_seq=3 is below") == 1
    weights = [sum(_parsed(r)["masked_lm_weights"]) for r in _records(path)]
    assert max(weights) == 3


def test_too_short_max_seq_length_is_an_error_naming_the_flag(tokenizers, tmp_path):
    with pytest.raises(ValueError, match="--max_seq_length=4"):
        cpd.create_pretraining_data(
            CORPUS_FILE, str(tmp_path / "o.tfrecord"), tokenizers[True], max_seq_length=4
        )


def test_a_failed_write_leaves_the_previous_output_and_no_temporary_file(tmp_path):
    path = tmp_path / "o.tfrecord"
    path.write_bytes(b"previous")

    def failing(record):
        if record == b"c":
            raise RuntimeError("disk full")
        return record

    with pytest.raises(RuntimeError, match="disk full"):
        cpd.write_records([b"a", b"b", b"c"], [str(path), str(tmp_path / "p.tfrecord")], failing)
    assert path.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["o.tfrecord"]


def test_a_repeated_output_file_is_an_error():
    with pytest.raises(ValueError, match="names a file twice"):
        cpd.check_output_files(["a.tfrecord", "a.tfrecord"])


@pytest.mark.parametrize(
    "flag, value",
    [
        ("masked_lm_prob", -0.1),
        ("masked_lm_prob", 1.5),
        ("masked_lm_prob", float("nan")),
        ("short_seq_prob", 1.01),
        ("short_seq_prob", -1.0),
        ("dupe_factor", 0),
        ("max_predictions_per_seq", -1),
        ("max_seq_length", 0),
    ],
)
def test_a_flag_outside_its_range_is_an_error_naming_it(flag, value, tokenizers, tmp_path):
    with pytest.raises(InputError, match=f"--{flag}={value}"):
        cpd.create_pretraining_data(
            CORPUS_FILE, str(tmp_path / "o.tfrecord"), tokenizers[True], **{flag: value}
        )
    assert os.listdir(tmp_path) == []


def test_probabilities_at_the_ends_of_their_range_are_accepted():
    for probability in (0.0, 1.0):
        cpd.check_parameters(128, 1, probability, 20, short_seq_prob=probability)


# ---------------------------------------------------------------------------
# Long lines: linear time, the original's draws.
# ---------------------------------------------------------------------------


def test_truncation_makes_the_originals_draws_and_cuts(reference):
    rng = random.Random(7)
    for _ in range(300):
        len_a, len_b = rng.randrange(0, 60), rng.randrange(0, 60)
        max_num_tokens = rng.randrange(0, 70)
        seed = rng.random()
        ours_a, ours_b = list(range(len_a)), list(range(100, 100 + len_b))
        theirs_a, theirs_b = list(ours_a), list(ours_b)
        ours_rng, theirs_rng = random.Random(seed), random.Random(seed)
        cpd.truncate_seq_pair(ours_a, ours_b, max_num_tokens, ours_rng)
        reference.truncate_seq_pair(theirs_a, theirs_b, max_num_tokens, theirs_rng)
        assert (ours_a, ours_b) == (theirs_a, theirs_b)
        assert ours_rng.getstate() == theirs_rng.getstate()


def test_a_long_single_line_gives_the_references_records(reference, tokenizers, tmp_path):
    # One sentence of 20k short tokens among ordinary documents: it becomes
    # segment A (and B of other instances) and is truncated by ~20k draws.
    rng = random.Random(11)
    long_line = " ".join(rng.choice(["a", "of", "the", "x", "walking"]) for _ in range(20000))
    text = _varied_corpus(rng, 4) + "\n\n" + long_line + "\n\n" + _varied_corpus(rng, 3)
    path = _write(tmp_path / "long.txt", text)
    flag_values = {
        "max_seq_length": 32,
        "max_predictions_per_seq": 5,
        "random_seed": 3,
        "dupe_factor": 2,
        "masked_lm_prob": 0.15,
        "short_seq_prob": 0.1,
        "do_whole_word_mask": False,
    }
    ours, theirs = str(tmp_path / "ours.tfrecord"), str(tmp_path / "ref.tfrecord")
    cpd.create_pretraining_data(path, ours, tokenizers[True], **flag_values)
    reference.reference_run([path], [theirs], tokenizers[True], flag_values)
    records = _records(ours)
    assert len(records) > 20
    assert [_parsed(r) for r in records] == [_parsed(r) for r in _records(theirs)]


def test_lines_running_across_read_blocks_are_read_whole(monkeypatch, tmp_path):
    data = b"first line\r\n" + b"x" * 23 + b"\n\nab\rc\n" + b"y" * 17
    path = _write(tmp_path / "blocks.txt", data, mode="wb")
    expected = [(i + 1, line.replace(b"\r", b"")) for i, line in enumerate(data.split(b"\n"))]
    for block_bytes in (1, 2, 5, 7, 64):
        monkeypatch.setattr(cpd, "READ_BLOCK_BYTES", block_bytes)
        assert list(cpd._read_lines(path)) == expected


# ---------------------------------------------------------------------------
# Progress and output files.
# ---------------------------------------------------------------------------


def test_progress_is_logged_in_every_phase(monkeypatch, tokenizers, tmp_path, caplog):
    monkeypatch.setattr(cpd, "PROGRESS_INTERVAL_SECONDS", 0.0)
    with caplog.at_level(py_logging.INFO):
        stats = cpd.create_pretraining_data(
            CORPUS_FILE, str(tmp_path / "o.tfrecord"), tokenizers[True], dupe_factor=2
        )
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    for phase in (
        "reading",
        "shuffling documents",
        "creating instances",
        "shuffling instances",
        "writing",
    ):
        assert any(f"] {phase}: " in line for line in progress), phase
    last = progress[-1]
    assert f"{stats.instances:,} of {stats.instances:,} instances" in last
    assert f"{stats.documents:,} documents read" in last
    assert f"{stats.instances:,} written" in last and "instances/s" in last


def test_temporary_output_files_are_hidden_from_input_globs(tmp_path):
    path = str(tmp_path / "out.tfrecord")
    seen = []

    def to_record(record):
        seen.append(sorted(os.listdir(tmp_path)))
        with pytest.raises(ValueError, match="matches no file"):
            files.expand_input_patterns(path + "*")
        return record

    cpd.write_records([b"a", b"b"], [path], to_record)
    assert all(len(names) == 1 and names[0].startswith(".out.tfrecord.tmp-") for names in seen)
    assert os.listdir(tmp_path) == ["out.tfrecord"]
    assert _records(path) == [b"a", b"b"]


def test_temporary_files_of_a_killed_run_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".o.tfrecord.tmp-{dead.pid}-0123abcd"
    stale.write_bytes(b"partial")
    cpd.write_records([b"a"], [str(tmp_path / "o.tfrecord")])
    assert os.listdir(tmp_path) == ["o.tfrecord"]
