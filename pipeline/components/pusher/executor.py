"""The AtomicPusher's executor: pushes a blessed model, or says why not."""

import datetime
import json
import os
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx import version as tfx_version
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.components.util import model_utils
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import path_utils
from tfx.utils import proto_utils

from modules import data_profile
from pipeline.components.util import ensemble_servable
from pipeline.components.util import evaluation_reader as evaluation_lib
from settings import label_space
from pipeline.components.util import blessing as blessing_lib
from pipeline.components.pusher import provenance
from pipeline.components.util import publishing
from pipeline.components.util import card_inputs
from pipeline.components.util import model_card

NOT_PUSHED_REASON_KEY = "not_pushed_reason"
# Set (to 1) on the PushedModel when the model already was the newest
# version, so nothing was copied.
ALREADY_SERVING_KEY = "already_serving"
# Inputs beyond TFX's Pusher: what the record describes.
EVALUATION_KEY = "evaluation"
MODEL_RUN_KEY = "model_run"
EXAMPLES_KEY = "examples"
ANOMALIES_KEY = "anomalies"
EVAL_PREDICTIONS_KEY = "eval_predictions"


class AtomicPusherExecutor(tfx_pusher_executor.Executor):
  """Copies to a temporary sibling, writes the record, renames."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    pushed_model = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    model = artifact_utils.get_single_instance(
        input_dict[standard_component_specs.MODEL_KEY])
    blessings = input_dict.get(standard_component_specs.MODEL_BLESSING_KEY)
    blessing = (artifact_utils.get_single_instance(blessings)
                if blessings else None)
    evaluation_artifact = _optional_single(input_dict, EVALUATION_KEY)
    evaluation = (evaluation_lib.load_evaluation(evaluation_artifact.uri)
                  if evaluation_artifact is not None else None)

    # TFX's CheckBlessing would push an unvalidated model (with a warning)
    # when no blessing is given; this one never does.
    if blessing is None or not model_utils.is_model_blessed(blessing):
      reason = blessing_lib.not_blessed_reason(blessing, evaluation)
      logging.warning("Not pushing %s: %s", model.uri, reason)
      self._MarkNotPushed(pushed_model)
      pushed_model.set_string_custom_property(NOT_PUSHED_REASON_KEY, reason)
      return
    blessing_lib.check_blessing_is_for(blessing, model)

    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
        destination)
    if destination.WhichOneof("destination") != "filesystem":
      raise ValueError("AtomicPusher pushes to a filesystem destination only")
    base = destination.filesystem.base_directory
    fileio.makedirs(base)
    # Claim first, then decide: a decision taken before the claim would let
    # two concurrent pushes of one model both find it not yet pushed.
    version_number, claim = publishing.claim_version(base,
                                                     model_uri=model.uri)
    try:
      publishing.wait_for_earlier_claims(base, version_number, model.uri)
      newest_dir, newest = publishing.newest_push_record(base) or (None, {})
      if newest.get("model", {}).get("uri") == model.uri:
        # A run that changes only the gate re-evaluates the model it pushed
        # before and may bless it again; copying it once more would only
        # add a duplicate version for servers to load.
        logging.info("Model %s is already the newest version, %s: not "
                     "pushed again.", model.uri, newest_dir)
        fileio.makedirs(pushed_model.uri)
        io_utils.write_string_file(
            os.path.join(pushed_model.uri, publishing.RECORD_FILE),
            json.dumps(newest, indent=2, sort_keys=True))
        self._MarkPushed(pushed_model, pushed_destination=newest_dir,
                         pushed_version=os.path.basename(newest_dir))
        pushed_model.set_int_custom_property(ALREADY_SERVING_KEY, 1)
        return
      version = str(version_number)
      final = os.path.join(base, version)
      record_text = json.dumps(
          _push_record(input_dict, model, blessing, evaluation,
                       evaluation_artifact, version, final),
          indent=2, sort_keys=True)
      card = _model_card_files(input_dict, evaluation, final,
                               self.GetModelPath(input_dict))
      publishing.publish_model(self.GetModelPath(input_dict), final,
                               record_text, extra_files=card)
    finally:
      # Published, not needed or failed: either way the claim has done its
      # job (a published version directory keeps the number taken; a
      # left-over claim would hold up later pushes of this model until it
      # goes stale).
      try:
        fileio.remove(claim)
      except (OSError, fileio.NotFoundError) as error:
        logging.warning("Could not remove the claim %s: %s", claim, error)
    logging.info("Model pushed to %s (version %s).", final, version)

    # The artifact keeps the record, not a second copy of the model: the
    # Trainer's Model artifact is the archive.
    fileio.makedirs(pushed_model.uri)
    for name, text in {publishing.RECORD_FILE: record_text, **card}.items():
      io_utils.write_string_file(os.path.join(pushed_model.uri, name), text)
    self._MarkPushed(pushed_model, pushed_destination=final,
                     pushed_version=version)


def _push_record(input_dict, model, blessing, evaluation,
                 evaluation_artifact, version: str, final: str
                 ) -> Dict[str, Any]:
  """The push record (RECORD_FILE) of `model` published to `final`."""
  record = {
      "model_version": version,
      "pushed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      "serving_dir": final,
      "model": {"uri": model.uri, "artifact_id": model.id or None},
      # The class list the model's outputs index (None: a model from before
      # label spaces were recorded).
      "label_space": label_space.read_label_space(model.uri),
      "blessing": blessing_lib.blessing_record(blessing),
      "metrics": evaluation.metrics if evaluation else {},
      "evaluation": evaluation_artifact.uri if evaluation_artifact else None,
      "data": provenance.data_fingerprint(
          _optional_single(input_dict, EXAMPLES_KEY),
          getattr(_optional_single(input_dict, MODEL_RUN_KEY), "uri", None),
          _profile_dir(_optional_single(input_dict, ANOMALIES_KEY))),
      "code": dict(provenance.git_state(),
                   source_sha256=provenance.source_fingerprint()),
      "tfx_version": tfx_version.__version__,
  }
  # An ensemble's members, weights and fit-slice scores (its ledger).
  ensemble = ensemble_servable.push_record_entry(
      path_utils.serving_model_path(model.uri))
  if ensemble:
    record["ensemble"] = ensemble
  return record


def _model_card_files(input_dict,
                      evaluation: Optional[evaluation_lib.Evaluation],
                      final: str, model_path: str) -> Dict[str, str]:
  """The model card's files (model_card.md, model_card.html) of a blessed
  model pushed to `final`; none without an evaluation to say how good."""
  if evaluation is None:
    return {}
  card = card_inputs.card_from_artifacts(
      evaluation,
      model_run=_optional_single(input_dict, MODEL_RUN_KEY),
      anomalies=_optional_single(input_dict, ANOMALIES_KEY),
      examples=_optional_single(input_dict, EXAMPLES_KEY),
      eval_predictions=card_inputs.read_eval_predictions(
          _optional_single(input_dict, EVAL_PREDICTIONS_KEY)),
      blessed=True, model=final, served_dir=model_path)
  return model_card.card_files(card)


def _profile_dir(anomalies: Optional[types.Artifact]) -> Optional[str]:
  """The ImageValidator's training-data profile folder, if it wrote one."""
  if anomalies is None:
    return None
  folder = os.path.join(anomalies.uri, data_profile.PROFILE_DIR)
  return folder if fileio.exists(folder) else None


def _optional_single(input_dict, key) -> Optional[types.Artifact]:
  artifacts = input_dict.get(key)
  return artifact_utils.get_single_instance(artifacts) if artifacts else None
