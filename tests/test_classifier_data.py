"""Tests of the classifier data: processors, features, TFRecords and output files.

Golden features come from the original `file_based_convert_examples_to_features`
(tests/golden/glue/features.json, max_seq_length=32, uncased vocab, lower case), and
the original run_classifier.py's own feature files (tests/golden/glue/original_records,
whose README gives the flags).
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from official_bert import classifier_data as cd
from official_bert import classifier_features as cf
from official_bert import tokenization, training
from official_bert.errors import InputError

GOLDEN = pathlib.Path(__file__).parent / "golden"
GLUE = GOLDEN / "glue"
FEATURES = json.loads((GLUE / "features.json").read_text())
SEQ_LENGTH = FEATURES["max_seq_length"]
SPLITS = list(FEATURES["splits"])
GETTERS = {"train": "get_train_examples", "dev": "get_dev_examples", "test": "get_test_examples"}
# The original's feature files of MRPC: file name -> the split it was written from.
ORIGINAL_RECORDS = GLUE / "original_records"
ORIGINAL_FILES = {"train.tf_record": "train", "eval.tf_record": "dev", "predict.tf_record": "test"}


@pytest.fixture(scope="module")
def tokenizer() -> tokenization.FullTokenizer:
    return tokenization.FullTokenizer(
        str(GOLDEN / FEATURES["vocab"]), do_lower_case=FEATURES["do_lower_case"]
    )


def _examples(split: str) -> list[cd.InputExample]:
    task, set_name = split.split("/")
    processor = cd.get_processor(task)
    return getattr(processor, GETTERS[set_name])(str(GLUE / task))


def _read_records(path: pathlib.Path) -> list[tf.train.Example]:
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


def _record_values(example: tf.train.Example) -> dict[str, list[int]]:
    features = example.features.feature
    assert all(features[name].WhichOneof("kind") == "int64_list" for name in features)
    return {name: list(features[name].int64_list.value) for name in features}


def _write_tsv(path: pathlib.Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


# --- Golden features -----------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_written_records_equal_the_originals_features(split, tokenizer, tmp_path):
    golden = FEATURES["splits"][split]
    examples = _examples(split)
    assert [e.guid for e in examples] == golden["guids"]
    task = split.split("/")[0]
    output_file = tmp_path / "out.tf_record"
    cf.file_based_convert_examples_to_features(
        examples, cd.get_processor(task).get_labels(), SEQ_LENGTH, tokenizer, str(output_file)
    )
    records = [_record_values(r) for r in _read_records(output_file)]
    assert records == golden["features"]


@pytest.mark.parametrize("file_name", sorted(ORIGINAL_FILES))
def test_feature_files_are_the_originals_bytes(file_name, tmp_path):
    # The README's flags: MRPC, its 99-token vocab.txt, lower case, max_seq_length=64.
    tokenizer = tokenization.FullTokenizer(str(ORIGINAL_RECORDS / "vocab.txt"), True)
    processor = cd.MrpcProcessor()
    examples = getattr(processor, GETTERS[ORIGINAL_FILES[file_name]])(str(GLUE / "MRPC"))
    output_file = tmp_path / file_name
    cf.file_based_convert_examples_to_features(
        examples, processor.get_labels(), 64, tokenizer, str(output_file)
    )
    assert output_file.read_bytes() == (ORIGINAL_RECORDS / file_name).read_bytes()


def test_records_parse_to_the_original_example():
    def int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    for golden in FEATURES["splits"]["MNLI/train"]["features"][:3]:
        features = cd.InputFeatures(
            golden["input_ids"],
            golden["input_mask"],
            golden["segment_ids"],
            golden["label_ids"][0],
            bool(golden["is_real_example"][0]),
        )
        original = tf.train.Example(
            features=tf.train.Features(
                feature={
                    "input_ids": int_feature(features.input_ids),
                    "input_mask": int_feature(features.input_mask),
                    "segment_ids": int_feature(features.segment_ids),
                    "label_ids": int_feature([features.label_id]),
                    "is_real_example": int_feature([int(features.is_real_example)]),
                }
            )
        )
        assert tf.train.Example.FromString(cf.serialize_features(features)) == original


def test_serializer_refills_every_feature_for_each_example():
    serialize = cf.FeatureSerializer()
    first = cd.InputFeatures([101, 7, 102, 0], [1, 1, 1, 0], [0, 0, 0, 0], 2)
    padding = cd.InputFeatures([0] * 3, [0] * 3, [0] * 3, 0, is_real_example=False)
    serialize(first)
    assert serialize(padding) == cf.serialize_features(padding)
    assert serialize(first) == cf.serialize_features(first)
    assert serialize(padding) != serialize(first)


# --- Conversion details --------------------------------------------------------------


class _ListTokenizer:
    """Splits on spaces, returns the same cached list for a text, ids = lengths."""

    def __init__(self):
        self.cache: dict[str, list[str]] = {}

    def tokenize(self, text):
        return self.cache.setdefault(text, text.split())

    def convert_tokens_to_ids(self, tokens):
        return [len(t) for t in tokens]


def _original_truncate(tokens_a, tokens_b, max_length):
    while len(tokens_a) + len(tokens_b) > max_length:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def test_truncate_seq_pair_pops_from_the_longer_sequence_b_on_ties():
    for len_a in range(7):
        for len_b in range(7):
            for max_length in range(10):
                a, b = list(range(len_a)), list(range(len_b))
                ref_a, ref_b = list(a), list(b)
                cf.truncate_seq_pair(a, b, max_length)
                _original_truncate(ref_a, ref_b, max_length)
                assert (a, b) == (ref_a, ref_b)


def test_conversion_does_not_modify_the_tokenizers_lists():
    tok = _ListTokenizer()
    example = cd.InputExample("g", "a bb ccc dddd", "e ff ggg", label="1")
    cf.convert_single_example(0, example, ["0", "1"], 6, tok)
    assert tok.cache == {
        "a bb ccc dddd": ["a", "bb", "ccc", "dddd"],
        "e ff ggg": ["e", "ff", "ggg"],
    }


def test_text_b_without_tokens_gives_the_single_sentence_layout():
    example = cd.InputExample("g", "a bb", "   ", label="0")
    features = cf.convert_single_example(0, example, ["0"], 6, _ListTokenizer())
    assert features.input_ids == [5, 1, 2, 5, 0, 0]
    assert features.segment_ids == [0] * 6
    assert features.input_mask == [1, 1, 1, 1, 0, 0]


def test_pair_layout_has_segment_one_for_b_and_its_sep():
    example = cd.InputExample("g", "a bb ccc", "dddd e ff ggg", label="1")
    features = cf.convert_single_example(0, example, ["0", "1"], 8, _ListTokenizer())
    # [CLS] a bb ccc [SEP] dddd e [SEP]: B, longer and then tied, lost two tokens.
    assert features.input_ids == [5, 1, 2, 3, 5, 4, 1, 5]
    assert features.segment_ids == [0, 0, 0, 0, 0, 1, 1, 1]
    assert features.input_mask == [1] * 8
    assert features.label_id == 1


# --- TPU padding and the input pipeline ----------------------------------------------


def test_pad_examples_for_tpu_pads_to_a_multiple_of_the_batch_size():
    examples = [cd.InputExample(f"dev-{i}", "a", label="0") for i in range(6)]
    padded = cf.pad_examples_for_tpu(examples, 4)
    assert padded[:6] == examples and len(examples) == 6
    assert padded[6:] == [cd.PaddingInputExample()] * 2
    assert cf.pad_examples_for_tpu(examples, 3) == examples


def test_padding_example_gives_zero_features_that_are_not_real(tmp_path):
    path = tmp_path / "pad.tf_record"
    cf.file_based_convert_examples_to_features(
        [cd.PaddingInputExample()], ["a", "b"], 4, _ListTokenizer(), str(path)
    )
    assert [_record_values(r) for r in _read_records(path)] == [
        {
            "input_ids": [0] * 4,
            "input_mask": [0] * 4,
            "segment_ids": [0] * 4,
            "label_ids": [0],
            "is_real_example": [0],
        }
    ]


@pytest.fixture(scope="module")
def mnli_train_file(tokenizer, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("records") / "train.tf_record"
    labels = cd.MnliProcessor().get_labels()
    examples = _examples("MNLI/train")
    cf.file_based_convert_examples_to_features(examples, labels, SEQ_LENGTH, tokenizer, str(path))
    return str(path)


def test_eval_dataset_gives_int32_batches_in_file_order(mnli_train_file):
    golden = FEATURES["splits"]["MNLI/train"]["features"]
    batches = list(cf.file_based_dataset(mnli_train_file, SEQ_LENGTH, False, False, 5))
    assert [b["label_ids"].shape[0] for b in batches] == [5, 5, 2]
    for name in cf.FEATURE_NAMES:
        assert all(b[name].dtype == tf.int32 for b in batches)
        values = np.concatenate([b[name].numpy() for b in batches])
        expected = [g[name] if len(g[name]) > 1 else g[name][0] for g in golden]
        np.testing.assert_array_equal(values, np.array(expected))


def test_eval_dataset_drops_the_remainder_when_asked(mnli_train_file):
    input_fn = cf.file_based_input_fn_builder(mnli_train_file, SEQ_LENGTH, False, True)
    batches = list(input_fn({"batch_size": 5}))
    assert [b["input_ids"].shape.as_list() for b in batches] == [[5, SEQ_LENGTH]] * 2


def test_training_dataset_repeats_and_shuffles(mnli_train_file):
    golden_ids = [g["input_ids"] for g in FEATURES["splits"]["MNLI/train"]["features"]]
    dataset = cf.file_based_dataset(mnli_train_file, SEQ_LENGTH, True, True, 8, seed=1)
    ids = [row.tolist() for b in dataset.take(6) for row in b["input_ids"].numpy()]
    assert len(ids) == 48  # four passes over 12 records
    assert all(row in golden_ids for row in ids)
    assert ids[:12] != golden_ids


def test_dataset_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tf_record"):
        cf.file_based_dataset(str(tmp_path / "nope.tf_record"), SEQ_LENGTH, False, False, 2)


# --- Processors ----------------------------------------------------------------------


def test_test_examples_carry_the_first_label_as_placeholder():
    assert {e.label for e in _examples("MRPC/test")} == {"0"}
    assert {e.label for e in _examples("CoLA/test")} == {"0"}
    assert {e.label for e in _examples("MNLI/test")} == {"contradiction"}


def test_cola_reads_the_sentence_column_and_skips_only_the_test_header():
    train = _examples("CoLA/train")
    text = "Rivers shape the land slowly, carrying silt from the mountains to the sea."
    assert train[0] == cd.InputExample("train-0", text, None, "0")
    test = _examples("CoLA/test")
    assert test[0].text_a.startswith("Floods bring danger") and test[0].guid == "test-1"


def test_mnli_reads_sentence_columns_and_the_last_column_label():
    dev = _examples("MNLI/dev")
    assert dev[0].text_a.startswith("Grandmasters study endgames")
    assert dev[0].text_b.startswith("Floods bring danger")
    assert dev[0].label == "entailment"


def test_xnli_reads_the_language_train_file_and_renames_contradictory(tmp_path):
    _write_tsv(
        tmp_path / "multinli" / "multinli.train.de.tsv",
        [["premise", "hypo", "label"], ["a", "b", "contradictory"], ["c", "d", "neutral"]],
    )
    examples = cd.get_processor("XNLI", language="de").get_train_examples(str(tmp_path))
    assert examples == [
        cd.InputExample("train-1", "a", "b", "contradiction"),
        cd.InputExample("train-2", "c", "d", "neutral"),
    ]
    assert cd.XnliProcessor().language == "zh"


def test_xnli_dev_keeps_its_language_and_counts_all_rows_in_guids(tmp_path):
    def row(language, label, a, b):
        return [language, label, "x", "x", "x", "x", a, b]

    _write_tsv(
        tmp_path / "xnli.dev.tsv",
        [
            ["language", "gold_label", "s1_bp", "s2_bp", "s1_p", "s2_p", "sentence1", "sentence2"],
            row("en", "neutral", "e1", "e2"),
            row("zh", "entailment", "z1", "z2"),
            ["ar"],  # other languages are skipped before their columns are read
            row("zh", "contradiction", "z3", "z4"),
        ],
    )
    examples = cd.XnliProcessor().get_dev_examples(str(tmp_path))
    assert examples == [
        cd.InputExample("dev-2", "z1", "z2", "entailment"),
        cd.InputExample("dev-4", "z3", "z4", "contradiction"),
    ]
    with pytest.raises(NotImplementedError):
        cd.XnliProcessor().get_test_examples(str(tmp_path))


def test_read_tsv_keeps_quotes_as_text(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('a\t"b\tc"\n', encoding="utf-8")
    assert cd.DataProcessor._read_tsv(str(path)) == [["a", '"b', 'c"']]


# --- Task registry -------------------------------------------------------------------


def test_get_processor_is_case_insensitive():
    assert isinstance(cd.get_processor("MrPc"), cd.MrpcProcessor)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="Task not found: sst2. Known tasks: cola, mnli, mrpc"):
        cd.get_processor("SST2")


def test_register_processor_adds_a_task_as_decorator_and_call(monkeypatch):
    monkeypatch.setattr(cd, "PROCESSORS", dict(cd.PROCESSORS))

    @cd.register_processor("My_Task")
    class MyProcessor(cd.MrpcProcessor):
        pass

    assert isinstance(cd.get_processor("my_task"), MyProcessor)
    assert cd.register_processor("other", MyProcessor) is MyProcessor
    with pytest.raises(ValueError, match="already registered to MrpcProcessor"):
        cd.register_processor("mrpc", MyProcessor)
    cd.register_processor("mrpc", MyProcessor, overwrite=True)
    assert isinstance(cd.get_processor("mrpc"), MyProcessor)
    with pytest.raises(TypeError):
        cd.register_processor("bad", dict)


# --- Bad input -----------------------------------------------------------------------


def test_missing_split_file_names_the_expected_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "dev_matched.tsv")):
        cd.MnliProcessor().get_dev_examples(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="multinli.train.zh.tsv"):
        cd.XnliProcessor().get_train_examples(str(tmp_path))


def test_row_with_too_few_columns_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    _write_tsv(path, [["Quality", "a", "b", "s1", "s2"], ["1", "0", "1", "x", "y"], ["1", "x"]])
    with pytest.raises(ValueError, match=rf"{path}, line 3: expected at least 5 .* found 2"):
        cd.MrpcProcessor().get_train_examples(str(tmp_path))


def test_unknown_label_names_file_line_and_label(tmp_path):
    header = ["index", "p", "q", "g", "b1", "b2", "p1", "p2", "s1", "s2", "gold_label"]
    rows = [header] + [[str(i), "", "", "", "", "", "", "", "a", "b", "neutral"] for i in range(3)]
    rows[2][-1] = "netural"
    path = tmp_path / "train.tsv"
    _write_tsv(path, rows)
    with pytest.raises(ValueError, match=rf"{path}, line 3: label 'netural' is not one of"):
        cd.MnliProcessor().get_train_examples(str(tmp_path))


def test_mnli_row_without_a_label_column_is_rejected(tmp_path):
    header = ["index", "p", "q", "g", "b1", "b2", "p1", "p2", "s1", "s2", "gold_label"]
    _write_tsv(tmp_path / "train.tsv", [header, ["0", "", "", "", "", "", "", "", "a", "b"]])
    with pytest.raises(ValueError, match="line 2: expected at least 11"):
        cd.MnliProcessor().get_train_examples(str(tmp_path))


def test_bad_label_at_conversion_names_guid_source_and_leaves_no_file(tmp_path):
    output_file = tmp_path / "eval.tf_record"
    output_file.write_bytes(b"previous run")
    examples = [
        cd.InputExample("dev-1", "a", label="0"),
        cd.InputExample("dev-2", "b", label="2", source="dev.tsv, line 3"),
    ]
    with pytest.raises(ValueError, match=r"dev-2 \(dev.tsv, line 3\): label '2' is not one"):
        cf.file_based_convert_examples_to_features(
            examples, ["0", "1"], 8, _ListTokenizer(), str(output_file)
        )
    assert output_file.read_bytes() == b"previous run"
    assert os.listdir(tmp_path) == ["eval.tf_record"]


@pytest.mark.parametrize("content", ["", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"])
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_a_split_without_examples_names_the_file(split, content, tmp_path):
    (tmp_path / f"{split}.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{tmp_path / split}\.tsv holds no examples"):
        getattr(cd.MrpcProcessor(), GETTERS[split])(str(tmp_path))


def test_an_empty_cola_train_file_and_xnli_language_are_named(tmp_path):
    (tmp_path / "train.tsv").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="train.tsv holds no examples"):
        cd.ColaProcessor().get_train_examples(str(tmp_path))
    header = ["language", "gold_label", "s1_bp", "s2_bp", "s1_p", "s2_p", "sentence1", "s2"]
    _write_tsv(tmp_path / "xnli.dev.tsv", [header, ["en", "neutral", "", "", "", "", "a", "b"]])
    with pytest.raises(InputError, match="xnli.dev.tsv holds no examples in language 'zh'"):
        cd.XnliProcessor().get_dev_examples(str(tmp_path))


def test_invalid_utf8_names_the_file(tmp_path):
    (tmp_path / "train.tsv").write_bytes(b"gj04\t1\t\tcaf\xe9\n")
    with pytest.raises(ValueError, match="train.tsv is not valid UTF-8"):
        cd.ColaProcessor().get_train_examples(str(tmp_path))


# --- Output files --------------------------------------------------------------------


def test_eval_results_are_sorted_key_equals_value_lines_of_float32(tmp_path):
    path = tmp_path / "eval_results.txt"
    training.write_eval_results(
        str(path),
        {
            "global_step": np.int64(3),
            "eval_loss": float(np.float32(0.6931472)),
            "eval_accuracy": np.float32(0.84313726),
            "loss": tf.constant(0.5),
        },
    )
    assert path.read_text() == (
        "eval_accuracy = 0.84313726\neval_loss = 0.6931472\nglobal_step = 3\nloss = 0.5\n"
    )


def test_test_results_are_tab_separated_float32_rows_of_real_examples(tmp_path):
    path = tmp_path / "test_results.tsv"
    probabilities = np.array([[0.1, 0.9], [0.25, 0.75], [1e-5, 0.99999]], np.float32)
    assert cf.write_test_results(str(path), iter(probabilities), 2) == 2
    assert path.read_text() == "0.1\t0.9\n0.25\t0.75\n"
    cf.write_test_results(str(path), probabilities.astype(np.float64), 3)
    assert path.read_text().splitlines()[2] == "1e-05\t0.99999"


def test_outputs_are_written_under_hidden_temporary_names(tmp_path, monkeypatch):
    seen = []
    real_writer = tf.io.TFRecordWriter

    def spying_writer(path, *args, **kwargs):
        seen.append(os.path.basename(path))
        return real_writer(path, *args, **kwargs)

    monkeypatch.setattr(tf.io, "TFRecordWriter", spying_writer)
    path = tmp_path / "train.tf_record"
    example = cd.InputExample("g", "a bb", label="0")
    cf.file_based_convert_examples_to_features([example], ["0"], 4, _ListTokenizer(), str(path))
    assert len(seen) == 1 and seen[0].startswith(".train.tf_record.tmp-")
    assert os.listdir(tmp_path) == ["train.tf_record"]


def test_too_few_predictions_write_no_test_results(tmp_path):
    path = tmp_path / "test_results.tsv"
    with pytest.raises(ValueError, match="for 1 examples, expected 2"):
        cf.write_test_results(str(path), [[0.5, 0.5]], 2)
    assert os.listdir(tmp_path) == []


# --- GLUE tasks beyond the original's four (GLUE's own TSV layouts) -------------------


def _glue_dir(tmp_path, files):
    for name, rows in files.items():
        _write_tsv(tmp_path / name, rows)
    return str(tmp_path)


def test_sst2_reads_sentence_label_and_an_indexed_test_file(tmp_path):
    data_dir = _glue_dir(tmp_path, {
        "train.tsv": [["sentence", "label"], ["a fine film", "1"], ["dull ", "0"]],
        "dev.tsv": [["sentence", "label"], ["it works", "1"]],
        "test.tsv": [["index", "sentence"], ["0", "who knows"], ["1", "maybe"]],
    })  # fmt: skip
    p = cd.get_processor("SST-2")
    assert p.get_labels() == ["0", "1"]
    assert p.get_train_examples(data_dir) == [
        cd.InputExample("train-1", "a fine film", None, "1"),
        cd.InputExample("train-2", "dull ", None, "0"),
    ]
    assert p.get_dev_examples(data_dir) == [cd.InputExample("dev-1", "it works", None, "1")]
    assert p.get_test_examples(data_dir) == [
        cd.InputExample("test-1", "who knows", None, "0"),
        cd.InputExample("test-2", "maybe", None, "0"),
    ]


@pytest.mark.parametrize(
    "task, labels", [("rte", ["entailment", "not_entailment"]),
                     ("qnli", ["entailment", "not_entailment"]), ("wnli", ["0", "1"])],
)  # fmt: skip
def test_sentence_pair_tasks_read_index_a_b_label(task, labels, tmp_path):
    header = ["index", "sentence1", "sentence2", "label"]
    if task == "qnli":
        header = ["index", "question", "sentence", "label"]
    data_dir = _glue_dir(tmp_path, {
        "train.tsv": [header, ["0", "a1", "b1", labels[1]], ["1", "a2", "b2", labels[0]]],
        "dev.tsv": [header, ["7", "a3", "b3", labels[0]]],
        "test.tsv": [header[:3], ["0", "a4", "b4"]],
    })  # fmt: skip
    p = cd.get_processor(task)
    assert p.get_labels() == labels
    assert p.get_train_examples(data_dir) == [
        cd.InputExample("train-1", "a1", "b1", labels[1]),
        cd.InputExample("train-2", "a2", "b2", labels[0]),
    ]
    assert p.get_dev_examples(data_dir) == [cd.InputExample("dev-1", "a3", "b3", labels[0])]
    assert p.get_test_examples(data_dir) == [cd.InputExample("test-1", "a4", "b4", labels[0])]


QQP_HEADER = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]


def test_qqp_reads_its_columns_and_skips_malformed_rows_with_a_count(tmp_path, caplog):
    data_dir = _glue_dir(tmp_path, {
        "train.tsv": [QQP_HEADER, ["5", "1", "2", "q one", "q two", "1"],
                      ["6", "3", "4", "a question cut by a line break"],
                      ["7", "5", "6", "q three", "q four", "0"], ["8"]],
        "dev.tsv": [QQP_HEADER, ["9", "7", "8", "q five", "q six", "0"]],
        "test.tsv": [["id", "question1", "question2"], ["0", "t one", "t two"]],
    })  # fmt: skip
    p = cd.get_processor("QQP")
    with caplog.at_level("WARNING"):
        train = p.get_train_examples(data_dir)
    assert train == [
        cd.InputExample("train-1", "q one", "q two", "1"),
        cd.InputExample("train-3", "q three", "q four", "0"),
    ]
    assert "skipped 2 malformed row(s)" in caplog.text and "line 3" in caplog.text
    assert p.get_dev_examples(data_dir) == [cd.InputExample("dev-1", "q five", "q six", "0")]
    assert p.get_test_examples(data_dir) == [cd.InputExample("test-1", "t one", "t two", "0")]


def test_qqp_short_test_row_is_an_error_naming_file_and_line(tmp_path):
    data_dir = _glue_dir(tmp_path, {"test.tsv": [["id", "question1", "question2"], ["0", "x"]]})
    with pytest.raises(InputError, match=r"test.tsv, line 2: expected at least 3"):
        cd.get_processor("qqp").get_test_examples(data_dir)


@pytest.mark.parametrize("task", ["sst-2", "rte", "qnli", "wnli"])
def test_new_tasks_report_missing_files_short_rows_and_unknown_labels(task, tmp_path):
    p = cd.get_processor(task)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "train.tsv")):
        p.get_train_examples(str(tmp_path))
    _write_tsv(tmp_path / "dev.tsv", [["h"], ["only one column"]])
    with pytest.raises(InputError, match=r"dev.tsv, line 2: expected at least"):
        p.get_dev_examples(str(tmp_path))
    row = ["bad label", "9"] if task == "sst-2" else ["0", "a", "b", "9"]
    _write_tsv(tmp_path / "dev.tsv", [["h"], row])
    with pytest.raises(InputError, match=r"dev.tsv, line 2: label '9' is not one of"):
        p.get_dev_examples(str(tmp_path))
    _write_tsv(tmp_path / "dev.tsv", [["header only"]])
    with pytest.raises(InputError, match="holds no examples"):
        p.get_dev_examples(str(tmp_path))


def test_every_glue_task_the_study_names_is_registered():
    for task in ("sst-2", "rte", "qnli", "qqp", "wnli", "cola", "mrpc", "mnli", "xnli"):
        assert isinstance(cd.get_processor(task.upper()), cd.DataProcessor), task
