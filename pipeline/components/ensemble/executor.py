"""The Ensemble executor: fits the members' weights, writes one served model.

1. The fit slice of the train split (fit_data.py), which no member trained
   on and the Evaluator's eval split never holds.
2. Each member predicts it with its own `serving_default` signature (its own
   Transform graph), as BatchInference predicts a split.
3. Weights on the simplex fitted to those predictions (weights.py).
4. One SavedModel with a single model's signatures and outputs
   (util/ensemble_servable.py) in the output Model's `Format-Serving`,
   whose ledger records each member's URI, backbone, weight and macro and
   per-class F1 on the fit slice, the ensemble's, and the slice's ids.
   Beside it, as a Trainer's Model holds it: the class list
   (label_space.json). The drift check's reference for the ensemble is the
   run's training-data profile, which the push record names, as for any
   model (modules/data_profile.py).
"""

import os
import tempfile
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from pipeline.components.util import custom_config
from pipeline.components.util import ensemble_servable
from pipeline.components.util import serving_model
from pipeline.components.util import batch_predict
from pipeline.components.util import predictions as predictions_lib
from pipeline.components.ensemble import fit_data
from pipeline.components.ensemble import weights as weights_lib
from settings import ensemble as ensemble_settings
from settings import label_space

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"


def member_key(position: int) -> str:
  """The input key of the member at `position` (0-based): `member_1`..."""
  return f"member_{position + 1}"


class Executor(base_executor.BaseExecutor):
  """Writes the fitted ensemble to the output Model artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    output = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
    settings = custom_config.decode(exec_properties,
                                    ensemble_settings.EnsembleSettings)
    members, percent = settings.members, settings.fit_percent
    batch_size = settings.batch_size
    artifacts = [artifact_utils.get_single_instance(
        input_dict[member_key(i)]) for i in range(len(members))]
    model_dirs = [path_utils.serving_model_path(
        a.uri, path_utils.is_old_model_artifact(a)) for a in artifacts]

    with tempfile.TemporaryDirectory() as scratch:
      path = os.path.join(scratch, "fit_slice.tfrecord.gz")
      records = fit_data.write_fit_slice(input_dict[EXAMPLES_KEY], percent,
                                         path)
      logging.info("Fit slice: %d train records (%d%% of the id buckets).",
                   records, percent)
      predicted = [_predict(model_dir, path, batch_size)
                   for model_dir in model_dirs]
    _check_same_records(members, predicted)
    labels = predicted[0].labels
    probabilities = [p.probabilities for p in predicted]
    weights = weights_lib.fit_weights(probabilities, labels)
    member_records = []
    for member, artifact, p, weight in zip(members, artifacts, predicted,
                                           weights):
      member_records.append(dict(
          uri=artifact.uri, name=member["name"],
          backbone=member["backbone"],
          **weights_lib.scores(labels, p.probabilities)))
      logging.info("Member %s: weight %.4f, fit-slice macro F1 %.4f.",
                   member["name"], weight, member_records[-1]["macro_f1"])
    fitted = weights_lib.scores(
        labels, weights_lib.average(probabilities, weights))
    logging.info("Ensemble: fit-slice macro F1 %.4f.", fitted["macro_f1"])
    serving_dir = path_utils.serving_model_path(output.uri)
    ensemble_servable.build_ensemble(
        model_dirs, serving_dir, weights, members_extra=member_records,
        ledger_extra=dict(
            ensemble=fitted,
            fit_slice=dict(percent=percent, records=records,
                           ids=sorted(predicted[0].ids.tolist())),
            weights_fitted_by="scipy SLSQP, log loss on the simplex"))
    class_names = _class_names(model_dirs[0])
    label_space.write_label_space(output.uri, class_names)
    logging.info("Wrote the ensemble of %d members to %s.", len(members),
                 serving_dir)


def _class_names(model_dir: str) -> List[str]:
  return serving_model.read_class_names(
      serving_model.load_serving_model(model_dir))


def _predict(model_dir: str, path: str, batch_size: int
             ) -> predictions_lib.SplitPredictions:
  model = serving_model.load_serving_model(
      model_dir, [serving_model.SERVING_DEFAULT])
  result, skipped = batch_predict.predict_files(model, [path], batch_size)
  if skipped:
    # Every member must score the same records, and the weights must see
    # all of them: a record one member cannot predict stops the fit.
    raise ValueError(f"{model_dir} could not predict {len(skipped)} fit "
                     f"slice record(s): "
                     f"{[record.describe() for record in skipped[:5]]}")
  return result


def _check_same_records(members, predicted) -> None:
  first = predicted[0]
  for member, other in zip(members[1:], predicted[1:]):
    if (other.ids.tolist() != first.ids.tolist() or
        other.labels.tolist() != first.labels.tolist()):
      raise ValueError(f"member {member['name']} predicted other fit "
                       f"records than member {members[0]['name']}")
