"""The DAG's baseline nodes: the Evaluator's, the drift check's and the warm
start's latest blessed model, found as each orchestrator can find it.

* LocalDagRunner (`stable`): a TFX resolver with the strategies of
  pipeline/baseline.py, which leave out the candidate (or the models
  trained on this run's Examples) by their lineage in ML Metadata.
* Vertex AI Pipelines: a TFX resolver with `LatestBlessedModelStrategy`,
  the only kind KubeflowV2DagRunner compiles (to `resolver` executors that
  Vertex's driver runs).
* Open-source Kubeflow Pipelines (`from_push_records`): its v2 Argo
  compiler rejects `resolver` executors ("resolver not implemented yet"),
  so a container task, PushRecordBaseline (pipeline/components/baseline/),
  reads the push records in the serving folder instead, leaving out the
  same models as the local strategies.

Each node outputs `model`, which the DAG wires the same way; the node ids
stay those of the resolvers (`latest_blessed_model_resolver`, ...), so the
DAG's edges are one set for every runner. Whatever the node, the
Evaluator and the drift check leave out a baseline that is the candidate
or that stands for no model (pipeline/components/baseline/usable.py).
"""

import dataclasses
from typing import Any, Dict, Optional, Sequence

from tfx import v1 as tfx

from settings import features
from pipeline.components.baseline import component as baseline_component


@dataclasses.dataclass(frozen=True)
class BaselineNodes:
  """How this DAG's baselines are found (see the module docstring)."""
  stable: bool = False
  from_push_records: bool = False
  serving_dir: Optional[str] = None
  class_names: Sequence[str] = ()

  def node(self, node_id: str, stable_strategy, passed: Dict[str, Any],
           purpose: str):
    """A node whose `model` output is the baseline.

    Args:
      node_id: the node's id.
      stable_strategy: the local strategy (pipeline/baseline.py).
      passed: `{"candidate": model channel}` or `{"examples": examples
        channel}`: what decides which models are left out.
      purpose: the baseline's use, in words, for the push-record task's log.
    """
    if self.from_push_records:
      return baseline_component.PushRecordBaseline(
          serving_dir=self.serving_dir,
          label_space=features.label_space_fingerprint(self.class_names),
          purpose=purpose, **passed).with_id(node_id)
    inputs = dict(
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.ModelBlessing))
    if self.stable:
      inputs.update(passed)
    return tfx.dsl.Resolver(
        strategy_class=(stable_strategy if self.stable else
                        tfx.dsl.experimental.LatestBlessedModelStrategy),
        **inputs).with_id(node_id)
