"""LiteRTExport and LiteRTPusher: their artifacts, specs, and how the DAG
builds them.

    Trainer, Transform, ImportExampleGen, EvalInference --> LiteRTExport
    LiteRTExport, Evaluator (blessing), Pusher --> LiteRTPusher

Their outputs are types of their own, not TFX's Model, ModelBlessing and
PushedModel: a LiteRT flatbuffer is not a SavedModel, and the run's
PushedModel (the Pusher's, which the run summary reads) stays the
SavedModel's. The baselines never see them: they come from the push
records (pipeline/components/baseline/), not from resolvers over the
pipeline's Models.
"""

from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter
from tfx.types.system_executions import Deploy

from pipeline.components.util import artifact_types
from pipeline.components.util import custom_config
from pipeline.components.litert import executor
from pipeline.components.litert import pusher
from settings import config as config_lib

EXPORT_ID = "LiteRTExport"
PUSHER_ID = "LiteRTPusher"


class LiteRTExportSpec(types.ComponentSpec):
  """A Trainer's model in; its device variants, scored, out."""
  PARAMETERS = {
      # Its LiteSettings (settings/config.py).
      custom_config.KEY: custom_config.parameter(),
  }
  INPUTS = {
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples),
      executor.TRANSFORM_GRAPH_KEY:
          ChannelParameter(type=standard_artifacts.TransformGraph),
      executor.EVAL_PREDICTIONS_KEY:
          ChannelParameter(type=artifact_types.Predictions),
  }
  OUTPUTS = {
      executor.LITE_MODEL_KEY:
          ChannelParameter(type=artifact_types.LiteModel),
  }


class LiteRTExport(base_component.BaseComponent):
  """Converts the Trainer's model to LiteRT (float32, int8) and scores each
  variant on the eval split through the LiteRT interpreter.

  Example (as in pipeline/pipeline.py):

      LiteRTExport(model=trainer.outputs["model"],
                   examples=example_gen.outputs["examples"],
                   transform_graph=transform.outputs["transform_graph"],
                   eval_predictions=eval_inference.outputs["predictions"],
                   settings=config.lite_settings())
  """

  SPEC_CLASS = LiteRTExportSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel, examples: types.BaseChannel,
               transform_graph: types.BaseChannel,
               eval_predictions: types.BaseChannel,
               settings: Optional[Dict[str, Any]] = None):
    """Builds the component.

    Args:
      model: the Trainer's model (its Keras weights are converted).
      examples: ExampleGen's output: train (the int8 calibration images)
        and eval (the scoring).
      transform_graph: the Transform graph the model was trained and served
        with: it decodes and resizes the images fed to the device models.
      eval_predictions: EvalInference's: the SavedModel's eval predictions,
        which each variant is compared with.
      settings: `PipelineConfig.lite_settings()`; None: the defaults.
    """
    super().__init__(spec=LiteRTExportSpec(
        model=model, examples=examples, transform_graph=transform_graph,
        eval_predictions=eval_predictions,
        custom_config=custom_config.encode(
            settings or config_lib.PipelineConfig().lite_settings()),
        lite_model=types.Channel(type=artifact_types.LiteModel)))


class LiteRTPusherSpec(types.ComponentSpec):
  """The variants, the SavedModel's blessing and push in; the push out."""
  PARAMETERS = {
      pusher.BASE_DIRECTORY_KEY: ExecutionParameter(type=str),
  }
  INPUTS = {
      pusher.LITE_MODEL_KEY:
          ChannelParameter(type=artifact_types.LiteModel),
      pusher.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      pusher.MODEL_BLESSING_KEY:
          ChannelParameter(type=standard_artifacts.ModelBlessing),
      pusher.PUSHED_MODEL_KEY:
          ChannelParameter(type=standard_artifacts.PushedModel),
  }
  OUTPUTS = {
      pusher.PUSHED_LITE_MODEL_KEY:
          ChannelParameter(type=artifact_types.PushedLiteModel),
  }
  TYPE_ANNOTATION = Deploy


class LiteRTPusher(base_component.BaseComponent):
  """Pushes the variants that passed the device gate to
  `<base_directory>/<version>`, the version of the SavedModel the Pusher
  pushed, when the Evaluator blessed it.

  Example (as in pipeline/pipeline.py):

      LiteRTPusher(lite_model=lite_export.outputs["lite_model"],
                   model=trainer.outputs["model"],
                   model_blessing=evaluator.outputs["blessing"],
                   pushed_model=pusher.outputs["pushed_model"],
                   base_directory=pusher.lite_serving_dir(serving_model_dir))
  """

  SPEC_CLASS = LiteRTPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(pusher.Executor)

  def __init__(self, lite_model: types.BaseChannel, model: types.BaseChannel,
               model_blessing: types.BaseChannel,
               pushed_model: types.BaseChannel, base_directory: str):
    """Builds the component.

    Args:
      lite_model: LiteRTExport's output.
      model: the Trainer's model (the blessing must be for it).
      model_blessing: the Evaluator's blessing: nothing is pushed for the
        device when the SavedModel is not blessed.
      pushed_model: the Pusher's output: its version number is the device
        push's, so `serving_lite/<v>` is the device build of `serving/<v>`.
      base_directory: where versions go (`pusher.lite_serving_dir`).
    """
    super().__init__(spec=LiteRTPusherSpec(
        lite_model=lite_model, model=model, model_blessing=model_blessing,
        pushed_model=pushed_model, base_directory=base_directory,
        pushed_lite_model=types.Channel(type=artifact_types.PushedLiteModel)))
