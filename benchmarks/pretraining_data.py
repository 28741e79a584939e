"""create_pretraining_data speed and memory: the library vs the original algorithm.

The reference is the plain port of the original `create_pretraining_data.py` in
tests/reference/original_pretraining_data.py (the tests check it against the
original's golden records): lines read with `GFile.readline`, the original
tokenizer without caching, `TrainingInstance`s of token strings, `MaskedLmInstance`
tuples and a covered-index set in the masking loop, `convert_tokens_to_ids` and one
`tf.train.Example` built from `tf.train.Feature`s per instance, every instance held
until the end.

Variants, timed in paired rounds (see README.md):
- `reference`: the port of the original, uncached tokenizer;
- `reference+cache`: the same with the library's `FullTokenizer` (word cache), so
  the difference to `library` is instance building, encoding and writing alone;
- `library`: `create_pretraining_data.create_pretraining_data`.

The corpus is the demo corpus repeated to >= 5 MB, each copy with its documents and
the sentences inside each document shuffled (fixed seed). Its vocabulary is small,
so the tokenizer caches are all hits after the first copy: on a real corpus the
tokenization share of the gain is smaller (see the cold-cache line).

Outputs are checked identical (every record parses to the same tf.train.Example;
the library's bytes follow the original's feature order, the reference's follow
this protobuf's map order). Peak memory of each variant is measured in a fresh
subprocess: `ru_maxrss` (whole process, TensorFlow included) and, separately,
the tracemalloc peak of Python allocations during the run.

    .venv/bin/python benchmarks/pretraining_data.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import tensorflow as tf
from _references import GOLDEN, reference_port
from _timing import loadavg, paired_rounds
from absl import logging

from official_bert import create_pretraining_data as cpd
from official_bert import tokenization

original = reference_port("original_pretraining_data")
VOCAB = os.path.join(GOLDEN, "uncased_vocab.txt")
CORPUS_SEED = 2024
MIN_CORPUS_BYTES = 5 * 1024 * 1024
FLAGS = {
    "max_seq_length": 128,
    "max_predictions_per_seq": 20,
    "random_seed": 12345,
    "dupe_factor": 1,
    "masked_lm_prob": 0.15,
    "short_seq_prob": 0.1,
    "do_whole_word_mask": False,
}


# ---------------------------------------------------------------------------
# Corpus, variants, checks.
# ---------------------------------------------------------------------------


def make_corpus(path: str, min_bytes: int = MIN_CORPUS_BYTES) -> int:
    """Writes the demo corpus repeated, documents and sentences shuffled per copy."""
    with open(os.path.join(GOLDEN, "demo_corpus.txt"), encoding="utf-8") as f:
        text = f.read()
    documents = [d.strip().split("\n") for d in text.split("\n\n") if d.strip()]
    rng = random.Random(CORPUS_SEED)
    size = 0
    with open(path, "w", encoding="utf-8") as out:
        while size < min_bytes:
            copy = [list(d) for d in documents]
            rng.shuffle(copy)
            for document in copy:
                rng.shuffle(document)
                block = "\n".join(document) + "\n\n"
                out.write(block)
                size += len(block.encode("utf-8"))
    return size


def make_variants(corpus: str, out_dir: str):
    uncached = original.uncached_tokenizer(VOCAB, True)
    cached = tokenization.FullTokenizer(VOCAB, True)
    outputs = {name: os.path.join(out_dir, f"{name}.tfrecord") for name in ("ref", "refc", "lib")}
    counts = {}

    def reference():
        counts["reference"] = original.reference_run([corpus], [outputs["ref"]], uncached, FLAGS)

    def reference_cached():
        counts["reference+cache"] = original.reference_run(
            [corpus], [outputs["refc"]], cached, FLAGS
        )

    def library():
        stats = cpd.create_pretraining_data(corpus, outputs["lib"], cached, **FLAGS)
        counts["library"] = stats.instances

    variants = {"reference": reference, "reference+cache": reference_cached, "library": library}
    return variants, outputs, counts


def check_identical(path_a: str, path_b: str) -> int:
    records_a = [r.numpy() for r in tf.data.TFRecordDataset(path_a)]
    records_b = [r.numpy() for r in tf.data.TFRecordDataset(path_b)]
    assert len(records_a) == len(records_b), (len(records_a), len(records_b))
    for k, (a, b) in enumerate(zip(records_a, records_b)):
        if tf.train.Example.FromString(a) != tf.train.Example.FromString(b):
            raise AssertionError(f"record {k} differs between {path_a} and {path_b}")
    return len(records_a)


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB.

    Unlike `ru_maxrss`, which an exec'd child inherits from the parent it was
    forked from, VmHWM starts afresh with the new program.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(variant: str, corpus: str, use_tracemalloc: bool) -> dict:
    """Runs one variant in this (fresh) process and returns its memory figures."""
    logging.set_verbosity(logging.WARNING)
    with tempfile.TemporaryDirectory() as out_dir:
        variants, _, _ = make_variants(corpus, out_dir)
        result = {"baseline_rss_mb": _peak_rss_mb()}
        if use_tracemalloc:
            tracemalloc.start()
        variants[variant]()
        result["peak_rss_mb"] = _peak_rss_mb()
        if use_tracemalloc:
            result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return result


def memory_in_subprocess(variant: str, corpus: str, use_tracemalloc: bool) -> dict:
    cmd = [sys.executable, __file__, "--memory_of", variant, "--corpus", corpus]
    if use_tracemalloc:
        cmd.append("--tracemalloc")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def tokenization_rates(corpus: str, num_lines: int = 20000) -> dict:
    """Lines/s of the reference's tokenization and of the library's, first pass and warm.

    The library's `token_ids` is `FullTokenizer.tokenize` (whose word cache is
    the only cache) and one id look-up per piece. The benchmark corpus has a few
    hundred distinct words, so after the first lines the cache hits almost
    always ("warm"); the first pass over the lines with a fresh tokenizer
    includes the misses. On a real corpus the share of misses is larger.
    """
    with open(corpus, encoding="utf-8") as f:
        lines = [next(f).strip() for _ in range(num_lines)]
    lines = [ln for ln in lines if ln]

    def rate(fn) -> float:
        start = time.perf_counter()
        for line in lines:
            fn(line)
        return len(lines) / (time.perf_counter() - start)

    reference = original.uncached_tokenizer(VOCAB, True)
    library = tokenization.FullTokenizer(VOCAB, True)
    return {
        "reference": rate(lambda line: reference.convert_tokens_to_ids(reference.tokenize(line))),
        "library, first pass": rate(lambda line: cpd.token_ids(library, line)),
        "library, warm": rate(lambda line: cpd.token_ids(library, line)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", default=None, help="Reuse this corpus file.")
    parser.add_argument("--skip_timing", action="store_true")
    parser.add_argument("--skip_memory", action="store_true")
    parser.add_argument("--memory_of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_of:
        print(json.dumps(measure_memory(args.memory_of, args.corpus, args.tracemalloc)))
        return

    logging.set_verbosity(logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        corpus = args.corpus or os.path.join(work, "corpus.txt")
        size = os.path.getsize(corpus) if args.corpus else make_corpus(corpus)
        print(f"corpus: {size / 2**20:.2f} MiB; flags {FLAGS}; load {loadavg()}")

        variants, outputs, _ = make_variants(corpus, work)
        print("warm-up and output check ...")
        for fn in variants.values():
            fn()
        n = check_identical(outputs["ref"], outputs["lib"])
        check_identical(outputs["ref"], outputs["refc"])
        print(f"outputs identical: {n} records parse to the same tf.train.Example")

        if not args.skip_timing:
            stats = paired_rounds(variants, reference="reference", rounds=args.rounds)
            print(f"\n{'variant':<18}{'median inst/s':>15}{'best inst/s':>13}{'speed-up':>10}")
            for name, s in stats.items():
                print(
                    f"{name:<18}{n / s['median_s']:>15,.0f}{n / s['best_s']:>13,.0f}"
                    f"{1 / s['ratio']:>9.2f}x   ({s['rounds']} rounds)"
                )
            rates = tokenization_rates(corpus)
            print(
                "\ntokenization of 20k corpus lines: "
                + ", ".join(f"{k} {v:,.0f} lines/s" for k, v in rates.items())
            )

        if not args.skip_memory:
            print("\npeak memory, each variant in a fresh process:")
            for name in ("reference", "library"):
                rss = memory_in_subprocess(name, corpus, use_tracemalloc=False)
                traced = memory_in_subprocess(name, corpus, use_tracemalloc=True)
                print(
                    f"  {name:<10} peak RSS {rss['peak_rss_mb']:.0f} MB "
                    f"(after imports and vocabularies: {rss['baseline_rss_mb']:.0f} MB); "
                    f"tracemalloc peak {traced['tracemalloc_peak_mb']:.1f} MB"
                )
        print(f"load at end: {loadavg()}")


if __name__ == "__main__":
    main()
