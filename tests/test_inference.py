"""Inference tools: Kaggle submission, prediction on files, ensembles.

Fast tests cover what needs no model (weights); reading the test split and
the shared batch prediction are tests/test_batch_predict.py's.
Slow ones use the session's one real pipeline run (`pipeline_run`): its
pushed model, and a second, untrained model exported with the same
Transform graph so that ensemble members really differ.
"""

import csv
import glob
import io
import json
import os

from absl import logging as absl_logging
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from settings import config as config_lib
from settings import features
from tools import ensemble
from pipeline.components.util import serving_model as inference_lib
from tools import make_sample_data
from tools import predict
from tools import submission
import serving_consumers

IMAGE_SIZE = features.DEFAULT_IMAGE_SIZE


# ---------------------------------------------------------------------------
# Helpers.

def _pushed_model_dir(output_dir):
  versions = sorted(glob.glob(os.path.join(output_dir, "serving", "*")))
  assert versions, "nothing was pushed"
  return versions[-1]


def _split_files(data_root, split_dir):
  return sorted(glob.glob(os.path.join(
      data_root, features.image_dir_name(IMAGE_SIZE), split_dir,
      features.TFRECORD_PATTERN)))


def _records(files):
  return [raw.numpy() for raw in tf.data.TFRecordDataset(files)]


def _bytes_feature(serialized, key):
  example = tf.train.Example.FromString(serialized)
  return example.features.feature[key].bytes_list.value[0]


def _write_split(data_root, name, records):
  """Writes records as `<data_root>/tfrecords-jpeg-192x192/test/<name>`."""
  directory = os.path.join(data_root, features.image_dir_name(IMAGE_SIZE),
                           features.TEST_SPLIT_DIR)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, name)
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)
  return path


def _example(image_id, image=b"\xff\xd8 jpeg"):
  return make_sample_data.make_example(image_id, image).SerializeToString()


def _read_submission(path):
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
  return rows[0], rows[1:]


def _probabilities(model, signature, **inputs):
  outputs = model.signatures[signature](
      **{k: tf.constant(v) for k, v in inputs.items()})
  return {k: v.numpy() for k, v in outputs.items()}


# ---------------------------------------------------------------------------
# Fast: no model needed.

def test_weights_default_equal_and_are_normalised():
  assert ensemble.normalise_weights(None, 4) == [0.25] * 4
  np.testing.assert_allclose(ensemble.normalise_weights([3, 1], 2),
                             [0.75, 0.25])
  np.testing.assert_allclose(
      ensemble.normalise_weights(ensemble.parse_weights("0.6,0.4"), 2),
      [0.6, 0.4])


@pytest.mark.parametrize("weights, message", [
    ([1.0], "1 weights for 2 models"),
    ([0.5, -0.1], "weight 2 is -0.1"),
    ([float("nan"), 1.0], "weight 1 is nan"),
    ([0.0, 0.0], "at least one weight must be positive"),
])
def test_bad_weights_are_rejected(weights, message):
  with pytest.raises(ValueError, match=message):
    ensemble.normalise_weights(weights, 2)


def test_weights_that_are_not_numbers_are_named():
  with pytest.raises(ValueError, match="'x' is not a number"):
    ensemble.parse_weights("0.5,x")


def test_ensemble_cli_needs_data_root_to_evaluate(capsys):
  with pytest.raises(SystemExit):
    ensemble.parse_args(["--model", "a", "--model", "b", "--output", "o",
                         "--evaluate"])
  assert "--evaluate needs --data-root" in capsys.readouterr().err


def test_tools_refuse_a_folder_that_is_not_a_saved_model(tmp_path, capsys):
  image = tmp_path / "flower.jpg"
  image.write_bytes(b"\xff\xd8")
  assert predict.main([str(image), "--model", str(tmp_path)]) == 2
  assert "is not a SavedModel folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Slow: the pipeline's pushed model.

@pytest.fixture(scope="module")
def pushed_model(pipeline_run):
  path = _pushed_model_dir(pipeline_run["output_dir"])
  return path, inference_lib.load_serving_model(path)


@pytest.mark.slow
def test_submission_has_every_test_id_once(pipeline_run, pushed_model,
                                           tmp_path, capsys):
  model_dir, model = pushed_model
  data_root = pipeline_run["data_root"]
  output = str(tmp_path / "submission.csv")
  code = submission.main([
      "--model", model_dir, "--data-root", data_root,
      "--image-size", str(IMAGE_SIZE), "--output", output,
      "--batch-size", "8", "--progress-every", "5"])
  captured = capsys.readouterr()
  assert code == 0, captured.err

  header, rows = _read_submission(output)
  assert header == ["id", "label"]
  records = _records(_split_files(data_root, features.TEST_SPLIT_DIR))
  ids = [_bytes_feature(r, features.ID_KEY).decode() for r in records]
  assert len(ids) == pipeline_run["counts"]["test"]
  assert sorted(row[0] for row in rows) == sorted(ids)  # Each id, once.
  labels = {row[0]: int(row[1]) for row in rows}
  assert all(0 <= label < 104 for label in labels.values())
  # The labels are the model's own predictions for those records.
  expected = _probabilities(model, inference_lib.SERVING_DEFAULT,
                            examples=records)[features.CLASS_INDEX_KEY]
  assert [labels[i] for i in ids] == expected.tolist()

  assert f"wrote {len(ids)} rows to {output}" in captured.out
  assert "0 skipped" in captured.out
  # Batches of 8 with a report due every 5 records: one line a batch.
  progress = [line.split()[0] for line in captured.err.splitlines()
              if "records predicted" in line]
  assert progress == [f"{n}/{len(ids)}"
                      for n in [*range(8, len(ids), 8), len(ids)]]


@pytest.mark.slow
def test_submission_skips_and_reports_a_corrupt_record(pipeline_run,
                                                       pushed_model, tmp_path,
                                                       capsys):
  model_dir, model = pushed_model
  records = _records(_split_files(pipeline_run["data_root"],
                                  features.TEST_SPLIT_DIR))
  corrupt_index = 3
  corrupt = tf.train.Example.FromString(records[corrupt_index])
  corrupt.features.feature[features.IMAGE_KEY].bytes_list.value[0] = (
      b"\xff\xd8 these bytes are no JPEG")
  records[corrupt_index] = corrupt.SerializeToString()
  corrupt_id = _bytes_feature(records[corrupt_index], features.ID_KEY).decode()
  data_root = str(tmp_path / "data")
  path = _write_split(data_root, "00-192x192-corrupt.tfrec", records)
  output = str(tmp_path / "submission.csv")

  # Batches of 8: the corrupt record fails the first batch, whose other 7
  # records must still be written.
  code = submission.main(["--model", model_dir, "--data-root", data_root,
                          "--output", output, "--batch-size", "8"])
  captured = capsys.readouterr()
  assert code == 1

  _, rows = _read_submission(output)
  assert len(rows) == len(records) - 1
  assert corrupt_id not in {row[0] for row in rows}
  good = [r for i, r in enumerate(records) if i != corrupt_index]
  expected = _probabilities(model, inference_lib.SERVING_DEFAULT,
                            examples=good)[features.CLASS_INDEX_KEY]
  assert [int(row[1]) for row in rows] == expected.tolist()
  assert (f"wrote {len(records) - 1} rows to {output} ({len(records)} "
          "records read, 1 skipped") in captured.out
  assert (f"{path} record {corrupt_index} (id {corrupt_id}): prediction "
          "failed: ") in captured.out


@pytest.mark.slow
def test_submission_stops_on_a_duplicate_id(pushed_model, tmp_path, capsys):
  model_dir, _ = pushed_model
  data_root = str(tmp_path / "data")
  _write_split(data_root, "00-test.tfrec",
               [_example("once"), _example("twice"), _example("twice")])
  output = tmp_path / "submission.csv"
  assert submission.main(["--model", model_dir, "--data-root", data_root,
                          "--output", str(output)]) == 2
  assert "duplicate id 'twice'" in capsys.readouterr().err
  assert not output.exists()


@pytest.fixture(scope="module")
def image_files(pipeline_run, tmp_path_factory):
  """A val JPEG as it is, and another val image as a 517x389 PNG."""
  folder = tmp_path_factory.mktemp("images")
  records = _records(_split_files(pipeline_run["data_root"], "val"))[:2]
  jpeg_path = folder / "flower.jpg"
  jpeg_path.write_bytes(_bytes_feature(records[0], features.IMAGE_KEY))
  png_path = folder / "flower_517x389.png"
  image = Image.open(io.BytesIO(_bytes_feature(records[1],
                                               features.IMAGE_KEY)))
  image.resize((517, 389)).save(png_path)
  return str(jpeg_path), str(png_path)


@pytest.mark.slow
def test_predict_prints_top_k_and_names_bad_files(pushed_model, image_files,
                                                  tmp_path, capsys):
  model_dir, model = pushed_model
  jpeg_path, png_path = image_files
  text_path = tmp_path / "notes.txt"
  text_path.write_text("not an image\n")
  missing_path = str(tmp_path / "missing.jpg")
  code = predict.main([jpeg_path, str(text_path), png_path, missing_path,
                       "--model", model_dir, "--top-k", "3",
                       "--format", "json"])
  captured = capsys.readouterr()
  assert code == 1  # Some files failed; the others were still predicted.
  results = json.loads(captured.out)
  assert [r["file"] for r in results] == [
      jpeg_path, str(text_path), png_path, missing_path]
  assert "not a readable image" in results[1]["error"]
  assert results[3]["error"] == "no such file"
  assert f"error: {text_path}: not a readable image" in captured.err
  assert f"error: {missing_path}: no such file" in captured.err

  class_names = features.load_class_names()
  for result, path in ((results[0], jpeg_path), (results[2], png_path)):
    with open(path, "rb") as f:
      expected = _probabilities(model, inference_lib.SERVING_IMAGE_BYTES,
                                image_bytes=[f.read()])
    probabilities = expected[features.PROBABILITIES_KEY][0]
    top = result["predictions"]
    assert [p["rank"] for p in top] == [1, 2, 3]
    assert top[0]["class_index"] == expected[features.CLASS_INDEX_KEY][0]
    assert top[0]["class_name"] == (
        expected[features.CLASS_NAME_KEY][0].decode())
    for entry in top:
      assert entry["class_name"] == class_names[entry["class_index"]]
      assert entry["probability"] == pytest.approx(
          probabilities[entry["class_index"]], abs=1e-6)
    np.testing.assert_allclose([p["probability"] for p in top],
                               np.sort(probabilities)[::-1][:3], atol=1e-6)


@pytest.mark.slow
def test_predict_table_format(pushed_model, image_files, capsys):
  model_dir, model = pushed_model
  jpeg_path, _ = image_files
  assert predict.main([jpeg_path, "--model", model_dir, "--top-k", "2"]) == 0
  lines = capsys.readouterr().out.splitlines()
  with open(jpeg_path, "rb") as f:
    top_name = _probabilities(model, inference_lib.SERVING_IMAGE_BYTES,
                              image_bytes=[f.read()])[
                                  features.CLASS_NAME_KEY][0].decode()
  assert lines[0] == jpeg_path
  assert len(lines) == 3
  assert lines[1].strip().startswith(f"1. {top_name} ")


# ---------------------------------------------------------------------------
# Slow: ensembles.

def _export_untrained_member(pipeline_run, export_dir, class_names=None):
  """A freshly built (untrained) model with the run's Transform graph."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from modules import model as model_lib  # pylint: disable=g-import-not-at-top
  from modules import serving  # pylint: disable=g-import-not-at-top
  transform_dirs = glob.glob(os.path.join(
      pipeline_run["output_dir"], "pipeline_root", "Transform",
      "transform_graph", "*"))
  assert len(transform_dirs) == 1, transform_dirs
  # The run used the default config (simple_cnn at 64x64, 104 classes).
  config = config_lib.PipelineConfig()
  keras.utils.set_random_seed(1)
  model = model_lib.build_model(config)
  serving.export_serving_model(
      model, tft.TFTransformOutput(transform_dirs[0]),
      class_names or config.class_names, export_dir)
  return export_dir


@pytest.fixture(scope="module")
def members(pipeline_run, pushed_model, tmp_path_factory):
  """(trained pushed model, untrained model) folders."""
  second = _export_untrained_member(
      pipeline_run, str(tmp_path_factory.mktemp("member") / "model"))
  return pushed_model[0], second


@pytest.fixture(scope="module")
def val_records(pipeline_run):
  return _records(_split_files(pipeline_run["data_root"], "val"))


@pytest.mark.slow
@pytest.mark.parametrize("weights", [(0.7, 0.3), None])
def test_ensemble_is_the_weighted_average_of_its_members(
    members, val_records, image_files, weights, tmp_path, capsys):
  output = str(tmp_path / "ensemble")
  argv = ["--model", members[0], "--model", members[1], "--output", output]
  if weights:
    argv += ["--weights", ",".join(str(w) for w in weights)]
  verbosity = absl_logging.get_verbosity()
  assert ensemble.main(argv) == 0, capsys.readouterr().err
  # The tool quiets the libraries while it works, then gives the process
  # its verbosity back: left at ERROR, the next SavedModel export in this
  # process would drop every absl warning (a waiting push's, for one).
  assert absl_logging.get_verbosity() == verbosity
  expected_weights = weights or (0.5, 0.5)

  loaded = [inference_lib.load_serving_model(m) for m in members]
  model = inference_lib.load_serving_model(output)
  assert sorted(model.signatures.keys()) == sorted(
      inference_lib.REQUIRED_SIGNATURES)
  assert inference_lib.read_class_names(model) == (
      features.load_class_names())
  examples = val_records[:16]
  with open(image_files[1], "rb") as f:
    png = f.read()
  for signature, inputs in (
      (inference_lib.SERVING_DEFAULT, {"examples": examples}),
      (inference_lib.SERVING_IMAGE_BYTES, {"image_bytes": [png] * 2})):
    member_probabilities = [
        _probabilities(m, signature, **inputs)[features.PROBABILITIES_KEY]
        for m in loaded]
    # Otherwise the test could not tell the members apart.
    assert np.abs(member_probabilities[0] -
                  member_probabilities[1]).max() > 1e-3
    average = sum(w * p for w, p in zip(expected_weights,
                                        member_probabilities))
    outputs = _probabilities(model, signature, **inputs)
    np.testing.assert_allclose(outputs[features.PROBABILITIES_KEY], average,
                               atol=1e-6)
    index = outputs[features.CLASS_INDEX_KEY]
    np.testing.assert_array_equal(
        index, outputs[features.PROBABILITIES_KEY].argmax(axis=1))
    class_names = features.load_class_names()
    assert [n.decode() for n in outputs[features.CLASS_NAME_KEY]] == [
        class_names[i] for i in index]
  # Model servers restore it in a TF1 session: the same outputs there.
  serving_consumers.assert_serves_in_a_tf1_session(output, examples,
                                                   [png] * 2)

  with open(os.path.join(output, ensemble.LEDGER_FILE)) as f:
    ledger = json.load(f)
  assert [m["model"] for m in ledger["members"]] == [
      os.path.abspath(m) for m in members]
  np.testing.assert_allclose([m["weight"] for m in ledger["members"]],
                             expected_weights)


@pytest.mark.slow
def test_ensemble_refuses_members_with_other_class_names(pipeline_run,
                                                         members, tmp_path):
  renamed = list(features.load_class_names())
  renamed[5] = "not a flower"
  other = _export_untrained_member(pipeline_run, str(tmp_path / "other"),
                                   renamed)
  with pytest.raises(ValueError, match="names class 5 'not a flower'"):
    ensemble.build_ensemble([members[0], other], str(tmp_path / "out"))


@pytest.mark.slow
def test_ensemble_is_evaluated_by_tfma_like_a_pushed_model(
    pipeline_run, members, val_records, tmp_path, capsys):
  from sklearn import metrics as sklearn_metrics  # pylint: disable=g-import-not-at-top
  # The ensemble's macro F1, computed here from its members' predictions.
  labels, averages = [], 0
  for member in members:
    probabilities = _probabilities(
        inference_lib.load_serving_model(member),
        inference_lib.SERVING_DEFAULT,
        examples=val_records)[features.PROBABILITIES_KEY]
    averages = averages + probabilities / len(members)
  for record in val_records:
    example = tf.train.Example.FromString(record)
    labels.append(example.features.feature[
        features.LABEL_KEY].int64_list.value[0])
  expected_f1 = sklearn_metrics.f1_score(labels, averages.argmax(axis=1),
                                         average="macro")
  assert expected_f1 < 0.95  # So that the threshold below can fail.
  threshold = round(expected_f1 + 0.05, 4)

  output = str(tmp_path / "ensemble")
  code = ensemble.main([
      "--model", members[0], "--model", members[1], "--output", output,
      "--evaluate", "--data-root", pipeline_run["data_root"],
      "--image-size", str(IMAGE_SIZE), "--min-macro-f1", str(threshold)])
  out = capsys.readouterr().out
  assert code == 1  # Written, but below the threshold.
  assert f"thresholds         FAIL (macro_f1 >= {threshold};" in out

  with open(os.path.join(output, ensemble.LEDGER_FILE)) as f:
    evaluation = json.load(f)["evaluation"]
  assert evaluation["passed"] is False
  assert evaluation["metrics"]["example_count"] == len(val_records)
  assert evaluation["metrics"]["macro_f1"] == pytest.approx(expected_f1,
                                                            abs=1e-6)
  assert f"macro_f1           {expected_f1:.4f}" in out
