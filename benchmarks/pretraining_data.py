"""create_pretraining_data speed and memory: the library vs the original algorithm.

The reference is a straightforward port of the original `create_pretraining_data.py`
kept here: lines read with `GFile.readline`, a tokenizer without caching
(BasicTokenizer then WordpieceTokenizer per token, as the original FullTokenizer),
`TrainingInstance`s of token strings, `MaskedLmInstance` tuples and a covered-index
set in the masking loop, `convert_tokens_to_ids` and one `tf.train.Example` built
from `tf.train.Feature`s per instance, every instance held until the end.

Variants, timed in paired rounds (see ../shared/BENCHMARKS.md):
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

import _benchpath  # noqa: F401, I001  (first: puts the repository root on sys.path)

import argparse
import collections
import json
import os
import pathlib
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc


import tensorflow as tf
from _timing import loadavg, paired_rounds
from absl import logging

from official_bert import create_pretraining_data as cpd
from official_bert import tokenization

GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "tests" / "golden"
VOCAB = str(GOLDEN / "uncased_vocab.txt")
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
# The reference: the original algorithm, written out plainly.
# ---------------------------------------------------------------------------


class UncachedTokenizer:
    """The original FullTokenizer.tokenize: basic tokens, then word pieces of each."""

    def __init__(self, vocab_file: str, do_lower_case: bool) -> None:
        self.vocab = tokenization.load_vocab(vocab_file)
        self.basic_tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = tokenization.WordpieceTokenizer(vocab=self.vocab)

    def tokenize(self, text: str) -> list[str]:
        pieces = []
        for token in self.basic_tokenizer.tokenize(text):
            for piece in self.wordpiece_tokenizer.tokenize(token):
                pieces.append(piece)  # noqa: PERF402 (the original loop)
        return pieces

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[t] for t in tokens]


class RefInstance:
    def __init__(self, tokens, segment_ids, masked_lm_positions, masked_lm_labels, is_random_next):
        self.tokens = tokens
        self.segment_ids = segment_ids
        self.masked_lm_positions = masked_lm_positions
        self.masked_lm_labels = masked_lm_labels
        self.is_random_next = is_random_next


MaskedLm = collections.namedtuple("MaskedLm", ["index", "label"])


def ref_truncate(tokens_a, tokens_b, max_num_tokens, rng):
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        assert longer
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def ref_mask(tokens, masked_lm_prob, max_predictions, vocab_words, rng, whole_word):
    candidates = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            continue
        if whole_word and candidates and token.startswith("##"):
            candidates[-1].append(i)
        else:
            candidates.append([i])
    rng.shuffle(candidates)
    output = list(tokens)
    num_to_predict = min(max_predictions, max(1, round(len(tokens) * masked_lm_prob)))
    masked = []
    covered = set()
    for group in candidates:
        if len(masked) >= num_to_predict:
            break
        if len(masked) + len(group) > num_to_predict:
            continue
        if any(i in covered for i in group):
            continue
        for i in group:
            covered.add(i)
            if rng.random() < 0.8:
                replacement = "[MASK]"
            elif rng.random() < 0.5:
                replacement = tokens[i]
            else:
                replacement = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output[i] = replacement
            masked.append(MaskedLm(index=i, label=tokens[i]))
    masked.sort(key=lambda m: m.index)
    return output, [m.index for m in masked], [m.label for m in masked]


def ref_document_instances(docs, doc_index, f, vocab_words, rng):
    document = docs[doc_index]
    max_num_tokens = f["max_seq_length"] - 3
    target = max_num_tokens
    if rng.random() < f["short_seq_prob"]:
        target = rng.randint(2, max_num_tokens)
    instances = []
    chunk = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            if chunk:
                a_end = 1
                if len(chunk) >= 2:
                    a_end = rng.randint(1, len(chunk) - 1)
                tokens_a = []
                for j in range(a_end):
                    tokens_a.extend(chunk[j])
                tokens_b = []
                if len(chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b = target - len(tokens_a)
                    for _ in range(10):
                        other = rng.randint(0, len(docs) - 1)
                        if other != doc_index:
                            break
                    other_doc = docs[other]
                    start = rng.randint(0, len(other_doc) - 1)
                    for j in range(start, len(other_doc)):
                        tokens_b.extend(other_doc[j])
                        if len(tokens_b) >= target_b:
                            break
                    i -= len(chunk) - a_end
                else:
                    is_random_next = False
                    for j in range(a_end, len(chunk)):
                        tokens_b.extend(chunk[j])
                ref_truncate(tokens_a, tokens_b, max_num_tokens, rng)
                tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
                segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                tokens, positions, labels = ref_mask(
                    tokens,
                    f["masked_lm_prob"],
                    f["max_predictions_per_seq"],
                    vocab_words,
                    rng,
                    f["do_whole_word_mask"],
                )
                instances.append(
                    RefInstance(tokens, segment_ids, positions, labels, is_random_next)
                )
            chunk = []
            length = 0
        i += 1
    return instances


def _int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def reference_run(input_files, output_files, tokenizer, f):
    """The original main(): read, shuffle, build, shuffle, write round-robin."""
    docs = [[]]
    for path in input_files:
        with tf.io.gfile.GFile(path, "r") as reader:
            while True:
                line = tokenization.convert_to_unicode(reader.readline())
                if not line:
                    break
                line = line.strip()
                if not line:
                    docs.append([])
                tokens = tokenizer.tokenize(line)
                if tokens:
                    docs[-1].append(tokens)
    docs = [d for d in docs if d]
    rng = random.Random(f["random_seed"])
    rng.shuffle(docs)
    vocab_words = list(tokenizer.vocab.keys())
    instances = []
    for _ in range(f["dupe_factor"]):
        for doc_index in range(len(docs)):
            instances.extend(ref_document_instances(docs, doc_index, f, vocab_words, rng))
    rng.shuffle(instances)

    writers = [tf.io.TFRecordWriter(p) for p in output_files]
    max_len, max_pred = f["max_seq_length"], f["max_predictions_per_seq"]
    for k, inst in enumerate(instances):
        input_ids = tokenizer.convert_tokens_to_ids(inst.tokens)
        input_mask = [1] * len(input_ids)
        segment_ids = list(inst.segment_ids)
        while len(input_ids) < max_len:
            input_ids.append(0)
            input_mask.append(0)
            segment_ids.append(0)
        positions = list(inst.masked_lm_positions)
        label_ids = tokenizer.convert_tokens_to_ids(inst.masked_lm_labels)
        weights = [1.0] * len(label_ids)
        while len(positions) < max_pred:
            positions.append(0)
            label_ids.append(0)
            weights.append(0.0)
        features = collections.OrderedDict()
        features["input_ids"] = _int_feature(input_ids)
        features["input_mask"] = _int_feature(input_mask)
        features["segment_ids"] = _int_feature(segment_ids)
        features["masked_lm_positions"] = _int_feature(positions)
        features["masked_lm_ids"] = _int_feature(label_ids)
        features["masked_lm_weights"] = _float_feature(weights)
        features["next_sentence_labels"] = _int_feature([1 if inst.is_random_next else 0])
        example = tf.train.Example(features=tf.train.Features(feature=features))
        writers[k % len(writers)].write(example.SerializeToString())
    for w in writers:
        w.close()
    return len(instances)


# ---------------------------------------------------------------------------
# Corpus, variants, checks.
# ---------------------------------------------------------------------------


def make_corpus(path: str, min_bytes: int = MIN_CORPUS_BYTES) -> int:
    """Writes the demo corpus repeated, documents and sentences shuffled per copy."""
    text = (GOLDEN / "demo_corpus.txt").read_text(encoding="utf-8")
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
    uncached = UncachedTokenizer(VOCAB, True)
    cached = tokenization.FullTokenizer(VOCAB, True)
    outputs = {name: os.path.join(out_dir, f"{name}.tfrecord") for name in ("ref", "refc", "lib")}
    counts = {}

    def reference():
        counts["reference"] = reference_run([corpus], [outputs["ref"]], uncached, FLAGS)

    def reference_cached():
        counts["reference+cache"] = reference_run([corpus], [outputs["refc"]], cached, FLAGS)

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
    """Lines/s of the reference's tokenization and of the library's, warm and with no hits.

    The benchmark corpus has a few hundred distinct words, so the library's caches
    hit almost always ("warm"); "no cache hits" bounds the other end: the
    library's per-chunk path with its chunk cache disabled, around the uncached
    tokenizer.
    """
    with open(corpus, encoding="utf-8") as f:
        lines = [next(f).strip() for _ in range(num_lines)]
    lines = [ln for ln in lines if ln]

    def no_hits():
        return cpd.CachedTokenizer(UncachedTokenizer(VOCAB, True), max_cached_chunks=0)

    makers = {
        "reference": lambda: UncachedTokenizer(VOCAB, True).tokenize,
        "library, no cache hits": lambda: no_hits().token_ids,
        "library, warm": lambda: (
            cpd.CachedTokenizer(tokenization.FullTokenizer(VOCAB, True)).token_ids
        ),
    }
    result = {}
    for name, make in makers.items():
        fn = make()
        start = time.perf_counter()
        for line in lines:
            fn(line)
        result[name] = len(lines) / (time.perf_counter() - start)
    return result


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
