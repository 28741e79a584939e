# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Adapted from google-research/bert's tokenization_test.py: the same test
# class, test names, inputs and assertions, run against official_bert. Only
# the import changed (`from official_bert import tokenization` instead of
# `import tokenization`); the file is written in this project's style, without
# the Python 2 branches (`six.PY2`, `u""` literals, `__future__` imports),
# which do nothing under Python 3.
"""The original's tokenization tests, run against official_bert.tokenization."""

import os
import tempfile

import tensorflow as tf

from official_bert import tokenization


class TokenizationTest(tf.test.TestCase):
    def test_full_tokenizer(self):
        vocab_tokens = [
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "want",
            "##want",
            "##ed",
            "wa",
            "un",
            "runn",
            "##ing",
            ",",
        ]
        with tempfile.NamedTemporaryFile(delete=False) as vocab_writer:
            vocab_writer.write("".join([x + "\n" for x in vocab_tokens]).encode("utf-8"))
            vocab_file = vocab_writer.name

        tokenizer = tokenization.FullTokenizer(vocab_file)
        os.unlink(vocab_file)

        tokens = tokenizer.tokenize("UNwant\u00e9d,running")
        self.assertAllEqual(tokens, ["un", "##want", "##ed", ",", "runn", "##ing"])

        self.assertAllEqual(tokenizer.convert_tokens_to_ids(tokens), [7, 4, 5, 10, 8, 9])

    def test_chinese(self):
        tokenizer = tokenization.BasicTokenizer()

        self.assertAllEqual(
            tokenizer.tokenize("ah\u535a\u63a8zz"), ["ah", "\u535a", "\u63a8", "zz"]
        )

    def test_basic_tokenizer_lower(self):
        tokenizer = tokenization.BasicTokenizer(do_lower_case=True)

        self.assertAllEqual(
            tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  "),
            ["hello", "!", "how", "are", "you", "?"],
        )
        self.assertAllEqual(tokenizer.tokenize("H\u00e9llo"), ["hello"])

    def test_basic_tokenizer_no_lower(self):
        tokenizer = tokenization.BasicTokenizer(do_lower_case=False)

        self.assertAllEqual(
            tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  "),
            ["HeLLo", "!", "how", "Are", "yoU", "?"],
        )

    def test_wordpiece_tokenizer(self):
        vocab_tokens = [
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "want",
            "##want",
            "##ed",
            "wa",
            "un",
            "runn",
            "##ing",
        ]

        vocab = {}
        for i, token in enumerate(vocab_tokens):
            vocab[token] = i
        tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)

        self.assertAllEqual(tokenizer.tokenize(""), [])

        self.assertAllEqual(
            tokenizer.tokenize("unwanted running"), ["un", "##want", "##ed", "runn", "##ing"]
        )

        self.assertAllEqual(tokenizer.tokenize("unwantedX running"), ["[UNK]", "runn", "##ing"])

    def test_convert_tokens_to_ids(self):
        vocab_tokens = [
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "want",
            "##want",
            "##ed",
            "wa",
            "un",
            "runn",
            "##ing",
        ]

        vocab = {}
        for i, token in enumerate(vocab_tokens):
            vocab[token] = i

        self.assertAllEqual(
            tokenization.convert_tokens_to_ids(vocab, ["un", "##want", "##ed", "runn", "##ing"]),
            [7, 4, 5, 8, 9],
        )

    def test_is_whitespace(self):
        self.assertTrue(tokenization._is_whitespace(" "))
        self.assertTrue(tokenization._is_whitespace("\t"))
        self.assertTrue(tokenization._is_whitespace("\r"))
        self.assertTrue(tokenization._is_whitespace("\n"))
        self.assertTrue(tokenization._is_whitespace("\u00a0"))

        self.assertFalse(tokenization._is_whitespace("A"))
        self.assertFalse(tokenization._is_whitespace("-"))

    def test_is_control(self):
        self.assertTrue(tokenization._is_control("\u0005"))

        self.assertFalse(tokenization._is_control("A"))
        self.assertFalse(tokenization._is_control(" "))
        self.assertFalse(tokenization._is_control("\t"))
        self.assertFalse(tokenization._is_control("\r"))
        self.assertFalse(tokenization._is_control("\U0001f4a9"))

    def test_is_punctuation(self):
        self.assertTrue(tokenization._is_punctuation("-"))
        self.assertTrue(tokenization._is_punctuation("$"))
        self.assertTrue(tokenization._is_punctuation("`"))
        self.assertTrue(tokenization._is_punctuation("."))

        self.assertFalse(tokenization._is_punctuation("A"))
        self.assertFalse(tokenization._is_punctuation(" "))


if __name__ == "__main__":
    tf.test.main()
