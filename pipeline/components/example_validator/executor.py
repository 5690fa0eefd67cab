"""TFX's own ExampleValidator executor, with the two guards the class
balance rules need in TFX 1.16; the DAG's ExampleValidator node runs it.

The node is TFX's component (`tfx.components.example_validator.component.
ExampleValidator`: its spec, inputs, output artifact and execution type);
only its executor class is this subclass, which calls TFX's `Do`:

* An empty split. StatisticsGen writes a dataset with no features for a
  split of 0 examples, and TFDV's custom validation then fails with
  "Dataset  specified in validation config not found in statistics",
  naming neither the split nor the cause. ImportExampleGen refuses an
  empty folder, but a hash holdout of a few records can leave the eval
  split empty: this stops the run first, naming the split
  (DataValidationError, as the ImageValidator's empty-split check did).
* Kubeflow V2. TFX passes `custom_validation_config` to its executor as a
  proto placeholder (`ph.make_proto`), which TFX 1.16's Kubeflow V2
  compiler refuses ("Invalid placeholder for exec prop
  custom_validation_config", tfx/orchestration/kubeflow/v2/
  pipeline_builder.py), and a V2 task hands every execution property to
  the executor as text. `for_kubeflow_v2` gives the compiler the config as
  JSON text, and `Do` parses it back.
"""

from typing import Any, Dict

from google.protobuf import json_format
from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2
from tfx.components.example_validator import executor as tfx_executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils
from tfx.types import standard_component_specs

from pipeline.components.util import class_balance
from pipeline.components.util.validation_error import DataValidationError

CONFIG_KEY = standard_component_specs.CUSTOM_VALIDATION_CONFIG_KEY


class Executor(tfx_executor.Executor):
  """TFX's ExampleValidator executor after the guards the module names."""

  def Do(self, input_dict, output_dict, exec_properties):
    value = exec_properties.get(CONFIG_KEY)
    if isinstance(value, str) and value:
      exec_properties = {**exec_properties, CONFIG_KEY: json_format.Parse(
          value, custom_validation_config_pb2.CustomValidationConfig())}
    stats = artifact_utils.get_single_instance(
        input_dict[standard_component_specs.STATISTICS_KEY])
    for split in artifact_utils.decode_split_names(stats.split_names):
      datasets = stats_artifact_utils.load_statistics(
          stats, split).proto().datasets
      if not datasets or not datasets[0].num_examples:
        raise DataValidationError(
            f"data validation failed, the pipeline stops before Transform:"
            f"\n  split {split!r} is empty (0 examples; statistics in "
            f"{artifact_utils.get_split_uri([stats], split)})")
    return super().Do(input_dict, output_dict, exec_properties)


def use_in(node) -> None:
  """Makes TFX's ExampleValidator `node` run this executor."""
  node.executor_spec = executor_spec.ExecutorClassSpec(Executor)


def for_kubeflow_v2(node, settings: Dict[str, Any]) -> None:
  """Makes the ExampleValidator `node` compile for Kubeflow V2: its config
  as JSON text (from `PipelineConfig.example_validator_settings()`), which
  `Executor.Do` parses back."""
  node.exec_properties[CONFIG_KEY] = json_format.MessageToJson(
      class_balance.custom_validation_config(settings), sort_keys=True)
