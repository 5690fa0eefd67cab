"""Batch prediction, the model card and the gallery, on the session's run.

The session's pipeline run (conftest.py `pipeline_run`: real components on
tiny TFRecords with a `test` folder) predicts the test split with the
blessed model (BatchPrediction) and writes submission.csv, pushes a model
card with the model, and reports the misclassified eval images. These tests
read what that run wrote; none runs the pipeline again.
"""

import csv
import glob
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from modules import metrics
from pipeline.components.util import evaluation_reader as evaluation_lib
from settings import features
from pipeline.components.util import predictions
from modules import bootstrap
from pipeline.components.util import model_card
from pipeline.components.report import render
# The session run's folders, found as the other end-to-end tests find them.
from test_pipeline_e2e import _latest  # pylint: disable=g-bad-import-order
from test_pipeline_e2e import _pushed_model_dir

pytestmark = pytest.mark.slow


def _test_ids(data_root):
  files = sorted(glob.glob(os.path.join(
      data_root, features.image_dir_name(192), features.TEST_SPLIT_DIR,
      features.TFRECORD_PATTERN)))
  assert files
  return [tf.train.Example.FromString(r.numpy()).features.feature[
      features.ID_KEY].bytes_list.value[0].decode()
          for r in tf.data.TFRecordDataset(files)]


def test_default_run_writes_one_submission_row_per_test_id(pipeline_run):
  out = pipeline_run["output_dir"]
  lines = [l for l in pipeline_run["stdout"].splitlines()
           if l.startswith("  submission ")]
  assert len(lines) == 1, pipeline_run["stdout"][-3000:]
  path = lines[0].split()[-1]
  assert path == os.path.join(_latest(out, "BatchPrediction", "predictions"),
                              predictions.SUBMISSION_FILE)
  with open(path, newline="") as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["id", "label"]
  ids = [row[0] for row in rows[1:]]
  test_ids = _test_ids(pipeline_run["data_root"])
  assert len(ids) == len(set(ids)) == len(test_ids) == pipeline_run[
      "counts"]["test"]
  assert set(ids) == set(test_ids)
  labels = {row[0]: int(row[1]) for row in rows[1:]}
  assert all(0 <= label < 104 for label in labels.values())
  # The pushed model, served as a server serves it, predicts the same.
  model = tf.saved_model.load(_pushed_model_dir(out))
  records = sorted(glob.glob(os.path.join(
      pipeline_run["data_root"], features.image_dir_name(192),
      features.TEST_SPLIT_DIR, features.TFRECORD_PATTERN)))
  serialized = [r.numpy() for r in tf.data.TFRecordDataset(records)]
  served = model.signatures["serving_default"](
      examples=tf.constant(serialized))[features.CLASS_INDEX_KEY].numpy()
  assert [labels[i] for i in test_ids] == served.tolist()


def test_eval_predictions_agree_with_the_evaluator(pipeline_run):
  """EvalInference's argmax predictions score what TFMA scored."""
  out = pipeline_run["output_dir"]
  eval_predictions = predictions.read_predictions(
      _latest(out, "EvalInference", "predictions"), features.EVAL_SPLIT)
  assert len(eval_predictions) == pipeline_run["counts"]["val"]
  evaluation = evaluation_lib.load_evaluation(_latest(out, "Evaluator",
                                                      "evaluation"))
  expected = evaluation.metrics[evaluation_lib.CANDIDATE][metrics.MACRO_F1]
  assert bootstrap.macro_f1(eval_predictions.labels,
                             eval_predictions.predicted,
                             104) == pytest.approx(expected, abs=1e-6)
  np.testing.assert_array_equal(
      bootstrap.confusion_matrix(eval_predictions.labels,
                                  eval_predictions.predicted, 104),
      evaluation.confusion[evaluation_lib.CANDIDATE])


def test_model_card_is_pushed_with_the_model_and_in_the_report(pipeline_run):
  out = pipeline_run["output_dir"]
  report_dir = _latest(out, "Report", "report")
  for folder in (_pushed_model_dir(out), report_dir):
    with open(os.path.join(folder, model_card.MARKDOWN_FILE)) as f:
      card = f.read()
    with open(os.path.join(folder, model_card.HTML_FILE)) as f:
      page = f.read()
    for section in model_card.SECTIONS:
      assert f"\n## {section}\n" in card, (folder, section)
      assert f"<h2>{section}</h2>" in page, (folder, section)
    assert "Backbone: simple_cnn" in card
    assert f"Epochs: {4} run of 4 configured" in card
    assert "BLESSED: every gate passed." in card
    assert "class imbalance" in card  # The validator's warning.
  with open(os.path.join(report_dir, render.METRICS_FILE)) as f:
    record = json.load(f)
  interval = record["macro_f1_interval"]
  macro_f1 = record["metrics"][metrics.MACRO_F1]["value"]
  assert interval["examples"] == pipeline_run["counts"]["val"]
  assert interval["point"] == pytest.approx(macro_f1, abs=1e-6)
  assert interval["low"] <= macro_f1 <= interval["high"]
  assert interval["low"] < interval["high"]
  assert (f"95% bootstrap interval {interval['low']:.4f} to "
          f"{interval['high']:.4f}") in card


def test_report_shows_the_gallery_and_the_test_distribution(pipeline_run):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  report_dir = _latest(pipeline_run["output_dir"], "Report", "report")
  with open(os.path.join(report_dir, render.REPORT_FILE)) as f:
    page = f.read()
  with open(os.path.join(report_dir, render.METRICS_FILE)) as f:
    record = json.load(f)
  gallery = record["gallery"]
  assert gallery, "the tiny model misclassifies: the gallery has pairs"
  figures = re.findall(r'<figure><a href="([^"]+)"><img src="\1" alt="([^"]+)">'
                       r"</a><figcaption>\2<br>true: ([^<]+)<br>predicted: "
                       r"([^<]+)<br>confidence (0\.\d\d|1\.00)</figcaption>",
                       page)
  assert len(figures) == sum(len(pair["images"]) for pair in gallery) > 0
  eval_predictions = predictions.read_predictions(
      _latest(pipeline_run["output_dir"], "EvalInference", "predictions"),
      features.EVAL_SPLIT)
  names = features.load_class_names()
  by_id = dict(zip(eval_predictions.ids, zip(eval_predictions.labels,
                                             eval_predictions.predicted)))
  for name, image_id, true_name, predicted_name, _ in figures:
    with Image.open(os.path.join(report_dir, name)) as image:
      image.load()
      assert max(image.size) <= 128 and min(image.size) > 0
    label, predicted = by_id[image_id]
    assert (true_name, predicted_name) == (names[label], names[predicted])
    assert true_name != predicted_name
  # The test distribution beside the training one.
  counts = record["test_predictions"]["predicted_counts"]
  assert sum(counts) == pipeline_run["counts"]["test"]
  assert 'id="test"' in page and render.TEST_DISTRIBUTION_PNG in page
  with open(os.path.join(report_dir, render.TEST_DISTRIBUTION_PNG), "rb") as f:
    Image.open(io.BytesIO(f.read())).load()
