"""What ImportExampleGen's driver resolves before the executor runs: the span
(and version), the input fingerprint and the split patterns of that span.

One function for every orchestrator:

* LocalDagRunner runs `SpanRangeDriver` (component.py), which calls
  `resolve_span_properties`.
* Vertex AI runs TFX's own driver container first (the spec's
  `lifecycle.preCacheCheck`) and passes what it returns to the executor.
* Open-source Kubeflow Pipelines does not run that hook (its v2 driver has
  no pre-cache-check step), so the executor gets the exec properties as
  compiled, without `span`: the executor then calls `resolve_span_properties`
  itself (`needs_resolution`) and gives its Examples the custom properties
  the driver would have (`record_on_artifact`).

"latest" is found by the span rule of settings/spans.py (`span-<digits>`),
not TFX's `span-*` glob, on every orchestrator that runs this code; for a
range A-B (its first span in ExampleGen's `custom_config`) the files of
spans A to B-1 join the input fingerprint.
"""

import os
from typing import Any, Dict, Optional

from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import input_processor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.proto import range_config_pb2
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils

from settings import spans


def first_span(exec_properties: Dict[str, Any]) -> Optional[int]:
  """The first span of a range from ExampleGen's custom_config, or None."""
  text = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
  if not text:
    return None
  custom_config = example_gen_pb2.CustomConfig()
  proto_utils.json_to_proto(text, custom_config)
  return spans.first_span_of(custom_config)


def _input_config(exec_properties) -> example_gen_pb2.Input:
  input_config = example_gen_pb2.Input()
  proto_utils.json_to_proto(
      exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
  return input_config


def pin_latest_span(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  """"latest" as a static range of the latest span by the span rule.

  TFX's own lookup globs `span-*` and stops on any folder such as
  `span-2-old` that matches the glob but holds no number; the pre-flight
  reads the latest span by `spans.span_number`, so ExampleGen does too.
  """
  if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
    return exec_properties
  if not any(spans.SPAN_SPEC in split.pattern
             for split in _input_config(exec_properties).splits):
    return exec_properties
  input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  latest = spans.latest_span(input_base, fileio.listdir, fileio.isdir)
  if latest is None:
    return exec_properties  # TFX's own error names the missing span.
  pinned = dict(exec_properties)
  pinned[standard_component_specs.RANGE_CONFIG_KEY] = proto_utils.proto_to_json(
      spans.range_config(spans.SpanSelection(latest, latest)))
  return pinned


def resolve_span_properties(exec_properties: Dict[str, Any]
                            ) -> Dict[str, Any]:
  """The exec properties with `span`, `version`, `input_fingerprint` set and
  `input_config`'s patterns resolved to that span, as TFX's file-based
  driver returns them (its own code, `FileBasedInputProcessor`), "latest"
  by the span rule and a range's every span fingerprinted."""
  resolved = dict(pin_latest_span(exec_properties))
  input_config = _input_config(resolved)
  range_config = None
  if resolved.get(standard_component_specs.RANGE_CONFIG_KEY):
    range_config = range_config_pb2.RangeConfig()
    proto_utils.json_to_proto(
        resolved[standard_component_specs.RANGE_CONFIG_KEY], range_config)
  input_base = resolved[standard_component_specs.INPUT_BASE_KEY]
  processor = input_processor.FileBasedInputProcessor(
      input_base, input_config.splits, range_config)
  span, version = processor.resolve_span_and_version()
  fingerprints = [processor.get_input_fingerprint(span, version)]
  for split in input_config.splits:
    split.pattern = processor.get_pattern_for_span_version(
        split.pattern, span, version)
  first = first_span(resolved)
  if first is not None and first < span:
    for split in input_config.splits:
      # The last span's files are in TFX's fingerprint already.
      for pattern in spans.patterns_of_range(split.pattern, first, span)[:-1]:
        fingerprints.append(io_utils.generate_fingerprint(
            split.name, os.path.join(input_base, pattern)))
  resolved[standard_component_specs.INPUT_CONFIG_KEY] = (
      proto_utils.proto_to_json(input_config))
  resolved[example_gen_utils.SPAN_PROPERTY_NAME] = span
  resolved[example_gen_utils.VERSION_PROPERTY_NAME] = version
  resolved[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = "\n".join(
      fingerprints)
  return resolved


def needs_resolution(exec_properties: Dict[str, Any]) -> bool:
  """Whether no driver ran before the executor (no `span` given)."""
  return example_gen_utils.SPAN_PROPERTY_NAME not in exec_properties


def record_on_artifact(exec_properties: Dict[str, Any], examples) -> None:
  """The span, version and fingerprint on the Examples, as the driver sets
  them (TFX's `update_output_artifact`)."""
  example_gen_driver.update_output_artifact(exec_properties,
                                            examples.mlmd_artifact)
