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
# Adapted from google-research/bert's modeling_test.py: the same test class,
# tester, test names, configs, input shapes and assertions, run against
# official_bert.modeling. What changed, and why:
# - The original builds a TF1 graph and runs it in a session. Here the model is
#   a Keras model made eagerly (its variables are initialised on creation, so
#   there is no init op), and its call (training=True, dropout on, as
#   `is_training=True`) is traced with `tf.function`. The outputs are computed
#   by running that traced function, and the reachability check runs on its
#   FuncGraph, with the structured outputs of the call as the targets.
# - `BertModel(config, is_training, input_ids, ...)` and the getters
#   (`get_sequence_output()`, ...) become `BertModel(config, name=scope)` and a
#   call returning the same four outputs in a dict; `scope` is the model's name
#   (None meaning "bert", as the original's default scope).
# - Python 2 leftovers (`six`, `__future__` imports) are gone; the code is
#   written in this project's style.
"""The original's BertModel tests, run against official_bert.modeling."""

import collections
import json
import random
import re

import tensorflow as tf

from official_bert import modeling


class BertModelTest(tf.test.TestCase):
    class BertModelTester:
        def __init__(
            self,
            parent,
            batch_size=13,
            seq_length=7,
            is_training=True,
            use_input_mask=True,
            use_token_type_ids=True,
            vocab_size=99,
            hidden_size=32,
            num_hidden_layers=5,
            num_attention_heads=4,
            intermediate_size=37,
            hidden_act="gelu",
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            max_position_embeddings=512,
            type_vocab_size=16,
            initializer_range=0.02,
            scope=None,
        ):
            self.parent = parent
            self.batch_size = batch_size
            self.seq_length = seq_length
            self.is_training = is_training
            self.use_input_mask = use_input_mask
            self.use_token_type_ids = use_token_type_ids
            self.vocab_size = vocab_size
            self.hidden_size = hidden_size
            self.num_hidden_layers = num_hidden_layers
            self.num_attention_heads = num_attention_heads
            self.intermediate_size = intermediate_size
            self.hidden_act = hidden_act
            self.hidden_dropout_prob = hidden_dropout_prob
            self.attention_probs_dropout_prob = attention_probs_dropout_prob
            self.max_position_embeddings = max_position_embeddings
            self.type_vocab_size = type_vocab_size
            self.initializer_range = initializer_range
            self.scope = scope

        def create_model(self):
            """Builds the model; returns its traced call and the inputs to run it on."""
            shape = [self.batch_size, self.seq_length]
            inputs = {"input_ids": BertModelTest.ids_tensor(shape, self.vocab_size)}
            if self.use_input_mask:
                inputs["input_mask"] = BertModelTest.ids_tensor(shape, vocab_size=2)
            if self.use_token_type_ids:
                inputs["token_type_ids"] = BertModelTest.ids_tensor(shape, self.type_vocab_size)

            config = modeling.BertConfig(
                vocab_size=self.vocab_size,
                hidden_size=self.hidden_size,
                num_hidden_layers=self.num_hidden_layers,
                num_attention_heads=self.num_attention_heads,
                intermediate_size=self.intermediate_size,
                hidden_act=self.hidden_act,
                hidden_dropout_prob=self.hidden_dropout_prob,
                attention_probs_dropout_prob=self.attention_probs_dropout_prob,
                max_position_embeddings=self.max_position_embeddings,
                type_vocab_size=self.type_vocab_size,
                initializer_range=self.initializer_range,
            )
            model = modeling.BertModel(config=config, name=self.scope or "bert")

            def call(features):
                outputs = model(**features, training=self.is_training)
                return {
                    "embedding_output": outputs["embedding_output"],
                    "sequence_output": outputs["sequence_output"],
                    "pooled_output": outputs["pooled_output"],
                    "all_encoder_layers": outputs["all_encoder_layers"],
                }

            return tf.function(call).get_concrete_function(inputs), inputs

        def check_output(self, result):
            self.parent.assertAllEqual(
                result["embedding_output"].shape,
                [self.batch_size, self.seq_length, self.hidden_size],
            )
            self.parent.assertAllEqual(
                result["sequence_output"].shape,
                [self.batch_size, self.seq_length, self.hidden_size],
            )
            self.parent.assertAllEqual(
                result["pooled_output"].shape, [self.batch_size, self.hidden_size]
            )

    def test_default(self):
        self.run_tester(BertModelTest.BertModelTester(self))

    def test_config_to_json_string(self):
        config = modeling.BertConfig(vocab_size=99, hidden_size=37)
        obj = json.loads(config.to_json_string())
        self.assertEqual(obj["vocab_size"], 99)
        self.assertEqual(obj["hidden_size"], 37)

    def run_tester(self, tester):
        traced_call, inputs = tester.create_model()
        output_result = traced_call(inputs)
        tester.check_output(output_result)
        self.assert_all_tensors_reachable(traced_call.graph, traced_call.structured_outputs)

    @classmethod
    def ids_tensor(cls, shape, vocab_size, rng=None, name=None):
        """A random int32 tensor of `shape` with values in [0, vocab_size)."""
        rng = rng or random.Random()
        count = 1
        for dim in shape:
            count *= dim
        values = [rng.randint(0, vocab_size - 1) for _ in range(count)]
        return tf.constant(value=values, dtype=tf.int32, shape=shape, name=name)

    def assert_all_tensors_reachable(self, graph, outputs):
        """Checks that every op of `graph` contributes to `outputs`."""
        ignore_regexes = [
            re.compile(pattern)
            for pattern in (
                "^.*/assert_less_equal/.*$",
                "^.*/dilation_rate$",
                "^.*/Tensordot/concat$",
                "^.*/Tensordot/concat/axis$",
                "^testing/.*$",
            )
        ]
        unreachable = [
            op
            for op in self.get_unreachable_ops(graph, outputs)
            if not any(regex.match(op.name) for regex in ignore_regexes)
        ]
        names = " ".join(op.name for op in unreachable)
        self.assertEqual(len(unreachable), 0, f"The following ops are unreachable: {names}")

    @classmethod
    def get_unreachable_ops(cls, graph, outputs):
        """The ops of `graph` with an input or output that `outputs` do not depend on.

        A walk backwards from the output tensors: a tensor's producing op makes
        all of that op's inputs and outputs reachable; the outputs and inputs
        of an `Assign` count as one group.
        """
        producers = collections.defaultdict(list)  # tensor name -> op names
        op_tensors = collections.defaultdict(list)  # op name -> its input and output names
        assign_inputs = collections.defaultdict(list)  # Assign output -> its inputs
        for op in graph.get_operations():
            op_tensors[op.name].extend(x.name for x in op.inputs)
            for y in op.outputs:
                producers[y.name].append(op.name)
                op_tensors[op.name].append(y.name)
            if str(op.type) == "Assign":
                for y in op.outputs:
                    assign_inputs[y.name].extend(x.name for x in op.inputs)

        assign_groups = collections.defaultdict(list)
        for out_name, group in assign_inputs.items():
            for n1 in group:
                assign_groups[n1].append(out_name)
                assign_groups[n1].extend(n2 for n2 in group if n2 != n1)

        seen = set()
        stack = [x.name for x in cls.flatten_recursive(outputs)]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            for op_name in producers.get(name, ()):
                stack.extend(n for n in op_tensors.get(op_name, ()) if n not in stack)
            stack.extend(n for n in assign_groups.get(name, ()) if n not in stack)

        return [
            op
            for op in graph.get_operations()
            if any(x.name not in seen for x in list(op.inputs) + list(op.outputs))
        ]

    @classmethod
    def flatten_recursive(cls, item):
        """Flattens nested tuples, lists and dicts (their values) into a list."""
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            return [item]
        flat = []
        for child in children:
            flat.extend(cls.flatten_recursive(child))
        return flat


if __name__ == "__main__":
    tf.test.main()
