"""CheckedImportExampleGen: TFX's ImportExampleGen with a file check first.

The same component (inputs, outputs, driver, the input fingerprint that
decides when it re-runs), with an executor that checks every input file
before reading it (pipeline/components/example_gen/executor.py). Living inside
ExampleGen, the check re-runs whenever ExampleGen does, that is whenever a
matched file changes; a component of its own before ExampleGen would have
constant inputs and be served from TFX's cache after a first good run.
"""

from tfx.components import ImportExampleGen
from tfx.dsl.components.base import executor_spec

from pipeline.components.example_gen import executor


class CheckedImportExampleGen(ImportExampleGen):
  """ImportExampleGen whose executor checks the input files first."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
