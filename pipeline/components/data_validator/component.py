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
      # validation.drift_check and the rest: ints for booleans, as
      # scan_images (an execution property is a string, int or float).
      "drift_check": ExecutionParameter(type=int),
      "label_drift_comparator": ExecutionParameter(type=str),
      "label_drift_threshold": ExecutionParameter(type=float),
      "image_drift_threshold": ExecutionParameter(type=float),
      "stop_on_drift": ExecutionParameter(type=int),
      "allow_one_class_eval": ExecutionParameter(type=int),
  }
  INPUTS = {
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "statistics": ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
      "schema": ChannelParameter(type=standard_artifacts.Schema),
      # The latest blessed model: its training data profile is the drift
      # baseline (modules/data_profile.py). Absent or empty: no comparison.
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
               class_names: Sequence[str], image_size: int,
               max_imbalance_ratio: float, min_class_examples: int,
               scan_images: bool = True, *, drift_check: bool,
               label_drift_comparator: str, label_drift_threshold: float,
               image_drift_threshold: float, stop_on_drift: bool,
               allow_one_class_eval: bool, baseline_model=None):
    super().__init__(spec=DataValidatorSpec(
        examples=examples, statistics=statistics, schema=schema,
        baseline_model=baseline_model,
        class_names=json.dumps(list(class_names)), image_size=image_size,
        max_imbalance_ratio=max_imbalance_ratio,
        min_class_examples=min_class_examples, scan_images=int(scan_images),
        drift_check=int(drift_check),
        label_drift_comparator=label_drift_comparator,
        label_drift_threshold=label_drift_threshold,
        image_drift_threshold=image_drift_threshold,
        stop_on_drift=int(stop_on_drift),
        allow_one_class_eval=int(allow_one_class_eval),
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
