"""Tokenization speed: the original algorithm, FullTokenizer, TFTextTokenizer, stock tf-text.

Tokenizes about 20k lines (the non-blank lines of the demo corpus, repeated)
into word-piece ids with four implementations, in paired rounds in one
process (see README.md):

  original   the original google-research/bert algorithm in pure Python with no
             caching (the port in tests/reference/original_tokenization.py)
  full       official_bert.tokenization.FullTokenizer (per-token cache, cleared
             at the start of every round)
  tf_text    official_bert.tokenization.TFTextTokenizer, batches in tf.function
  stock      tensorflow_text.BertTokenizer (lower_case=do_lower_case), batches in
             tf.function

Before timing it checks that original, full and tf_text give identical ids on
every line (and on the golden edge cases), and reports how often stock agrees.
Reports lines/s (median and best), speed-ups over the original (median of the
per-round ratios) and the ratio of tf_text's time to stock's.

    python benchmarks/tokenization_speed.py [--lines 20000] [--rounds 7] [--batch_size 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tensorflow_text as tf_text
from _references import GOLDEN, reference_port
from _timing import timed_rounds

from official_bert import tokenization

original_tokenization = reference_port("original_tokenization")


def read_lines(path: str, count: int) -> list[str]:
    with open(path, encoding="utf-8") as f:
        base = [line for line in f.read().split("\n") if line.strip()]
    return (base * (count // len(base) + 1))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab_file", default=os.path.join(GOLDEN, "uncased_vocab.txt"))
    parser.add_argument("--corpus", default=os.path.join(GOLDEN, "demo_corpus.txt"))
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--cased", action="store_true", help="Use do_lower_case=False.")
    parser.add_argument("--max_other_cores", type=float, default=0.3)
    parser.add_argument("--json", help="Write the figures to this file.")
    args = parser.parse_args()
    lower = not args.cased

    lines = read_lines(args.corpus, args.lines)
    batches = [
        tf.constant(lines[i : i + args.batch_size]) for i in range(0, len(lines), args.batch_size)
    ]
    original = original_tokenization.FullTokenizer(args.vocab_file, do_lower_case=lower)
    full = tokenization.FullTokenizer(args.vocab_file, do_lower_case=lower)
    start = time.perf_counter()
    ours = tokenization.TFTextTokenizer(args.vocab_file, do_lower_case=lower)
    print(f"TFTextTokenizer built in {time.perf_counter() - start:.1f} s")
    stock = tf_text.BertTokenizer(args.vocab_file, lower_case=lower, token_out_type=tf.int64)
    spec = [tf.TensorSpec([None], tf.string)]
    ours_fn = tf.function(ours.tokenize, input_signature=spec)
    stock_fn = tf.function(lambda s: stock.tokenize(s).merge_dims(1, 2), input_signature=spec)

    def run_original():
        return [original.convert_tokens_to_ids(original.tokenize(line)) for line in lines]

    def run_full():
        full._cache.clear()  # every round starts cold
        return [full.convert_tokens_to_ids(full.tokenize(line)) for line in lines]

    def run_batched(fn):
        return lambda: [fn(b) for b in batches]

    variants = {
        "original": run_original,
        "full": run_full,
        "tf_text": run_batched(ours_fn),
        "stock": run_batched(stock_fn),
    }

    # Warm up (traces) and check outputs.
    start = time.perf_counter()
    expected = run_original()
    got = {
        "full": run_full(),
        "tf_text": [r for out in variants["tf_text"]() for r in out.to_list()],
        "stock": [r for out in variants["stock"]() for r in out.to_list()],
    }
    print(f"warm-up and checks: {time.perf_counter() - start:.1f} s")
    for name in ("full", "tf_text"):
        bad = [i for i, (a, b) in enumerate(zip(expected, got[name])) if a != b]
        assert not bad, f"{name} differs from the original on line {bad[0]}: {lines[bad[0]]!r}"
    stock_agrees = sum(a == b for a, b in zip(expected, got["stock"]))
    with open(os.path.join(GOLDEN, "tokenization", "full_tokenizer_cases.json")) as f:
        cases = [c for c in json.load(f)["cases"] if c["do_lower_case"] == lower]
    golden_texts = [c["text"] for c in cases]
    golden_ours = ours_fn(tf.constant(golden_texts)).to_list()
    golden_stock = stock_fn(tf.constant(golden_texts)).to_list()
    golden_original = [original.convert_tokens_to_ids(original.tokenize(t)) for t in golden_texts]
    assert golden_original == [c["ids"] for c in cases], "reference differs from golden ids"
    assert golden_ours == golden_original, "TFTextTokenizer differs on a golden case"
    assert [full.convert_tokens_to_ids(full.tokenize(t)) for t in golden_texts] == golden_original
    golden_stock_agrees = sum(a == b for a, b in zip(golden_original, golden_stock))
    print(
        f"outputs: original == full == tf_text on all {len(lines)} lines and "
        f"{len(cases)} golden cases; stock agrees on {stock_agrees}/{len(lines)} lines and "
        f"{golden_stock_agrees}/{len(cases)} golden cases"
    )

    def lines_per_s(round_times: dict[str, float]) -> str:
        return "lines/s " + ", ".join(f"{k} {len(lines) / v:,.0f}" for k, v in round_times.items())

    times = timed_rounds(variants, args.rounds, args.max_other_cores, describe=lines_per_s)
    num_kept = len(times.kept)
    results = {"lines": len(lines), "rounds_kept": num_kept, "noisy": times.noisy, "variants": {}}
    print(f"\n{len(lines)} lines, do_lower_case={lower}, {num_kept} rounds kept")
    print("| variant | median lines/s | best lines/s | speed-up over original |")
    print("| --- | --- | --- | --- |")
    for name in variants:
        figures = {
            "median_lines_per_s": len(lines) / times.median_s(name),
            "best_lines_per_s": len(lines) / times.best_s(name),
            "speedup_over_original": times.speedup(name, "original"),
        }
        results["variants"][name] = figures
        print(
            f"| {name} | {figures['median_lines_per_s']:,.0f} | {figures['best_lines_per_s']:,.0f}"
            f" | {figures['speedup_over_original']:.2f}× |"
        )
    results["tf_text_time_over_stock"] = times.ratio("tf_text", "stock")
    results["full_speedup_over_original"] = results["variants"]["full"]["speedup_over_original"]
    print(
        f"tf_text time / stock time: {results['tf_text_time_over_stock']:.2f} "
        "(target <= 1.5); "
        f"tf_text over original: {results['variants']['tf_text']['speedup_over_original']:.2f}× "
        f"(target >= 5); full over original: {results['full_speedup_over_original']:.2f}× "
        "(stretch >= 2)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
