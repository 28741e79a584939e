"""SQuAD 1.1 and 2.0: the library half of the original run_squad.py, under its names.

The original's functions and classes, with the values it read from FLAGS as
arguments, live in three modules and are all importable from here:

- `squad_data`: `SquadExample`, `read_squad_examples(input_file, is_training,
  version_2_with_negative=False)`, `shuffle_examples` (the original's
  `random.Random(12345)` shuffle of the training examples) and
  `validate_flags_or_throw` (the flag checks, values as arguments);
- `squad_features`: `InputFeatures`, `convert_examples_to_features(examples,
  tokenizer, max_seq_length, doc_stride, max_query_length, is_training,
  output_fn)`, `_improve_answer_span`, `_check_is_max_context`, `FeatureWriter`
  (the original's records byte for byte) and `name_to_features` (their parse spec);
- `squad_postprocess`: `RawResult`, `write_predictions(all_examples, all_features,
  all_results, n_best_size, max_answer_length, do_lower_case,
  output_prediction_file, output_nbest_file, output_null_log_odds_file,
  version_2_with_negative=False, null_score_diff_threshold=0.0,
  verbose_logging=False)`, `compute_predictions` (the same without writing),
  `get_final_text`, `_get_best_indexes`, `_compute_softmax`.

The official metrics are in `squad_evaluate`.
"""

from official_bert.squad_data import (
    TRAIN_SHUFFLE_SEED,
    SquadExample,
    check_feature_flags,
    load_json_file,
    read_squad_examples,
    shuffle_examples,
    validate_flags_or_throw,
)
from official_bert.squad_features import (
    EVAL_FEATURE_NAMES,
    TRAIN_FEATURE_NAMES,
    UNIQUE_ID_START,
    FeatureEncoder,
    FeatureWriter,
    InputFeatures,
    _check_is_max_context,
    _improve_answer_span,
    convert_examples_to_features,
    name_to_features,
)
from official_bert.squad_postprocess import (
    Predictions,
    RawResult,
    _compute_softmax,
    _get_best_indexes,
    compute_predictions,
    get_final_text,
    write_predictions,
)

__all__ = [
    "EVAL_FEATURE_NAMES",
    "TRAIN_FEATURE_NAMES",
    "TRAIN_SHUFFLE_SEED",
    "UNIQUE_ID_START",
    "FeatureEncoder",
    "FeatureWriter",
    "InputFeatures",
    "Predictions",
    "RawResult",
    "SquadExample",
    "_check_is_max_context",
    "_compute_softmax",
    "_get_best_indexes",
    "_improve_answer_span",
    "check_feature_flags",
    "compute_predictions",
    "convert_examples_to_features",
    "get_final_text",
    "load_json_file",
    "name_to_features",
    "read_squad_examples",
    "shuffle_examples",
    "validate_flags_or_throw",
    "write_predictions",
]
