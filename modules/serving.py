"""The served model: a SavedModel that takes what clients have.

Two signatures apply the Transform graph themselves: `serving_default`
(serialized tf.Examples) and `serving_image_bytes` (JPEG or PNG bytes); both
output `probabilities`, `class_index` and `class_name`. The class names are
a variable, which tools read back (pipeline/serving_model.py).
"""

from typing import Dict, Sequence

import keras
import tensorflow as tf
import tensorflow_transform as tft

from pipeline import features


def prediction_outputs(probabilities: tf.Tensor,
                       class_names: tf.Variable) -> Dict[str, tf.Tensor]:
  """The prediction signatures' outputs, from class probabilities."""
  index = tf.argmax(probabilities, axis=-1)
  return {
      features.PROBABILITIES_KEY: probabilities,
      features.CLASS_INDEX_KEY: index,
      features.CLASS_NAME_KEY: tf.gather(class_names, index),
  }


class ServingModule(tf.Module):
  """What the exported SavedModel holds: model, Transform graph, class names."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: Sequence[str]):
    super().__init__()
    self.model = model
    self.tft_layer = tft_output.transform_features_layer()
    # A variable (not a captured constant) so that tools can read the class
    # names back from a loaded model as `model.class_names`.
    self.class_names = tf.Variable(list(class_names), trainable=False,
                                   name="class_names")
    spec = tft_output.raw_feature_spec()
    spec.pop(features.LABEL_KEY)
    self._serving_spec = spec

  def _predict(self, raw_features: Dict[str, tf.Tensor]):
    transformed = self.tft_layer(raw_features)
    probabilities = self.model(transformed[features.TRANSFORMED_IMAGE_KEY],
                               training=False)
    return prediction_outputs(probabilities, self.class_names)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, serialized):
    """Serialized tf.Examples -> probabilities, class index, class name."""
    return self._predict(tf.io.parse_example(serialized, self._serving_spec))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve_image_bytes(self, image_bytes):
    """Encoded images (JPEG or PNG, any size) -> the same outputs."""
    batch = tf.shape(image_bytes)[0]
    raw = {features.IMAGE_KEY: tf.reshape(image_bytes, [-1, 1]),
           features.ID_KEY: tf.fill([batch, 1], "")}
    return self._predict(raw)


def export_serving_model(model: keras.Model,
                         tft_output: tft.TFTransformOutput,
                         class_names: Sequence[str], export_dir: str) -> None:
  """Writes the SavedModel with its two signatures to `export_dir`.

  TFMA evaluates `serving_default` (pipeline.eval_config) and reads the
  label from the raw examples, so no signature exposes the Transform outputs.
  """
  module = ServingModule(model, tft_output, class_names)
  signatures = {
      "serving_default": module.serve_examples.get_concrete_function(),
      "serving_image_bytes": module.serve_image_bytes.get_concrete_function(),
  }
  tf.saved_model.save(module, export_dir, signatures=signatures)
