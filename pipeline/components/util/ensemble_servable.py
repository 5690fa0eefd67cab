"""The ensemble SavedModel: members' probabilities averaged with weights.

One served model with exactly a single model's contract
(`modules.serving.export_serving_model`): signatures `serving_default`
(serialized tf.Examples) and `serving_image_bytes` (JPEG/PNG bytes), outputs
`probabilities`, `class_index`, `class_name`, saved by
`modules.serving.save_servable` so TF1-session model servers run it too.
Each member runs its own signature, hence its own Transform graph, so
members of other input sizes or backbones mix freely. The members, their
weights and what else the writer records are in the ledger
`<model>/assets.extra/ensemble.json`.

Written by tools/ensemble.py (weights typed by hand) and by the Ensemble
component (weights fitted in the pipeline, pipeline/components/ensemble/);
the Pusher reads the ledger into the push record.
"""

import datetime
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from modules import serving
from settings import features
from pipeline.components.util import serving_model as inference_lib

LEDGER_FILE = os.path.join("assets.extra", "ensemble.json")


def parse_weights(text: str) -> List[float]:
  """"0.6,0.4" -> [0.6, 0.4]; ValueError naming an item that is no number."""
  weights = []
  for item in text.split(","):
    try:
      weights.append(float(item))
    except ValueError:
      raise ValueError(f"--weights: {item.strip()!r} is not a number "
                       "(expected e.g. 0.6,0.4)") from None
  return weights


def normalise_weights(weights: Optional[Sequence[float]],
                      num_members: int) -> List[float]:
  """Equal weights if None; else checked and scaled to sum to 1.

  Raises:
    ValueError: if the count differs from `num_members`, a weight is
      negative or not finite, or all are 0.
  """
  if weights is None:
    return [1.0 / num_members] * num_members
  if len(weights) != num_members:
    raise ValueError(f"{len(weights)} weights for {num_members} models; "
                     "give one weight per --model")
  for position, weight in enumerate(weights):
    if not math.isfinite(weight) or weight < 0:
      raise ValueError(f"weight {position + 1} is {weight}; weights must be "
                       "finite and non-negative")
  total = math.fsum(weights)
  if total <= 0:
    raise ValueError("at least one weight must be positive")
  return [weight / total for weight in weights]


class EnsembleModule(tf.Module):
  """Members (loaded SavedModels), their weights and the class names.

  The members are tracked attributes, so saving this module saves their
  variables and functions with it: the written SavedModel needs nothing
  else at serving time.
  """

  def __init__(self, members: Sequence, weights: Sequence[float],
               class_names: Sequence[str]):
    super().__init__()
    if len(members) != len(weights):
      raise ValueError(f"{len(weights)} weights for {len(members)} members")
    self.members = list(members)
    self.member_weights = tf.Variable(
        np.asarray(weights, dtype=np.float32), trainable=False,
        name="member_weights")
    # A variable, not a constant, so clients (and
    # serving_model.py `read_class_names`) can read the
    # names from the loaded model as `model.class_names`.
    self.class_names = tf.Variable(list(class_names), dtype=tf.string,
                                   trainable=False, name="class_names")

  def _combine(self, member_outputs: Sequence[Dict[str, tf.Tensor]]):
    stacked = tf.stack(
        [outputs[features.PROBABILITIES_KEY] for outputs in member_outputs])
    # [members] . [members, batch, classes] -> [batch, classes]
    probabilities = tf.tensordot(self.member_weights, stacked, axes=1)
    return serving.prediction_outputs(probabilities, self.class_names)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, serialized):
    """Serialized tf.Examples -> weighted-average probabilities, class."""
    return self._combine([
        member.signatures[inference_lib.SERVING_DEFAULT](examples=serialized)
        for member in self.members])

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve_image_bytes(self, image_bytes):
    """Encoded images (JPEG or PNG, any size) -> the same outputs."""
    return self._combine([
        member.signatures[inference_lib.SERVING_IMAGE_BYTES](
            image_bytes=image_bytes)
        for member in self.members])


def _check_same_classes(model_dirs: Sequence[str],
                        names_per_member: Sequence[List[str]]) -> None:
  first = names_per_member[0]
  for model_dir, names in zip(model_dirs[1:], names_per_member[1:]):
    if len(names) != len(first):
      raise ValueError(f"{model_dir} has {len(names)} classes, "
                       f"{model_dirs[0]} has {len(first)}; members must "
                       "have the same class names")
    for index, (mine, theirs) in enumerate(zip(first, names)):
      if mine != theirs:
        raise ValueError(f"{model_dir} names class {index} {theirs!r}, "
                         f"{model_dirs[0]} names it {mine!r}; members must "
                         "have the same class names in the same order")


def build_ensemble(model_dirs: Sequence[str], output_dir: str,
                   weights: Optional[Sequence[float]] = None,
                   members_extra: Optional[Sequence[Dict[str, Any]]] = None,
                   ledger_extra: Optional[Dict[str, Any]] = None
                   ) -> Dict[str, object]:
  """Writes the ensemble of `model_dirs` as one SavedModel.

  Args:
    model_dirs: two or more served SavedModels (pushed models or ensembles).
    output_dir: where to write; must not exist or be empty.
    weights: one non-negative weight per model (None: equal); normalised.
    members_extra: per member, more entries of its ledger record.
    ledger_extra: more top-level entries of the ledger.

  Returns:
    The ledger written to `<output_dir>/assets.extra/ensemble.json`.

  Raises:
    ValueError: on fewer than two models, bad weights, members with
      different class names, or a non-empty output folder.
  """
  if len(model_dirs) < 2:
    raise ValueError("an ensemble needs at least two --model folders")
  normalised = normalise_weights(weights, len(model_dirs))
  if tf.io.gfile.exists(output_dir) and tf.io.gfile.listdir(output_dir):
    raise ValueError(f"{output_dir} exists and is not empty; choose a new "
                     "--output folder")
  members = [inference_lib.load_serving_model(d) for d in model_dirs]
  names_per_member = [inference_lib.read_class_names(m) for m in members]
  _check_same_classes(model_dirs, names_per_member)
  module = EnsembleModule(members, normalised, names_per_member[0])
  signatures = {
      inference_lib.SERVING_DEFAULT:
          module.serve_examples.get_concrete_function(),
      inference_lib.SERVING_IMAGE_BYTES:
          module.serve_image_bytes.get_concrete_function(),
  }
  serving.save_servable(module, output_dir, signatures)
  extra = members_extra or [{}] * len(model_dirs)
  ledger = {
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      "members": [{"model": _absolute(d), "weight": w, **more}
                  for d, w, more in zip(model_dirs, normalised, extra)],
      "num_classes": len(names_per_member[0]),
      **(ledger_extra or {}),
  }
  write_ledger(output_dir, ledger)
  return ledger


def _absolute(path: str) -> str:
  return path if features.is_object_store(path) else os.path.abspath(path)


def read_ledger(model_dir: str) -> Optional[Dict[str, Any]]:
  """The ledger of an ensemble SavedModel; None for a single model."""
  path = os.path.join(model_dir, LEDGER_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def write_ledger(model_dir: str, ledger: Dict[str, object]) -> None:
  """Writes (or rewrites) the ledger of the ensemble in `model_dir`."""
  path = os.path.join(model_dir, LEDGER_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(ledger, indent=2))


def push_record_entry(model_dir: str) -> Optional[Dict[str, Any]]:
  """The push record's `ensemble` entry of the served model in `model_dir`:
  each member's URI, backbone, weight and macro F1 on the fit slice; None
  for a single model (or a hand-made ensemble, whose ledger has no fit)."""
  ledger = read_ledger(model_dir)
  if not ledger or "fit_slice" not in ledger:
    return None
  return {
      "members": [{key: member.get(key) for key in
                   ("uri", "name", "backbone", "weight", "macro_f1")}
                  for member in ledger["members"]],
      "fit_slice_macro_f1": ledger["ensemble"]["macro_f1"],
      "fit_slice_records": ledger["fit_slice"]["records"],
  }
