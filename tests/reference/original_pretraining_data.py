"""The original create_pretraining_data.py data generator, step by step.

A plain port of google-research/bert's `create_pretraining_data.py`: lines read
with `GFile.readline`, the uncached original tokenizer (`original_tokenization`),
`TrainingInstance`s of token strings, `MaskedLmInstance` tuples and a
covered-index set in the masking loop, the truncation that pops one token at a
time, `convert_tokens_to_ids` and one `tf.train.Example` built from
`tf.train.Feature`s per instance, every instance held until the end.

It is the oracle the tests compare `official_bert.create_pretraining_data`
against and the speed reference of `benchmarks/pretraining_data.py`, so it
keeps the original's data structures and costs. The records it writes parse to
the original's Examples; their bytes follow this protobuf's map order, not
necessarily the original's.
"""

from __future__ import annotations

import collections
import random

import tensorflow as tf

from . import original_tokenization


def uncached_tokenizer(vocab_file: str, do_lower_case: bool) -> original_tokenization.FullTokenizer:
    """The original FullTokenizer: BasicTokenizer, then WordpieceTokenizer per token."""
    return original_tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)


class TrainingInstance:
    """A single training instance (sentence pair) of token strings."""

    def __init__(self, tokens, segment_ids, masked_lm_positions, masked_lm_labels, is_random_next):
        self.tokens = tokens
        self.segment_ids = segment_ids
        self.masked_lm_positions = masked_lm_positions
        self.masked_lm_labels = masked_lm_labels
        self.is_random_next = is_random_next


MaskedLmInstance = collections.namedtuple("MaskedLmInstance", ["index", "label"])


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Pops one token at a time from the front or back of the longer list."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


def create_masked_lm_predictions(tokens, masked_lm_prob, max_predictions, vocab_words, rng, wwm):
    """The original's masking: shuffled candidates (whole words with wwm), 80/10/10."""
    cand_indexes = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            continue
        if wwm and cand_indexes and token.startswith("##"):
            cand_indexes[-1].append(i)
        else:
            cand_indexes.append([i])
    rng.shuffle(cand_indexes)
    output_tokens = list(tokens)
    num_to_predict = min(max_predictions, max(1, int(round(len(tokens) * masked_lm_prob))))
    masked_lms = []
    covered_indexes = set()
    for index_set in cand_indexes:
        if len(masked_lms) >= num_to_predict:
            break
        if len(masked_lms) + len(index_set) > num_to_predict:
            continue
        if any(index in covered_indexes for index in index_set):
            continue
        for index in index_set:
            covered_indexes.add(index)
            if rng.random() < 0.8:
                masked_token = "[MASK]"
            elif rng.random() < 0.5:
                masked_token = tokens[index]
            else:
                masked_token = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output_tokens[index] = masked_token
            masked_lms.append(MaskedLmInstance(index=index, label=tokens[index]))
    masked_lms.sort(key=lambda x: x.index)
    return output_tokens, [m.index for m in masked_lms], [m.label for m in masked_lms]


def create_instances_from_document(all_documents, document_index, flags, vocab_words, rng):
    """The instances of one document, as the original builds them."""
    document = all_documents[document_index]
    max_num_tokens = flags["max_seq_length"] - 3
    target_seq_length = max_num_tokens
    if rng.random() < flags["short_seq_prob"]:
        target_seq_length = rng.randint(2, max_num_tokens)
    instances = []
    current_chunk = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = rng.randint(1, len(current_chunk) - 1)
                tokens_a = []
                for j in range(a_end):
                    tokens_a.extend(current_chunk[j])
                tokens_b = []
                if len(current_chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):
                        random_document_index = rng.randint(0, len(all_documents) - 1)
                        if random_document_index != document_index:
                            break
                    random_document = all_documents[random_document_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    num_unused_segments = len(current_chunk) - a_end
                    i -= num_unused_segments
                else:
                    is_random_next = False
                    for j in range(a_end, len(current_chunk)):
                        tokens_b.extend(current_chunk[j])
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
                segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                tokens, positions, labels = create_masked_lm_predictions(
                    tokens,
                    flags["masked_lm_prob"],
                    flags["max_predictions_per_seq"],
                    vocab_words,
                    rng,
                    flags["do_whole_word_mask"],
                )
                instances.append(
                    TrainingInstance(tokens, segment_ids, positions, labels, is_random_next)
                )
            current_chunk = []
            current_length = 0
        i += 1
    return instances


def _int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def reference_run(input_files, output_files, tokenizer, flags) -> int:
    """The original main(): read, shuffle, build, shuffle, write round-robin.

    Args:
      input_files: text files, one sentence a line, blank lines between documents.
      output_files: TFRecord paths, written round-robin.
      tokenizer: has `vocab`, `tokenize` and `convert_tokens_to_ids` (the
        original's FullTokenizer, e.g. `uncached_tokenizer`).
      flags: dict of max_seq_length, max_predictions_per_seq, random_seed,
        dupe_factor, masked_lm_prob, short_seq_prob, do_whole_word_mask.

    Returns:
      The number of instances written.
    """
    all_documents = [[]]
    for path in input_files:
        with tf.io.gfile.GFile(path, "r") as reader:
            while True:
                line = original_tokenization.convert_to_unicode(reader.readline())
                if not line:
                    break
                line = line.strip()
                if not line:
                    all_documents.append([])
                tokens = tokenizer.tokenize(line)
                if tokens:
                    all_documents[-1].append(tokens)
    all_documents = [d for d in all_documents if d]
    rng = random.Random(flags["random_seed"])
    rng.shuffle(all_documents)
    vocab_words = list(tokenizer.vocab.keys())
    instances = []
    for _ in range(flags["dupe_factor"]):
        for document_index in range(len(all_documents)):
            instances.extend(
                create_instances_from_document(
                    all_documents, document_index, flags, vocab_words, rng
                )
            )
    rng.shuffle(instances)

    writers = [tf.io.TFRecordWriter(p) for p in output_files]
    max_seq_length = flags["max_seq_length"]
    max_predictions = flags["max_predictions_per_seq"]
    for index, instance in enumerate(instances):
        input_ids = tokenizer.convert_tokens_to_ids(instance.tokens)
        input_mask = [1] * len(input_ids)
        segment_ids = list(instance.segment_ids)
        while len(input_ids) < max_seq_length:
            input_ids.append(0)
            input_mask.append(0)
            segment_ids.append(0)
        positions = list(instance.masked_lm_positions)
        label_ids = tokenizer.convert_tokens_to_ids(instance.masked_lm_labels)
        weights = [1.0] * len(label_ids)
        while len(positions) < max_predictions:
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
        features["next_sentence_labels"] = _int_feature([1 if instance.is_random_next else 0])
        example = tf.train.Example(features=tf.train.Features(feature=features))
        writers[index % len(writers)].write(example.SerializeToString())
    for writer in writers:
        writer.close()
    return len(instances)
