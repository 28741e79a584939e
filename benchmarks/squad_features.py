"""SQuAD speed: `convert_examples_to_features` and `write_predictions` vs the original.

The reference is the plain port of the original run_squad.py in
tests/reference/original_squad.py: every question re-tokenizes its document
with the original, uncached tokenizer (tests/reference/original_tokenization.py),
`_check_is_max_context` scans every window for every token, one
`tf.train.Example` is built per feature, and `write_predictions` sorts every
window's logits in full, loops over all start/end pairs, runs `BasicTokenizer`
for every n-best candidate and writes with `json.dumps(..., indent=4)`.

Variants, timed in paired rounds (see README.md and _timing.py):

- features, predict (`is_training=False`, examples in file order, every feature
  kept in a list and written to eval.tf_record, as the original's --do_predict):
  `reference`, `reference+cache` (the same code with the library's
  `FullTokenizer`, word cache warm: the difference to `library` is the
  conversion and the writing alone) and `library`;
- features, train (`is_training=True`, SQuAD 2.0, examples shuffled with
  random.Random(12345) as the original, streamed to train.tf_record): the same three;
- post-processing (`write_predictions`, SQuAD 2.0, n_best_size 20,
  max_answer_length 30, seeded logits, a third of them rounded to 0.5 steps so
  that ties occur): `reference` and `library`.

The outputs are checked identical first: the features field by field, the
records parsed (the reference's bytes follow this protobuf's map order; the
library's equal the original's, which the tests check against the golden
files), and the three JSON files byte for byte.

Data: the golden SQuAD paragraphs (tests/golden/squad/data, real prose) with
their questions, plus one long paragraph joining all seven (about 1,000 words,
so several windows per question), repeated `--copies` times with fresh ids. The
golden text has a few thousand distinct words, so after the first copy the
library tokenizer's word cache always hits; `reference+cache` shows the part
of the gain that is not the tokenizer's.

    .venv/bin/python benchmarks/squad_features.py [--copies 12] [--rounds 5] [--skip_memory]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import tracemalloc

import numpy as np
import tensorflow as tf
from _references import GOLDEN, reference_port
from _timing import cpu_description, loadavg, paired_rounds
from absl import logging

from official_bert import squad, tokenization

original_squad = reference_port("original_squad")
original_tokenization = reference_port("original_tokenization")

VOCAB = os.path.join(GOLDEN, "uncased_vocab.txt")
DATA = os.path.join(GOLDEN, "squad", "data")


def make_dataset(source: str, copies: int) -> dict:
    """The paragraphs of `source` and one paragraph joining them all, `copies` times."""
    with open(source, encoding="utf-8") as f:
        data = json.load(f)
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    separator = "\n\n"
    long_context, long_qas = "", []
    for p in paragraphs:
        offset = len(long_context) + (len(separator) if long_context else 0)
        long_context = long_context + separator + p["context"] if long_context else p["context"]
        for qa in p["qas"]:
            qa = copy.deepcopy(qa)
            for key in ("answers", "plausible_answers"):
                for answer in qa.get(key, []):
                    answer["answer_start"] += offset
            long_qas.append(qa)
    base = [*paragraphs, {"context": long_context, "qas": long_qas}]
    articles = []
    for c in range(copies):
        copied = copy.deepcopy(base)
        for p in copied:
            for qa in p["qas"]:
                qa["id"] = f"{qa['id']}-c{c}-{len(p['context'])}"
        articles.append({"title": f"copy {c}", "paragraphs": copied})
    return {"version": data.get("version", "1.1"), "data": articles}


class Inputs:
    """Examples, tokenizers, features and logits shared by the variants."""

    def __init__(self, copies: int, flags: dict, work: str):
        self.flags = flags
        self.work = work
        self.dev_file = os.path.join(work, "dev.json")
        self.train_file = os.path.join(work, "train.json")
        with open(self.dev_file, "w") as f:
            json.dump(make_dataset(os.path.join(DATA, "dev-v2.0.json"), copies), f)
        with open(self.train_file, "w") as f:
            json.dump(make_dataset(os.path.join(DATA, "train-v2.0.json"), copies), f)
        self.uncached = original_tokenization.FullTokenizer(VOCAB, do_lower_case=True)
        self.cached = tokenization.FullTokenizer(VOCAB, do_lower_case=True)
        self.ref_dev = original_squad.read_squad_examples(self.dev_file, False)
        self.lib_dev = squad.read_squad_examples(self.dev_file, False)
        self.ref_train = original_squad.read_squad_examples(self.train_file, True, True)
        self.lib_train = squad.read_squad_examples(self.train_file, True, True)
        random.Random(12345).shuffle(self.ref_train)
        squad.shuffle_examples(self.lib_train)
        self.lib_features: list = []
        self.ref_features: list = []
        self.results: list = []

    # -- features ------------------------------------------------------------

    def reference_predict(self, tokenizer=None) -> list:
        writer = original_squad.FeatureWriter(os.path.join(self.work, "ref_eval.tf_record"), False)
        features = []

        def append(feature):
            features.append(feature)
            writer.process_feature(feature)

        original_squad.convert_examples_to_features(
            self.ref_dev,
            tokenizer or self.uncached,
            **self.flags,
            is_training=False,
            output_fn=append,
        )
        writer.close()
        return features

    def library_predict(self) -> list:
        features = []
        with squad.FeatureWriter(os.path.join(self.work, "lib_eval.tf_record"), False) as writer:

            def append(feature):
                features.append(feature)
                writer.process_feature(feature)

            squad.convert_examples_to_features(
                self.lib_dev, self.cached, **self.flags, is_training=False, output_fn=append
            )
        return features

    def reference_train(self, tokenizer=None) -> int:
        writer = original_squad.FeatureWriter(os.path.join(self.work, "ref_train.tf_record"), True)
        original_squad.convert_examples_to_features(
            self.ref_train,
            tokenizer or self.uncached,
            **self.flags,
            is_training=True,
            output_fn=writer.process_feature,
        )
        writer.close()
        return writer.num_features

    def library_train(self) -> int:
        with squad.FeatureWriter(os.path.join(self.work, "lib_train.tf_record"), True) as writer:
            squad.convert_examples_to_features(
                self.lib_train,
                self.cached,
                **self.flags,
                is_training=True,
                output_fn=writer.process_feature,
            )
        return writer.num_features

    # -- post-processing ---------------------------------------------------------

    def make_results(self, seed: int = 2024) -> None:
        """Seeded logits for every eval feature; a third rounded to 0.5 steps (ties).

        Normal(0, 3) over the real tokens, 20 lower over the padding.
        """
        self.ref_features = self.reference_predict(self.cached)
        self.lib_features = self.library_predict()
        rng = np.random.default_rng(seed)
        seq = self.flags["max_seq_length"]
        self.results = []
        for i, feature in enumerate(self.lib_features):
            logits = rng.normal(0.0, 3.0, size=(2, seq)).astype(np.float32)
            if i % 3 == 0:
                logits = np.round(logits * 2) / 2
            # A trained model scores padding low; random logits there would leave
            # short documents without any valid span (the original then fails).
            logits[:, len(feature.tokens) :] -= 20.0
            # Python floats, as the original's main gives write_predictions.
            self.results.append(
                squad.RawResult(feature.unique_id, logits[0].tolist(), logits[1].tolist())
            )

    def postprocess(self, module, features, prefix: str) -> None:
        examples = self.ref_dev if module is original_squad else self.lib_dev
        module.write_predictions(
            examples,
            features,
            self.results,
            20,
            30,
            True,
            *(
                os.path.join(self.work, f"{prefix}_{name}.json")
                for name in ("predictions", "nbest", "null_odds")
            ),
            version_2_with_negative=True,
            null_score_diff_threshold=0.0,
        )

    def variants(self) -> dict[str, dict]:
        return {
            "features_predict": {
                "reference": self.reference_predict,
                "reference+cache": lambda: self.reference_predict(self.cached),
                "library": self.library_predict,
            },
            "features_train": {
                "reference": self.reference_train,
                "reference+cache": lambda: self.reference_train(self.cached),
                "library": self.library_train,
            },
            "postprocess": {
                "reference": lambda: self.postprocess(original_squad, self.ref_features, "ref"),
                "library": lambda: self.postprocess(squad, self.lib_features, "lib"),
            },
        }


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


def parsed(path: str) -> list[dict[str, list[int]]]:
    out = []
    for record in tf.data.TFRecordDataset(path):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        out.append({k: list(v.int64_list.value) for k, v in feature.items()})
    return out


def check_identical(inputs: Inputs) -> str:
    ref = inputs.reference_predict(inputs.cached)
    lib = inputs.library_predict()
    assert len(ref) == len(lib), "feature counts differ"
    for a, b in zip(ref, lib):
        for name in FEATURE_FIELDS:
            assert getattr(a, name) == getattr(b, name), f"features differ in {name}"
    w = inputs.work
    assert parsed(f"{w}/ref_eval.tf_record") == parsed(f"{w}/lib_eval.tf_record"), "eval records"
    n_train = inputs.reference_train()
    assert inputs.library_train() == n_train
    assert parsed(f"{w}/ref_train.tf_record") == parsed(f"{w}/lib_train.tf_record"), "train records"
    inputs.make_results()
    for v in inputs.variants()["postprocess"].values():
        v()
    for name in ("predictions", "nbest", "null_odds"):
        with open(f"{w}/ref_{name}.json", "rb") as a, open(f"{w}/lib_{name}.json", "rb") as b:
            assert a.read() == b.read(), f"{name}.json differs"
    return (
        f"{len(inputs.lib_dev)} eval examples -> {len(lib)} features; "
        f"{len(inputs.lib_train)} training examples -> {n_train} features"
    )


# -- memory ----------------------------------------------------------------------


def _vm(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_memory(task: str, variant: str, args: argparse.Namespace, trace: bool) -> dict:
    """Runs one variant once in this fresh process; its peak RSS and Python allocations."""
    logging.set_verbosity(logging.ERROR)
    with tempfile.TemporaryDirectory() as work:
        inputs = Inputs(args.copies, flags_of(args), work)
        if task == "postprocess":
            inputs.make_results()
            # The other side's features are not needed: drop them before measuring.
            if variant == "library":
                inputs.ref_features = []
            else:
                inputs.lib_features = []
        fn = inputs.variants()[task][variant]
        # The library tokenizer builds its look-up sets on first use: not the conversion's.
        inputs.cached.tokenize("warm up")
        inputs.uncached.tokenize("warm up")
        result = {"rss_before_mb": _vm("VmRSS")}
        if trace:
            tracemalloc.start()
        fn()
        if trace:
            result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        result["peak_rss_mb"] = _vm("VmHWM")
    return result


def memory_in_subprocess(task: str, variant: str, args: argparse.Namespace, trace: bool) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--memory_of",
        f"{task}:{variant}",
        "--copies",
        str(args.copies),
        "--max_seq_length",
        str(args.max_seq_length),
        "--doc_stride",
        str(args.doc_stride),
        "--max_query_length",
        str(args.max_query_length),
    ]
    if trace:
        cmd.append("--tracemalloc")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def flags_of(args: argparse.Namespace) -> dict:
    return {
        "max_seq_length": args.max_seq_length,
        "doc_stride": args.doc_stride,
        "max_query_length": args.max_query_length,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--max_query_length", type=int, default=64)
    parser.add_argument("--skip_timing", action="store_true")
    parser.add_argument("--skip_memory", action="store_true")
    parser.add_argument("--memory_of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_of:
        task, variant = args.memory_of.split(":")
        print(json.dumps(measure_memory(task, variant, args, args.tracemalloc)))
        return

    logging.set_verbosity(logging.ERROR)
    print(f"CPU: {cpu_description()}; {os.cpu_count()} logical cores")
    print(f"flags {flags_of(args)}, {args.copies} copies; load {loadavg()}")
    with tempfile.TemporaryDirectory() as work:
        inputs = Inputs(args.copies, flags_of(args), work)
        print("outputs identical:", check_identical(inputs))
        counts = {
            "features_predict": (len(inputs.lib_dev), "examples"),
            "features_train": (len(inputs.lib_train), "examples"),
            "postprocess": (len(inputs.lib_dev), "examples"),
        }
        if not args.skip_timing:
            for task, variants in inputs.variants().items():
                print(f"\n{task}:")
                stats = paired_rounds(variants, reference="reference", rounds=args.rounds)
                n, unit = counts[task]
                for name, st in stats.items():
                    print(
                        f"  {name:16s} {n / st['median_s']:8.0f} {unit}/s median, "
                        f"{n / st['best_s']:8.0f} best; speed-up over the reference "
                        f"{1 / st['ratio']:.2f}x (median of {st['rounds']} paired rounds)"
                    )
    if not args.skip_memory:
        print("\npeak memory, each variant alone in a fresh process:")
        for task in ("features_predict", "features_train", "postprocess"):
            for variant in ("reference", "library"):
                rss = memory_in_subprocess(task, variant, args, trace=False)
                traced = memory_in_subprocess(task, variant, args, trace=True)
                print(
                    f"  {task:17s} {variant:10s} peak RSS {rss['peak_rss_mb']:.0f} MB "
                    f"(before the run {rss['rss_before_mb']:.0f} MB); Python allocations "
                    f"peak {traced['traced_peak_mb']:.1f} MB"
                )
    print(f"load at end: {loadavg()}")


if __name__ == "__main__":
    main()
