"""official_bert: a faithful TensorFlow 2 / Keras 3 port of google-research/bert.

    from official_bert import BertConfig, BertModel, FullTokenizer, configs

    config = BertConfig.from_json_file(configs.path("uncased_L-12_H-768_A-12"))
    model = BertModel(config)

The package's top level re-exports the main classes and functions; every
module keeps its own names too (`official_bert.modeling.BertModel`, ...).
Importing the package registers the Keras serializables (`BertModel`,
`BertPretrainer`, `BertClassifier`, the optimizer and its schedule), so
`keras.saving.load_model("model.keras")` needs no `custom_objects`.
"""

# Read by pyproject.toml ([tool.setuptools.dynamic]): the one place of the version.
__version__ = "0.1.0"

from official_bert import cli as _cli  # noqa: E402  (standard library and absl only)

# TensorFlow is first imported here, before any entry point's code runs (see
# `cli.quiet_tensorflow_startup`: its start-up noise is filtered, and the
# quiet environment defaults are set, only if this comes first).
with _cli.quiet_tensorflow_startup():
    from official_bert import configs  # noqa: E402
    from official_bert.modeling import BertConfig, BertModel  # noqa: E402
    from official_bert.models import BertClassifier, BertPretrainer  # noqa: E402
    from official_bert.optimization import (  # noqa: E402
        AdamWeightDecayOptimizer,
        WarmupPolynomialDecay,
        create_optimizer,
    )
    from official_bert.tf_tokenization import TFTextTokenizer  # noqa: E402
    from official_bert.tokenization import FullTokenizer  # noqa: E402

__all__ = [
    "AdamWeightDecayOptimizer",
    "BertClassifier",
    "BertConfig",
    "BertModel",
    "BertPretrainer",
    "FullTokenizer",
    "TFTextTokenizer",
    "WarmupPolynomialDecay",
    "__version__",
    "configs",
    "create_optimizer",
]
