"""Data validation: class balance, class weights, bad records and files.

The executor tests build real ExampleGen-style artifacts (GZIP TFRecords per
split) and real TFDV statistics computed with the curated schema, then run
DataValidator's executor on them, one bad case at a time.
"""

import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_data_validation.statistics import stats_impl
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

from conftest import run_local_pipeline
from pipeline import data_check
from pipeline import features
from pipeline import pipeline as pipeline_lib
from pipeline import schema_check
from pipeline import validation
from tools import make_sample_data

CLASS_NAMES = features.load_class_names()
SIZE = 192
_JPEG_CACHE = {}


def _jpeg(label, size=SIZE):
  key = (label % 104, size)
  if key not in _JPEG_CACHE:
    rng = np.random.default_rng(label)
    _JPEG_CACHE[key] = make_sample_data.encode_jpeg(
        make_sample_data.draw_flower(label, size, rng))
  return _JPEG_CACHE[key]


def _examples(counts, prefix):
  """tf.Examples with `counts[label]` images of each label."""
  result = []
  for label, count in enumerate(counts):
    for i in range(count):
      result.append(make_sample_data.make_example(
          f"{prefix}{label:03d}-{i}", _jpeg(label), label))
  return result


def _run_validator(tmp_path, splits, config_changes=None):
  """Writes artifacts for `splits` ({name: [tf.Example]}), runs the executor.

  Returns the ExampleAnomalies artifact and the summary the executor wrote.
  """
  schema = schema_check.load_schema(pipeline_lib.DEFAULT_SCHEMA_FILE)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  stats = standard_artifacts.ExampleStatistics()
  stats.uri = str(tmp_path / "statistics")
  for artifact in (examples, stats):
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
  for split, records in splits.items():
    serialized = [e.SerializeToString() for e in records]
    split_dir = artifact_utils.get_split_uri([examples], split)
    os.makedirs(split_dir)
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-0.gz"),
                              options="GZIP") as writer:
      for record in serialized:
        writer.write(record)
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    record_batch = decoder.DecodeBatch(serialized)
    split_stats = stats_impl.generate_statistics_in_memory(
        record_batch, tfdv.StatsOptions(schema=schema))
    stats_dir = artifact_utils.get_split_uri([stats], split)
    os.makedirs(stats_dir)
    io_utils.write_bytes_file(os.path.join(stats_dir, "FeatureStats.pb"),
                              split_stats.SerializeToString())
  schema_artifact = standard_artifacts.Schema()
  schema_artifact.uri = str(tmp_path / "schema")
  os.makedirs(schema_artifact.uri)
  io_utils.write_pbtxt_file(os.path.join(schema_artifact.uri, "schema.pbtxt"),
                            schema)
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / "anomalies")
  os.makedirs(anomalies.uri)
  settings = dict(class_names=json.dumps(CLASS_NAMES), image_size=SIZE,
                  max_imbalance_ratio=3.0, min_class_examples=2,
                  scan_images=1)
  settings.update(config_changes or {})
  error = None
  try:
    validation.DataValidatorExecutor().Do(
        {"examples": [examples], "statistics": [stats],
         "schema": [schema_artifact]}, {"anomalies": [anomalies]}, settings)
  except validation.DataValidationError as raised:
    error = str(raised)
  return anomalies, validation.read_summary(anomalies.uri), error


IMBALANCED = [8] * 4 + [2] * 100
BALANCED = [2] * 104
EVAL = [1] * 104


# ---------------------------------------------------------------------------
# Pure rules.

def test_imbalance_rules():
  names = ["a", "b", "c", "d"]
  assert validation.imbalance_warnings([10, 10, 10, 10], names, 3.0, 2) == []
  warnings = validation.imbalance_warnings([40, 10, 1, 0], names, 3.0, 2)
  text = "\n".join(warnings)
  assert "no examples: 'd' (3)" in text
  assert "ratio is 40.0" in text and "largest 'a' (0): 40" in text
  assert "fewer than 2 examples: 'c' (2): 1" in text


def test_check_image_cases():
  good = _jpeg(3)
  assert validation.check_image(good, SIZE) is None
  assert "does not decode" in validation.check_image(good[:len(good) // 2],
                                                     SIZE)
  assert "does not decode" in validation.check_image(b"not an image", SIZE)
  small = _jpeg(3, size=100)
  assert "100x100, expected 192x192" in validation.check_image(small, SIZE)


# ---------------------------------------------------------------------------
# The executor, on real statistics.

def test_imbalanced_sample_warns_and_continues(tmp_path):
  artifact, summary, error = _run_validator(
      tmp_path, {"train": _examples(IMBALANCED, "t"),
                 "eval": _examples(EVAL, "e")})
  assert error is None
  assert summary["errors"] == []
  assert any("class imbalance" in w and "ratio is 4.0" in w
             for w in summary["warnings"])
  assert summary["splits"]["train"]["class_counts"] == IMBALANCED
  assert summary["splits"]["train"]["records_scanned"] == sum(IMBALANCED)
  # The standard artifact: TFDV reads the warning back.
  anomalies = anomalies_pb2.Anomalies.FromString(open(os.path.join(
      artifact_utils.get_split_uri([artifact], "train"), "SchemaDiff.pb"),
                                                     "rb").read())
  assert "Class imbalance" in str(anomalies.anomaly_info[features.LABEL_KEY])
  for path in summary["reports"].values():
    assert os.path.getsize(path) > 0
  table = open(summary["reports"]["table"]).read()
  assert "pink primrose" in table and "total" in table
  assert artifact.get_json_value_custom_property("blessed") == {
      "train": 1, "eval": 1}


def test_balanced_copy_has_no_imbalance_warning(tmp_path):
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(BALANCED, "t"),
                 "eval": _examples(EVAL, "e")})
  assert error is None
  assert not [w for w in summary["warnings"] if "imbalance" in w]


def _bad_case(name):
  train = _examples(BALANCED, "t")
  evaluation = _examples(EVAL, "e")
  if name == "label out of range":
    train.append(make_sample_data.make_example("t-bad", _jpeg(0), 104))
  elif name == "missing image":
    example = make_sample_data.make_example("e-noimage", _jpeg(0), 5)
    del example.features.feature[features.IMAGE_KEY]
    evaluation.append(example)
  elif name == "wrong type":
    # A whole split written with the label as text. (Mixed types inside one
    # split fail earlier, in StatisticsGen, with a message naming the
    # feature.)
    for example in evaluation:
      label = example.features.feature[features.LABEL_KEY].int64_list.value[0]
      example.features.feature[features.LABEL_KEY].Clear()
      example.features.feature[features.LABEL_KEY].bytes_list.value.append(
          str(label).encode())
  elif name == "corrupt jpeg":
    jpeg = _jpeg(1)
    train.append(make_sample_data.make_example("t-corrupt",
                                               jpeg[:len(jpeg) // 3], 1))
  elif name == "wrong size":
    evaluation.append(make_sample_data.make_example("e-small",
                                                    _jpeg(2, 100), 2))
  elif name == "empty split":
    evaluation = []
  return {"train": train, "eval": evaluation}


@pytest.mark.parametrize("case, expected", [
    ("label out of range", ["'train'", "'class'", "outside [0, 103]",
                            "104 (1 examples)"]),
    ("missing image", ["'eval'", "'image'"]),
    ("wrong type", ["'eval'", "'class'"]),
    ("corrupt jpeg", ["'train'", "'image'", "id t-corrupt",
                      "does not decode"]),
    ("wrong size", ["'eval'", "'image'", "id e-small", "100x100"]),
    ("empty split", ["'eval'", "empty"]),
])
def test_hard_problem_stops_with_a_clear_message(tmp_path, case, expected):
  artifact, summary, error = _run_validator(tmp_path, _bad_case(case))
  assert error is not None, f"{case} was not caught"
  assert "stops before Transform" in error
  for text in expected:
    assert text in error, f"{text!r} not in {error!r}"
  assert summary["errors"], "the problem must be recorded too"
  blessed = artifact.get_json_value_custom_property("blessed")
  assert 0 in blessed.values()


# ---------------------------------------------------------------------------
# File-level checks before the run.

@pytest.fixture
def small_root(tmp_path):
  make_sample_data.make_sample_data(
      str(tmp_path), num_classes=104, head_classes=0, head_count=1,
      tail_count=1, val_fraction=1.0, test_count=2, seed=5)
  return tmp_path, tmp_path / features.image_dir_name(SIZE)


def test_good_root_counts_records_and_reports_skipped_files(small_root):
  root, base = small_root
  (base / "train" / "README.txt").write_text("notes")
  report = data_check.check_data_root(str(root), SIZE)
  assert report.records == {"train": 104, "val": 104}
  assert report.skipped_files == [str(base / "train" / "README.txt")]
  assert "skipped 1 file(s)" in "\n".join(report.lines())


def test_truncated_tfrecord_names_file_and_record(small_root):
  root, base = small_root
  path = sorted((base / "train").glob("*.tfrec"))[0]
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(data_check.DataCheckError) as raised:
    data_check.check_data_root(str(root), SIZE)
  assert str(path) in str(raised.value)
  assert "unreadable at record" in str(raised.value)


def test_non_tfrecord_file_and_missing_or_empty_split(small_root):
  root, base = small_root
  bad = base / "val" / "99-192x192-1.tfrec"
  bad.write_bytes(gzip.compress(b"this is not a tfrecord file" * 10))
  with pytest.raises(data_check.DataCheckError, match=str(bad)):
    data_check.check_data_root(str(root), SIZE)
  bad.unlink()
  for path in (base / "val").glob("*.tfrec"):
    path.write_bytes(b"")
  with pytest.raises(data_check.DataCheckError, match="empty"):
    data_check.check_data_root(str(root), SIZE)
  with pytest.raises(data_check.DataCheckError, match="does not exist"):
    data_check.check_data_root(str(root), 512)


# ---------------------------------------------------------------------------
# The real pipeline stops before Transform.

@pytest.mark.slow
def test_pipeline_stops_on_bad_records(tmp_path):
  make_sample_data.make_sample_data(
      str(tmp_path / "data"), num_classes=104, head_classes=0, head_count=2,
      tail_count=2, val_fraction=0.5, test_count=2, seed=9)
  base = tmp_path / "data" / features.image_dir_name(SIZE)
  with tf.io.TFRecordWriter(str(base / "train" / "50-192x192-1.tfrec")) as w:
    jpeg = _jpeg(4)
    w.write(make_sample_data.make_example(
        "corrupt-one", jpeg[:len(jpeg) // 3], 4).SerializeToString())
  with tf.io.TFRecordWriter(str(base / "val" / "50-192x192-1.tfrec")) as w:
    w.write(make_sample_data.make_example(
        "label-out", _jpeg(4), 250).SerializeToString())
  output = tmp_path / "out"
  process = run_local_pipeline(str(tmp_path / "data"), str(output),
                               "--epochs", "1")
  assert process.returncode == 2, process.stdout[-3000:] + process.stderr[-3000:]
  assert "data validation failed" in process.stderr
  assert "id corrupt-one" in process.stderr
  assert "250 (1 examples)" in process.stderr
  assert not (output / "pipeline_root" / "Transform").exists()
  assert not (output / "pipeline_root" / "Trainer").exists()
