"""The AtomicPusher component: its spec and how the DAG builds it."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter
from tfx.types.system_executions import Deploy

from pipeline.components.pusher import executor
from pipeline.components.pusher.executor import ANOMALIES_KEY
from pipeline.components.pusher.executor import EVAL_PREDICTIONS_KEY
from pipeline.components.pusher.executor import EVALUATION_KEY
from pipeline.components.pusher.executor import EXAMPLES_KEY
from pipeline.components.pusher.executor import MODEL_RUN_KEY
from pipeline.components.util import artifact_types


class AtomicPusherSpec(types.ComponentSpec):
  """Inputs: TFX Pusher's (blessing required) plus what the record needs."""
  PARAMETERS = {
      standard_component_specs.PUSH_DESTINATION_KEY:
          ExecutionParameter(type=pusher_pb2.PushDestination),
  }
  INPUTS = {
      standard_component_specs.MODEL_KEY:
          ChannelParameter(type=standard_artifacts.Model),
      standard_component_specs.MODEL_BLESSING_KEY:
          ChannelParameter(type=standard_artifacts.ModelBlessing),
      EVALUATION_KEY:
          ChannelParameter(type=standard_artifacts.ModelEvaluation,
                           optional=True),
      MODEL_RUN_KEY:
          ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
      EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples, optional=True),
      ANOMALIES_KEY:
          ChannelParameter(type=standard_artifacts.ExampleAnomalies,
                           optional=True),
      EVAL_PREDICTIONS_KEY:
          ChannelParameter(type=artifact_types.Predictions,
                           optional=True),
  }
  OUTPUTS = {
      standard_component_specs.PUSHED_MODEL_KEY:
          ChannelParameter(type=standard_artifacts.PushedModel),
  }
  TYPE_ANNOTATION = Deploy


class AtomicPusher(base_component.BaseComponent):
  """Pushes a blessed model, whole, to `<base>/<version>` with a record.

  Example (as in pipeline/pipeline.py):

      AtomicPusher(
          model=trainer.outputs["model"],
          model_blessing=evaluator.outputs["blessing"],
          evaluation=evaluator.outputs["evaluation"],
          model_run=trainer.outputs["model_run"],
          push_destination=tfx.proto.PushDestination(
              filesystem=tfx.proto.PushDestination.Filesystem(
                  base_directory=serving_model_dir)))
  """

  SPEC_CLASS = AtomicPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(
      executor.AtomicPusherExecutor)

  def __init__(self,
               model: types.BaseChannel,
               model_blessing: types.BaseChannel,
               push_destination: pusher_pb2.PushDestination,
               evaluation: Optional[types.BaseChannel] = None,
               model_run: Optional[types.BaseChannel] = None,
               examples: Optional[types.BaseChannel] = None,
               anomalies: Optional[types.BaseChannel] = None,
               eval_predictions: Optional[types.BaseChannel] = None):
    """Builds the component.

    Args:
      model: the Trainer's model.
      model_blessing: the Evaluator's blessing of that model (required:
        nothing is pushed without one).
      push_destination: a filesystem destination; versions go under its
        `base_directory`.
      evaluation: the Evaluator's output, for the record's metrics and the
        reason a model is not pushed.
      model_run: the Trainer's run folder, for the record's training data
        (class counts, config).
      examples: ExampleGen's output, for the record's span and input
        fingerprint.
      anomalies: the ImageValidator's output, for the model card's data
        warnings.
      eval_predictions: the eval split's predictions (BatchInference), for
        the model card's bootstrap interval of macro F1.
    """
    spec = AtomicPusherSpec(
        model=model,
        model_blessing=model_blessing,
        evaluation=evaluation,
        model_run=model_run,
        examples=examples,
        anomalies=anomalies,
        eval_predictions=eval_predictions,
        push_destination=push_destination,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel))
    super().__init__(spec=spec)
