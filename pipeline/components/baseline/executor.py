"""The PushRecordBaseline executor: outputs the baseline Model, or a Model
that says there is none (its NO_BASELINE_FILE).

The output artifact's URI is set to the chosen model's own folder (the
Trainer's Model artifact the push record names), so the Evaluator, the
drift check and the warm start read it as they read a resolver's output.
TFX's Kubeflow entry point reports the URI in its ExecutorOutput, and the
KFP launcher (and Vertex AI) take an output URI the executor reports.
"""

import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from modules import data_profile
from settings import records
from pipeline.components.baseline import push_records

CANDIDATE_KEY = "candidate"
EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
SERVING_DIR_KEY = "serving_dir"
LABEL_SPACE_KEY = "label_space"
PURPOSE_KEY = "purpose"
# Custom properties of the output Model.
FOUND_PROPERTY = "baseline_found"
NOTE_PROPERTY = "baseline_note"
SERVED_VERSION_PROPERTY = "served_version"


def _optional_uri(input_dict: Dict[str, List[types.Artifact]], key: str):
  artifacts = input_dict.get(key) or []
  return artifact_utils.get_single_uri(artifacts) if artifacts else None


class Executor(base_executor.BaseExecutor):
  """Finds the baseline in the push records (push_records.py)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
    found, why = push_records.find_baseline(
        exec_properties[SERVING_DIR_KEY], exec_properties[LABEL_SPACE_KEY],
        exclude_model_uri=_optional_uri(input_dict, CANDIDATE_KEY),
        exclude_examples_uri=_optional_uri(input_dict, EXAMPLES_KEY))
    purpose = exec_properties.get(PURPOSE_KEY) or "baseline"
    model.set_string_custom_property(NOTE_PROPERTY, why)
    if found is None:
      logging.info("%s: none: %s", purpose, why)
      fileio.makedirs(model.uri)
      with fileio.open(os.path.join(model.uri, records.NO_BASELINE_FILE),
                       "w") as marker:
        marker.write(json.dumps({"reason": why}, indent=2))
      model.set_int_custom_property(FOUND_PROPERTY, 0)
      return
    logging.info("%s: %s", purpose, why)
    model.uri = found.model_uri
    model.set_int_custom_property(FOUND_PROPERTY, 1)
    model.set_string_custom_property(SERVED_VERSION_PROPERTY,
                                     found.version_dir)
    if found.profile_uri:
      # Where the drift check finds the served model's training data
      # profile (modules/data_profile.py).
      model.set_string_custom_property(data_profile.PROFILE_PROPERTY,
                                       found.profile_uri)
