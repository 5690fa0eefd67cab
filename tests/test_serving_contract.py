"""The serving contract: a pushed model runs in every SavedModel consumer.

TF Serving (and so KServe and Vertex AI Prediction) and `saved_model_cli
run` restore a SavedModel in a TF1 session; our tools load it with TF2.
Both signatures must give the same outputs in all of them. The fast test
checks `serving.save_servable` on a small Keras 3 model with batch
normalization; the slow ones check the pushed model of the session's real
pipeline run. Ensembles, warm-started and tuned models are checked where
their tests make them (test_inference, test_warm_start, test_tuner).
"""

import glob
import io
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from settings import features
from modules import serving
import serving_consumers

IMAGE_SIZE = features.DEFAULT_IMAGE_SIZE


def _jpeg(seed: int, size=(40, 30)) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="JPEG")
  return buffer.getvalue()


class _ImageModule(tf.Module):
  """A stand-in for ServingModule without a Transform graph: decode, resize,
  a Keras 3 Conv2D + BatchNormalization model, the same outputs."""

  def __init__(self, model, class_names):
    super().__init__()
    self.model = model
    self.class_names = tf.Variable(class_names, trainable=False)

  def _predict(self, image_bytes):
    images = tf.map_fn(
        lambda b: tf.image.resize(tf.io.decode_jpeg(b, channels=3), (16, 16)),
        image_bytes, fn_output_signature=tf.float32)
    return serving.prediction_outputs(self.model(images, training=False),
                                      self.class_names)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, serialized):
    parsed = tf.io.parse_example(
        serialized, {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})
    return self._predict(parsed[features.IMAGE_KEY])

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve_image_bytes(self, image_bytes):
    return self._predict(image_bytes)


def _example(jpeg: bytes) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature={
      features.IMAGE_KEY: tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[jpeg]))})).SerializeToString()


def test_a_keras_3_model_with_batch_norm_serves_in_a_tf1_session(tmp_path):
  keras.utils.set_random_seed(3)
  model = keras.Sequential([
      keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
      keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D(),
      keras.layers.Dense(3, activation="softmax")])
  # Moving statistics far from their initial values: a restore that left
  # them at 0/1 (or unset) would change the outputs.
  batch_norm = model.layers[1]
  batch_norm.moving_mean.assign([5.0, -3.0, 1.0, 2.0])
  batch_norm.moving_variance.assign([4.0, 9.0, 0.25, 1.0])
  module = _ImageModule(model, ["a", "b", "c"])
  export_dir = str(tmp_path / "model")
  serving.save_servable(module, export_dir, {
      "serving_default": module.serve_examples.get_concrete_function(),
      "serving_image_bytes": module.serve_image_bytes.get_concrete_function()})
  images = [_jpeg(seed) for seed in range(4)]
  examples = [_example(image) for image in images]
  serving_consumers.assert_serves_in_a_tf1_session(export_dir, examples,
                                                   images)
  # And the outputs are the in-memory model's, not only self-consistent.
  expected = serving_consumers.tf2_outputs(export_dir, "serving_image_bytes",
                                           images)
  np.testing.assert_allclose(
      expected["probabilities"],
      module.serve_image_bytes(tf.constant(images))["probabilities"].numpy(),
      atol=1e-6)


# ---------------------------------------------------------------------------
# Slow: the pushed model of the session's pipeline run.

@pytest.fixture(scope="module")
def pushed_model_dir(pipeline_run):
  versions = sorted(glob.glob(os.path.join(pipeline_run["output_dir"],
                                           "serving", "*")))
  assert versions, "nothing was pushed"
  return versions[-1]


@pytest.fixture(scope="module")
def request_inputs(pipeline_run):
  """Eight val examples; a val JPEG as it is and another as a resized PNG."""
  files = sorted(glob.glob(os.path.join(
      pipeline_run["data_root"], features.image_dir_name(IMAGE_SIZE),
      features.VAL_SPLIT_DIR, features.TFRECORD_PATTERN)))
  examples = [r.numpy() for r in tf.data.TFRecordDataset(files).take(8)]
  jpegs = [tf.train.Example.FromString(e).features.feature[
      features.IMAGE_KEY].bytes_list.value[0] for e in examples[:2]]
  png = io.BytesIO()
  Image.open(io.BytesIO(jpegs[1])).resize((517, 389)).save(png, format="PNG")
  return examples, [jpegs[0], png.getvalue()]


@pytest.mark.slow
@pytest.mark.parametrize("signature", ["serving_default",
                                       "serving_image_bytes"])
def test_the_pushed_model_serves_alike_in_tf2_tf1_and_saved_model_cli(
    pushed_model_dir, request_inputs, signature, tmp_path):
  examples, images = request_inputs
  inputs = examples if signature == "serving_default" else images
  expected = serving_consumers.tf2_outputs(pushed_model_dir, signature,
                                           inputs)
  assert expected["probabilities"].shape[0] == len(inputs)
  np.testing.assert_allclose(expected["probabilities"].sum(axis=1), 1.0,
                             atol=1e-5)
  serving_consumers.assert_same_outputs(
      expected, serving_consumers.tf1_session_outputs(
          pushed_model_dir, signature, inputs), "TF1 session")
  serving_consumers.assert_same_outputs(
      expected, serving_consumers.saved_model_cli_outputs(
          pushed_model_dir, signature, inputs, str(tmp_path)),
      "saved_model_cli run")


@pytest.mark.slow
def test_the_pushed_model_is_self_contained(pipeline_run, pushed_model_dir):
  """A model server gets the pushed folder alone: the SavedModel names no
  path of the pipeline root, and every asset file its graphs name (a
  Transform vocabulary, where a preprocessing_fn has an analyzer; ours has
  none since the class counts come from ImportExampleGen) is inside it."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  with open(os.path.join(pushed_model_dir, "saved_model.pb"), "rb") as f:
    data = f.read()
  assert pipeline_run["output_dir"].encode() not in data
  saved_model = saved_model_pb2.SavedModel.FromString(data)
  named = {asset.filename for graph in saved_model.meta_graphs
           for asset in graph.asset_file_def}
  assets = os.path.join(pushed_model_dir, "assets")
  assert all(os.path.isfile(os.path.join(assets, name)) for name in named)
  [transform_assets] = glob.glob(os.path.join(
      pipeline_run["output_dir"], "pipeline_root", "Transform",
      "transform_graph", "*", "transform_fn")) or [None]
  if transform_assets and os.path.isdir(os.path.join(transform_assets,
                                                     "assets")):
    assert set(os.listdir(os.path.join(transform_assets, "assets"))) <= (
        set(os.listdir(assets)))
