"""The resolver strategies of the DAG's baselines (LocalDagRunner).

Each returns the latest blessed model, leaving out the models an unchanged
re-run would otherwise pick up, so that the re-run finds the same inputs as
the first run and caches the nodes downstream.

`LatestBlessedOtherModelStrategy`, the Evaluator's baseline: TFX's
`LatestBlessedModelStrategy` returns the latest blessed model, which after a
run is that run's own model. An unchanged re-run reuses (caches) the
Trainer's model, so its baseline became the candidate itself where the
first run had none: new inputs, so the Evaluator evaluated the model
against itself and the Pusher ran again, a quarter of a first run's time
(docs/benchmarks.md, section "cache"). Leaving the candidate out keeps the
baseline what it was when that model was first evaluated, so the re-run
finds the same inputs and caches both; a new model is still compared with
the latest blessed one, which cannot be itself.

`LatestBlessedModelOfOtherDataStrategy`, the DataValidator's drift
baseline: the latest blessed model NOT trained on this run's Examples. An
unchanged re-run reuses (caches) the Examples; with TFX's strategy, the
validator's baseline would change after the first blessing (none -> run
1's model, trained on these very Examples), so the validator, and the
Pusher and the Report that read its output, would run again. Comparing
data with itself says nothing anyway. New data (a new span) gets new
Examples, so its baseline is the latest blessed model, as on Kubeflow.

TFX's KubeflowV2DagRunner compiles only TFX's own strategies, so the
Vertex AI spec keeps `LatestBlessedModelStrategy`, and the open-source
Kubeflow Pipelines spec, which runs no resolver, finds the same models as
these strategies from the push records (pipeline/baseline_nodes.py says
which node each runner gets).
"""

from typing import Dict, List, Optional, Set

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy

import ml_metadata as mlmd

MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"
EXAMPLES_KEY = "examples"


class _LatestBlessedModelExceptStrategy(
    latest_blessed_model_strategy.LatestBlessedModelStrategy):
  """The latest blessed Model and its blessing, some models left out.

  Inputs: `model` (every Model), `model_blessing` (every ModelBlessing) and
  PASSED_KEY (what decides which models are left out). Outputs the same
  keys: `model` and `model_blessing` hold the baseline or nothing,
  PASSED_KEY is passed through.
  """
  PASSED_KEY = ""

  def _left_out(self, store: mlmd.MetadataStore,
                models: List[types.Artifact],
                passed: List[types.Artifact]) -> Set[int]:
    """Ids of the models that must not be the baseline."""
    raise NotImplementedError

  def resolve_artifacts(
      self, store: mlmd.MetadataStore,
      input_dict: Dict[str, List[types.Artifact]]
  ) -> Optional[Dict[str, List[types.Artifact]]]:
    passed = list(input_dict.get(self.PASSED_KEY, []))
    models = list(input_dict.get(MODEL_KEY, []))
    left_out = self._left_out(store, models, passed) if models else set()
    models = [model for model in models if model.id not in left_out]
    blessings = list(input_dict.get(MODEL_BLESSING_KEY, []))
    result = {MODEL_KEY: [], MODEL_BLESSING_KEY: []}
    if models and blessings:
      result = self._resolve({MODEL_KEY: models, MODEL_BLESSING_KEY: blessings},
                             MODEL_KEY, MODEL_BLESSING_KEY)
    result[self.PASSED_KEY] = passed
    return result


class LatestBlessedOtherModelStrategy(_LatestBlessedModelExceptStrategy):
  """The latest blessed Model other than `candidate` (this run's model)."""
  PASSED_KEY = CANDIDATE_KEY

  def _left_out(self, store, models, passed):
    return {artifact.id for artifact in passed}


class LatestBlessedModelOfOtherDataStrategy(
    _LatestBlessedModelExceptStrategy):
  """The latest blessed Model not trained on `examples` (this run's).

  Follows the lineage in ML Metadata: a model's producing executions (the
  Trainer's, and a cached re-run's, which records the same output) and
  their input artifacts.
  """
  PASSED_KEY = EXAMPLES_KEY

  def _left_out(self, store, models, passed):
    examples_ids = {artifact.id for artifact in passed}
    if not examples_ids:
      return set()
    output_events = store.get_events_by_artifact_ids(
        [model.id for model in models])
    producers: Dict[int, Set[int]] = {}
    for event in output_events:
      if event.type == metadata_store_pb2.Event.OUTPUT:
        producers.setdefault(event.execution_id, set()).add(event.artifact_id)
    left_out = set()
    for event in store.get_events_by_execution_ids(list(producers)):
      if (event.type == metadata_store_pb2.Event.INPUT and
          event.artifact_id in examples_ids):
        left_out |= producers[event.execution_id]
    return left_out
