"""The served model: a SavedModel that takes what clients have.

Two signatures apply the Transform graph themselves: `serving_default`
(serialized tf.Examples) and `serving_image_bytes` (JPEG or PNG bytes); both
output `probabilities`, `class_index` and `class_name`. The class names are
a variable, which tools read back (pipeline/components/util/serving_model.py).

Every model the project writes (the Trainer's, a warm-started one, the
Tuner's best, tools/ensemble.py's ensembles) is saved by `save_servable`,
so that model servers, which restore a SavedModel in a TF1 session, can run
it (docs/inference.md).
"""

from typing import Dict, Iterable, Mapping, Sequence

import keras
import tensorflow as tf
import tensorflow_transform as tft
# tf-keras's own saving scope; no public name (tf_keras 2.16).
from tf_keras.src.saving.legacy.saved_model import utils as tf_keras_saving

from settings import features


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

  # The signatures are traced without AutoGraph (`autograph=False`): they
  # have no Python control flow on tensors, and AutoGraph would transpile
  # the Transform layer's tf-keras call machinery at every export
  # (modules/dataset.py says what that cost the Trainer's set-up).
  def _predict(self, raw_features: Dict[str, tf.Tensor]):
    transformed = self.tft_layer(raw_features)
    probabilities = self.model(transformed[features.TRANSFORMED_IMAGE_KEY],
                               training=False)
    return prediction_outputs(probabilities, self.class_names)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
  def serve_examples(self, serialized):
    """Serialized tf.Examples -> probabilities, class index, class name."""
    return self._predict(tf.io.parse_example(serialized, self._serving_spec))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")], autograph=False)
  def serve_image_bytes(self, image_bytes):
    """Encoded images (JPEG or PNG, any size) -> the same outputs."""
    batch = tf.shape(image_bytes)[0]
    raw = {features.IMAGE_KEY: tf.reshape(image_bytes, [-1, 1]),
           features.ID_KEY: tf.fill([batch, 1], "")}
    return self._predict(raw)


def track_captured_variables(module: tf.Module,
                             functions: Iterable[tf.types.experimental.
                                                 ConcreteFunction]) -> None:
  """Tracks, on `module`, every variable that `functions` read.

  Why: TF Serving, KServe, Vertex AI Prediction and `saved_model_cli run`
  restore a SavedModel in a TF1 session, by running its saver's restore op
  on the variables of the object graph. A Keras 3 model held by a
  `tf.Module` reaches that graph only through Keras's own variable wrappers,
  and the restore op then leaves the resources that the signatures read
  uninitialized: the first request fails with "Could not find variable
  batch_normalization/moving_mean" (keras-team/keras#20095,
  tensorflow/serving#2226), while TF2's `tf.saved_model.load` works.
  Tracking the captured `tf.Variable`s themselves is what Keras 3's
  `keras.export.ExportArchive` does for its endpoints; we cannot use
  ExportArchive as it is, because its `track` keeps a tf-keras layer (the
  Transform layer) out of the saved object graph, so the Transform graph's
  assets would not be copied into the SavedModel and it would read them
  from the Transform artifact's folder.
  """
  captured = {}
  for function in functions:
    for variable in function.variables:
      captured.setdefault(id(variable), variable)
  # A plain list attribute: AutoTrackable saves each element as a child.
  module.captured_variables = list(captured.values())


def save_servable(module: tf.Module, export_dir: str,
                  signatures: Mapping[str,
                                      tf.types.experimental.ConcreteFunction]
                  ) -> None:
  """Saves `module` with `signatures` so that every SavedModel consumer runs it.

  The TF2 loader, a TF1 session (model servers) and `saved_model_cli run`
  give the same outputs (tests/test_serving_contract.py).
  """
  track_captured_variables(module, signatures.values())
  # The Transform layer (TFT's TransformFeaturesLayer) is a tf-keras Model.
  # By default tf.saved_model.save serializes it the tf-keras way too: it
  # traces the layer's call again, under AutoGraph, for a Keras "default
  # signature" and per-layer functions that no consumer of ours loads
  # (about 7 s of every export on 2 cores; the bench's "Trainer export").
  # Without those traces the layer is still saved as an object with what it
  # tracks, the Transform graph's SavedModel, its assets and tables, which
  # the signatures capture; tests/test_serving_contract.py runs the result
  # in the TF2 loader, a TF1 session and `saved_model_cli`.
  with tf_keras_saving.keras_option_scope(save_traces=False):
    tf.saved_model.save(module, export_dir, signatures=dict(signatures))


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
  save_servable(module, export_dir, signatures)
