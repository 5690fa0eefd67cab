"""The ImageValidator component: its spec and how the DAG builds it."""

from typing import Any, Dict

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter

from pipeline.components.util import custom_config
from pipeline.components.image_validator import executor


class ImageValidatorSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of ImageValidator."""
  PARAMETERS = {
      # Its ImageValidatorSettings: the classes, the image size, the validation
      # section (pipeline/components/util/custom_config.py).
      custom_config.KEY: custom_config.parameter(),
  }
  INPUTS = {
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "statistics": ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
      # TFX ExampleValidator's anomalies (schema, class balance): what of
      # them stops the run is decided here, with this component's own.
      executor.EXAMPLE_ANOMALIES_KEY: ChannelParameter(
          type=standard_artifacts.ExampleAnomalies),
      # The served model of other data (PreviousModel): its training data
      # profile is the drift baseline (modules/data_profile.py). Absent, or
      # a Model that stands for none: no comparison.
      executor.BASELINE_MODEL_KEY: ChannelParameter(
          type=standard_artifacts.Model, optional=True),
  }
  OUTPUTS = {
      "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
  }


class ImageValidator(base_component.BaseComponent):
  """What TFDV's statistics cannot check: every image decoded, ids and
  leakage across splits, drift against the served model's data, a
  one-class eval split; and the run's stop on ExampleValidator's errors."""

  SPEC_CLASS = ImageValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(
      executor.ImageValidatorExecutor)

  def __init__(self, examples, statistics, example_anomalies,
               settings: Dict[str, Any], baseline_model=None):
    """`settings`: `PipelineConfig.image_validator_settings()`."""
    super().__init__(spec=ImageValidatorSpec(
        examples=examples, statistics=statistics,
        example_anomalies=example_anomalies,
        baseline_model=baseline_model,
        custom_config=custom_config.encode(settings),
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
