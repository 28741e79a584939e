"""Tests for official_bert.squad_data and squad_features: examples, features, records.

The oracles: the original's outputs in tests/golden/squad (see its README), and
beyond them the plain port of the original in tests/reference/original_squad.py,
run on text written for these tests (`own_squad_dataset`).
"""

import hashlib
import json
import logging as py_logging
import os
import random

import pytest
import tensorflow as tf
from reference import original_squad, original_tokenization

from official_bert import files, squad, squad_data, squad_features, tokenization
from official_bert.errors import InputError, MissingFileError

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
GOLDEN_DIR = os.path.join(TESTS_DIR, "golden")
SQUAD_DIR = os.path.join(GOLDEN_DIR, "squad")
VOCAB_FILE = os.path.join(GOLDEN_DIR, "uncased_vocab.txt")
# The flags every golden feature file was made with (golden README).
GOLDEN_FLAGS = {"max_seq_length": 128, "doc_stride": 32, "max_query_length": 24}
VERSIONS = ("v1.1", "v2.0")
FEATURE_FIELDS = (
    "unique_id",
    "example_index",
    "doc_span_index",
    "tokens",
    "token_to_orig_map",
    "token_is_max_context",
    "input_ids",
    "input_mask",
    "segment_ids",
    "start_position",
    "end_position",
    "is_impossible",
)
EXAMPLE_FIELDS = (
    "qas_id",
    "question_text",
    "doc_tokens",
    "orig_answer_text",
    "start_position",
    "end_position",
    "is_impossible",
)

# Prose written for these tests: a long document (several windows at any of the
# flags below), repeated tokens, punctuation runs, accents, U+00A0, U+202F, CJK,
# a zero-width space, an emoji, tabs and newlines.
LONG_DOCUMENT = (
    "The river town of Elmsworth grew up around a ford where the old road crossed the "
    "water. In 1821 a miller named Thaddeus Crane built a wooden bridge, and for forty "
    "years the bridge, the mill and the inn beside it were the whole of the town. Crane's "
    "bridge burned in the winter of 1862; the town council met in the inn (the only warm "
    "room) and voted, very very very narrowly, to rebuild it in stone. The stone bridge "
    "still stands: it has five arches, the widest of them 14.5 metres, and a parapet "
    "carved with the names of the masons.\n\nTrade came with the railway in 1879. The "
    "station sat half a mile east of the bridge, and within a decade the town had two "
    "breweries, a tannery, a rope-walk and a school for 300 children. The tannery's smell, "
    "people said, reached the next parish on a west wind; no, no, no, said the tanners, it "
    "was the breweries. The first newspaper, the Elmsworth Courier, printed its first "
    "issue on 3 May 1883 and its last on 30 September 1931, when the paper merged with a "
    "rival from the county town.\n\tIn the twentieth century the mills closed one by one. "
    "The last of them, Crane & Sons, shut its doors in 1967, and the building became a "
    "museum of rural crafts, with a café on the ground floor. Visitors can watch a "
    "restored water-wheel turn on Sundays from April to October. The museum's collection "
    "includes 1,204 tools, a loom from Lyon, a set of Japanese chisels and a tea bowl "
    "marked 東京 on its foot. Its curator, Zoë Marchetti-Lund, wrote the town's history in "
    "three volumes; the third, on the years 1945\u2013\u20091990, is the thinnest.\n\nToday "
    "Elmsworth has about 11\u202f000 inhabitants. The bridge carries a footpath, the old "
    "road having moved to a bypass in 1998, and the ford is a shallow pool where children "
    "swim in August. Each July the town holds a regatta of home-made rafts; the rules "
    "say a raft must float, must carry two people, and must be built from at most "
    "twelve barrels. The record, set in 2011, is 4 minutes 12 seconds for the 800-metre "
    "course. Nobody has ever won it twice, although the Okafor family came close: second "
    "in 2014, first in 2015, second again in 2016, and 2nd once more in 2017. A plaque "
    "on the stone bridge reads \u201cBuilt 1863 \u2014 rebuilt in our hearts every "
    "day\u201d, and a smaller one beneath it, added in jest, reads \u201cmind the "
    "gap\u200b\u201d. Some people call the bridge the Naïve Bridge, because its builders "
    "thought stone would last for ever; the name stuck. \U0001f309 Ask anyone the way "
    "to the bridge and they will point you towards the river, the river, the river."
)
SHORT_DOCUMENTS = (
    "Water boils at 100\u00a0degrees Celsius at sea level, and at lower temperatures on "
    "mountains, because the air pressure is lower there.",
    "The Japanese garden behind the museum was laid out in 1972 by a gardener from Kyoto.",
    "Buffalo buffalo Buffalo buffalo buffalo buffalo Buffalo buffalo.",
)
QUESTION_WORDS = (
    "Who built the first bridge and when did the railway come to the town of Elmsworth "
    "and what happened to the mills in the twentieth century and how long is the raft "
    "race course and which family came close to winning twice"
).split()


def own_squad_dataset(seed: int, num_questions: int = 60, version_2: bool = False) -> dict:
    """A SQuAD-layout dataset of the prose above, one answer per question.

    Answers are random spans of words (and some mid-word character spans, which
    `_improve_answer_span` cannot narrow); questions are random runs of
    QUESTION_WORDS, some longer than any max_query_length used here. With
    `version_2`, a fifth of the questions are impossible.
    """
    rng = random.Random(seed)
    paragraphs = []
    for context in (LONG_DOCUMENT, *SHORT_DOCUMENTS):
        words = [(m.start(), m.end()) for m in squad_data._DOC_WORD.finditer(context)]
        qas = []
        count = num_questions if context is LONG_DOCUMENT else max(num_questions // 10, 2)
        for q in range(count):
            first = rng.randrange(len(words))
            last = min(first + rng.choice((0, 0, 1, 2, 4, 9)), len(words) - 1)
            start, end = words[first][0], words[last][1]
            if rng.random() < 0.15 and end - start > 3:  # a character span inside words
                start += 1
                end -= 1
            length = rng.choice((3, 8, 15, 40))
            offset = rng.randrange(len(QUESTION_WORDS))
            question = " ".join(
                QUESTION_WORDS[(offset + i) % len(QUESTION_WORDS)] for i in range(length)
            )
            qa = {
                "id": f"own-{seed}-{len(paragraphs)}-{q}",
                "question": question + "?",
                "answers": [{"text": context[start:end], "answer_start": start}],
            }
            if version_2:
                qa["is_impossible"] = rng.random() < 0.2
                if qa["is_impossible"]:
                    qa["plausible_answers"] = qa["answers"]
                    qa["answers"] = []
            qas.append(qa)
        paragraphs.append({"context": context, "qas": qas})
    return {
        "version": "v2.0" if version_2 else "1.1",
        "data": [{"title": "Own", "paragraphs": paragraphs}],
    }


def write_json(path, obj) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
    return str(path)


@pytest.fixture(scope="module")
def tokenizer():
    return tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)


@pytest.fixture(scope="module")
def original_tokenizer():
    return original_tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)


def _golden(version, split):
    with open(os.path.join(SQUAD_DIR, "features", version, f"{split}_features.json")) as f:
        return json.load(f)


def _data_file(version, split):
    return os.path.join(SQUAD_DIR, "data", f"{split}-{version}.json")


def _as_golden(feature):
    """A feature in the golden JSON layout (dicts as [key, value] pairs)."""
    out = {name: getattr(feature, name) for name in FEATURE_FIELDS}
    out["token_to_orig_map"] = [[k, v] for k, v in feature.token_to_orig_map.items()]
    out["token_is_max_context"] = [[k, v] for k, v in feature.token_is_max_context.items()]
    return out


def _convert(module, examples, tokenizer, is_training, **flags):
    features = []
    module.convert_examples_to_features(
        examples,
        tokenizer,
        **{**GOLDEN_FLAGS, **flags},
        is_training=is_training,
        output_fn=features.append,
    )
    return features


def _records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


# ---------------------------------------------------------------------------
# The golden copies.
# ---------------------------------------------------------------------------


def test_golden_copies_are_byte_identical_to_the_manifest():
    with open(os.path.join(SQUAD_DIR, "manifest.json")) as f:
        manifest = json.load(f)["files"]
    copied = {p: v for p, v in manifest.items() if os.path.exists(os.path.join(SQUAD_DIR, p))}
    assert len(copied) >= 30
    for path, entry in copied.items():
        with open(os.path.join(SQUAD_DIR, path), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == entry["sha256"], path
    # The fixtures' vocabulary is the one already in tests/golden.
    with open(VOCAB_FILE, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == manifest["model/vocab.txt"]["sha256"]


# ---------------------------------------------------------------------------
# Examples.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("split", ("train", "dev"))
def test_examples_equal_the_originals(version, split):
    golden = _golden(version, split)
    is_training = split == "train"
    examples = squad.read_squad_examples(_data_file(version, split), is_training, version == "v2.0")
    assert len(examples) == golden["meta"]["num_examples"] == len(golden["examples"])
    for example, expected in zip(examples, golden["examples"]):
        for name in EXAMPLE_FIELDS:
            assert getattr(example, name) == expected[name], (expected["qas_id"], name)


def test_training_answer_not_found_is_skipped_and_counted(caplog):
    golden = _golden("v1.1", "train")
    with caplog.at_level(py_logging.WARNING):
        examples = squad.read_squad_examples(_data_file("v1.1", "train"), True)
    skipped = golden["meta"]["skipped_by_read_squad_examples"]
    assert skipped == ["vis-caf-03"]
    assert "vis-caf-03" not in {e.qas_id for e in examples}
    assert "Could not find answer" in caplog.text and "vis-caf-03" in caplog.text
    assert "skipped 1 training questions" in caplog.text


def test_examples_of_one_paragraph_share_their_document():
    examples = squad.read_squad_examples(_data_file("v1.1", "dev"), False)
    assert examples[0].doc_tokens is examples[1].doc_tokens


@pytest.mark.parametrize("version_2", (False, True))
@pytest.mark.parametrize("is_training", (False, True))
def test_examples_of_own_text_equal_the_reference(tmp_path, version_2, is_training):
    path = write_json(tmp_path / "own.json", own_squad_dataset(1, version_2=version_2))
    ours = squad.read_squad_examples(path, is_training, version_2)
    theirs = original_squad.read_squad_examples(path, is_training, version_2)
    assert len(ours) == len(theirs) > 50
    for a, b in zip(ours, theirs):
        for name in EXAMPLE_FIELDS:
            assert getattr(a, name) == getattr(b, name), (b.qas_id, name)


def test_context_splits_on_the_originals_whitespace_only():
    doc_tokens, starts = squad_data.split_context(" a\u00a0b\u202fc\td\r\ne  f\u3000g")
    assert doc_tokens == ["a\u00a0b", "c", "d", "e", "f\u3000g"]
    assert starts == [1, 5, 7, 10, 13]


def test_shuffle_examples_is_the_originals_seeded_shuffle():
    items = list(range(100))
    expected = list(items)
    random.Random(12345).shuffle(expected)
    squad.shuffle_examples(items)
    assert items == expected


def test_example_repr_shows_positions_only_when_start_is_truthy():
    example = squad.SquadExample("q1", "Who?", ["a", "b"], "a", 0, 0)
    assert "start_position" not in repr(example)
    example.start_position = 1
    assert "start_position: 1, end_position: 0" in repr(example)


# ---------------------------------------------------------------------------
# Features and records against the golden files.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("split", ("train", "dev"))
def test_features_equal_the_originals_field_by_field(tokenizer, version, split):
    golden = _golden(version, split)
    is_training = split == "train"
    examples = squad.read_squad_examples(_data_file(version, split), is_training, version == "v2.0")
    features = _convert(squad, examples, tokenizer, is_training)
    assert len(features) == golden["meta"]["num_features"] == len(golden["features"])
    for feature, expected in zip(features, golden["features"]):
        got = _as_golden(feature)
        for name, value in expected.items():
            assert got[name] == value, (expected["unique_id"], name)
    # The golden training files keep windows without the answer at 0, 0.
    if is_training:
        assert any(f.start_position == 0 and not f.is_impossible for f in features)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("split", ("train", "dev"))
def test_feature_writer_gives_the_originals_bytes(tmp_path, tokenizer, version, split):
    is_training = split == "train"
    examples = squad.read_squad_examples(_data_file(version, split), is_training, version == "v2.0")
    path = str(tmp_path / "out.tf_record")
    with squad.FeatureWriter(path, is_training) as writer:
        _convert_to(writer, examples, tokenizer, is_training)
    name = "train.tf_record" if is_training else "eval.tf_record"
    with open(path, "rb") as a, open(os.path.join(SQUAD_DIR, "features", version, name), "rb") as b:
        assert a.read() == b.read()
    assert writer.num_features == len(_records(path))
    assert os.listdir(tmp_path) == ["out.tf_record"]


def _convert_to(writer, examples, tokenizer, is_training, **flags):
    squad.convert_examples_to_features(
        examples,
        tokenizer,
        **{**GOLDEN_FLAGS, **flags},
        is_training=is_training,
        output_fn=writer.process_feature,
    )


@pytest.mark.parametrize("is_training", (False, True))
def test_records_parse_with_name_to_features(tmp_path, tokenizer, is_training):
    examples = squad.read_squad_examples(_data_file("v2.0", "train"), is_training, True)
    path = str(tmp_path / "out.tf_record")
    features = []
    with squad.FeatureWriter(path, is_training) as writer:

        def both(feature):
            features.append(feature)
            writer.process_feature(feature)

        squad.convert_examples_to_features(
            examples, tokenizer, **GOLDEN_FLAGS, is_training=is_training, output_fn=both
        )
    spec = squad.name_to_features(GOLDEN_FLAGS["max_seq_length"], is_training)
    assert set(spec) == set(squad.TRAIN_FEATURE_NAMES[: 6 if is_training else 4])
    for record, feature in zip(_records(path), features):
        parsed = tf.io.parse_single_example(record, spec)
        assert parsed["unique_ids"].numpy() == feature.unique_id
        assert parsed["input_ids"].numpy().tolist() == feature.input_ids
        assert parsed["input_mask"].numpy().tolist() == feature.input_mask
        assert parsed["segment_ids"].numpy().tolist() == feature.segment_ids
        if is_training:
            assert parsed["start_positions"].numpy() == feature.start_position
            assert parsed["end_positions"].numpy() == feature.end_position


def test_feature_writer_aborted_by_an_error_leaves_no_file(tmp_path, tokenizer):
    path = tmp_path / "train.tf_record"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with squad.FeatureWriter(str(path), True) as writer:
            writer.process_feature(_convert(squad, _train_examples(), tokenizer, True)[0])
            raise RuntimeError("stop")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["train.tf_record"]


def test_feature_writer_names_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        squad.FeatureWriter(str(tmp_path / "missing" / "eval.tf_record"), False)


def test_feature_writer_removes_temp_files_of_dead_runs(tmp_path):
    stale = tmp_path / ".eval.tf_record.tmp-999999999-0123abcd"
    stale.write_bytes(b"partial")
    squad.FeatureWriter(str(tmp_path / "eval.tf_record"), False).close()
    assert sorted(os.listdir(tmp_path)) == ["eval.tf_record"]
    assert files.is_temp_file(str(stale))


def _train_examples():
    return squad.read_squad_examples(_data_file("v2.0", "train"), True, True)


# ---------------------------------------------------------------------------
# Features against the reference port, on own text.
# ---------------------------------------------------------------------------

OWN_FLAGS = (
    {"max_seq_length": 128, "doc_stride": 32, "max_query_length": 24},
    {"max_seq_length": 64, "doc_stride": 7, "max_query_length": 12},
    {"max_seq_length": 384, "doc_stride": 128, "max_query_length": 64},
    # The window (max_seq_length - query - 3) is at most 25: doc_stride of 24 keeps
    # one token of overlap, and short questions make longer windows than the stride.
    {"max_seq_length": 40, "doc_stride": 24, "max_query_length": 12},
)


def _assert_features_equal_the_reference(examples, tokenizer, original_tokenizer, training, flags):
    """Our features of `examples` (more than one window each on average) are the reference's."""
    ours = _convert(squad, examples, tokenizer, training, **flags)
    theirs = _convert(original_squad, examples, original_tokenizer, training, **flags)
    assert len(ours) == len(theirs) > len(examples)
    for a, b in zip(ours, theirs):
        for name in FEATURE_FIELDS:
            assert getattr(a, name) == getattr(b, name), (b.unique_id, name)
    return ours


# Each flag set with two of the four (version_2, is_training) pairs, so that it
# meets both values of each, and each pair with two flag sets (half the matrix:
# the reference is slow on many windows).
OWN_CASES = [
    (flags, version_2, is_training)
    for i, flags in enumerate(OWN_FLAGS)
    for version_2, is_training in (((False, False), (True, True)), ((False, True), (True, False)))[
        i % 2
    ]
]


@pytest.mark.parametrize("flags, version_2, is_training", OWN_CASES)
def test_features_of_own_text_equal_the_reference(
    tmp_path, tokenizer, original_tokenizer, flags, version_2, is_training
):
    # A small stride makes many windows, which the reference scores slowly.
    num_questions = 20 if flags["doc_stride"] < 16 else 60
    dataset = own_squad_dataset(7, num_questions=num_questions, version_2=version_2)
    path = write_json(tmp_path / "own.json", dataset)
    examples = squad.read_squad_examples(path, is_training, version_2)
    if is_training:
        squad.shuffle_examples(examples)  # as run_squad does: no two neighbours share a document
    ours = _assert_features_equal_the_reference(
        examples, tokenizer, original_tokenizer, is_training, flags
    )
    if is_training:
        # Some windows of the long document lack their answer; they are kept at 0, 0.
        assert any(f.start_position == 0 and not f.is_impossible for f in ours)


def test_a_stride_of_the_window_or_more_runs_as_the_original_with_a_warning(
    tmp_path, tokenizer, original_tokenizer, caplog
):
    # --max_seq_length=128 with the defaults --doc_stride=128 --max_query_length=64
    # is a window of 61: the original runs it, with windows that do not overlap.
    flags = {"max_seq_length": 40, "doc_stride": 40, "max_query_length": 12}
    good = dict(do_train=True, do_predict=False, train_file="train.json", predict_file=None)
    with caplog.at_level(py_logging.WARNING):
        squad.validate_flags_or_throw(None, **good, **flags)
    assert "--doc_stride (40) is not smaller than the document window" in caplog.text
    path = write_json(tmp_path / "own.json", own_squad_dataset(7, num_questions=30))
    examples = squad.read_squad_examples(path, True, False)
    _assert_features_equal_the_reference(examples, tokenizer, original_tokenizer, True, flags)


@pytest.mark.parametrize("is_training", (False, True))
def test_records_of_own_text_parse_equal_to_the_references(
    tmp_path, tokenizer, original_tokenizer, is_training
):
    path = write_json(tmp_path / "own.json", own_squad_dataset(3, version_2=True))
    examples = squad.read_squad_examples(path, is_training, True)
    flags = OWN_FLAGS[1]
    with squad.FeatureWriter(str(tmp_path / "ours.tf_record"), is_training) as writer:
        _convert_to(writer, examples, tokenizer, is_training, **flags)
    reference = original_squad.FeatureWriter(str(tmp_path / "theirs.tf_record"), is_training)
    _convert_to(reference, examples, original_tokenizer, is_training, **flags)
    reference.close()
    ours = _records(str(tmp_path / "ours.tf_record"))
    theirs = _records(str(tmp_path / "theirs.tf_record"))
    assert len(ours) == len(theirs) == writer.num_features
    for a, b in zip(ours, theirs):
        assert tf.train.Example.FromString(a) == tf.train.Example.FromString(b)


def test_max_context_flags_equal_the_originals_check():
    rng = random.Random(0)
    for _ in range(150):
        num_tokens = rng.randrange(1, 250)
        spans = squad_features._doc_spans(num_tokens, rng.randrange(1, 60), rng.randrange(1, 70))
        flags = squad_features._max_context_flags(spans, num_tokens)
        named = [original_squad.collections.namedtuple("S", "start length")(*s) for s in spans]
        for span_index, (start, length) in enumerate(spans):
            expected = [
                original_squad._check_is_max_context(named, span_index, start + i)
                for i in range(length)
            ]
            assert flags[span_index] == expected
            assert [
                squad._check_is_max_context(named, span_index, start + i) for i in range(length)
            ] == expected


def test_improve_answer_span_equals_the_originals(tokenizer, original_tokenizer):
    doc = tokenizer.tokenize("The leader was John Smith (1895-1943). The Japanese electronics")
    for answer, start, end in (("1895", 5, 13), ("Japan", 15, 15), ("John Smith", 3, 5)):
        assert squad._improve_answer_span(doc, start, end, tokenizer, answer) == (
            original_squad._improve_answer_span(doc, start, end, original_tokenizer, answer)
        )
    year = doc.index("1895")
    assert squad._improve_answer_span(doc, 5, 13, tokenizer, "1895") == (year, year)
    # "Japan" is not a piece of "japanese": the span stays as given.
    assert squad._improve_answer_span(doc, 15, 15, tokenizer, "Japan") == (15, 15)


def test_unique_ids_count_from_1000000000(tokenizer):
    features = _convert(squad, _train_examples()[:3], tokenizer, True)
    assert [f.unique_id for f in features] == list(range(1000000000, 1000000000 + len(features)))


def test_a_long_conversion_logs_progress(monkeypatch, caplog, tokenizer):
    monkeypatch.setattr(squad_features, "PROGRESS_INTERVAL_SECONDS", 0.0)
    with caplog.at_level(py_logging.INFO):
        _convert(squad, _train_examples()[:5], tokenizer, True)
    assert "converted 5 of 5 examples into" in caplog.text


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------


def _squad_file(tmp_path, qa=None, paragraph=None, top=None, text=None):
    """A one-question training file with the given parts replaced."""
    qa = {
        "id": "q-1",
        "question": "Who?",
        "answers": [{"text": "Ann", "answer_start": 0}],
        **(qa or {}),
    }
    paragraph = {"context": "Ann went home.", "qas": [qa], **(paragraph or {})}
    obj = (
        top
        if top is not None
        else {"version": "1.1", "data": [{"title": "T", "paragraphs": [paragraph]}]}
    )
    path = tmp_path / "bad.json"
    if text is not None:
        path.write_bytes(text)
    else:
        write_json(path, obj)
    return str(path)


def test_malformed_json_names_the_file_and_line(tmp_path):
    path = _squad_file(tmp_path, text=b'{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(InputError, match=r"bad\.json.*not valid JSON.*line 2"):
        squad.read_squad_examples(path, False)


def test_non_utf8_input_names_the_file(tmp_path):
    path = _squad_file(tmp_path, text=b'{"data": []}' + b"\xff\xfe")
    with pytest.raises(InputError, match=r"bad\.json.*not valid UTF-8"):
        squad.read_squad_examples(path, False)


def test_missing_file_is_a_missing_file_error(tmp_path):
    with pytest.raises(MissingFileError, match="nope.json"):
        squad.read_squad_examples(str(tmp_path / "nope.json"), False)


@pytest.mark.parametrize(
    "key, part, message",
    (
        ("id", "qa", r"question 0 of .* has no 'id'"),
        ("question", "qa", r"question 'q-1' .* has no 'question'"),
        ("answers", "qa", r"question 'q-1' .* has no 'answers'"),
        ("context", "paragraph", r"paragraph 0 has no 'context'"),
        ("qas", "paragraph", r"paragraph 0 has no 'qas'"),
    ),
)
def test_missing_keys_name_the_file_and_question(tmp_path, key, part, message):
    obj = json.loads(open(_squad_file(tmp_path)).read())
    paragraph = obj["data"][0]["paragraphs"][0]
    del (paragraph["qas"][0] if part == "qa" else paragraph)[key]
    path = write_json(tmp_path / "bad.json", obj)
    with pytest.raises(InputError, match=r"bad\.json.*" + message):
        squad.read_squad_examples(path, True)


def test_missing_answer_fields_name_the_question(tmp_path):
    path = _squad_file(tmp_path, qa={"answers": [{"text": "Ann"}]})
    with pytest.raises(InputError, match="answer of question 'q-1'.*'answer_start'"):
        squad.read_squad_examples(path, True)


def test_missing_data_and_is_impossible_are_named(tmp_path):
    with pytest.raises(InputError, match="has no 'data'"):
        squad.read_squad_examples(_squad_file(tmp_path, top={"version": "1.1"}), False)
    with pytest.raises(InputError, match="question 'q-1'.*has no 'is_impossible'"):
        squad.read_squad_examples(_squad_file(tmp_path), True, version_2_with_negative=True)


@pytest.mark.parametrize("num_answers", (0, 2))
def test_training_question_without_exactly_one_answer_is_an_error(tmp_path, num_answers):
    answers = [{"text": "Ann", "answer_start": 0}] * num_answers
    path = _squad_file(tmp_path, qa={"answers": answers})
    with pytest.raises(ValueError, match=f"q-1.*has {num_answers} answers.*exactly 1 answer"):
        squad.read_squad_examples(path, True)
    with pytest.raises(InputError):
        squad.read_squad_examples(path, True)
    assert len(squad.read_squad_examples(path, False)) == 1  # prediction files may have several


@pytest.mark.parametrize("answer_start", (5, 12, 99, -3))
def test_answer_not_at_answer_start_is_skipped_with_a_warning(tmp_path, caplog, answer_start):
    path = _squad_file(tmp_path, qa={"answers": [{"text": "Ann", "answer_start": answer_start}]})
    with caplog.at_level(py_logging.WARNING):
        assert squad.read_squad_examples(path, True) == []
    assert "Could not find answer of question 'q-1'" in caplog.text
    assert "skipped 1 training questions" in caplog.text


def test_impossible_training_question_needs_no_answer(tmp_path):
    path = _squad_file(tmp_path, qa={"answers": [], "is_impossible": True})
    (example,) = squad.read_squad_examples(path, True, version_2_with_negative=True)
    assert (example.start_position, example.end_position, example.orig_answer_text) == (-1, -1, "")


@pytest.mark.parametrize(
    "values, flag",
    (
        ({"max_seq_length": 67, "max_query_length": 64}, "max_seq_length"),
        ({"doc_stride": 0}, "doc_stride"),
        ({"max_query_length": -1}, "max_query_length"),
        ({"do_train": True, "train_file": None}, "train_file"),
        ({"do_predict": True, "predict_file": ""}, "predict_file"),
        ({"do_train": False, "do_predict": False}, "do_predict"),
        ({"n_best_size": 0}, "n_best_size"),
        ({"max_answer_length": 0}, "max_answer_length"),
    ),
)
def test_validate_flags_names_the_flag(values, flag):
    good = dict(
        do_train=True,
        do_predict=True,
        train_file="train.json",
        predict_file="dev.json",
        max_seq_length=384,
        max_query_length=64,
        doc_stride=128,
    )
    squad.validate_flags_or_throw(None, **good)
    with pytest.raises(InputError, match=flag):
        squad.validate_flags_or_throw(None, **{**good, **values})


def test_validate_flags_checks_the_models_sequence_length():
    class Config:
        max_position_embeddings = 128

    with pytest.raises(InputError, match="only trained up to sequence length 128"):
        squad.validate_flags_or_throw(
            Config(),
            do_train=False,
            do_predict=True,
            train_file=None,
            predict_file="dev.json",
            max_seq_length=384,
            max_query_length=64,
            doc_stride=128,
        )


def test_question_leaving_no_room_for_the_document_is_an_error(tokenizer):
    examples = _train_examples()[:1]
    with pytest.raises(InputError, match="leave no room for the document"):
        _convert(squad, examples, tokenizer, True, max_seq_length=8, max_query_length=64)


def test_vocabulary_without_cls_is_an_error(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[UNK]\n[SEP]\nann\n")
    small = tokenization.FullTokenizer(str(vocab))
    with pytest.raises(InputError, match=r"\[CLS\]"):
        _convert(squad, _train_examples()[:1], small, True)


def test_wrong_types_are_named(tmp_path):
    path = _squad_file(tmp_path, qa={"answers": [{"text": "Ann", "answer_start": "0"}]})
    with pytest.raises(
        InputError, match="'answer_start' of the answer of question 'q-1'.*must be int, not str"
    ):
        squad.read_squad_examples(path, True)
    path = _squad_file(tmp_path, paragraph={"context": ["Ann"]})
    with pytest.raises(InputError, match="'context' of data.* must be str, not list"):
        squad.read_squad_examples(path, False)
