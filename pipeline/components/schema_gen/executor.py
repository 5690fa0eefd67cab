"""SchemaGen's executor: reads the curated schema, fits the label domain."""

import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from pipeline.components.util import custom_config
from pipeline.components.schema_gen import class_domain
from settings import config as config_lib
from settings import features

SCHEMA_FILE_KEY = "schema_file"
SCHEMA_KEY = "schema"
# The name TFX's SchemaGen and ImportSchemaGen write; io_utils.SchemaReader
# and every schema consumer find the artifact's only file.
OUTPUT_FILE_NAME = "schema.pbtxt"


class Executor(base_executor.BaseExecutor):
  """Writes the Schema artifact: the schema file with the label domain
  [0, num_classes - 1] (SchemaError when a hand-written domain disagrees)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    del input_dict  # No inputs: the file and the count are properties.
    source = exec_properties[SCHEMA_FILE_KEY]
    num_classes = custom_config.decode(
        exec_properties, config_lib.SchemaSettings).num_classes
    schema = class_domain.schema_for_classes(
        class_domain.load_schema(source), num_classes, source=source)
    output_uri = os.path.join(
        artifact_utils.get_single_uri(output_dict[SCHEMA_KEY]),
        OUTPUT_FILE_NAME)
    io_utils.write_pbtxt_file(output_uri, schema)
    logging.info("Wrote %s: %s with %r in [0, %d].", output_uri, source,
                 features.LABEL_KEY, num_classes - 1)
