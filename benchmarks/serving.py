"""Serving speed: raw sentence pairs -> probabilities, exported SavedModel vs the two-step path.

One classifier (BERT-Base shapes by default, random weights, 2 labels) is
saved as a run_classifier checkpoint, exported with `official_bert.export`
and loaded back with `tf.saved_model.load` in this process. Variants, timed in
paired rounds (see README.md and _timing.py), each from raw strings to a numpy
array of probabilities:

  two_step      what a user writes without the export: the Python
                `FullTokenizer` + `classifier_features.convert_examples_to_features`
                (padded to --max_seq_length, as the original) + `BertClassifier`
                in a `tf.function`
  exported      the SavedModel's `serving_default` signature (text_a, text_b):
                in-graph tokenizer and packer, the encoder run on the longest
                row of the batch
  exported_ids  the same Python features as two_step, served by the
                SavedModel's `classify_ids` signature (so: the model part of
                the SavedModel on --max_seq_length columns)

at batch 32 (one batch per variant per round) and at batch 1 (--requests
single-pair requests one after another per variant per round: a latency).
Before timing, the three variants' probabilities are checked equal (to 1e-5).

Text: the sentence pairs of the golden MRPC files (tests/golden/glue/MRPC,
23 pairs, cycled), uncased vocabulary. --text_copies repeats each text: K
times, or with a list "1,1,2,3" pair i gets the (i mod 4)-th count (K=3 fills
max_seq_length 128, where the exported model has no padding to skip; the list
gives a batch of mixed lengths).

    python benchmarks/serving.py [--rounds 5] [--layers 12] [--max_seq_length 128]
                                 [--text_copies 1|3|1,1,2,3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from _references import GOLDEN, bert_base_config
from _timing import cpu_description, loadavg, timed_rounds
from absl import logging

from official_bert import checkpoints, export, tokenization
from official_bert import classifier_data as cd
from official_bert import classifier_features as cf
from official_bert.models import BertClassifier

VOCAB = os.path.join(GOLDEN, "uncased_vocab.txt")
MRPC = os.path.join(GOLDEN, "glue", "MRPC")
LABELS = ["0", "1"]


def mrpc_pairs(copies: list[int]) -> list[tuple[str, str]]:
    processor = cd.get_processor("MRPC")
    examples = [
        *processor.get_train_examples(MRPC),
        *processor.get_dev_examples(MRPC),
        *processor.get_test_examples(MRPC),
    ]
    pairs = []
    for i, e in enumerate(examples):
        k = copies[i % len(copies)]
        pairs.append((" ".join([e.text_a] * k), " ".join([e.text_b] * k)))
    return pairs


class TwoStep:
    """FullTokenizer + classifier_features + BertClassifier, as a user would write it."""

    def __init__(self, model: BertClassifier, max_seq_length: int):
        self.tokenizer = tokenization.FullTokenizer(VOCAB, do_lower_case=True)
        self.max_seq_length = max_seq_length
        spec = tf.TensorSpec([None, max_seq_length], tf.int32)

        @tf.function(input_signature=[spec, spec, spec])
        def classify(input_ids, input_mask, segment_ids):
            features = {
                "input_ids": input_ids,
                "input_mask": input_mask,
                "segment_ids": segment_ids,
            }
            return model(features, training=False)["probabilities"]

        self.classify = classify

    def features(self, pairs: list[tuple[str, str]]) -> dict[str, tf.Tensor]:
        examples = [cd.InputExample(str(i), a, b, LABELS[0]) for i, (a, b) in enumerate(pairs)]
        features = cf.convert_examples_to_features(
            examples, LABELS, self.max_seq_length, self.tokenizer
        )
        return {
            name: tf.constant([getattr(f, name) for f in features], tf.int32)
            for name in ("input_ids", "input_mask", "segment_ids")
        }

    def __call__(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return self.classify(**self.features(pairs)).numpy()


def export_model(work: str, config, max_seq_length: int) -> tuple[BertClassifier, str]:
    model = BertClassifier(config, num_labels=len(LABELS))
    prefix = checkpoints.save_checkpoint(os.path.join(work, "run"), model, global_step=1)
    config_file = os.path.join(work, "bert_config.json")
    with open(config_file, "w") as f:
        f.write(config.to_json_string())
    start = time.perf_counter()
    export_dir = export.export_classifier(
        os.path.join(work, "export"),
        bert_config_file=config_file,
        vocab_file=VOCAB,
        init_checkpoint=prefix,
        task_name="MRPC",
        max_seq_length=max_seq_length,
    )
    print(f"exported in {time.perf_counter() - start:.1f} s")
    return model, export_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", type=int, default=12, help="BERT-Base shapes with this depth")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--requests", type=int, default=8, help="batch-1 requests per round")
    parser.add_argument("--text_copies", default="1", help="K, or K1,K2,... per pair")
    parser.add_argument("--max_other_cores", type=float, default=0.3)
    parser.add_argument("--json", help="Write the figures to this file.")
    args = parser.parse_args()
    logging.set_verbosity(logging.ERROR)

    config = bert_base_config(num_hidden_layers=args.layers)
    machine = f"CPU: {cpu_description()}; {os.cpu_count()} logical cores"
    print(machine)
    print(
        f"model: BERT-Base shapes (L{config.num_hidden_layers} H{config.hidden_size} "
        f"A{config.num_attention_heads} I{config.intermediate_size}, vocab {config.vocab_size}), "
        f"random weights, 2 labels; max_seq_length {args.max_seq_length}; TF {tf.__version__}"
    )
    pairs = mrpc_pairs([int(k) for k in args.text_copies.split(",")])
    batch = [pairs[i % len(pairs)] for i in range(args.batch_size)]
    singles = [[pairs[i % len(pairs)]] for i in range(args.requests)]

    with tempfile.TemporaryDirectory() as work:
        model, export_dir = export_model(work, config, args.max_seq_length)
        loaded = tf.saved_model.load(export_dir)
        serve_text = loaded.signatures["serving_default"]
        serve_ids = loaded.signatures[export.CLASSIFY_IDS_SIGNATURE]
        two_step = TwoStep(model, args.max_seq_length)

        def exported(rows):
            text_a = tf.constant([a for a, _ in rows])
            text_b = tf.constant([b for _, b in rows])
            return serve_text(text_a=text_a, text_b=text_b)["probabilities"].numpy()

        def exported_ids(rows):
            return serve_ids(**two_step.features(rows))["probabilities"].numpy()

        variants = {"two_step": two_step, "exported": exported, "exported_ids": exported_ids}
        lengths = two_step.features(batch)["input_mask"].numpy().sum(axis=1)
        ordered, step = np.sort(lengths), export.SERVING_CHUNK_ROWS
        chunks = [ordered[i : i + step].max() for i in range(0, len(ordered), step)]
        print(
            f"batch of {len(batch)} MRPC pairs: {lengths.mean():.1f} tokens per pair on "
            f"average, longest {lengths.max()}, of {args.max_seq_length}; the exported model "
            f"runs chunks of {export.SERVING_CHUNK_ROWS} rows of {', '.join(map(str, chunks))} "
            "columns"
        )
        # Warm-up (traces, first calls) and the check that all three agree.
        results = {name: fn(batch) for name, fn in variants.items()}
        for name, fn in variants.items():
            np.testing.assert_allclose(results[name], results["two_step"], atol=1e-5, err_msg=name)
            for rows in singles[:2]:
                np.testing.assert_allclose(fn(rows), two_step(rows), atol=1e-5, err_msg=name)
        print("probabilities agree (1e-5) at batch 32 and batch 1")

        figures = {"machine": machine, "load_before": loadavg()}
        for label, work_items in (("batch", [batch]), ("single", singles)):

            def timed(fn, items=work_items):
                return lambda: [fn(rows) for rows in items]

            rounds = timed_rounds(
                {name: timed(fn) for name, fn in variants.items()},
                rounds=args.rounds,
                max_other_cores=args.max_other_cores,
                rotate=True,
            )
            n = len(batch) if label == "batch" else len(singles)
            title = f"batch {len(batch)}" if label == "batch" else "batch 1 (latency)"
            print(
                f"\n{title}: {len(rounds.kept)} rounds kept, {rounds.dropped} dropped"
                f"{' (noisy: all had other load)' if rounds.noisy else ''}"
            )
            print(f"  ({machine}; load {loadavg()})")
            for name in variants:
                median, best = rounds.median_s(name), rounds.best_s(name)
                speedup = rounds.speedup(name, "two_step")
                if label == "batch":
                    line = f"{n / median:7.1f} pairs/s median, {n / best:7.1f} best"
                else:
                    line = (
                        f"{median / n * 1e3:8.1f} ms per request median, {best / n * 1e3:8.1f} best"
                    )
                print(f"  {name:13s} {line}; speed-up over two_step {speedup:.2f}x")
                figures[f"{label}/{name}"] = {
                    "median_s": median,
                    "best_s": best,
                    "items": n,
                    "speedup_vs_two_step": speedup,
                    "rounds": len(rounds.kept),
                    "noisy": rounds.noisy,
                }
        figures["load_after"] = loadavg()
        print(f"\nload at end: {loadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
