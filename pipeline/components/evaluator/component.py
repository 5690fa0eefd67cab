"""The Evaluator of the DAG: TFX's Evaluator on EvalInference's scored
examples, with the gate's settings (executor.py says what it adds).

Its inputs are TFX's (`examples`, `model`, `baseline_model`): the scored
examples, the candidate and the served model, so ML Metadata and the DAG
show the Evaluator between the Trainer and the Pusher as TFX users expect;
no model is run again. Its spec adds one parameter to TFX's,
`custom_config`: the gate's `GateSettings` (settings/config.py), the way
every custom component here gets its settings.
"""

import json
from typing import Any, Dict, Optional

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import component as tfx_evaluator
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs

from pipeline.components.util import custom_config
from pipeline.components.evaluator import executor
from settings import features

candidate_model_spec = executor.candidate_model_spec


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
  """TFX's EvaluatorSpec and the gate's settings."""
  PARAMETERS = {
      **standard_component_specs.EvaluatorSpec.PARAMETERS,
      custom_config.KEY: custom_config.parameter(),
  }


class Evaluator(tfx_evaluator.Evaluator):
  """TFX's Evaluator, model-agnostic on scored examples, with the gate."""

  SPEC_CLASS = GatedEvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               baseline_model: Optional[types.BaseChannel],
               eval_config: tfma.EvalConfig,
               settings: Dict[str, Any]):
    """Args: EvalInference's scored examples, the candidate, the served
    model (or a Model that stands for none), TFMA's metrics
    (pipeline/pipeline.py `eval_config`) and `PipelineConfig.gate_settings()`.
    """
    # TFX's own __init__ builds a plain EvaluatorSpec; this spec adds the
    # gate's settings, so the base component is initialised directly.
    super(tfx_evaluator.Evaluator, self).__init__(spec=GatedEvaluatorSpec(
        examples=examples, model=model, baseline_model=baseline_model,
        eval_config=eval_config,
        example_splits=json.dumps([features.EVAL_SPLIT]),
        custom_config=custom_config.encode(settings),
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing)))
