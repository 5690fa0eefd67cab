"""The EvalInference executor: the candidate's and the served model's
predictions of the eval split, each model run once.

Both models run their own `serving_default` (each applies its own Transform
graph) on the same eval records, batch by batch as BatchPrediction does
(util/batch_predict.py: an undecodable record is named, skipped and
counted). The outputs:

* `predictions`: the candidate's `Split-eval/predictions.npz` (ids, labels,
  probabilities), which the Report's gallery and the model card read;
* `scored_examples`: the same records with both models' probabilities, the
  Examples artifact the Evaluator reads (util/scored_examples.py): TFMA
  computes both models' metrics from it, and the gate its paired interval, without
  running a model again.

The baseline is left out, with the reason recorded, when it stands for no
model (the baseline task found none: settings/records.py
`no_baseline_reason`), when it is the candidate itself, or when it predicts
another number of classes. A record only one model could predict is dropped
from the scored examples, counted and named in the log, so both columns
always score the same examples.
"""

from typing import Any, Dict, List, Optional, Tuple

from absl import logging
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from pipeline.components.util import custom_config
from pipeline.components.util import scored_examples
from pipeline.components.util import serving_model
from pipeline.components.util import batch_predict
from pipeline.components.util import predictions as predictions_lib
from settings import config as config_lib
from settings import features
from settings import records

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
PREDICTIONS_KEY = "predictions"
SCORED_EXAMPLES_KEY = "scored_examples"
# Custom properties of `predictions`, as BatchPrediction's.
PREDICTED_RECORDS = "predicted_records"
SKIPPED_RECORDS = "skipped_records"
SPLIT_NAMES_PROPERTY = "split_names"


def _model_dir(artifact: types.Artifact) -> str:
  return path_utils.serving_model_path(
      artifact.uri, path_utils.is_old_model_artifact(artifact))


def usable_baseline(baselines: List[types.Artifact],
                    candidate: types.Artifact
                    ) -> Tuple[Optional[types.Artifact], str]:
  """(the baseline to compare with, or None and why not)."""
  if not baselines:
    return None, "no baseline model given"
  baseline = baselines[0]
  none_reason = records.no_baseline_reason(baseline.uri)
  if none_reason is not None:
    return None, none_reason
  if baseline.uri.rstrip("/") == candidate.uri.rstrip("/"):
    return None, f"the baseline {baseline.uri} is the candidate itself"
  return baseline, f"the served model {baseline.uri}"


def _predict(model_artifact: types.Artifact, files: List[str],
             batch_size: int):
  model = serving_model.load_serving_model(
      _model_dir(model_artifact), [serving_model.SERVING_DEFAULT])
  result, skipped = batch_predict.predict_files(model, files, batch_size)
  for record in skipped:
    logging.warning("Not predicted by %s: %s", model_artifact.uri,
                    record.describe())
  return result, skipped


def paired(candidate: predictions_lib.SplitPredictions,
           baseline: predictions_lib.SplitPredictions
           ) -> Tuple[scored_examples.ScoredSplit, List[str]]:
  """The records both models predicted, in the candidate's order, and the
  ids only one of them predicted."""
  row_of = {image_id: row for row, image_id in enumerate(baseline.ids)}
  keep = [row for row, image_id in enumerate(candidate.ids)
          if image_id in row_of]
  one_sided = sorted(set(candidate.ids) ^ set(baseline.ids))
  baseline_rows = [row_of[candidate.ids[row]] for row in keep]
  return scored_examples.ScoredSplit(
      ids=candidate.ids[keep], labels=candidate.labels[keep],
      probabilities=candidate.probabilities[keep],
      baseline_probabilities=baseline.probabilities[baseline_rows]
  ), one_sided


class Executor(base_executor.BaseExecutor):
  """Predicts the eval split with the candidate and the served model."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    candidate = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    examples = input_dict[EXAMPLES_KEY]
    split = features.EVAL_SPLIT
    files = tf.io.gfile.glob(io_utils.all_files_pattern(
        artifact_utils.get_split_uri(examples, split)))
    batch_size = custom_config.decode(
        exec_properties, config_lib.InferenceSettings).batch_size
    predictions = artifact_utils.get_single_instance(
        output_dict[PREDICTIONS_KEY])
    scored = artifact_utils.get_single_instance(
        output_dict[SCORED_EXAMPLES_KEY])

    result, skipped = _predict(candidate, files, batch_size)
    predictions_lib.write_predictions(predictions.uri, split, result)
    predictions_lib.write_skipped(predictions.uri, {split: skipped})
    predictions.set_string_custom_property(
        SPLIT_NAMES_PROPERTY, artifact_utils.encode_split_names([split]))
    predictions.set_int_custom_property(PREDICTED_RECORDS, len(result))
    predictions.set_int_custom_property(SKIPPED_RECORDS, len(skipped))
    logging.info("Split %s: %d records predicted by the candidate, %d "
                 "skipped.", split, len(result), len(skipped))

    baseline, note = usable_baseline(
        input_dict.get(BASELINE_MODEL_KEY) or [], candidate)
    table = scored_examples.ScoredSplit(
        ids=result.ids, labels=result.labels,
        probabilities=result.probabilities)
    if baseline is not None:
      other, _ = _predict(baseline, files, batch_size)
      if other.probabilities.shape[1] != result.probabilities.shape[1]:
        note = (f"the served model {baseline.uri} predicts "
                f"{other.probabilities.shape[1]} classes, the candidate "
                f"{result.probabilities.shape[1]}")
        baseline = None
      else:
        table, one_sided = paired(result, other)
        if one_sided:
          logging.warning(
              "%d eval record(s) predicted by one model only, left out of "
              "the comparison: ids %s", len(one_sided), one_sided[:10])
        logging.info("Split %s: %d records predicted by both the candidate "
                     "and the served model %s.", split, len(table),
                     baseline.uri)
    if baseline is None:
      logging.info("Evaluating without a baseline: %s.", note)
      scored.set_string_custom_property(
          scored_examples.BASELINE_NOTE_PROPERTY, note)
    else:
      scored.set_string_custom_property(
          scored_examples.BASELINE_MODEL_PROPERTY, baseline.uri)
    scored.set_string_custom_property(
        scored_examples.CANDIDATE_MODEL_PROPERTY, candidate.uri)
    scored_examples.write_split(scored.uri, split, table)
    scored.split_names = artifact_utils.encode_split_names([split])
    examples_utils.set_payload_format(
        scored, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(
        scored, write_split.to_file_format_str(
            example_gen_pb2.FileFormat.FORMAT_TFRECORDS_GZIP))
