"""The DataValidator component: its spec and how the DAG builds it."""

import json
from typing import Sequence

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from pipeline.components.data_validator import executor


class DataValidatorSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of DataValidator."""
  PARAMETERS = {
      "class_names": ExecutionParameter(type=str),  # JSON list.
      "image_size": ExecutionParameter(type=int),
      "max_imbalance_ratio": ExecutionParameter(type=float),
      "min_class_examples": ExecutionParameter(type=int),
      "scan_images": ExecutionParameter(type=int),
  }
  INPUTS = {
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "statistics": ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
      "schema": ChannelParameter(type=standard_artifacts.Schema),
  }
  OUTPUTS = {
      "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
  }


class DataValidator(base_component.BaseComponent):
  """ExampleValidator with class-balance checks and an image scan."""

  SPEC_CLASS = DataValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(
      executor.DataValidatorExecutor)

  def __init__(self, examples, statistics, schema,
               class_names: Sequence[str], image_size: int,
               max_imbalance_ratio: float, min_class_examples: int,
               scan_images: bool = True):
    super().__init__(spec=DataValidatorSpec(
        examples=examples, statistics=statistics, schema=schema,
        class_names=json.dumps(list(class_names)), image_size=image_size,
        max_imbalance_ratio=max_imbalance_ratio,
        min_class_examples=min_class_examples, scan_images=int(scan_images),
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
