"""TFX's Evaluator executor, given only a baseline that is another model.

`usable.usable_baselines` (pipeline/components/baseline/) leaves out a
baseline that is the candidate itself or that stands for no model; the
Evaluator then evaluates without one, as on a first run (TFX drops the
change gate when there is no baseline), and says why in its log.
"""

from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.types import standard_component_specs

from pipeline.components.baseline import usable


class Executor(tfx_evaluator_executor.Executor):
  """TFX's Evaluator; a baseline that is the candidate is no baseline."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    key = standard_component_specs.BASELINE_MODEL_KEY
    baselines = input_dict.get(key) or []
    if baselines:
      [candidate] = input_dict[standard_component_specs.MODEL_KEY]
      kept, left_out = usable.usable_baselines(baselines, candidate)
      if left_out:
        logging.info("Evaluator: evaluating without that baseline: %s",
                     left_out)
      input_dict = dict(input_dict)
      input_dict[key] = kept
    super().Do(input_dict, output_dict, exec_properties)
