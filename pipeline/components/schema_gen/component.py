"""SchemaGen: ImportSchemaGen whose label domain follows the class list.

TFX's ImportSchemaGen copies a schema file as it is, so the number of
classes would have to be written into the file by hand for every data set.
This component takes the class count in its settings (`SchemaSettings`,
pipeline/components/util/custom_config.py) and writes
the same standard Schema artifact, with `class`'s int_domain [0,
num_classes - 1] (class_domain.py has the rule). The file is read when
the component runs, inside its container on Kubeflow, through
tf.io.gfile.
"""

from typing import Any, Dict

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from pipeline.components.util import custom_config
from pipeline.components.schema_gen import executor


class SchemaGenSpec(types.ComponentSpec):
  """The schema file and the class count in; a Schema artifact out."""
  PARAMETERS = {
      executor.SCHEMA_FILE_KEY: ExecutionParameter(type=str),
      custom_config.KEY: custom_config.parameter(),
  }
  INPUTS = {}
  OUTPUTS = {
      executor.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
  }


class SchemaGen(base_component.BaseComponent):
  """The curated schema, fitted to `num_classes` classes."""

  SPEC_CLASS = SchemaGenSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, schema_file: str, settings: Dict[str, Any]):
    """Args:
      schema_file: text-format Schema; a path the executor can read (in the
        container image on Kubeflow) or a gs:// URI.
      settings: `PipelineConfig.schema_settings()` (the class count; labels
        are 0..num_classes-1).
    """
    super().__init__(spec=SchemaGenSpec(
        schema_file=schema_file, custom_config=custom_config.encode(settings),
        schema=types.Channel(type=standard_artifacts.Schema)))
