"""Data validation: class balance, class weights, bad records, integrity.

The executor tests build real ExampleGen-style artifacts (GZIP TFRecords per
split) and real TFDV statistics computed with the curated schema, then run
TFX's ExampleValidator executor (with the class balance rules) and the
ImageValidator's executor on them, one bad case at a time.
"""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_data_validation.utils import anomalies_util
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

from conftest import run_local_pipeline
from modules import data_profile
from settings import config as config_lib
from pipeline.components.util import class_balance
from pipeline.components.util import custom_config
from pipeline.components.example_validator import executor as example_validator_executor
from pipeline.components.example_gen import input_files
from pipeline.components.example_gen import record_facts
from settings import features
from pipeline import pipeline as pipeline_lib
from pipeline.components.schema_gen import class_domain
from pipeline.components.image_validator import findings
from pipeline.components.image_validator import executor as validation_executor
from pipeline.components.image_validator import image_scan
from tools import make_sample_data

CLASS_NAMES = features.load_class_names()
SIZE = features.DEFAULT_IMAGE_SIZE
_JPEG_CACHE = {}


def _jpeg(label, size=SIZE):
  key = (label % 104, size)
  if key not in _JPEG_CACHE:
    rng = np.random.default_rng(label)
    _JPEG_CACHE[key] = make_sample_data.encode_jpeg(
        make_sample_data.draw_flower(label, size, rng))
  return _JPEG_CACHE[key]


def _encoded(label, image_format, size=SIZE):
  """A drawn flower in `image_format` (Pillow's name: "WEBP", "TIFF"...)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.open(io.BytesIO(_jpeg(label, size))).save(buffer, format=image_format)
  return buffer.getvalue()


def _examples(counts, prefix, unique=False):
  """tf.Examples with `counts[label]` images of each label.

  With `unique`, no two records share image bytes: bytes after the JPEG's
  end marker make each one distinct (decoders ignore them).
  """
  result = []
  for label, count in enumerate(counts):
    for i in range(count):
      record_id = f"{prefix}{label:03d}-{i}"
      jpeg = _jpeg(label) + (record_id.encode() if unique else b"")
      result.append(make_sample_data.make_example(record_id, jpeg, label))
  return result


def _run_example_validator(stats, schema, anomalies, rules):
  """TFX's ExampleValidator executor as the DAG runs it, with `rules` as its
  custom_validation_config (the proto, or its JSON text)."""
  example_validator_executor.Executor().Do(
      {"statistics": [stats], "schema": [schema]},
      {"anomalies": [anomalies]},
      {"exclude_splits": "[]", "custom_validation_config": rules})


def _run_validator(tmp_path, splits, config_changes=None, test=None,
                   baseline_model=None):
  """Writes artifacts for `splits` ({name: [tf.Example]}), runs the executor.

  `test`: tf.Examples of the test folder, given to the validator as
  CheckedImportExampleGen's file check does (data_check.json).
  `baseline_model`: the drift baseline (a Model artifact), if any.
  Returns the ExampleAnomalies artifact and the summary the executor wrote.
  """
  # As SchemaGen gives it: the label's domain from the class list.
  schema = class_domain.schema_for_classes(
      class_domain.load_schema(pipeline_lib.DEFAULT_SCHEMA_FILE),
      len(CLASS_NAMES))
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
  if test is not None:
    report = input_files.DataCheckReport(
        records={}, skipped_files=[], test_records=[
            record_facts.record_key(e.SerializeToString()) for e in test])
    input_files.write_report(report, examples.uri)
  schema_artifact = standard_artifacts.Schema()
  schema_artifact.uri = str(tmp_path / "schema")
  os.makedirs(schema_artifact.uri)
  io_utils.write_pbtxt_file(os.path.join(schema_artifact.uri, "schema.pbtxt"),
                            schema)
  config = config_lib.PipelineConfig(
      image_size=SIZE, class_names=CLASS_NAMES).replace(
          validation__max_imbalance_ratio=3.0,
          validation__min_class_examples=2, validation__scan_images=True,
          **{f"validation__{key}": value
             for key, value in (config_changes or {}).items()})
  # TFX's own ExampleValidator, with the class balance rules the DAG gives
  # it (its executor as the DAG runs it).
  example_anomalies = standard_artifacts.ExampleAnomalies()
  example_anomalies.uri = str(tmp_path / "example_anomalies")
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / "anomalies")
  os.makedirs(anomalies.uri)
  # The ImageValidator's view of a config, as the DAG gives it.
  settings = config.image_validator_settings()
  error = None
  try:
    _run_example_validator(
        stats, schema_artifact, example_anomalies,
        class_balance.custom_validation_config(
            config.example_validator_settings()))
    validation_executor.ImageValidatorExecutor().Do(
        {"examples": [examples], "statistics": [stats],
         validation_executor.EXAMPLE_ANOMALIES_KEY: [example_anomalies],
         validation_executor.BASELINE_MODEL_KEY: (
             [baseline_model] if baseline_model else [])},
        {"anomalies": [anomalies]},
        {custom_config.KEY: custom_config.encode(settings)})
  except validation_executor.DataValidationError as raised:
    error = str(raised)
  # None where ExampleValidator stopped the run before the ImageValidator.
  return anomalies, validation_executor.read_validation_summary(anomalies.uri), error


IMBALANCED = [8] * 4 + [2] * 100
BALANCED = [2] * 104
EVAL = [1] * 104


# ---------------------------------------------------------------------------
# Pure rules.

def test_class_balance_details_name_the_classes():
  names = ["a", "b", "c", "d"]
  counts = [40, 10, 1, 0]
  detail = lambda rule: findings.class_balance_detail(
      rule, counts, names, 2)
  assert detail(class_balance.MISSING) == "1 class(es) have no examples: " \
      "'d' (3)"
  assert detail(class_balance.IMBALANCE) == (
      "ratio is 40.0: largest 'a' (0): 40, smallest 'c' (2): 1")
  assert detail(class_balance.FEW) == (
      "1 class(es) have fewer than 2 examples: 'c' (2): 1")


def _example_validator_anomalies(tmp_path, split):
  """TFX ExampleValidator's anomalies of `split`, read with TFDV's reader
  of the binary file TFX writes."""
  return anomalies_util.load_anomalies_binary(os.path.join(
      tmp_path, "example_anomalies", f"Split-{split}", "SchemaDiff.pb"))


def _balance_rules(anomalies):
  return [class_balance.rule_name(reason) for info in
          anomalies.anomaly_info.values() for reason in info.reason
          if class_balance.rule_name(reason)]


def test_check_image_cases():
  good = _jpeg(3)
  assert image_scan.check_image(good, SIZE) is None
  assert "does not decode" in image_scan.check_image(good[:len(good) // 2],
                                                     SIZE)
  assert "does not decode" in image_scan.check_image(b"not an image", SIZE)
  small = _jpeg(3, size=100)
  assert "100x100, expected 192x192" in image_scan.check_image(small, SIZE)
  for image_format in ("PNG", "GIF", "BMP"):
    assert image_scan.check_image(_encoded(3, image_format), SIZE) is None
  for image_format, name in (("WEBP", "WebP"), ("TIFF", "TIFF")):
    assert image_scan.check_image(_encoded(3, image_format), SIZE) == (
        f"image is {name}; the model reads JPEG, PNG, GIF and BMP; "
        "tools/convert_images.py converts it")


# ---------------------------------------------------------------------------
# The executor, on real statistics.

def test_imbalanced_sample_warns_and_continues(tmp_path):
  artifact, summary, error = _run_validator(
      tmp_path, {"train": _examples(IMBALANCED, "t"),
                 "eval": _examples(EVAL, "e")})
  assert error is None
  assert summary.errors == []
  [warning] = [w for w in summary.warnings if "class imbalance" in w]
  assert warning == (
      "split 'train': class imbalance: the largest/smallest class count "
      "ratio is above validation.max_imbalance_ratio (3.0): ratio is 4.0: "
      f"largest {CLASS_NAMES[0]!r} (0): 8, smallest {CLASS_NAMES[4]!r} "
      "(4): 2")
  assert summary.max_imbalance_ratio == 3.0
  assert summary.splits["train"]["class_counts"] == IMBALANCED
  assert summary.splits["train"]["records_scanned"] == sum(IMBALANCED)
  # TFX's ExampleValidator found it, through TFDV's custom validation: a
  # WARNING on the label, in its standard artifact.
  anomalies = _example_validator_anomalies(tmp_path, "train")
  info = anomalies.anomaly_info[features.LABEL_KEY]
  assert info.severity == anomalies_pb2.AnomalyInfo.WARNING
  assert _balance_rules(anomalies) == [class_balance.IMBALANCE]
  assert info.reason[0].type == anomalies_pb2.AnomalyInfo.CUSTOM_VALIDATION
  # Eval's one example per class is balanced, but under the minimum of 2:
  # TFDV flags it there; the summary reports the training split only.
  assert _balance_rules(_example_validator_anomalies(tmp_path, "eval")) == [
      class_balance.FEW]
  assert not [w for w in summary.warnings if "few examples" in w]
  for path in summary.reports.values():
    assert os.path.getsize(path) > 0
  table = open(summary.reports["table"]).read()
  assert "pink primrose" in table and "total" in table
  assert artifact.get_json_value_custom_property("blessed") == {
      "train": 1, "eval": 1}


def test_missing_and_small_classes_are_tfdv_anomalies_of_train_only(
    tmp_path):
  """The three rules run on every split (TFX gives each split the same
  config); the summary reports the training split's, as before."""
  train = [9, 9, 1] + [6] * 100 + [0]
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(train, "t"),
                 "eval": _examples([0] + [1] * 103, "e")})
  assert error is None
  assert sorted(_balance_rules(_example_validator_anomalies(
      tmp_path, "train"))) == sorted(class_balance.RULES)
  assert sorted(_balance_rules(_example_validator_anomalies(
      tmp_path, "eval"))) == [class_balance.FEW, class_balance.MISSING]
  text = "\n".join(summary.warnings)
  assert (f"split 'train': classes with no examples: fewer than the 104 "
          f"classes of the class list have examples: 1 class(es) have no "
          f"examples: {CLASS_NAMES[103]!r} (103)") in text
  assert (f"2 examples: {CLASS_NAMES[2]!r} (2): 1") in text
  assert "ratio is 9.0" in text
  assert not [w for w in summary.warnings if w.startswith("split 'eval'")
              and "class" in w.split(":")[1]]


@pytest.mark.parametrize("counts, expected", [
    ([10, 2, 2, 2], [class_balance.IMBALANCE]),
    ([3, 3, 3, 3], []),
])
def test_statistics_gen_and_example_validator_on_real_records(
    tmp_path, counts, expected):
  """TFX's StatisticsGen and ExampleValidator executors, as the DAG runs
  them, on GZIP TFRecords of 4 classes: a 5:1 split is a CUSTOM_VALIDATION
  warning on the label, read back with TFDV's reader; a balanced one has
  no anomaly at all."""
  from tfx.components.statistics_gen import executor as statistics_executor  # pylint: disable=g-import-not-at-top
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  examples.split_names = artifact_utils.encode_split_names(["train"])
  split_dir = artifact_utils.get_split_uri([examples], "train")
  os.makedirs(split_dir)
  with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-0.gz"),
                            options="GZIP") as writer:
    for example in _examples(counts, "t"):
      writer.write(example.SerializeToString())
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / "schema")
  os.makedirs(schema.uri)
  io_utils.write_pbtxt_file(
      os.path.join(schema.uri, "schema.pbtxt"),
      class_domain.schema_for_classes(
          class_domain.load_schema(pipeline_lib.DEFAULT_SCHEMA_FILE), 4))
  stats = standard_artifacts.ExampleStatistics()
  stats.uri = str(tmp_path / "statistics")
  statistics_executor.Executor().Do(
      {"examples": [examples], "schema": [schema]}, {"statistics": [stats]},
      {"exclude_splits": "[]"})
  config = config_lib.PipelineConfig(class_names=("a", "b", "c", "d")).replace(
      validation__min_class_examples=2)
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / "example_anomalies")
  _run_example_validator(stats, schema, anomalies,
                         class_balance.custom_validation_config(
                             config.example_validator_settings()))
  found = _example_validator_anomalies(tmp_path, "train")
  assert _balance_rules(found) == expected
  if expected:
    info = found.anomaly_info[features.LABEL_KEY]
    assert info.severity == anomalies_pb2.AnomalyInfo.WARNING
    assert info.reason[0].short_description == (
        "class imbalance: the largest/smallest class count ratio is above "
        "validation.max_imbalance_ratio (3.0)")
  else:
    assert not found.anomaly_info
  assert anomalies.get_json_value_custom_property("blessed") == {
      "train": 0 if expected else 1}


def test_the_kubeflow_form_of_the_config_gives_the_same_anomalies(tmp_path):
  """A Kubeflow V2 task passes the config as JSON text
  (example_validator_executor.for_kubeflow_v2); the executor parses it."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  _run_validator(tmp_path / "proto", {"train": _examples(IMBALANCED, "t"),
                                      "eval": _examples(EVAL, "e")})
  stats = standard_artifacts.ExampleStatistics()
  stats.uri = str(tmp_path / "proto" / "statistics")
  stats.split_names = artifact_utils.encode_split_names(["train", "eval"])
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / "proto" / "schema")
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / "json" / "example_anomalies")
  settings = config_lib.PipelineConfig(
      image_size=SIZE, class_names=CLASS_NAMES).replace(
          validation__min_class_examples=2).example_validator_settings()
  _run_example_validator(stats, schema, anomalies, json_format.MessageToJson(
      class_balance.custom_validation_config(settings)))
  for split in ("train", "eval"):
    assert _example_validator_anomalies(tmp_path / "json", split) == \
        _example_validator_anomalies(tmp_path / "proto", split)


def test_balanced_copy_has_no_imbalance_warning(tmp_path):
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(BALANCED, "t"),
                 "eval": _examples(EVAL, "e")})
  assert error is None
  assert not [w for w in summary.warnings if "imbalance" in w]
  assert _balance_rules(_example_validator_anomalies(tmp_path, "train")) \
      == []


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
  elif name == "webp":
    train.append(make_sample_data.make_example("t-webp", _encoded(4, "WEBP"),
                                               4))
  return {"train": train, "eval": evaluation}


@pytest.mark.parametrize("case, expected", [
    ("label out of range", ["'train'", "'class'", "outside [0, 103]",
                            "104 (1 examples)"]),
    ("missing image", ["'eval'", "'image'"]),
    ("wrong type", ["'eval'", "'class'"]),
    ("corrupt jpeg", ["'train'", "'image'", "id t-corrupt",
                      "does not decode"]),
    ("wrong size", ["'eval'", "'image'", "id e-small", "100x100"]),
    ("webp", ["'train'", "'image'", "(id t-webp): image is WebP; the model "
              "reads JPEG, PNG, GIF and BMP; tools/convert_images.py "
              "converts it"]),
])
def test_hard_problem_stops_with_a_clear_message(tmp_path, case, expected):
  artifact, summary, error = _run_validator(tmp_path, _bad_case(case))
  assert error is not None, f"{case} was not caught"
  assert "stops before Transform" in error
  for text in expected:
    assert text in error, f"{text!r} not in {error!r}"
  assert summary.errors, "the problem must be recorded too"
  blessed = artifact.get_json_value_custom_property("blessed")
  assert 0 in blessed.values()


def test_an_empty_split_stops_the_run_naming_it(tmp_path):
  """TFDV's custom validation fails on an empty split's statistics without
  naming it: ExampleValidator's executor stops first, and says which."""
  artifact, summary, error = _run_validator(
      tmp_path, {"train": _examples(BALANCED, "t"), "eval": []})
  assert error is not None and "stops before Transform" in error
  assert "split 'eval' is empty (0 examples" in error
  assert summary is None  # the ImageValidator did not run


# ---------------------------------------------------------------------------
# Data integrity: ids, leakage between splits, classes missing from eval.

def _test_examples(count, prefix="x"):
  return [make_sample_data.make_example(
      f"{prefix}{i}", _jpeg(i) + f"test{i}".encode()) for i in range(count)]


def _rename(example, new_id):
  example.features.feature[features.ID_KEY].bytes_list.value[0] = (
      new_id.encode())
  return example


def test_clean_splits_have_no_integrity_finding(tmp_path):
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(BALANCED, "t", unique=True),
                 "eval": _examples(EVAL, "e", unique=True)},
      test=_test_examples(5))
  assert error is None
  assert summary.warnings == []
  assert summary.integrity == {"same_image": {}, "same_id": {}}
  assert summary.test["ids"]["empty_id_records"] == 0
  assert summary.eval_class_coverage["train_classes_missing_from_eval"] \
      == []
  assert summary.eval_class_coverage["eval_classes"] == list(range(104))


def test_empty_and_repeated_ids_in_train_and_eval_are_counted_warnings(
    tmp_path):
  train = _examples(BALANCED, "t", unique=True)
  _rename(train[3], "")
  _rename(train[5], "t-twice")
  _rename(train[9], "t-twice")
  artifact, summary, error = _run_validator(
      tmp_path, {"train": train, "eval": _examples(EVAL, "e", unique=True)})
  assert error is None
  text = "\n".join(summary.warnings)
  assert "split 'train': 1 record(s) with an empty 'id': records 3" in text
  assert "1 'id' value(s) repeated (2 records): 't-twice' (records 5, 9)" \
      in text
  ids = summary.splits["train"]["ids"]
  assert ids["empty_id_records"] == 1 and ids["repeated_ids"] == 1
  anomalies = anomalies_pb2.Anomalies.FromString(open(os.path.join(
      artifact_utils.get_split_uri([artifact], "train"), "SchemaDiff.pb"),
                                                     "rb").read())
  assert "Bad ids" in str(anomalies.anomaly_info[features.ID_KEY])


@pytest.mark.parametrize("case, expected", [
    ("empty", "split 'test': 1 record(s) with an empty 'id': records 2"),
    ("repeated", "split 'test': 1 'id' value(s) repeated (2 records): "
                 "'x1' (records 1, 4)"),
])
def test_bad_test_ids_stop_the_run(tmp_path, case, expected):
  test = _test_examples(6)
  _rename(test[2] if case == "empty" else test[4], "" if case == "empty"
          else "x1")
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(BALANCED, "t", unique=True),
                 "eval": _examples(EVAL, "e", unique=True)}, test=test)
  assert error is not None and "stops before Transform" in error
  assert expected in error
  assert summary.test["num_examples"] == 6


def test_same_image_or_id_in_two_splits_is_a_counted_warning(tmp_path):
  train = _examples(BALANCED, "t", unique=True)
  evaluation = _examples(EVAL, "e", unique=True)
  test = _test_examples(4)
  # The same bytes under another id: leakage into eval and test.
  evaluation[7] = make_sample_data.make_example(
      "e-copy", train[0].features.feature["image"].bytes_list.value[0], 0)
  test[1] = make_sample_data.make_example(
      "x-copy", train[2].features.feature["image"].bytes_list.value[0])
  _rename(evaluation[8], "t005-0")  # An id of train, another image.
  _, summary, error = _run_validator(
      tmp_path, {"train": train, "eval": evaluation}, test=test)
  assert error is None
  text = "\n".join(summary.warnings)
  assert ("1 record(s) of split 'eval' have the same image as a record of "
          "split 'train' (leakage): eval id 'e-copy' = train id 't000-0'"
          in text)
  assert "test id 'x-copy' = train id 't001-0'" in text
  assert "1 'id' value(s) in both split 'eval' and split 'train': " \
      "'t005-0'" in text
  assert summary.integrity["same_image"]["train/eval"]["records"] == 1
  assert summary.integrity["same_image"]["train/test"]["records"] == 1
  assert summary.integrity["same_id"]["eval/train"]["ids"] == 1


def test_training_classes_missing_from_eval_warn_and_are_recorded(tmp_path):
  # Two of 104 classes in eval: macro F1 would average over two classes.
  evaluation = _examples([3, 2] + [0] * 102, "e", unique=True)
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(BALANCED, "t", unique=True),
                 "eval": evaluation})
  assert error is None
  warning = [w for w in summary.warnings if "no example in split" in w]
  assert len(warning) == 1, summary.warnings
  assert ("102 class(es) of the training split have no example in split "
          "'eval', so the gate's macro F1 covers 2 of 104 classes: "
          "'canterbury bells' (2), 'sweet pea' (3)") in warning[0]
  coverage = summary.eval_class_coverage
  assert coverage["eval_classes"] == [0, 1]
  assert coverage["train_classes_missing_from_eval"] == list(range(2, 104))


def test_an_eval_split_of_one_class_stops_the_run_unless_allowed(tmp_path):
  """Macro F1 over one class passes a model that predicts only that class:
  the run stops by default, naming the split and the class."""
  splits = {"train": _examples(BALANCED, "t", unique=True),
            "eval": _examples([0, 3] + [0] * 102, "e", unique=True)}
  _, summary, error = _run_validator(tmp_path / "default", splits)
  assert error is not None
  assert ("split 'eval' holds examples of one class only, "
          f"{CLASS_NAMES[1]!r} (1)") in error
  assert "validation.allow_one_class_eval=true" in error
  _, summary, error = _run_validator(
      tmp_path / "allowed", splits, config_changes={"allow_one_class_eval": True})
  assert error is None
  assert any("one class only" in w for w in summary.warnings)


# ---------------------------------------------------------------------------
# Drift against the served model's training data.

def _baseline_model(tmp_path, examples, with_profile=True):
  """A Model artifact as a Trainer before this change left it: the profile
  of the examples it trained on in `<uri>/data_profile/` (or none)."""
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / "baseline_model")
  model.id = 7
  os.makedirs(os.path.join(model.uri, "Format-Serving"))
  if with_profile:
    path = str(tmp_path / "baseline_train.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
      for example in examples:
        writer.write(example.SerializeToString())
    data_profile.write_profile(*data_profile.profile_records([path]),
                               model.uri)
  return model


# Span 1: every class alike; span 2: four classes ten times as common.
SPAN_1 = [4] * 104
SPAN_2 = [40] * 4 + [2] * 100


def test_a_shifted_class_balance_warns_naming_the_classes(tmp_path):
  baseline = _baseline_model(tmp_path, _examples(SPAN_1, "b", unique=True))
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(SPAN_2, "t", unique=True),
                 "eval": _examples(EVAL, "e", unique=True)},
      baseline_model=baseline)
  assert error is None
  drift = summary.drift
  assert drift["baseline"] == baseline.uri
  assert drift["baseline_model_id"] == 7
  label = drift["distances"][features.LABEL_KEY]
  # L-infinity: the largest change of a class's share, 40/360 - 4/416.
  assert label["value"] == pytest.approx(40 / 360 - 4 / 416, abs=1e-4)
  assert label["drifted"] and label["threshold"] == (
      config_lib.ValidationConfig().label_drift_threshold)
  assert [c["class"] for c in drift["shifted_classes"]] == [0, 1, 2, 3]
  [warning] = [w for w in summary.warnings
               if "the label 'class' drifted" in w]
  assert warning in drift["messages"]
  for label_id in range(4):
    assert f"{CLASS_NAMES[label_id]!r} ({label_id}) 1.0% -> 11.1%" in warning
  assert baseline.uri in warning
  assert "'mean_red'" not in warning  # the image finding is its own line


def test_the_same_data_has_no_drift(tmp_path):
  train = _examples(SPAN_2, "t", unique=True)
  baseline = _baseline_model(tmp_path, train)
  _, summary, error = _run_validator(
      tmp_path, {"train": train, "eval": _examples(EVAL, "e", unique=True)},
      baseline_model=baseline)
  assert error is None
  drift = summary.drift
  assert drift["drifted_features"] == [] and drift["messages"] == []
  assert set(drift["distances"]) == {features.LABEL_KEY,
                                     *data_profile.IMAGE_FEATURES}
  assert all(d["value"] == 0 for d in drift["distances"].values())
  assert not any("drift" in w for w in summary.warnings)


def test_stop_on_drift_makes_drift_an_error(tmp_path):
  baseline = _baseline_model(tmp_path, _examples(SPAN_1, "b", unique=True))
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(SPAN_2, "t", unique=True),
                 "eval": _examples(EVAL, "e", unique=True)},
      config_changes={"stop_on_drift": True}, baseline_model=baseline)
  assert error is not None and "stops before Transform" in error
  assert "data drift" in error and f"{CLASS_NAMES[3]!r} (3)" in error
  assert "validation.stop_on_drift" in error
  assert not any("drift" in w for w in summary.warnings)


def test_the_profile_the_push_record_names_is_the_reference(tmp_path):
  """A served model's reference is the profile its run's validator wrote
  (named in its push record, passed on by PreviousModel), not a second
  read of the data by the Trainer; and every run writes its own."""
  span_1 = _examples(SPAN_1, "b", unique=True)
  first, summary, error = _run_validator(
      tmp_path / "first", {"train": span_1,
                           "eval": _examples(EVAL, "e", unique=True)})
  assert error is None and summary.drift["baseline"] is None
  written = summary.drift["current_profile"]
  assert written == os.path.join(first.uri, data_profile.PROFILE_DIR)
  assert data_profile.read_profile(written) is not None
  # The model's own folder has no profile: the property leads to it.
  served = _baseline_model(tmp_path, [], with_profile=False)
  served.set_string_custom_property(data_profile.PROFILE_PROPERTY, written)
  _, summary, error = _run_validator(
      tmp_path / "second", {"train": _examples(SPAN_2, "t", unique=True),
                            "eval": _examples(EVAL, "e", unique=True)},
      baseline_model=served)
  assert error is None
  assert summary.drift["baseline"] == served.uri
  assert summary.drift["baseline_profile"] == written
  assert [c["class"] for c in summary.drift["shifted_classes"]] == [
      0, 1, 2, 3]


@pytest.mark.parametrize("case", ["first run", "model without a profile",
                                  "drift check off"])
def test_no_baseline_is_a_note_not_a_warning(tmp_path, case):
  baseline = None
  changes = {}
  if case == "model without a profile":
    baseline = _baseline_model(tmp_path, [], with_profile=False)
  if case == "drift check off":
    baseline = _baseline_model(tmp_path, _examples(SPAN_1, "b", unique=True))
    changes = {"drift_check": False}
  _, summary, error = _run_validator(
      tmp_path, {"train": _examples(SPAN_2, "t", unique=True),
                 "eval": _examples(EVAL, "e", unique=True)},
      config_changes=changes, baseline_model=baseline)
  assert error is None
  assert summary.drift["baseline"] is None
  assert summary.drift["note"]
  assert not any("drift" in w for w in summary.warnings)


def test_a_training_split_of_bad_images_is_not_compared(tmp_path):
  baseline = _baseline_model(tmp_path, _examples(SPAN_1, "b", unique=True))
  jpeg = _jpeg(1)
  train = [make_sample_data.make_example(f"t-cut{i}", jpeg[:len(jpeg) // 3],
                                         1) for i in range(3)]
  _, summary, error = _run_validator(
      tmp_path, {"train": train, "eval": _examples(EVAL, "e", unique=True)},
      baseline_model=baseline)
  assert error is not None and "id t-cut2" in error
  assert summary.drift["baseline"] is None
  assert summary.drift["note"] == (
      "no record of the training split could be profiled")


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
