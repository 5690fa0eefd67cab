"""The DataValidator component: its spec and how the DAG builds it."""

from typing import Any, Dict

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter

from pipeline.components import custom_config
from pipeline.components.data_validator import executor


class DataValidatorSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of DataValidator."""
  PARAMETERS = {
      # Its ValidatorSettings: the classes, the image size, the validation
      # section (pipeline/components/custom_config.py).
      custom_config.KEY: custom_config.parameter(),
  }
  INPUTS = {
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "statistics": ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
      "schema": ChannelParameter(type=standard_artifacts.Schema),
      # The served model of other data (PreviousModel): its training data
      # profile is the drift baseline (modules/data_profile.py). Absent, or
      # a Model that stands for none: no comparison.
      executor.BASELINE_MODEL_KEY: ChannelParameter(
          type=standard_artifacts.Model, optional=True),
  }
  OUTPUTS = {
      "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
  }


class DataValidator(base_component.BaseComponent):
  """ExampleValidator with class-balance, drift checks and an image scan."""

  SPEC_CLASS = DataValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(
      executor.DataValidatorExecutor)

  def __init__(self, examples, statistics, schema,
               settings: Dict[str, Any], baseline_model=None):
    """`settings`: `PipelineConfig.validator_settings()`."""
    super().__init__(spec=DataValidatorSpec(
        examples=examples, statistics=statistics, schema=schema,
        baseline_model=baseline_model,
        custom_config=custom_config.encode(settings),
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
