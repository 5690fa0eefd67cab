"""Loading a served model and reading it: what every caller of a model shares.

The BatchInference component (pipeline/components/batch_inference/) and
`tools/submission.py`, `tools/predict.py` and `tools/ensemble.py` all load
a SavedModel written by `modules.serving.export_serving_model` (or by
`tools/ensemble.py`, which keeps the same contract), check that it has the
two signatures, and need its class names in label order.
"""

import os
import re
from typing import List, Sequence

import tensorflow as tf

from settings import features

SERVING_DEFAULT = "serving_default"
SERVING_IMAGE_BYTES = "serving_image_bytes"
REQUIRED_SIGNATURES = (SERVING_DEFAULT, SERVING_IMAGE_BYTES)

# Lines of a TensorFlow OpError message that say where, not what.
_TF_NOISE_PREFIXES = ("Graph execution error", "Detected at node",
                      "<stack traces unavailable>", "[[", "Traceback",
                      "File ")
# Parts of an eager OpError's line that name TensorFlow internals.
_TF_NOISE_PATTERNS = (re.compile(r"\{\{function_node [^}]*\}\}\s*"),
                      re.compile(r"\s*\[Op:[^\]]*\].*$"))


def load_serving_model(model_dir: str,
                       signatures: Sequence[str] = REQUIRED_SIGNATURES):
  """Loads a served model and checks it has the signatures we call.

  Args:
    model_dir: a SavedModel folder (e.g. `<output-dir>/serving/<version>`).
    signatures: signature names that must be present.

  Returns:
    The object `tf.saved_model.load` returns.

  Raises:
    ValueError: if the folder is not a SavedModel or lacks a signature.
  """
  if not tf.io.gfile.exists(os.path.join(model_dir, "saved_model.pb")):
    raise ValueError(f"{model_dir} is not a SavedModel folder (no "
                     "saved_model.pb); pass a pushed model such as "
                     "<output-dir>/serving/<version>")
  model = tf.saved_model.load(model_dir)
  missing = [name for name in signatures if name not in model.signatures]
  if missing:
    raise ValueError(f"{model_dir} has no signature(s) {missing}; it has "
                     f"{sorted(model.signatures.keys())}")
  return model


def num_classes(model) -> int:
  """Width of the `probabilities` output of `serving_default`."""
  outputs = model.signatures[SERVING_DEFAULT].structured_outputs
  width = outputs[features.PROBABILITIES_KEY].shape[-1]
  if width is None:
    raise ValueError("the model's probabilities have no static class count")
  return int(width)


def read_class_names(model) -> List[str]:
  """The class names a served model maps indices to, in label order.

  Models exported by `modules.serving.export_serving_model` and ensembles
  written by tools/ensemble.py store them as the variable `class_names`.

  Raises:
    ValueError: if the model has no such variable, or its length differs
      from the probabilities' width.
  """
  width = num_classes(model)
  stored = getattr(model, "class_names", None)
  if not isinstance(stored, (tf.Variable, tf.Tensor)):
    raise ValueError(
        "the model has no class_names variable: export it with the "
        "pipeline's Trainer (modules/trainer.py) or tools/ensemble.py")
  names = [n.decode("utf-8") for n in stored.numpy().tolist()]
  if len(names) != width:
    raise ValueError(f"the model has {len(names)} class names for {width} "
                     "probabilities")
  return names


def short_error(error: Exception) -> str:
  """The line of a (TensorFlow) error that says what went wrong.

  TensorFlow's OpError messages start with "Graph execution error:" and node
  locations; users need the line in between (e.g. "Unknown image file
  format. One of JPEG, PNG, GIF, BMP required.").
  """
  message = getattr(error, "message", None) or str(error)
  for line in message.splitlines():
    line = line.strip()
    if line and not line.startswith(_TF_NOISE_PREFIXES):
      for pattern in _TF_NOISE_PATTERNS:
        line = pattern.sub("", line)
      return line
  return type(error).__name__
