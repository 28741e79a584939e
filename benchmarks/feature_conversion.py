"""Feature conversion speed: `file_based_convert_examples_to_features` vs the original.

The reference is a straightforward port of the original `run_classifier.py` kept here:
the label map rebuilt per example, truncation by popping, one `tf.train.Example` built
from `tf.train.Feature`s per example and serialized, and the original tokenizer without
caching (the port in tests/reference/original_tokenization.py).

Variants, timed in paired rounds (see README.md and _timing.py):

- `reference`: the port of the original, uncached tokenizer;
- `reference+cache`: the same with the library's `FullTokenizer` (word cache warm),
  so the difference to `library` is conversion and writing alone;
- `library`: `classifier_features.file_based_convert_examples_to_features`;

and, on precomputed features, building and serializing one `tf.train.Example` per
example as the original vs `FeatureSerializer`.

The golden MRPC rows have a small vocabulary, so the word cache is all hits: on real
data the tokenizer's share of the gain is smaller.

The outputs are checked to be identical: the same parsed records, and every
library record parses to the reference's Example (the library writes the
original's field order, which is not protobuf's deterministic order).

    .venv/bin/python benchmarks/feature_conversion.py --num_examples 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile

import tensorflow as tf
from _references import GOLDEN, reference_port
from _timing import loadavg, paired_rounds

from official_bert import classifier_data, classifier_features, tokenization

original_tokenization = reference_port("original_tokenization")


def reference_convert_single_example(example, label_list, max_seq_length, tokenizer):
    """The original algorithm, step by step (without its logging)."""
    label_map = {}
    for i, label in enumerate(label_list):
        label_map[label] = i
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = None
    if example.text_b:
        tokens_b = tokenizer.tokenize(example.text_b)
    if tokens_b:
        while len(tokens_a) + len(tokens_b) > max_seq_length - 3:
            if len(tokens_a) > len(tokens_b):
                tokens_a.pop()
            else:
                tokens_b.pop()
    elif len(tokens_a) > max_seq_length - 2:
        tokens_a = tokens_a[0 : (max_seq_length - 2)]
    tokens = ["[CLS]"]
    segment_ids = [0]
    for token in tokens_a:
        tokens.append(token)
        segment_ids.append(0)
    tokens.append("[SEP]")
    segment_ids.append(0)
    if tokens_b:
        for token in tokens_b:
            tokens.append(token)
            segment_ids.append(1)
        tokens.append("[SEP]")
        segment_ids.append(1)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    while len(input_ids) < max_seq_length:
        input_ids.append(0)
        input_mask.append(0)
        segment_ids.append(0)
    return classifier_data.InputFeatures(
        input_ids, input_mask, segment_ids, label_map[example.label], True
    )


def reference_example(feature: classifier_data.InputFeatures) -> tf.train.Example:
    def create_int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    features = collections.OrderedDict()
    features["input_ids"] = create_int_feature(feature.input_ids)
    features["input_mask"] = create_int_feature(feature.input_mask)
    features["segment_ids"] = create_int_feature(feature.segment_ids)
    features["label_ids"] = create_int_feature([feature.label_id])
    features["is_real_example"] = create_int_feature([int(feature.is_real_example)])
    return tf.train.Example(features=tf.train.Features(feature=features))


def reference_write(examples, label_list, max_seq_length, tokenizer, output_file):
    writer = tf.io.TFRecordWriter(output_file)
    for example in examples:
        feature = reference_convert_single_example(example, label_list, max_seq_length, tokenizer)
        writer.write(reference_example(feature).SerializeToString())
    writer.close()


def load_examples(num_examples: int) -> list[classifier_data.InputExample]:
    processor = classifier_data.MrpcProcessor()
    data_dir = os.path.join(GOLDEN, "glue", "MRPC")
    rows = (
        processor.get_train_examples(data_dir)
        + processor.get_dev_examples(data_dir)
        + processor.get_test_examples(data_dir)
    )
    return [rows[i % len(rows)] for i in range(num_examples)]


def parsed(path: str) -> list[dict[str, list[int]]]:
    out = []
    for record in tf.data.TFRecordDataset(path):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        out.append({k: list(v.int64_list.value) for k, v in feature.items()})
    return out


def report(title: str, stats: dict[str, dict[str, float]], num_examples: int) -> None:
    print(title)
    for name, st in stats.items():
        print(
            f"  {name:16s} {num_examples / st['median_s']:8.0f} ex/s median, "
            f"{num_examples / st['best_s']:8.0f} best; speed-up over the reference "
            f"{1 / st['ratio']:.2f}x (median of {st['rounds']} paired rounds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_examples", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max_seq_length", type=int, default=128)
    args = parser.parse_args()

    vocab = os.path.join(GOLDEN, "uncased_vocab.txt")
    examples = load_examples(args.num_examples)
    labels = classifier_data.MrpcProcessor().get_labels()
    seq = args.max_seq_length
    uncached = original_tokenization.FullTokenizer(vocab, do_lower_case=True)
    cached = tokenization.FullTokenizer(vocab, do_lower_case=True)

    with tempfile.TemporaryDirectory() as tmp:
        ref_file, lib_file = os.path.join(tmp, "ref.tf_record"), os.path.join(tmp, "lib.tf_record")

        def reference_full():
            reference_write(examples, labels, seq, uncached, ref_file)

        def library():
            classifier_features.file_based_convert_examples_to_features(
                examples, labels, seq, cached, lib_file
            )

        def reference_same_tokenizer():
            reference_write(examples, labels, seq, cached, ref_file)

        reference_full()
        library()  # also warms the word cache
        assert parsed(ref_file) == parsed(lib_file), "outputs differ"
        features = classifier_features.convert_examples_to_features(examples, labels, seq, cached)
        serialize = classifier_features.FeatureSerializer()
        for f in features:
            got = tf.train.Example.FromString(classifier_features.serialize_features(f))
            assert got == reference_example(f), "records differ"
        print(
            f"{args.num_examples} MRPC examples (golden rows repeated), max_seq_length {seq}; "
            f"outputs identical; load {loadavg()}"
        )
        stats = paired_rounds(
            {
                "reference": reference_full,
                "reference+cache": reference_same_tokenizer,
                "library": library,
            },
            reference="reference",
            rounds=args.rounds,
        )
        report("file_based_convert_examples_to_features:", stats, args.num_examples)
        stats = paired_rounds(
            {
                "reference": lambda: [reference_example(f).SerializeToString() for f in features],
                "library": lambda: [serialize(f) for f in features],
            },
            reference="reference",
            rounds=args.rounds,
        )
        report("tf.train.Example serialization alone:", stats, args.num_examples)


if __name__ == "__main__":
    main()
