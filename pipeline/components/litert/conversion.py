"""A trained model as LiteRT flatbuffers: float32 and full-integer int8.

The served SavedModel takes strings (serialized tf.Examples, encoded image
bytes): `ParseExampleV2` and `DecodeJpeg` are not LiteRT built-in ops, so it
cannot run on a phone's LiteRT runtime, which has no Flex (TensorFlow) ops.
What is converted is the Keras network alone, rebuilt from the weights the
Trainer keeps beside the SavedModel (`modules/warm_start.py`:
`Format-Keras/model.weights.h5` and `model.json`, its backbone, input size
and class names), behind a uint8 pixel input:

    pixels uint8 [N, S, S, 3] (RGB, 0-255, S the model's input size)
      -> cast to float32 -> the network (its own normalisation inside)
      -> probabilities float32 [N, classes]

That is exactly what the SavedModel computes after its Transform graph,
whose decoded and resized pixels are whole numbers 0-255
(`modules/preprocessing.py`), so a float32 variant fed the same pixels
gives the same probabilities up to rounding.

Conversion goes through a SavedModel of that function and
`TFLiteConverter.from_saved_model`, with built-in ops only: TF 2.16's
`from_concrete_functions` fails on Keras 3 variables ("missing attribute
'value'" on their ReadVariableOp), and the variables are tracked on the
module as `modules.serving.save_servable` does for the served model.
"""

import json
import os
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from ai_edge_litert import schema_py_generated as litert_schema
from modules import model as model_lib
from modules import serving
from modules import warm_start
from settings import config as config_lib
from settings import features

FLOAT32 = "float32"
INT8 = "int8"
VARIANTS = (FLOAT32, INT8)
# The input and output names in the flatbuffer's `serving_default`
# signature, which apps and tools/predict.py look up.
INPUT_NAME = "pixels"
OUTPUT_NAME = features.PROBABILITIES_KEY
SIGNATURE = "serving_default"


def model_file(variant: str) -> str:
  """The file name of a variant, in the LiteModel artifact and the push."""
  return f"model_{variant}.tflite"


def read_model_info(model_uri: str) -> Dict:
  """The `model.json` the Trainer wrote beside the Keras weights.

  Raises:
    FileNotFoundError: naming the model, when it has no Keras weights (an
      ensemble's model, or one trained before the weights were kept).
  """
  weights = warm_start.weights_path(model_uri)
  info = os.path.join(model_uri, warm_start.KERAS_DIR,
                      warm_start.MODEL_INFO_FILE)
  for path in (weights, info):
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(
          f"the model at {model_uri} has no {path[len(model_uri):]}: "
          "LiteRTExport converts a Trainer's model from the Keras weights "
          "it keeps beside the SavedModel (an ensemble's model has none; "
          "docs/on-device.md)")
  with tf.io.gfile.GFile(info) as f:
    return json.load(f)


def rebuild_keras_model(model_uri: str) -> keras.Model:
  """The Trainer's Keras network, from its weights and `model.json`.

  Dropout is left out (inference never drops; the layer holds no weights),
  and the backbone starts without pretrained weights: every weight comes
  from the file. It is built in float32 whatever the process's Keras policy
  (a Trainer that ran in this process on a GPU set mixed_float16): the
  float variant is the float32 network, as its weights are stored.
  """
  info = read_model_info(model_uri)
  size = int(info["input_size"])
  settings = config_lib.TrainerSettings(
      image_size=size, class_names=tuple(info["class_names"]),
      model=config_lib.ModelConfig(backbone=info["backbone"], weights=None,
                                   input_size=size, dropout=0.0),
      train=config_lib.TrainConfig(), augment=config_lib.AugmentConfig())
  policy = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy("float32")
  try:
    model = model_lib.build_model(settings)
  finally:
    keras.mixed_precision.set_global_policy(policy)
  with tempfile.TemporaryDirectory() as local_dir:
    # h5py reads local files only; the model may be on gs://.
    local = os.path.join(local_dir, warm_start.WEIGHTS_FILE)
    tf.io.gfile.copy(warm_start.weights_path(model_uri), local)
    model.load_weights(local)
  return model


class _PixelModule(tf.Module):
  """uint8 pixels in, the network's probabilities out."""

  def __init__(self, model: keras.Model, input_size: int):
    super().__init__()
    self.model = model
    self.serve = tf.function(
        self._serve, input_signature=[tf.TensorSpec(
            [None, input_size, input_size, 3], tf.uint8, name=INPUT_NAME)])

  def _serve(self, pixels):
    return {OUTPUT_NAME: self.model(tf.cast(pixels, tf.float32),
                                    training=False)}


def save_pixel_model(model: keras.Model, input_size: int,
                     export_dir: str) -> None:
  """Writes the pixel function of `model` as a SavedModel to convert."""
  module = _PixelModule(model, input_size)
  function = module.serve.get_concrete_function()
  serving.save_servable(module, export_dir, {SIGNATURE: function})


def convert(pixel_model_dir: str, variant: str,
            representative: Optional[np.ndarray] = None) -> bytes:
  """One variant of the pixel SavedModel as a LiteRT flatbuffer.

  Args:
    pixel_model_dir: from `save_pixel_model`.
    variant: FLOAT32, or INT8 (weights and activations int8; the uint8
      input and float32 output stay as they are, so both variants take
      and give the same).
    representative: with INT8, uint8 images [n, S, S, 3] from the train
      split that calibrate the activations' ranges.

  Raises:
    ValueError: an unknown variant, INT8 without representative images, or
      a model that needs an op outside LiteRT's built-in set.
  """
  converter = tf.lite.TFLiteConverter.from_saved_model(
      pixel_model_dir, signature_keys=[SIGNATURE])
  if variant == FLOAT32:
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  elif variant == INT8:
    if representative is None or not len(representative):  # pylint: disable=g-explicit-length-test
      raise ValueError("the int8 variant needs representative images")

    def samples() -> Iterator[List[np.ndarray]]:
      for image in representative:
        yield [image[np.newaxis]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.float32
  else:
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
  flatbuffer = converter.convert()
  custom = custom_ops(flatbuffer)
  if custom:
    raise ValueError(f"the {variant} model needs ops that LiteRT has no "
                     f"built-in kernel for: {custom}")
  return flatbuffer


def custom_ops(flatbuffer: bytes) -> List[str]:
  """The custom (and Flex) ops a flatbuffer uses: none for a model every
  LiteRT runtime runs as it is."""
  model = litert_schema.Model.GetRootAs(flatbuffer, 0)
  custom = []
  for index in range(model.OperatorCodesLength()):
    code = model.OperatorCodes(index)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == litert_schema.BuiltinOperator.CUSTOM:
      custom.append((code.CustomCode() or b"?").decode())
  return custom


def op_names(flatbuffer: bytes) -> List[str]:
  """The built-in ops of a flatbuffer, by name, sorted (for tests and the
  export record)."""
  names = {value: name for name, value in
           vars(litert_schema.BuiltinOperator).items()
           if not name.startswith("_")}
  model = litert_schema.Model.GetRootAs(flatbuffer, 0)
  return sorted({names.get(max(code.BuiltinCode(),
                               code.DeprecatedBuiltinCode()), "?")
                 for code in (model.OperatorCodes(i) for i in
                              range(model.OperatorCodesLength()))})


def convert_each(model: keras.Model, input_size: int,
                 representative: np.ndarray,
                 variants: Sequence[str] = VARIANTS
                 ) -> Tuple[Dict[str, bytes], Dict[str, str]]:
  """(variant -> flatbuffer, variant -> why its conversion failed).

  A variant that does not convert (an op of the backbone with no LiteRT
  built-in kernel, a converter error) is a verdict on that variant, not an
  error of the run: the device gate fails it and says why, the other
  variant and the SavedModel go on.
  """
  flatbuffers, failures = {}, {}
  with tempfile.TemporaryDirectory() as export_dir:
    save_pixel_model(model, input_size, export_dir)
    for variant in variants:
      try:
        flatbuffers[variant] = convert(export_dir, variant, representative)
      except Exception as error:  # pylint: disable=broad-except
        # TF's ConverterError, ValueError above, or the MLIR's own.
        lines = str(error).strip().splitlines() or [type(error).__name__]
        failures[variant] = lines[0][:300]
  return flatbuffers, failures


def convert_all(model: keras.Model, input_size: int,
                representative: np.ndarray,
                variants: Sequence[str] = VARIANTS) -> Dict[str, bytes]:
  """variant -> flatbuffer, for each of `variants`.

  Raises:
    ValueError: naming each variant that did not convert, and why.
  """
  flatbuffers, failures = convert_each(model, input_size, representative,
                                       variants)
  if failures:
    raise ValueError("; ".join(f"{variant}: {why}"
                               for variant, why in failures.items()))
  return flatbuffers
