"""What the blessing lets through: whether to push, and why not in words."""

from typing import Any, Dict, Optional

from tfx import types

from pipeline.components import evaluation as evaluation_lib


def not_blessed_reason(blessing: Optional[types.Artifact],
                       evaluation: Optional[evaluation_lib.Evaluation]) -> str:
  """Why a model is not pushed, in words (the Evaluator's failed gates)."""
  if blessing is None:
    return "no model blessing"
  if evaluation is not None and evaluation.failures:
    return "; ".join(evaluation.failures)
  return f"the Evaluator did not bless it ({blessing.uri})"


def check_blessing_is_for(blessing: types.Artifact,
                           model: types.Artifact) -> None:
  """A blessing of another model must not let this one through."""
  if not blessing.has_custom_property("current_model_id") or not model.id:
    return  # Orchestrators that do not number artifacts: nothing to compare.
  blessed_id = blessing.get_int_custom_property("current_model_id")
  if blessed_id and blessed_id != model.id:
    raise ValueError(f"the blessing {blessing.uri} is for model {blessed_id}, "
                     f"not for model {model.id} ({model.uri})")


def blessing_record(blessing: types.Artifact) -> Dict[str, Any]:
  record = {"uri": blessing.uri, "artifact_id": blessing.id or None}
  for name in ("baseline_model", "baseline_model_id"):
    if blessing.has_custom_property(name):
      record[name] = blessing.get_custom_property(name)
  return record
