"""Tokenization speed: the original algorithm, FullTokenizer, TFTextTokenizer, stock tf-text.

Tokenizes about 20k lines (the non-blank lines of the demo corpus, repeated)
into word-piece ids with four implementations, in paired rounds in one
process (see ../shared/BENCHMARKS.md):

  original   the original google-research/bert algorithm in pure Python with no
             caching (a reference copy lives in this file, `OriginalTokenizer`)
  full       official_bert.tokenization.FullTokenizer (per-token cache, cleared
             at the start of every round)
  tf_text    official_bert.tokenization.TFTextTokenizer, batches in tf.function
  stock      tensorflow_text.BertTokenizer (lower_case=do_lower_case), batches in
             tf.function

Before timing it checks that original, full and tf_text give identical ids on
every line (and on the golden edge cases), and reports how often stock agrees.
Reports lines/s (median and best), speed-ups over the original (median of the
per-round ratios) and the ratio of tf_text's time to stock's.

    python benchmarks/tokenize.py [--lines 20000] [--rounds 7] [--batch_size 1024]
"""

from __future__ import annotations

import _benchpath  # noqa: F401, I001  (first: puts the repository root on sys.path)

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import statistics
import time
import unicodedata

import tensorflow as tf
import tensorflow_text as tf_text
from _timing import _CLOCK_TICKS, _own_ticks, _total_busy_ticks, loadavg

from official_bert import tokenization

REPO = _benchpath.ROOT
GOLDEN = os.path.join(REPO, "tests", "golden")


class OriginalTokenizer:
    """The original algorithm step by step, with no caching: the speed reference.

    Same steps and data structures as google-research/bert's FullTokenizer
    (character loops with unicodedata look-ups, lists of characters, joined
    substrings in the word-piece search).
    """

    def __init__(self, vocab: dict[str, int], do_lower_case: bool):
        self.vocab = vocab
        self.do_lower_case = do_lower_case

    def tokenize(self, text: str) -> list[str]:
        text = self._clean(text)
        text = self._space_cjk(text)
        pieces = []
        for token in text.strip().split():
            if self.do_lower_case:
                token = self._strip_accents(token.lower())
            pieces.extend(self._split_punctuation(token))
        output = []
        for word in " ".join(pieces).strip().split():
            output.extend(self._wordpiece(word))
        return output

    @staticmethod
    def _clean(text: str) -> str:
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or tokenization._is_control(c):
                continue
            out.append(" " if tokenization._is_whitespace(c) else c)
        return "".join(out)

    @staticmethod
    def _space_cjk(text: str) -> str:
        out = []
        for c in text:
            if tokenization._is_chinese_char(ord(c)):
                out.extend((" ", c, " "))
            else:
                out.append(c)
        return "".join(out)

    @staticmethod
    def _strip_accents(text: str) -> str:
        out = []
        for c in unicodedata.normalize("NFD", text):
            if unicodedata.category(c) != "Mn":
                out.append(c)
        return "".join(out)

    def _split_punctuation(self, text: str) -> list[str]:
        chars = list(text)
        output: list[list[str]] = []
        start_new_word = True
        for c in chars:
            if tokenization._is_punctuation(c):
                output.append([c])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(c)
        return ["".join(x) for x in output]

    def _wordpiece(self, word: str) -> list[str]:
        chars = list(word)
        if len(chars) > tokenization.MAX_INPUT_CHARS_PER_WORD:
            return [tokenization.UNK_TOKEN]
        start, pieces = 0, []
        while start < len(chars):
            end, piece = len(chars), None
            while start < end:
                candidate = "".join(chars[start:end])
                if start > 0:
                    candidate = "##" + candidate
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return [tokenization.UNK_TOKEN]
            pieces.append(piece)
            start = end
        return pieces


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
    vocab = tokenization.load_vocab(args.vocab_file)
    original = OriginalTokenizer(vocab, lower)
    full = tokenization.FullTokenizer(args.vocab_file, do_lower_case=lower)
    start = time.perf_counter()
    ours = tokenization.TFTextTokenizer(args.vocab_file, do_lower_case=lower)
    print(f"TFTextTokenizer built in {time.perf_counter() - start:.1f} s")
    stock = tf_text.BertTokenizer(args.vocab_file, lower_case=lower, token_out_type=tf.int64)
    spec = [tf.TensorSpec([None], tf.string)]
    ours_fn = tf.function(ours.tokenize, input_signature=spec)
    stock_fn = tf.function(lambda s: stock.tokenize(s).merge_dims(1, 2), input_signature=spec)

    def run_original():
        return [[vocab[t] for t in original.tokenize(line)] for line in lines]

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
    golden_original = [[vocab[t] for t in original.tokenize(t)] for t in golden_texts]
    assert golden_original == [c["ids"] for c in cases], "reference differs from golden ids"
    assert golden_ours == golden_original, "TFTextTokenizer differs on a golden case"
    assert [full.convert_tokens_to_ids(full.tokenize(t)) for t in golden_texts] == golden_original
    golden_stock_agrees = sum(a == b for a, b in zip(golden_original, golden_stock))
    print(
        f"outputs: original == full == tf_text on all {len(lines)} lines and "
        f"{len(cases)} golden cases; stock agrees on {stock_agrees}/{len(lines)} lines and "
        f"{golden_stock_agrees}/{len(cases)} golden cases"
    )

    kept, dropped = [], []
    for r in range(args.rounds):
        busy0, own0, wall0 = _total_busy_ticks(), _own_ticks(), time.perf_counter()
        times = {}
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name] = time.perf_counter() - start
        wall = time.perf_counter() - wall0
        other = ((_total_busy_ticks() - busy0) - (_own_ticks() - own0)) / _CLOCK_TICKS / wall
        line = ", ".join(f"{k} {len(lines) / v:,.0f}" for k, v in times.items())
        print(f"round {r} (lines/s): {line}; other load {other:.2f} cores; loadavg {loadavg()}")
        (kept if other <= args.max_other_cores else dropped).append(times)
    noisy = not kept
    if noisy:
        print(f"every round had other load above {args.max_other_cores} cores: keeping all (noisy)")
        kept = dropped
    elif dropped:
        print(f"dropped {len(dropped)} rounds with other load above {args.max_other_cores} cores")

    def median_ratio(num, den):
        return statistics.median(t[num] / t[den] for t in kept)

    results = {"lines": len(lines), "rounds_kept": len(kept), "noisy": noisy, "variants": {}}
    print(f"\n{len(lines)} lines, do_lower_case={lower}, {len(kept)} rounds kept")
    print("| variant | median lines/s | best lines/s | speed-up over original |")
    print("| --- | --- | --- | --- |")
    for name in variants:
        values = [t[name] for t in kept]
        figures = {
            "median_lines_per_s": len(lines) / statistics.median(values),
            "best_lines_per_s": len(lines) / min(values),
            "speedup_over_original": median_ratio("original", name),
        }
        results["variants"][name] = figures
        print(
            f"| {name} | {figures['median_lines_per_s']:,.0f} | {figures['best_lines_per_s']:,.0f}"
            f" | {figures['speedup_over_original']:.2f}× |"
        )
    results["tf_text_time_over_stock"] = median_ratio("tf_text", "stock")
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
