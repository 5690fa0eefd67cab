"""Warm start: the Keras weights saved beside the SavedModel, and loaded back.

Keras 3 cannot load a TF SavedModel as a Keras model: `keras.models.load_model`
reads `.keras` and `.h5` files only, and `keras.layers.TFSMLayer` wraps a
SavedModel for inference without the layers' variables. So `run_fn` also
saves the exported model's weights (the model without the training-only
flip wrapper) as `<model uri>/Format-Keras/model.weights.h5`, beside
TFX's `Format-Serving` and outside it: the Pusher copies only
`Format-Serving` to the model server's folder. A `model.json` beside the
weights says what they fit (backbone, input size, class names), so a
mismatch is named in words rather than as a tensor shape, and a class list
that changed without changing its length is not loaded into the wrong
classes.

With `train.warm_start`, the Trainer gets the served model of the data
before as `base_model` (pipeline/pipeline.py: `PreviousModel`; TFX gives
run_fn its `<model uri>/Format-Serving`), and `load_base_weights` loads that
model's weights into the freshly built model before training. When it
cannot (no served model yet, a model from before this file existed,
weights that do not fit), it says why and training starts from scratch: a
cold start is a slower run, not a failed one. Either way the outcome is a
record for `training_history.json` (`warm_start`), which the run summary
and the report show as one line (`describe`).
"""

import json
import os
import tempfile
from typing import Any, Dict, Optional

from absl import logging
import tensorflow as tf

from settings import records

# Inside the Trainer's Model artifact, beside TFX's `Format-Serving`.
KERAS_DIR = "Format-Keras"
# Keras 3 requires the `.weights.h5` suffix of `Model.save_weights`.
WEIGHTS_FILE = "model.weights.h5"
MODEL_INFO_FILE = "model.json"
def model_uri_of(serving_model_dir: str) -> str:
  """The Model artifact's URI of its `<uri>/Format-Serving` folder (what TFX
  gives run_fn as `serving_model_dir` and `base_model`)."""
  return os.path.dirname(serving_model_dir.rstrip("/"))


def weights_path(model_uri: str) -> str:
  """Where a Model artifact holds the Keras weights of its model."""
  return os.path.join(model_uri, KERAS_DIR, WEIGHTS_FILE)


def _model_info(config) -> Dict[str, Any]:
  """What the weights fit: a model built from the same three settings has
  the same variables."""
  return {"backbone": config.model.backbone,
          "input_size": config.input_size,
          "class_names": list(config.class_names)}


def save_weights(model, config, serving_model_dir: str) -> str:
  """Saves `model`'s weights (and what they fit) beside the SavedModel.

  Args:
    model: the exported Keras model.
    config: the Trainer's settings (`TrainerSettings`) it was built from.
    serving_model_dir: the Trainer's `<model uri>/Format-Serving`.

  Returns:
    The path of the weights file.
  """
  directory = os.path.join(model_uri_of(serving_model_dir), KERAS_DIR)
  tf.io.gfile.makedirs(directory)
  target = os.path.join(directory, WEIGHTS_FILE)
  # Keras writes the file with h5py, which opens local paths only; the
  # Model artifact may be on gs:// (Kubeflow, Vertex AI).
  with tempfile.TemporaryDirectory() as local_dir:
    local = os.path.join(local_dir, WEIGHTS_FILE)
    model.save_weights(local)
    tf.io.gfile.copy(local, target, overwrite=True)
  with tf.io.gfile.GFile(os.path.join(directory, MODEL_INFO_FILE), "w") as f:
    json.dump(_model_info(config), f, indent=2)
  return target


def _mismatch(base: Dict[str, Any], config) -> Optional[str]:
  """Why weights described by `base` cannot serve the model of `config`
  (None: they can)."""
  if base.get("backbone") != config.model.backbone:
    return (f"the base model's backbone is {base.get('backbone')}, this "
            f"model's is {config.model.backbone}")
  names = base.get("class_names") or []
  if len(names) != config.num_classes:
    return (f"the base model has {len(names)} classes, this model has "
            f"{config.num_classes}")
  for index, (old, new) in enumerate(zip(names, config.class_names)):
    if old != new:
      return (f"the base model's class {index} is {old!r}, this model's is "
              f"{new!r} (the class list changed)")
  return None


def _record(requested: bool, model_uri: Optional[str], loaded: bool,
            reason: str) -> Dict[str, Any]:
  return {"requested": requested, "from": model_uri, "loaded": loaded,
          "reason": reason}


def load_base_weights(model, config,
                      base_model: Optional[str]) -> Dict[str, Any]:
  """Loads the base model's weights into `model` when `train.warm_start`
  asks for it; else leaves `model` as built.

  Never raises for a base model it cannot use: it logs a warning naming
  the reason and leaves `model`'s weights as they were (a cold start).

  Args:
    model: the freshly built model (`model_lib.build_model(config)`).
    config: the Trainer's settings.
    base_model: `fn_args.base_model`: the served model's
      `<uri>/Format-Serving`, or None (warm start off, or no blessed model
      yet).

  Returns:
    The record for training_history.json: requested (train.warm_start),
    from (the base Model artifact's URI, or None), loaded, and reason (why
    not loaded, or a note on what was loaded).
  """
  requested = bool(config.train.warm_start)
  if not requested:
    return _record(False, None, False, "train.warm_start is off")
  if not base_model:
    reason = "no blessed model yet (first run): training from scratch"
    logging.info("Warm start: %s.", reason)
    return _record(True, None, False, reason)
  uri = model_uri_of(base_model)
  none_reason = records.no_baseline_reason(uri)
  if none_reason is not None:
    # The KFP spec's baseline task found no model (pipeline/components/
    # baseline/): as without a base model.
    reason = f"no base model: {none_reason}: training from scratch"
    logging.info("Warm start: %s.", reason)
    return _record(True, None, False, reason)

  def cold(reason: str) -> Dict[str, Any]:
    logging.warning("Warm start from %s failed, training from scratch: %s.",
                    uri, reason)
    return _record(True, uri, False, reason)

  path = weights_path(uri)
  if not tf.io.gfile.exists(path):
    return cold(f"it has no {KERAS_DIR}/{WEIGHTS_FILE} (trained before "
                "models kept their Keras weights)")
  info_path = os.path.join(uri, KERAS_DIR, MODEL_INFO_FILE)
  note = ""
  if tf.io.gfile.exists(info_path):
    with tf.io.gfile.GFile(info_path) as f:
      base_info = json.load(f)
    mismatch = _mismatch(base_info, config)
    if mismatch:
      return cold(mismatch)
    if base_info.get("input_size") != config.input_size:
      # Every backbone here ends in global pooling, so its weights fit any
      # input size; the network adapts to the new one as it trains.
      note = (f"the base model was trained on {base_info.get('input_size')}"
              f"-pixel inputs, this one on {config.input_size}")
  before = model.get_weights()
  try:
    with tempfile.TemporaryDirectory() as local_dir:
      # h5py reads local files only (see save_weights).
      local = os.path.join(local_dir, WEIGHTS_FILE)
      tf.io.gfile.copy(path, local)
      model.load_weights(local)
  except Exception as error:  # pylint: disable=broad-except
    # A load that fails half-way has set some layers: put them back, so
    # the cold start is as cold as one without a base model.
    model.set_weights(before)
    first_line = (str(error).strip().splitlines() or [type(error).__name__]
                  )[0]
    return cold(f"its weights do not fit this model: {first_line}")
  logging.info("Warm start: loaded the weights of %s%s.", uri,
               f" ({note})" if note else "")
  return _record(True, uri, True, note)


def describe(record: Optional[Dict[str, Any]]) -> Optional[str]:
  """The summary's and the report's line for a warm start record: None when
  warm start was not requested (or the record predates it)."""
  if not record or not record.get("requested"):
    return None
  if record.get("loaded"):
    line = f"warm start: from {record.get('from')} (loaded)"
    return line + (f"; {record['reason']}" if record.get("reason") else "")
  return f"cold start: {record.get('reason')}"
