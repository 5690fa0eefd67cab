"""PushRecordBaseline: the served model a run compares with, found from the
push records in the serving folder.

The baseline is the model being served: the newest version pushed to the
serving folder for this class list (push_records.py says which), read from
the `push_record.json` every push writes. It is one plain container task on
every runner (LocalDagRunner, open-source Kubeflow Pipelines, Vertex AI),
with no resolver and no metadata query, so every runner finds the same
model. It outputs `model`: that model's own Model folder (the executor
sets the output's URI to it), or a Model that stands for none (its
NO_BASELINE_FILE says why), which EvalInference, the drift check and the
warm start treat as no baseline.

Its input decides what is left out. In the DAG (pipeline/pipeline.py):

* BaselineModel (`candidate`: the Trainer's model): the gate's baseline,
  the newest served model other than the candidate;
* PreviousModel (`examples`: this run's Examples): the newest served model
  not trained on these Examples, the drift check's reference and the warm
  start's base (new data is compared with, and starts from, the model of
  the data before).

An unchanged re-run finds the same inputs and takes this task from the
cache, so its baseline stays the one the first run had (its candidate,
now served, is left out anyway), and the nodes downstream stay cached.
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
    (`settings.label_space.fingerprint`), the baseline's use in words (for
    the log), and the channel whose model (`candidate`) or whose training
    data (`examples`) is left out."""
    super().__init__(spec=PushRecordBaselineSpec(
        serving_dir=serving_dir, label_space=label_space, purpose=purpose,
        candidate=candidate, examples=examples,
        model=types.Channel(type=standard_artifacts.Model)))
