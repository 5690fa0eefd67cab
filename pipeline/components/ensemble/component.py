"""Ensemble: the members' Models in, one ensemble Model out (docs/ensembles.md).

In the DAG (pipeline/ensemble_dag.py), with `ensemble.members` set:

    Trainer-<member> (one per member, in parallel) --> Ensemble
    ImportExampleGen (the train split's fit slice)  --> Ensemble
    Ensemble --> Evaluator, EvalInference, BatchPrediction, Pusher

Its output is a standard `Model` (a SavedModel in `Format-Serving`), so the
Evaluator gates it and the Pusher pushes it as it would a Trainer's.
Members are separate optional inputs `member_1`..`member_<MAX_MEMBERS>`,
not one union channel, so that the executor knows which artifact is which
member on every orchestrator (KubeflowV2DagRunner compiles each as an
input of its own).
"""

from typing import Any, Dict, Sequence

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter

from pipeline.components.util import custom_config
from pipeline.components.ensemble import executor
from settings import ensemble as ensemble_settings

COMPONENT_ID = "Ensemble"


class EnsembleSpec(types.ComponentSpec):
  """Examples and the members' models in; the ensemble's model out."""
  PARAMETERS = {
      # Its EnsembleSettings (pipeline/components/util/custom_config.py).
      custom_config.KEY: custom_config.parameter(),
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
               models: Sequence[types.BaseChannel],
               settings: Dict[str, Any]):
    """Builds the component.

    Args:
      examples: ExampleGen's output; its train split holds the fit slice.
      models: each member Trainer's model, in the order of the settings'
        members.
      settings: `PipelineConfig.ensemble_settings()`: the members, the fit
        slice's share of the id buckets (modules/fit_slice.py) that every
        member left out, the batch size.
    """
    members = ensemble_settings.EnsembleSettings.from_custom_config(
        settings).members
    if len(members) != len(models):
      raise ValueError(f"{len(members)} members, {len(models)} models")
    super().__init__(spec=EnsembleSpec(
        examples=examples, custom_config=custom_config.encode(settings),
        model=types.Channel(type=standard_artifacts.Model),
        **{executor.member_key(i): model for i, model in enumerate(models)}))
