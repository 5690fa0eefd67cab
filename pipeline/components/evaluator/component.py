"""The Evaluator of the DAG: TFX's, with the executor of executor.py."""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from pipeline.components.evaluator import executor


class Evaluator(tfx.components.Evaluator):
  """TFX's Evaluator that never compares a model with itself."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
