"""The Report component's executor: reads the run's artifacts, writes the report.

Inputs are the Evaluator's evaluation (required) and blessing, the Trainer's
model_run (`training_history.json`: class names and training counts), the
ImageValidator's anomalies (`validation_summary.json`: examples per split,
warnings), ExampleGen's examples (the gallery's images, the span) and the
BatchInference predictions of the eval split (gallery, bootstrap interval)
and the test split (predicted class distribution); the output artifact's
folder gets `report.html`, its PNG figures, the model card and
`metrics.json` (render.py). Any error fails the component: a run whose
report cannot be written is not a finished run.
"""

import json
import os
from typing import Any, Dict, List, Optional

from absl import logging
import tensorflow as tf
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from modules import metrics as metrics_lib
from pipeline.components.util import evaluation_reader as evaluation_lib
from settings import features
from settings import records
from pipeline.components.util import predictions as predictions_lib
from pipeline.components.util import card_inputs
from pipeline.components.report import content
from pipeline.components.util import device_section
from pipeline.components.util import ensemble_section
from pipeline.components.report import gallery as gallery_lib
from pipeline.components.report import render

EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
MODEL_RUN_KEY = "model_run"
ANOMALIES_KEY = "anomalies"
EXAMPLES_KEY = "examples"
EVAL_PREDICTIONS_KEY = "eval_predictions"
TEST_PREDICTIONS_KEY = "test_predictions"
TUNER_RESULTS_KEY = "tuner_results"
LITE_MODEL_KEY = "lite_model"
# What TFX's Tuner writes into its TunerResults artifact.
TUNER_RESULTS_FILE = "tuner_results.json"
REPORT_KEY = "report"
# Custom properties of the report artifact, for the run summary and for
# queries in ML Metadata without opening the files.
VERDICT_PROPERTY = "verdict"
MACRO_F1_PROPERTY = metrics_lib.MACRO_F1
MODEL_PROPERTY = "model"


def _optional_single(input_dict: Dict[str, List[types.Artifact]],
                     key: str) -> Optional[types.Artifact]:
  artifacts = input_dict.get(key)
  return artifact_utils.get_single_instance(artifacts) if artifacts else None


def _add_predictions(data: content.ReportData,
                     input_dict: Dict[str, List[types.Artifact]]) -> None:
  """The model card, the gallery, the Tuner's trials and the test
  distribution, into `data`."""
  tuner_results = _optional_single(input_dict, TUNER_RESULTS_KEY)
  if tuner_results is not None:
    data.trials = content.read_json(os.path.join(tuner_results.uri,
                                                 TUNER_RESULTS_FILE))
  examples = _optional_single(input_dict, EXAMPLES_KEY)
  data.device = device_section.read(
      getattr(_optional_single(input_dict, LITE_MODEL_KEY), "uri", None))
  eval_predictions = card_inputs.read_eval_predictions(
      _optional_single(input_dict, EVAL_PREDICTIONS_KEY))
  if eval_predictions is not None and examples is not None:
    files = tf.io.gfile.glob(io_utils.all_files_pattern(
        artifact_utils.get_split_uri([examples], features.EVAL_SPLIT)))
    data.gallery = gallery_lib.gallery(eval_predictions, data.class_names, files)

  data.card = card_inputs.card_from_artifacts(
      evaluation_lib.load_evaluation(data.evaluation_dir),
      model_run=_optional_single(input_dict, MODEL_RUN_KEY),
      anomalies=_optional_single(input_dict, ANOMALIES_KEY),
      examples=examples, eval_predictions=eval_predictions,
      blessed=data.validation_ok, model=data.model_location,
      lite_evaluation=data.device)

  test_artifact = _optional_single(input_dict, TEST_PREDICTIONS_KEY)
  if test_artifact is None:
    data.test_note = ("No test predictions: the data has no test folder "
                      "(or an empty one), or predict.test_split is off.")
    return
  test = predictions_lib.read_predictions(test_artifact.uri,
                                          features.TEST_SPLIT)
  if test is None:
    reason = (test_artifact.get_string_custom_property(
        predictions_lib.NOT_PREDICTED_REASON)
              if test_artifact.has_custom_property(
                  predictions_lib.NOT_PREDICTED_REASON) else "unknown")
    data.test_note = f"No test predictions: {reason}."
    return
  skipped_path = os.path.join(test_artifact.uri, predictions_lib.SKIPPED_FILE)
  skipped = (json.loads(tf.io.gfile.GFile(skipped_path).read()).get(
      features.TEST_SPLIT, []) if tf.io.gfile.exists(skipped_path) else [])
  submission = os.path.join(test_artifact.uri,
                            predictions_lib.SUBMISSION_FILE)
  data.test = content.TestDistribution(
      predicted_counts=predictions_lib.class_counts(
          test.predicted, len(data.class_names)),
      records=len(test), skipped=len(skipped),
      submission=submission if tf.io.gfile.exists(submission) else None)


class Executor(base_executor.BaseExecutor):
  """Writes report.html, its figures and metrics.json into the artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    evaluation = artifact_utils.get_single_instance(
        input_dict[EVALUATION_KEY])
    blessing = _optional_single(input_dict, BLESSING_KEY)
    model_run = _optional_single(input_dict, MODEL_RUN_KEY)
    anomalies = _optional_single(input_dict, ANOMALIES_KEY)
    report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])

    validation_summary = None
    if anomalies is not None:
      validation_summary = records.ValidationSummary.read(anomalies.uri)
      if validation_summary is None:
        raise FileNotFoundError(
            f"no {records.VALIDATION_SUMMARY_FILE} in {anomalies.uri}: the "
            "anomalies must come from ImageValidator "
            "(pipeline/components/image_validator/)")
    data = content.load_report_data(
        evaluation.uri,
        training_history=(
            os.path.join(model_run.uri, features.TRAINING_HISTORY_FILE)
            if model_run is not None else None),
        blessed=(model_utils.is_model_blessed(blessing)
                 if blessing is not None else None),
        validation_summary=validation_summary,
        pipeline_run_id=(self._context.pipeline_run_id
                         if self._context else None))
    _add_predictions(data, input_dict)
    data.ensemble = ensemble_section.read(data.model_location)
    path = render.render_report(data, report.uri)

    report.set_string_custom_property(VERDICT_PROPERTY, data.verdict)
    if metrics_lib.MACRO_F1 in data.metrics:
      report.set_float_custom_property(
          MACRO_F1_PROPERTY, float(data.metrics[metrics_lib.MACRO_F1]))
    if data.model_location:
      report.set_string_custom_property(MODEL_PROPERTY, data.model_location)
    logging.info("Evaluation report (%s): %s", data.verdict, path)
