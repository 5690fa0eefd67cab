"""Executor of CheckedImportExampleGen: the file check, then the import.

Runs `input_files.check_input_base` on the folders the input_config
names, so a missing split folder, a split without `.tfrec` files or with 0
records, a truncated or non-TFRecord `.tfrec`, and (splits cut by a hash of
`id`) a record without an `id` stop the run with the same message as
local_runner.py's pre-flight, naming the folder or file.
Without it a truncated file fails deep inside Beam, with a DataLossError.
The check reads and parses every record; where each output split is one
input split as it is (the Kaggle layout, the test split) the import then
copies the checked files, and where one input split is cut by hash of `id`
(no `val` folder) it routes the records in input order with TFX's own
partition function (copy_import.py says why both: speed, and the same
files from the same data); any other config goes through TFX's own
ImportExampleGen executor and Beam. For a range of spans A-B (settings/spans.py) each
split reads the same folder of every span, A to B, as one split.

The check's report (records per split and file, skipped and empty files,
the spans read, and the test folder's ids and image hashes) is written as
`data_check.json` into the Examples artifact's folder, beside the
`Split-*` folders, where ImageValidator (pipeline/components/image_validator/)
reads it. The spans read are also the Examples artifact's custom property
`spans` ("2", "1-2"; absent in the plain layout), which the run summary,
the push record and the report name.
"""

from typing import Any, Dict, Optional

from absl import logging
import apache_beam as beam
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from settings import records
from settings import spans
from pipeline.components.example_gen import copy_import
from pipeline.components.example_gen import input_files
from pipeline.components.example_gen import span_resolution


def _span_range(exec_properties: Dict[str, Any], input_config
                ) -> "tuple[Optional[int], Optional[int]]":
  """(first, last) span read; (None, None) in the plain layout."""
  if not any(spans.SPAN_DIR_PREFIX in split.pattern
             for split in input_config.splits):
    return None, None
  last = int(exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
  first = span_resolution.first_span(exec_properties)
  return (first if first is not None and first < last else last), last


class Executor(import_executor.Executor):
  """ImportExampleGen's executor, after a check of every input file."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    """TFX's record import, once per span of a range, flattened."""
    read_one = super().GetInputSourceToExamplePTransform()

    @beam.ptransform_fn
    def ReadSpans(pipeline, exec_properties, split_pattern):  # pylint: disable=invalid-name
      patterns = spans.patterns_of_range(
          split_pattern, span_resolution.first_span(exec_properties),
          int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME, 0)))
      if len(patterns) == 1:
        return pipeline | "Read" >> read_one(exec_properties, split_pattern)
      return ([pipeline | f"Read[{pattern.split('/')[0]}]" >>
               read_one(exec_properties, pattern) for pattern in patterns]
              | "FlattenSpans" >> beam.Flatten())

    return ReadSpans

  def _import_in_process(self, input_config, output_config, input_base, split_patterns,
            report, examples, exec_properties) -> None:
    """The in-process import (copy_import.py): a copy or a hash split, with
    the artifact properties TFX's BaseExampleGenExecutor.Do would set."""
    split_names = example_gen_utils.generate_output_split_names(
        input_config, output_config)
    examples.split_names = artifact_utils.encode_split_names(split_names)
    files = copy_import.split_files(input_base, split_patterns,
                                    list(report.file_records))
    split_uri = {name: artifact_utils.get_split_uri([examples], name)
                 for name in split_names}
    if copy_import.copyable(input_config, output_config):
      copy_import.copy_splits(input_config, output_config, files, split_uri,
                              report.file_records)
      labels = copy_import.copied_labels(input_config, output_config, files,
                                         report.file_labels)
    else:
      [single] = input_config.splits
      labels = {}
      copy_import.split_by_hash(output_config, files[single.name], split_uri,
                                report.file_records, labels)
    # What Transform's analysis would otherwise count in a Beam pass.
    records.SplitClassCounts(
        splits={split: {str(label): counts[label]
                        for label in sorted(l for l in counts if l is not None)}
                for split, counts in labels.items()},
        unlabelled={split: counts.get(None, 0)
                    for split, counts in labels.items()}
    ).write(examples.uri)
    payload_format = exec_properties.get(
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    if payload_format:
      examples_utils.set_payload_format(examples, payload_format)
    file_format = exec_properties.get(
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    if file_format:
      examples_utils.set_file_format(
          examples, write_split.to_file_format_str(file_format))

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    resolved_here = span_resolution.needs_resolution(exec_properties)
    if resolved_here:
      # No driver ran (open-source Kubeflow Pipelines skips the spec's
      # preCacheCheck hook): resolve what it would have.
      exec_properties = span_resolution.resolve_span_properties(
          exec_properties)
      logging.info("Data files: span %s resolved by the executor (no "
                   "driver ran)",
                   exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
        input_config)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    first, last = _span_range(exec_properties, input_config)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
        output_config)
    # Raises DataCheckError, naming the folder or file, before Beam starts;
    # with splits cut by a hash of a feature, a record without it too.
    split_patterns = {
        split.name: spans.patterns_of_range(split.pattern, first, last)
        for split in input_config.splits}
    report = input_files.check_input_base(
        input_base, split_patterns,
        partition_feature=(
            output_config.split_config.partition_feature_name or None))
    if last is not None:
      logging.info("Data files: reading %s",
                   spans.describe_spans(first, last))
    # Info only: ImageValidator repeats the warnings, and so does the summary.
    for line in report.lines():
      logging.info("Data files: %s", line)
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    if (copy_import.copyable(input_config, output_config) or
        copy_import.hash_splittable(input_config, output_config)):
      self._import_in_process(input_config, output_config, input_base, split_patterns,
                 report, examples, exec_properties)
    else:
      super().Do(input_dict, output_dict, exec_properties)
    if resolved_here:
      span_resolution.record_on_artifact(exec_properties, examples)
    if last is not None:
      report.spans = list(range(first, last + 1))
      examples.set_string_custom_property(
          spans.SPANS_PROPERTY, str(last) if first == last else f"{first}-{last}")
    input_files.write_report(report, examples.uri)
