"""PushRecordBaseline: a run's baseline model found from the push records.

The KFP spec's stand-in for TFX's resolver nodes where the backend has no
resolver (open-source Kubeflow Pipelines' v2 compiler rejects them): a
plain container task, so any orchestrator runs it. It outputs `model`, the
baseline (push_records.py says which) or a Model that stands for none,
which the Evaluator, the drift check and the warm start leave out
(usable.py, modules/warm_start.py).

Inputs decide what is left out: `candidate` (the Trainer's model, for the
Evaluator's baseline) or `examples` (this run's, for the drift and warm
start baselines). On KFP, an unchanged re-run finds the same inputs and
takes this task from the cache, so its baseline stays the one the first
run had, as the local strategies of pipeline/baseline.py keep it.
"""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from pipeline.components.baseline import executor


class PushRecordBaselineSpec(types.ComponentSpec):
  PARAMETERS = {
      executor.SERVING_DIR_KEY: ExecutionParameter(type=str),
      executor.LABEL_SPACE_KEY: ExecutionParameter(type=str),
      executor.PURPOSE_KEY: ExecutionParameter(type=str),
  }
  INPUTS = {
      executor.CANDIDATE_KEY: ChannelParameter(type=standard_artifacts.Model,
                                               optional=True),
      executor.EXAMPLES_KEY: ChannelParameter(
          type=standard_artifacts.Examples, optional=True),
  }
  OUTPUTS = {
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
  }


class PushRecordBaseline(base_component.BaseComponent):
  """The newest pushed model of a class list, some models left out."""

  SPEC_CLASS = PushRecordBaselineSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, serving_dir: str, label_space: str, purpose: str,
               candidate: Optional[types.BaseChannel] = None,
               examples: Optional[types.BaseChannel] = None):
    """Args: the serving folder, the class list's fingerprint
    (`features.label_space_fingerprint`), the baseline's use in words (for
    the log), and the channel whose model (`candidate`) or whose training
    data (`examples`) is left out."""
    super().__init__(spec=PushRecordBaselineSpec(
        serving_dir=serving_dir, label_space=label_space, purpose=purpose,
        candidate=candidate, examples=examples,
        model=types.Channel(type=standard_artifacts.Model)))
