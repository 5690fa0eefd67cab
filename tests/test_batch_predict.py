"""The one batch-prediction path (batch_predict.py), fast: no pipeline run.

A tiny real SavedModel stands in for a pushed model: its `serving_default`
parses serialized tf.Examples and decodes each JPEG (an undecodable one
fails the whole batch, as the real Transform graph's decode does), and
scores three classes by the image's mean colour, so every expected label
follows from the colour the test painted.
"""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from pipeline.components.util import custom_config
from pipeline.components.util import serving_model
from pipeline.components.util import batch_predict
from pipeline.components.batch_inference import executor
from pipeline.components.util import artifact_types
from pipeline.components.util import predictions
from settings import config as config_lib
from settings import features
from tools import make_sample_data
from tools import submission

IMAGE_SIZE = features.DEFAULT_IMAGE_SIZE
RED, GREEN, BLUE = (250, 5, 5), (5, 250, 5), (5, 5, 250)
CLASS_OF_COLOUR = {RED: 0, GREEN: 1, BLUE: 2}


class _ColourModel(tf.Module):
  """serving_default: class = the image's dominant channel."""

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def serve(self, examples):
    parsed = tf.io.parse_example(examples, {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})

    def score(encoded):
      pixels = tf.cast(tf.io.decode_jpeg(encoded, channels=3), tf.float32)
      return tf.nn.softmax(tf.reduce_mean(pixels, axis=[0, 1]) / 10.0)

    probabilities = tf.map_fn(
        score, parsed[features.IMAGE_KEY],
        fn_output_signature=tf.TensorSpec([3], tf.float32))
    return {features.PROBABILITIES_KEY: probabilities,
            features.CLASS_INDEX_KEY: tf.argmax(probabilities, axis=-1)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("model") / "Format-Serving")
  module = _ColourModel()
  tf.saved_model.save(module, path, signatures={
      serving_model.SERVING_DEFAULT: module.serve})
  return path


def _jpeg(colour):
  return tf.io.encode_jpeg(tf.constant(
      np.full((8, 8, 3), colour, np.uint8))).numpy()


def _example(image_id, colour=None, image=None, with_image=True):
  if image is None:
    image = _jpeg(colour) if with_image else b""
  example = make_sample_data.make_example(image_id, image)
  if not with_image:
    del example.features.feature[features.IMAGE_KEY]
  return example.SerializeToString()


def _write(path, records, cut_bytes=0):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)
  if cut_bytes:
    with open(path, "rb") as f:
      data = f.read()
    with open(path, "wb") as f:
      f.write(data[:len(data) - cut_bytes])  # Cuts into the last record.
  return path


def _damaged_test_split(folder):
  """Two files: every kind of bad record, and a truncated tail. Returns
  (files, {id: expected label} of the predictable records)."""
  first = _write(os.path.join(folder, "00-test.tfrec"), [
      _example("a", RED),
      _example("b", GREEN),
      _example("c", image=b"\xff\xd8 these bytes are no JPEG"),
      _example("d", with_image=False),
      b"\x00 not a tf.Example",
      _example("e", BLUE),
  ])
  second = _write(os.path.join(folder, "01-test.tfrec"), [
      _example("f", BLUE), _example("g", RED), _example("h", GREEN)],
                  cut_bytes=10)
  expected = {"a": 0, "b": 1, "e": 2, "f": 2, "g": 0}
  return [first, second], expected


def _read_csv(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.reader(f))


# ---------------------------------------------------------------------------
# The first pass.

def test_scan_sorts_out_records_that_cannot_be_predicted(tmp_path):
  path = _write(str(tmp_path / "00-test.tfrec"), [
      _example("a", RED),
      _example("b", with_image=False),
      b"\x00 not a tf.Example",
      _example("c", RED),
  ])
  scan = batch_predict.scan_files([path])
  assert [(r.index, r.image_id) for r in scan.usable] == [(0, "a"), (3, "c")]
  assert [(s.path, s.index, s.image_id) for s in scan.skipped] == [
      (path, 1, "b"), (path, 2, None)]
  assert "no 'image' feature" in scan.skipped[0].reason
  assert "not a tf.Example" in scan.skipped[1].reason
  assert scan.records_read == 4


def test_scan_reports_a_truncated_file_and_keeps_its_head(tmp_path):
  path = _write(str(tmp_path / "00-test.tfrec"),
                [_example(f"id{i}", RED) for i in range(4)], cut_bytes=10)
  scan = batch_predict.scan_files([path])
  assert [r.image_id for r in scan.usable] == ["id0", "id1", "id2"]
  assert len(scan.skipped) == 1 and scan.skipped[0].rest_of_file
  assert scan.skipped[0].describe().startswith(f"{path} record 3 onwards: ")
  assert (scan.records_read, scan.broken_files) == (3, 1)


def test_truncation_past_the_first_read_batch_keeps_every_record_before(
    tmp_path):
  # More records than one batched read holds: the records of the batch
  # that holds the break are located one by one, none lost.
  count = 2 * 256 + 10
  path = _write(str(tmp_path / "00-test.tfrec"),
                [_example(f"id{i}", RED) for i in range(count)], cut_bytes=10)
  scan = batch_predict.scan_files([path])
  assert [r.index for r in scan.usable] == list(range(count - 1))
  assert [(s.index, s.rest_of_file) for s in scan.skipped] == [
      (count - 1, True)]


def test_duplicate_id_is_an_error_naming_it(tmp_path):
  first = _write(str(tmp_path / "00-test.tfrec"),
                 [_example("x1", RED), _example("dup", RED)])
  second = _write(str(tmp_path / "01-test.tfrec"), [_example("dup", RED)])
  with pytest.raises(batch_predict.DuplicateIdError) as raised:
    batch_predict.scan_files([second, first])
  message = str(raised.value)
  assert "'dup'" in message
  assert f"{first} record 1" in message and f"{second} record 0" in message


# ---------------------------------------------------------------------------
# Prediction, and the two callers.

def test_a_failed_batch_loses_only_its_bad_record(model_dir, tmp_path):
  files, expected = _damaged_test_split(str(tmp_path))
  model = serving_model.load_serving_model(
      model_dir, [serving_model.SERVING_DEFAULT])
  # Batches of 2: "c" (undecodable) fails its batch with "e".
  result, skipped = batch_predict.predict_files(model, files, batch_size=2)
  assert result.ids.tolist() == list(expected)
  assert result.predicted.tolist() == list(expected.values())
  assert result.labels.tolist() == [predictions.NO_LABEL] * len(expected)
  assert [(s.path, s.index, s.image_id, s.rest_of_file)
          for s in skipped] == [
              (files[0], 2, "c", False), (files[0], 3, "d", False),
              (files[0], 4, None, False), (files[1], 2, None, True)]
  assert skipped[0].reason.startswith("prediction failed: ")


def _run_batch_prediction(model_dir, files, folder, batch_size):
  """BatchPrediction's executor on `files` as ExampleGen's test split."""
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(folder, "examples")
  examples.split_names = json.dumps([features.TEST_SPLIT])
  split = os.path.join(examples.uri, f"Split-{features.TEST_SPLIT}")
  os.makedirs(split)
  for path in files:
    shutil.copy(path, split)
  model = standard_artifacts.Model()
  model.uri = os.path.dirname(model_dir)
  output = artifact_types.Predictions()
  output.uri = os.path.join(folder, "predictions")
  executor.Executor().Do(
      {executor.EXAMPLES_KEY: [examples], executor.MODEL_KEY: [model]},
      {executor.PREDICTIONS_KEY: [output]},
      {executor.SPLITS_KEY: json.dumps([features.TEST_SPLIT]),
       executor.SUBMISSION_SPLIT_KEY: features.TEST_SPLIT,
       custom_config.KEY: custom_config.encode(config_lib.InferenceSettings(
           batch_size=batch_size).to_dict())})
  return output, split


def test_the_dag_and_the_tool_skip_the_same_records_the_same_way(
    model_dir, tmp_path, capsys):
  test_dir = os.path.join(str(tmp_path / "data"),
                          features.image_dir_name(IMAGE_SIZE),
                          features.TEST_SPLIT_DIR)
  files, expected = _damaged_test_split(test_dir)

  output = str(tmp_path / "tool" / "submission.csv")
  code = submission.main([
      "--model", model_dir, "--data-root", str(tmp_path / "data"),
      "--image-size", str(IMAGE_SIZE), "--output", output,
      "--batch-size", "2"])
  printed = capsys.readouterr().out
  assert code == 1
  tool_lines = printed.split("skipped records:\n")[1].splitlines()[:-1]
  tool_lines = [line.strip().replace(test_dir, "<dir>")
                for line in tool_lines]

  artifact, split = _run_batch_prediction(model_dir, files,
                                          str(tmp_path / "dag"), 2)
  with open(os.path.join(artifact.uri, predictions.SKIPPED_FILE)) as f:
    dag_lines = [line.replace(split, "<dir>") for line in
                 json.load(f)[features.TEST_SPLIT]]

  # Every kind of bad record, named by file and index, in both.
  assert dag_lines == tool_lines
  assert [line.split(":")[0] for line in dag_lines] == [
      "<dir>/00-test.tfrec record 2 (id c)",
      "<dir>/00-test.tfrec record 3 (id d)",
      "<dir>/00-test.tfrec record 4",
      "<dir>/01-test.tfrec record 2 onwards"]
  assert artifact.get_int_custom_property(executor.SKIPPED_RECORDS) == 4
  assert artifact.get_int_custom_property(
      executor.PREDICTED_RECORDS) == len(expected)
  # One writer: the same file, the rows the colours say.
  dag_csv = os.path.join(artifact.uri, predictions.SUBMISSION_FILE)
  with open(dag_csv, "rb") as f, open(output, "rb") as g:
    assert f.read() == g.read()
  assert _read_csv(output) == [["id", "label"]] + [
      [image_id, str(label)] for image_id, label in expected.items()]
  assert f"wrote {len(expected)} rows to {output}" in printed
  assert not os.path.exists(output + ".tmp")


def test_a_duplicate_id_writes_nothing_in_either(model_dir, tmp_path,
                                                  capsys):
  test_dir = os.path.join(str(tmp_path / "data"),
                          features.image_dir_name(IMAGE_SIZE),
                          features.TEST_SPLIT_DIR)
  files = [_write(os.path.join(test_dir, "00-test.tfrec"), [
      _example("once", RED), _example("twice", RED),
      _example("twice", GREEN)])]
  output = tmp_path / "submission.csv"
  assert submission.main(["--model", model_dir, "--data-root",
                          str(tmp_path / "data"), "--output",
                          str(output)]) == 2
  assert "duplicate id 'twice'" in capsys.readouterr().err
  assert not output.exists()
  with pytest.raises(ValueError, match="duplicate id 'twice'"):
    _run_batch_prediction(model_dir, files, str(tmp_path / "dag"), 64)
  assert not os.path.exists(os.path.join(
      str(tmp_path / "dag"), "predictions", predictions.SUBMISSION_FILE))
