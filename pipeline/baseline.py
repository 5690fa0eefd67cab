"""The Evaluator's baseline: the latest blessed model other than the candidate.

TFX's `LatestBlessedModelStrategy` returns the latest blessed model, which
after a run is that run's own model. An unchanged re-run reuses (caches)
the Trainer's model, so its baseline became the candidate itself where the
first run had none: new inputs, so the Evaluator evaluated the model
against itself and the Pusher ran again, a quarter of a first run's time
(docs/benchmarks.md, section "cache"). Leaving the candidate out keeps the
baseline what it was when that model was first evaluated, so the re-run
finds the same inputs and caches both; a new model is still compared with
the latest blessed one, which cannot be itself.

TFX's KubeflowV2DagRunner compiles only TFX's own strategies, so the
Kubeflow spec keeps `LatestBlessedModelStrategy` (`pipeline.create_pipeline`'s
`stable_baseline`).
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy

import ml_metadata as mlmd

MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


class LatestBlessedOtherModelStrategy(
    latest_blessed_model_strategy.LatestBlessedModelStrategy):
  """The latest blessed Model and its blessing, the candidate left out.

  Inputs: `model` (every Model), `model_blessing` (every ModelBlessing) and
  `candidate` (the Trainer's model of this run). Outputs the same keys:
  `model` and `model_blessing` hold the baseline or nothing, `candidate`
  is passed through.
  """

  def resolve_artifacts(
      self, store: mlmd.MetadataStore,
      input_dict: Dict[str, List[types.Artifact]]
  ) -> Optional[Dict[str, List[types.Artifact]]]:
    candidates = list(input_dict.get(CANDIDATE_KEY, []))
    candidate_ids = {artifact.id for artifact in candidates}
    models = [model for model in input_dict.get(MODEL_KEY, [])
              if model.id not in candidate_ids]
    blessings = list(input_dict.get(MODEL_BLESSING_KEY, []))
    result = {MODEL_KEY: [], MODEL_BLESSING_KEY: []}
    if models and blessings:
      result = self._resolve({MODEL_KEY: models, MODEL_BLESSING_KEY: blessings},
                             MODEL_KEY, MODEL_BLESSING_KEY)
    result[CANDIDATE_KEY] = candidates
    return result
