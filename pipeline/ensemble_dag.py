"""The ensemble's part of the DAG: one Trainer per member, then Ensemble.

With `ensemble.members` set (`--ensemble`), `create_pipeline` calls
`ensemble_nodes` in place of its one Trainer:

    Transform[-<input size>] --> Trainer-<member> (one per member) --> Ensemble

- Members share ExampleGen, the statistics and the validation, and the
  members of one input size share a Transform: `Transform` for the
  config's input size (the single model's node), `Transform-<size>` for
  another. No Transform is built that no member reads.
- Node ids are KFP task names, which Kubeflow Pipelines' Argo backend reads
  as letters, digits and `-` only (docs/kubeflow.md): hence `-`, not `_`
  (`Member.trainer_id`, settings/ensemble.py).
- Each member Trainer gets only its own settings (the config with the
  member's backbone, input size and epochs, and the fit slice it leaves
  out), so adding a member re-trains only that member: the others' ids and
  custom_config are unchanged and TFX's cache reuses them.
- No member waits on another: on Kubeflow they are parallel tasks.
"""

import dataclasses
from typing import Any, Callable, Dict, List

from settings import config as config_lib
from settings import ensemble as ensemble_settings
from pipeline.components.ensemble import component as ensemble_lib


@dataclasses.dataclass
class EnsembleNodes:
  """What the DAG gets back: the nodes to add, and the ensemble's outputs
  that stand for a Trainer's."""
  nodes: List[Any]
  model: Any
  model_run: Any


def ensemble_nodes(config: config_lib.PipelineConfig, examples,
                   make_transform: Callable[[Dict[str, Any]], Any],
                   make_trainer: Callable[[Dict[str, Any], Any], Any]
                   ) -> EnsembleNodes:
  """The members' Transforms and Trainers and the Ensemble node.

  Args:
    config: the pipeline's settings (`ensemble.members` set).
    examples: ImportExampleGen's examples.
    make_transform: Transform custom_config -> a Transform node (no id).
    make_trainer: (Trainer custom_config, transform node) -> a Trainer node
      (no id).
  """
  transforms = {}
  nodes, models, runs = [], [], []
  for member in ensemble_settings.parse_members(config.ensemble.members):
    member_config = ensemble_settings.member_config(config, member)
    size = member_config.input_size
    if size not in transforms:
      # The config's own input size keeps the single model's node id, so
      # its cached Transform serves the ensemble too.
      transforms[size] = make_transform(
          member_config.transform_settings()).with_id(
              "Transform" if size == config.input_size
              else f"Transform-{size}")
      nodes.append(transforms[size])
    trainer = make_trainer(
        member_config.trainer_settings(
            fit_slice_percent=config.ensemble.fit_percent),
        transforms[size]).with_id(member.trainer_id)
    nodes.append(trainer)
    models.append(trainer.outputs["model"])
    runs.append(trainer.outputs["model_run"])
  ensemble = ensemble_lib.Ensemble(
      examples=examples, models=models,
      settings=config.ensemble_settings()).with_id(ensemble_lib.COMPONENT_ID)
  nodes.append(ensemble)
  # The Pusher's and the Report's training record: the first member's (every
  # member trained on the same Examples; the ensemble's own record is its
  # ledger, in the model).
  return EnsembleNodes(nodes=nodes, model=ensemble.outputs["model"],
                       model_run=runs[0])
