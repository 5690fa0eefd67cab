"""ExampleGen where no driver runs (open-source Kubeflow Pipelines runs no
`lifecycle.preCacheCheck` hook): the executor resolves the span itself, by
the same rule and with the same fingerprint as the local driver
(pipeline/components/example_gen/span_resolution.py)."""

import os

from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from pipeline import data_plan
from settings import spans
from pipeline.components.example_gen import executor as example_gen_executor
from pipeline.components.example_gen import span_resolution
from tools import make_sample_data

SIZE = 32


def _write_span(root, span):
  return make_sample_data.make_sample_data(
      str(root), image_size=SIZE, num_classes=4, head_classes=1,
      head_count=6, tail_count=2, val_fraction=0.5, test_count=2,
      seed=50 + span, span=span)


def _compiled(data_root, setting):
  """ImportExampleGen's exec properties as the spec carries them (before
  any driver)."""
  selection = spans.parse_setting(setting)
  properties = {
      standard_component_specs.INPUT_BASE_KEY: str(data_root),
      standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
          data_plan.input_config(True, SIZE, selection)),
      standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
          example_gen_pb2.Output()),
      standard_component_specs.OUTPUT_DATA_FORMAT_KEY:
          example_gen_pb2.FORMAT_TF_EXAMPLE,
      standard_component_specs.OUTPUT_FILE_FORMAT_KEY:
          example_gen_pb2.FORMAT_TFRECORDS_GZIP,
  }
  range_config = spans.range_config(selection)
  if range_config is not None:
    properties[standard_component_specs.RANGE_CONFIG_KEY] = (
        proto_utils.proto_to_json(range_config))
  first = spans.first_span_config(selection)
  if first is not None:
    properties[standard_component_specs.CUSTOM_CONFIG_KEY] = (
        proto_utils.proto_to_json(first))
  return properties


def test_latest_by_the_span_rule_and_a_range_fingerprinted(tmp_path):
  for span in (1, 2):
    _write_span(tmp_path, span)
  # TFX's own `span-*` glob would stop on this folder.
  os.makedirs(tmp_path / "span-2-old")
  latest = _compiled(tmp_path, "latest")
  assert span_resolution.needs_resolution(latest)
  resolved = span_resolution.resolve_span_properties(latest)
  assert not span_resolution.needs_resolution(resolved)
  assert resolved[example_gen_utils.SPAN_PROPERTY_NAME] == 2
  assert "span-2/" in resolved[standard_component_specs.INPUT_CONFIG_KEY]
  fingerprint = resolved[example_gen_utils.FINGERPRINT_PROPERTY_NAME]
  assert [line.split(",")[0] for line in fingerprint.splitlines()] == [
      "split:train", "split:eval"]
  ranged = span_resolution.resolve_span_properties(
      _compiled(tmp_path, "1-2"))
  assert ranged[example_gen_utils.SPAN_PROPERTY_NAME] == 2
  # Span 2's files, then span 1's: a change to either re-runs ExampleGen.
  ranged_lines = ranged[example_gen_utils.FINGERPRINT_PROPERTY_NAME].split(
      "\n")
  assert ranged_lines[:2] == fingerprint.splitlines()
  assert len(ranged_lines) == 4


def test_executor_without_a_driver_reads_the_latest_span(tmp_path):
  data_root = tmp_path / "data"
  _write_span(data_root, 1)
  counts = _write_span(data_root, 2)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  example_gen_executor.Executor().Do(
      {}, {standard_component_specs.EXAMPLES_KEY: [examples]},
      _compiled(data_root, "latest"))
  # What TFX's driver would have set on the artifact.
  assert examples.get_int_custom_property("span") == 2
  assert examples.get_string_custom_property(
      "input_fingerprint").startswith("split:train")
  assert examples.get_string_custom_property(spans.SPANS_PROPERTY) == "2"
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  files = tf.io.gfile.glob(os.path.join(examples.uri, "Split-train", "*"))
  records = sum(1 for _ in tf.data.TFRecordDataset(
      files, compression_type=features.record_compression(files)))
  assert records == counts["train"]
