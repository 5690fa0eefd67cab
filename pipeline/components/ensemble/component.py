"""Ensemble: the members' Models in, one ensemble Model out (docs/ensembles.md).

In the DAG (pipeline/ensemble_dag.py), with `ensemble.members` set:

    Trainer_<member> (one per member, in parallel) --> Ensemble
    ImportExampleGen (the train split's fit slice)  --> Ensemble
    Ensemble --> Evaluator, EvalInference, BatchPrediction, Pusher

Its output is a standard `Model` (a SavedModel in `Format-Serving`), so the
Evaluator gates it and the Pusher pushes it as it would a Trainer's.
Members are separate optional inputs `member_1`..`member_<MAX_MEMBERS>`,
not one union channel, so that the executor knows which artifact is which
member on every orchestrator (KubeflowV2DagRunner compiles each as an
input of its own).
"""

import json
from typing import Any, Dict, Sequence

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from settings import ensemble as ensemble_settings
from pipeline.components.ensemble import executor

COMPONENT_ID = "Ensemble"


class EnsembleSpec(types.ComponentSpec):
  """Examples and the members' models in; the ensemble's model out."""
  PARAMETERS = {
      executor.MEMBERS_KEY: ExecutionParameter(type=str),
      executor.FIT_PERCENT_KEY: ExecutionParameter(type=int),
      executor.BATCH_SIZE_KEY: ExecutionParameter(type=int, optional=True),
  }
  INPUTS = {
      executor.EXAMPLES_KEY: ChannelParameter(
          type=standard_artifacts.Examples),
      **{executor.member_key(i): ChannelParameter(
          type=standard_artifacts.Model, optional=i >= 2)
         for i in range(ensemble_settings.MAX_MEMBERS)},
  }
  OUTPUTS = {
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
  }


class Ensemble(base_component.BaseComponent):
  """Fits the members' weights on the fit slice; writes one served model."""

  SPEC_CLASS = EnsembleSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel,
               members: Sequence[Dict[str, Any]],
               models: Sequence[types.BaseChannel], fit_percent: int,
               batch_size: int = 64):
    """Builds the component.

    Args:
      examples: ExampleGen's output; its train split holds the fit slice.
      members: per member, `{"name", "backbone"}` (the ledger's entries),
        in the order of `models`.
      models: each member Trainer's model.
      fit_percent: the fit slice's share of the id buckets
        (modules/fit_slice.py), as every member left it out.
      batch_size: records per model call.
    """
    if len(members) != len(models):
      raise ValueError(f"{len(members)} members, {len(models)} models")
    super().__init__(spec=EnsembleSpec(
        examples=examples, members=json.dumps(list(members)),
        fit_percent=fit_percent, batch_size=batch_size,
        model=types.Channel(type=standard_artifacts.Model),
        **{executor.member_key(i): model for i, model in enumerate(models)}))
