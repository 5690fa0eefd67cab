"""What the blessing lets through: whether to push, and why not in words."""

from typing import Any, Dict, Optional

from tfx import types
from tfx.components.evaluator import constants as evaluator_constants

from pipeline.components.util import evaluation_reader as evaluation_lib

_CURRENT_MODEL_URI = evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY
_CURRENT_MODEL_ID = evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY


def not_blessed_reason(blessing: Optional[types.Artifact],
                       evaluation: Optional[evaluation_lib.Evaluation]) -> str:
  """Why a model is not pushed, in words (the Evaluator's failed gates)."""
  if blessing is None:
    return "no model blessing"
  if evaluation is not None and evaluation.failures:
    return "; ".join(evaluation.failures)
  return f"the Evaluator did not bless it ({blessing.uri})"


def _id_of_name(name: str) -> int:
  """The artifact id TFX's Kubeflow entry point gives an artifact of this
  runtime name (its own function: the model's id there is that hash)."""
  # slow import: kfp (0.4 s); only a blessing from Kubeflow or Vertex AI
  # names its model so, and every DAG build imports this module
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils  # pylint: disable=g-import-not-at-top
  return kubeflow_v2_entrypoint_utils._get_hashed_id(name, {})  # pylint: disable=protected-access


def check_blessing_is_for(blessing: types.Artifact,
                           model: types.Artifact) -> None:
  """A blessing of another model must not let this one through.

  The Evaluator records the model it blessed twice: `current_model`, its
  URI, on every orchestrator, and `current_model_id`, an artifact id
  locally and, on Kubeflow and Vertex AI, the artifact's runtime name (TFX's
  entry point rewrites it; the model it gives the executor then has the
  hash of its name as id). Each one present is compared.
  """
  blessed_uri = (blessing.get_string_custom_property(_CURRENT_MODEL_URI)
                 if blessing.has_custom_property(_CURRENT_MODEL_URI) else "")
  if blessed_uri and blessed_uri.rstrip("/") != model.uri.rstrip("/"):
    raise ValueError(f"the blessing {blessing.uri} is for the model at "
                     f"{blessed_uri}, not for {model.uri}")
  if not blessing.has_custom_property(_CURRENT_MODEL_ID) or not model.id:
    return  # Nothing more to compare.
  blessed_id = blessing.get_custom_property(_CURRENT_MODEL_ID)
  if isinstance(blessed_id, str) and blessed_id:
    if _id_of_name(blessed_id) != model.id:
      raise ValueError(f"the blessing {blessing.uri} is for model "
                       f"{blessed_id}, not for the model at {model.uri}")
  elif blessed_id and blessed_id != model.id:
    raise ValueError(f"the blessing {blessing.uri} is for model {blessed_id}, "
                     f"not for model {model.id} ({model.uri})")


def blessing_record(blessing: types.Artifact) -> Dict[str, Any]:
  record = {"uri": blessing.uri, "artifact_id": blessing.id or None}
  for name in ("baseline_model", "baseline_model_id"):
    if blessing.has_custom_property(name):
      record[name] = blessing.get_custom_property(name)
  return record
