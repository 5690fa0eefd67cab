"""CheckedImportExampleGen: TFX's ImportExampleGen with a file check first.

The same component (inputs, outputs, the input fingerprint that decides
when it re-runs), with an executor that checks every input file before
reading it, and reads a range of spans (pipeline/components/example_gen/
executor.py). Living inside ExampleGen, the check re-runs whenever
ExampleGen does, that is whenever a matched file changes; a component of
its own before ExampleGen would have constant inputs and be served from
TFX's cache after a first good run.

Spans (settings/spans.py): ImportExampleGen's driver resolves one span, the
latest or the RangeConfig's; the driver here finds the latest by the span
rule of settings/spans.py and hands TFX that span, so a folder such as
`span-2-old` is ignored, as the pre-flight ignores it. For a range A-B (its
first span in ExampleGen's `custom_config`) the driver here resolves B as
TFX's does and adds the files of spans A to B-1 to the input fingerprint,
so a change to any span of the range re-runs ExampleGen (span_resolution.py).
On Vertex AI, TFX's own driver container runs instead (tfx/orchestration/
kubeflow/v2/file_based_example_gen/driver.py): it fingerprints span B only
(spans are treated as written once, docs/continuous-training.md), and it
globs `span-*`, so a bucket must hold no other `span-...` folder. On
open-source Kubeflow Pipelines no driver runs, and the executor resolves
the span itself, by the rule here.
"""

from typing import Optional

from tfx.components import ImportExampleGen
from tfx.components.example_gen import component
from tfx.components.example_gen import driver as example_gen_driver
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.proto import range_config_pb2

from settings import spans
from pipeline.components.example_gen import executor
from pipeline.components.example_gen import span_resolution


class SpanRangeDriver(example_gen_driver.FileBasedDriver):
  """TFX's file-based driver; "latest" by the span rule, and with a range,
  every span's files fingerprinted (span_resolution.py, which the executor
  also runs where no driver does)."""

  def resolve_exec_properties(self, exec_properties, pipeline_info,
                              component_info):
    del pipeline_info, component_info
    return span_resolution.resolve_span_properties(exec_properties)


class CheckedImportExampleGen(ImportExampleGen):
  """ImportExampleGen whose executor checks the input files first."""

  DRIVER_CLASS = SpanRangeDriver
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, input_base: str, input_config: example_gen_pb2.Input,
               output_config: Optional[example_gen_pb2.Output] = None,
               range_config: Optional[range_config_pb2.RangeConfig] = None,
               selection: Optional[spans.SpanSelection] = None):
    """ImportExampleGen's arguments; `selection` a range of several spans,
    whose first span goes in ExampleGen's custom_config (ImportExampleGen's
    own constructor has no custom_config, FileBasedExampleGen's has)."""
    component.FileBasedExampleGen.__init__(  # pylint: disable=non-parent-init-called
        self, input_base=input_base, input_config=input_config,
        output_config=output_config, range_config=range_config,
        custom_config=spans.first_span_config(selection),
        output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE)
