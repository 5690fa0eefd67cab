"""The Report component's executor: reads the run's artifacts, writes the report.

Inputs are the Evaluator's evaluation (required) and blessing, the Trainer's
model_run (`training_history.json`: class names and training counts) and the
DataValidator's anomalies (`validation_summary.json`: examples per split,
warnings); the output artifact's folder gets `report.html`, its PNG figures
and `metrics.json` (render.py). Any error fails the component: a run whose
report cannot be written is not a finished run.
"""

import os
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from modules import metrics as metrics_lib
from pipeline import features
from pipeline.components.data_validator import checks as validation_checks
from pipeline.components.data_validator import executor as data_validator
from pipeline.components.report import content
from pipeline.components.report import render

EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
MODEL_RUN_KEY = "model_run"
ANOMALIES_KEY = "anomalies"
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
      validation_summary = data_validator.read_summary(anomalies.uri)
      if validation_summary is None:
        raise FileNotFoundError(
            f"no {validation_checks.SUMMARY_FILE} in {anomalies.uri}: the "
            "anomalies must come from DataValidator "
            "(pipeline/components/data_validator/)")
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
    path = render.render_report(data, report.uri)

    report.set_string_custom_property(VERDICT_PROPERTY, data.verdict)
    if metrics_lib.MACRO_F1 in data.metrics:
      report.set_float_custom_property(
          MACRO_F1_PROPERTY, float(data.metrics[metrics_lib.MACRO_F1]))
    if data.model_location:
      report.set_string_custom_property(MODEL_PROPERTY, data.model_location)
    logging.info("Evaluation report (%s): %s", data.verdict, path)
