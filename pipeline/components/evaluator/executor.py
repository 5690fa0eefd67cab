"""The Evaluator's executor: TFX's, model-agnostic on the scored examples,
then the gate (gate.py) and the blessing.

1. TFX's Evaluator executor runs TFMA on EvalInference's scored examples:
   no model is loaded (TFX evaluates model-agnostically when it is given
   no `model`), each ModelSpec reads its probabilities by `prediction_key`:
   the candidate's, and the served model's when there is one (its spec is
   added here, at run time, since only EvalInference knows whether a
   served model existed). TFMA writes both models' metrics and the `_diff`
   metrics, as for loaded models. The EvalConfig holds no threshold, so
   TFX's executor writes no blessing of its own.
2. The gate decides on the same scored examples (gate.py) and writes its
   record, `gate.json`, into the evaluation beside TFMA's files.
3. The blessing is written as TFX's Evaluator writes it (BLESSED or
   NOT_BLESSED file, `blessed`, `current_model`, `current_model_id`,
   `baseline_model`, `baseline_model_id`), so the Pusher and BatchPrediction
   read the one verdict on every runner.
"""

import os
from typing import Any, Dict, List

from absl import logging
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils

from pipeline.components.util import custom_config
from pipeline.components.util import scored_examples
from pipeline.components.evaluator import gate
from settings import config as config_lib
from settings import features

CANDIDATE_MODEL_NAME = "candidate"
BASELINE_MODEL_NAME = "baseline"


def candidate_model_spec() -> tfma.ModelSpec:
  """The candidate's column of the scored examples."""
  return tfma.ModelSpec(name=CANDIDATE_MODEL_NAME,
                        label_key=features.LABEL_KEY,
                        prediction_key=features.PROBABILITIES_KEY)


def baseline_model_spec() -> tfma.ModelSpec:
  """The served model's column of the scored examples."""
  return tfma.ModelSpec(name=BASELINE_MODEL_NAME, is_baseline=True,
                        label_key=features.LABEL_KEY,
                        prediction_key=features.BASELINE_PROBABILITIES_KEY)


def _string_property(artifact: types.Artifact, name: str) -> str:
  return (artifact.get_string_custom_property(name)
          if artifact.has_custom_property(name) else "")


class Executor(tfx_evaluator_executor.Executor):
  """TFMA's metrics of the scored examples, then the gate's verdict."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    settings = custom_config.decode(exec_properties, config_lib.GateSettings)
    scored = artifact_utils.get_single_instance(
        input_dict[standard_component_specs.EXAMPLES_KEY])
    candidate = artifact_utils.get_single_instance(
        input_dict[standard_component_specs.MODEL_KEY])
    baseline_uri = _string_property(
        scored, scored_examples.BASELINE_MODEL_PROPERTY) or None
    baselines = [artifact for artifact in
                 input_dict.get(standard_component_specs.BASELINE_MODEL_KEY)
                 or [] if baseline_uri and
                 artifact.uri.rstrip("/") == baseline_uri.rstrip("/")]

    if baseline_uri and not baselines:
      raise ValueError(
          f"the scored examples {scored.uri} compare with {baseline_uri}, "
          "which is not this Evaluator's baseline_model input")
    eval_config = tfma.EvalConfig()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.EVAL_CONFIG_KEY],
        eval_config)
    if baseline_uri:
      eval_config.model_specs.append(baseline_model_spec())
    tfma_inputs = {standard_component_specs.EXAMPLES_KEY: [scored]}
    if baselines:
      # TFX's executor computes `_diff` metrics when it has a baseline.
      tfma_inputs[standard_component_specs.BASELINE_MODEL_KEY] = baselines
    tfma_properties = {
        key: value for key, value in exec_properties.items()
        if key != custom_config.KEY}
    tfma_properties[standard_component_specs.EVAL_CONFIG_KEY] = (
        proto_utils.proto_to_json(eval_config))
    super().Do(tfma_inputs, output_dict, tfma_properties)

    table = scored_examples.read_split(scored.uri, features.EVAL_SPLIT)
    record = gate.decide(
        table.labels, table.probabilities, table.baseline_probabilities,
        settings, candidate_model=candidate.uri, baseline_model=baseline_uri,
        baseline_note=(f"the served model {baseline_uri}" if baseline_uri
                       else _string_property(
                           scored, scored_examples.BASELINE_NOTE_PROPERTY)))
    evaluation = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EVALUATION_KEY])
    record.write(evaluation.uri)
    for check in record.checks:
      logging.info("Gate %s: %s: %s", check["name"],
                   "passed" if check["passed"] else "FAILED", check["line"])
    self._bless(output_dict, candidate, baselines, record.blessed,
                exec_properties)

  def _bless(self, output_dict, candidate: types.Artifact,
             baselines: List[types.Artifact], blessed: bool,
             exec_properties: Dict[str, Any]) -> None:
    """The ModelBlessing, with TFX's Evaluator's files and properties."""
    blessing = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.BLESSING_KEY])
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, candidate.uri)
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, candidate.id)
    if baselines:
      blessing.set_string_custom_property(
          constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
          baselines[0].uri)
      blessing.set_int_custom_property(
          constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baselines[0].id)
    if "current_component_id" in exec_properties:
      blessing.set_string_custom_property(
          "component_id", exec_properties["current_component_id"])
    name, value = ((constants.BLESSED_FILE_NAME, constants.BLESSED_VALUE)
                   if blessed else
                   (constants.NOT_BLESSED_FILE_NAME,
                    constants.NOT_BLESSED_VALUE))
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY, value)
    logging.info("Blessing result %s written to %s.", blessed, blessing.uri)
