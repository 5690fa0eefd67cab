"""Executor of CheckedImportExampleGen: the file check, then ImportExampleGen.

Runs `data_check.check_input_base` on the folders the input_config
names, so a missing split folder, a split without `.tfrec` files or with 0
records, and a truncated or non-TFRecord `.tfrec` stop the run with the
same message as local_runner.py's pre-flight, naming the folder or file.
Without it a truncated file fails deep inside Beam, with a DataLossError.
Then TFX's own ImportExampleGen executor reads the data.

The check's report (records per split and file, skipped and empty files,
and the test folder's ids and image hashes) is written as
`data_check.json` into the Examples artifact's folder, beside the
`Split-*` folders, where DataValidator (pipeline/components/data_validator/)
reads it.
"""

from absl import logging
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from pipeline.components.example_gen import data_check


class Executor(import_executor.Executor):
  """ImportExampleGen's executor, after a check of every input file."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
        input_config)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    # Raises DataCheckError, naming the folder or file, before Beam starts.
    report = data_check.check_input_base(
        input_base, {split.name: split.pattern for split in
                     input_config.splits})
    # Info only: DataValidator repeats the warnings, and so does the summary.
    for line in report.lines():
      logging.info("Data files: %s", line)
    super().Do(input_dict, output_dict, exec_properties)
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    data_check.write_report(report, examples.uri)
