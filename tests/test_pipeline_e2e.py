"""End to end: the real pipeline on tiny TFRecords, as `make run` runs it."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import E2E_EPOCHS
from pipeline import features

pytestmark = pytest.mark.slow


def _pushed_model_dir(output_dir):
  versions = sorted(glob.glob(os.path.join(output_dir, "serving", "*")))
  assert versions, "nothing was pushed"
  return versions[-1]


def _val_examples(data_root, n=3):
  pattern = os.path.join(data_root, features.image_dir_name(192), "val",
                         "*.tfrec")
  return [raw.numpy() for raw in
          tf.data.TFRecordDataset(sorted(glob.glob(pattern))).take(n)]


def test_run_blesses_pushes_and_reports(pipeline_run):
  out = pipeline_run["stdout"]
  assert "=== Run summary ===" in out
  assert "verdict            BLESSED" in out
  pushed = _pushed_model_dir(pipeline_run["output_dir"])
  assert f"pushed model       {pushed}" in out
  assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
  for metric in ("macro_f1", "argmax_accuracy", "example_count"):
    assert metric in out
  count_line = [l for l in out.splitlines() if "example_count" in l][0]
  assert int(count_line.split()[-1]) == pipeline_run["counts"]["val"]


def test_pushed_model_predicts_a_val_example(pipeline_run):
  model = tf.saved_model.load(_pushed_model_dir(pipeline_run["output_dir"]))
  serialized = _val_examples(pipeline_run["data_root"])
  outputs = model.signatures["serving_default"](
      examples=tf.constant(serialized))
  probabilities = outputs[features.PROBABILITIES_KEY].numpy()
  assert probabilities.shape == (len(serialized), 104)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
  index = outputs[features.CLASS_INDEX_KEY].numpy()
  np.testing.assert_array_equal(index, probabilities.argmax(axis=1))
  names = [n.decode() for n in outputs[features.CLASS_NAME_KEY].numpy()]
  class_names = features.load_class_names()
  assert names == [class_names[i] for i in index]


def test_image_bytes_and_example_signatures_agree(pipeline_run):
  model = tf.saved_model.load(_pushed_model_dir(pipeline_run["output_dir"]))
  serialized = _val_examples(pipeline_run["data_root"])
  jpegs = [tf.train.Example.FromString(s).features.feature[
      features.IMAGE_KEY].bytes_list.value[0] for s in serialized]
  from_examples = model.signatures["serving_default"](
      examples=tf.constant(serialized))[features.PROBABILITIES_KEY]
  from_bytes = model.signatures["serving_image_bytes"](
      image_bytes=tf.constant(jpegs))[features.PROBABILITIES_KEY]
  np.testing.assert_allclose(from_bytes.numpy(), from_examples.numpy(),
                             atol=1e-6)
  transformed = model.signatures["transform_features"](
      examples=tf.constant(serialized))
  assert transformed[features.TRANSFORMED_IMAGE_KEY].shape[1:] == (64, 64, 3)


def test_training_history_records_the_run(pipeline_run):
  paths = glob.glob(os.path.join(pipeline_run["output_dir"], "pipeline_root",
                                 "Trainer", "model_run", "*",
                                 "training_history.json"))
  assert len(paths) == 1
  history = json.load(open(paths[0]))
  assert len(history["epochs"]) == E2E_EPOCHS
  assert history["replicas"] == 1
  assert sum(history["class_counts"]) == pipeline_run["counts"]["train"]
  assert history["train_examples"] == pipeline_run["counts"]["train"]
