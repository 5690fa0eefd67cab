"""Drift: the data profile, its comparison, and the node that feeds it.

The profile runs on small generated GZIP TFRecords (as ExampleGen writes
them); the comparison uses TFDV's real drift comparators. Which served
model is the drift baseline (the newest not trained on this run's
Examples) is tested on real push records in test_baseline.py. The
ImageValidator's end of it (warnings, errors, notes) is in
test_validation.py.
"""

import io
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from modules import data_profile
from pipeline.components.util import custom_config
from pipeline.runner import overrides
from settings import config as config_lib
from pipeline import data_plan
from settings import features
from settings import records
from pipeline import pipeline as pipeline_lib
from pipeline.runner import summary as summary_lib
from pipeline.components.baseline import component as baseline_component
from pipeline.components.image_validator import drift
from pipeline.components.report import content
from pipeline.components.report import render
from tools import make_sample_data

CLASS_NAMES = features.load_class_names()
SIZE = 64


def write_records(path, labels, seed=0, extra=()):
  """GZIP TFRecords of flower images, one a label; `extra` raw records."""
  rng = np.random.default_rng(seed)
  with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
    for index, label in enumerate(labels):
      jpeg = make_sample_data.encode_jpeg(
          make_sample_data.draw_flower(label, SIZE, rng))
      writer.write(make_sample_data.make_example(
          f"r{index}", jpeg, label).SerializeToString())
    for record in extra:
      writer.write(record)
  return str(path)


def _feature(statistics, name):
  [feature] = [f for f in statistics.datasets[0].features
               if f.path.step == [name]]
  return feature


# ---------------------------------------------------------------------------
# The profile.

def test_profile_measures_every_record(tmp_path):
  labels = [0, 0, 1, 2, 2, 2, 5]
  path = write_records(tmp_path / "a.gz", labels)
  statistics, record = data_profile.profile_records([path])
  assert record["records"] == record["profiled"] == len(labels)
  assert record["skipped"] == 0
  assert record["label_counts"] == {"0": 2, "1": 1, "2": 3, "5": 1}
  assert statistics.datasets[0].num_examples == len(labels)
  # The label is categorical: a histogram of every class.
  label = _feature(statistics, features.LABEL_KEY)
  assert {b.label: b.sample_count for b in
          label.string_stats.rank_histogram.buckets} == {
              "0": 2, "1": 1, "2": 3, "5": 1}
  for name in (data_profile.IMAGE_HEIGHT, data_profile.IMAGE_WIDTH):
    stats = _feature(statistics, name).num_stats
    assert stats.min == stats.max == SIZE
  encoded = [tf.train.Example.FromString(r.numpy()).features.feature[
      features.IMAGE_KEY].bytes_list.value[0]
             for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]
  assert _feature(statistics, data_profile.IMAGE_BYTES).num_stats.mean == (
      pytest.approx(np.mean([len(e) for e in encoded])))
  # The 1/8 DCT decode's mean is the full decode's, nearly.
  full = np.mean([np.asarray(Image.open(io.BytesIO(e)).convert("RGB"),
                             np.float64).mean(axis=(0, 1)) for e in encoded],
                 axis=0)
  for channel, name in enumerate((data_profile.MEAN_RED,
                                  data_profile.MEAN_GREEN,
                                  data_profile.MEAN_BLUE)):
    assert _feature(statistics, name).num_stats.mean == pytest.approx(
        full[channel], abs=1.5)


def test_profile_counts_records_it_cannot_measure(tmp_path):
  broken = make_sample_data.make_example("broken", b"not an image", 3)
  path = write_records(tmp_path / "a.gz", [1, 2],
                       extra=[broken.SerializeToString()])
  statistics, record = data_profile.profile_records([path])
  assert record["records"] == 3 and record["profiled"] == 2
  assert record["skipped"] == 1 and record["skipped_records"] == [2]
  assert statistics.datasets[0].num_examples == 2


def test_profile_round_trip_through_the_model_folder(tmp_path):
  statistics, record = data_profile.profile_records(
      [write_records(tmp_path / "a.gz", [1, 2])])
  model_uri = str(tmp_path / "model")
  assert data_profile.read_profile(model_uri) is None
  directory = data_profile.write_profile(statistics, record, model_uri)
  # Outside Format-Serving: the Pusher copies only that folder.
  assert directory == os.path.join(model_uri, data_profile.PROFILE_DIR)
  assert data_profile.read_profile(model_uri) == statistics


# ---------------------------------------------------------------------------
# The comparison.

def _profile(tmp_path, name, labels, seed=0):
  return data_profile.profile_records(
      [write_records(tmp_path / f"{name}.gz", labels, seed)])[0]


def test_identical_data_has_no_drift(tmp_path):
  labels = [0] * 5 + [1] * 5 + [2] * 5
  profile = _profile(tmp_path, "a", labels)
  findings, section = drift.compare_profiles(
      profile, profile, CLASS_NAMES, "linf", 0.1, 0.1)
  assert findings == [] and section["drifted_features"] == []
  assert section["shifted_classes"] == []
  assert all(d["value"] == 0 for d in section["distances"].values())


@pytest.mark.parametrize("comparator, measure", [
    ("linf", "L_INFTY"), ("js", "JENSEN_SHANNON_DIVERGENCE")])
def test_a_shifted_balance_names_its_classes(tmp_path, comparator, measure):
  baseline = _profile(tmp_path, "a", [0] * 10 + [1] * 10 + [2] * 10 +
                      [3] * 10)
  current = _profile(tmp_path, "b", [0] * 10 + [1] * 10 + [2] * 2 +
                     [3] * 28, seed=1)
  findings, section = drift.compare_profiles(
      current, baseline, CLASS_NAMES, comparator, 0.1, 0.1)
  label = section["distances"][features.LABEL_KEY]
  assert label["measure"] == measure and label["drifted"]
  if comparator == "linf":
    # TFDV's L-infinity is the largest change of a class's share.
    assert label["value"] == pytest.approx(28 / 50 - 10 / 40, abs=1e-5)
  shifted = section["shifted_classes"]
  # 3 moved +0.31, 2 moved -0.21 (>= half of 0.31); 0 and 1 -0.05 each.
  assert [c["class"] for c in shifted] == [3, 2]
  assert shifted[0]["baseline_share"] == 0.25
  assert shifted[0]["current_share"] == 0.56
  [(feature, message)] = [f for f in findings
                          if f[0] == features.LABEL_KEY]
  assert f"{CLASS_NAMES[3]!r} (3) 25.0% -> 56.0%" in message
  assert f"{CLASS_NAMES[2]!r} (2) 25.0% -> 4.0%" in message
  assert message.index(CLASS_NAMES[3]) < message.index(CLASS_NAMES[2])
  assert drift.COMPARATOR_NAMES[comparator] in message


def test_a_threshold_above_the_distance_gives_no_finding(tmp_path):
  baseline = _profile(tmp_path, "a", [0] * 10 + [1] * 10)
  current = _profile(tmp_path, "b", [0] * 12 + [1] * 8)
  findings, section = drift.compare_profiles(
      current, baseline, CLASS_NAMES, "linf", 0.5, 1.0)
  assert findings == []
  assert section["distances"][features.LABEL_KEY]["value"] == (
      pytest.approx(0.1))
  # Still recorded: the classes that moved most.
  assert [c["class"] for c in section["shifted_classes"]] == [0, 1]


def test_shifted_classes_rule_caps_the_message():
  baseline = [20] * 15 + [10] * 15
  current = [10] * 15 + [20] * 15  # every class moves as much
  shifted = drift.shifted_classes(baseline, current, CLASS_NAMES[:30])
  assert [c["class"] for c in shifted][:5] == [0, 1, 2, 3, 4]
  assert len(shifted) == 30
  text = drift._classes_text(shifted)  # pylint: disable=protected-access
  assert text.endswith("and 20 more (see validation_summary.json)")
  assert drift.shifted_classes([1, 1], [1, 1], CLASS_NAMES[:2]) == []


def test_image_drift_is_its_own_finding(tmp_path):
  baseline = _profile(tmp_path, "a", [0] * 20)
  # The same label, other images: class 40's flower is drawn otherwise.
  current = data_profile.profile_records([write_records(
      tmp_path / "b.gz", [40] * 20)])[0]
  relabelled = current.__class__.FromString(current.SerializeToString())
  for feature in relabelled.datasets[0].features:
    if feature.path.step == [features.LABEL_KEY]:
      for bucket in feature.string_stats.rank_histogram.buckets:
        bucket.label = "0"
      for bucket in feature.string_stats.top_values:
        bucket.value = "0"
  findings, section = drift.compare_profiles(
      relabelled, baseline, CLASS_NAMES, "linf", 0.1, 0.1)
  assert not section["distances"][features.LABEL_KEY]["drifted"]
  [(feature, message)] = findings
  assert feature == features.IMAGE_KEY
  assert "image statistics drifted" in message
  assert any(name in message for name in (data_profile.MEAN_RED,
                                          data_profile.MEAN_GREEN,
                                          data_profile.MEAN_BLUE))


def test_the_config_offers_the_comparators_the_validator_knows(tmp_path):
  # Each comparator the config accepts measures a shift with TFDV.
  baseline = _profile(tmp_path, "a", [0] * 10 + [1] * 10)
  current = _profile(tmp_path, "b", [0] * 16 + [1] * 4, seed=1)
  for comparator in config_lib.LABEL_DRIFT_COMPARATORS:
    config = config_lib.PipelineConfig().replace(
        validation__label_drift_comparator=comparator)
    _, section = drift.compare_profiles(
        current, baseline, CLASS_NAMES,
        config.validation.label_drift_comparator, 0.05, 1.0)
    label = section["distances"][features.LABEL_KEY]
    assert label["value"] > 0.05 and label["drifted"], (comparator, label)
  with pytest.raises(ValueError, match="label_drift_comparator"):
    config_lib.PipelineConfig().replace(
        validation__label_drift_comparator="kl")
  with pytest.raises(ValueError, match="image_drift_threshold"):
    config_lib.PipelineConfig().replace(validation__image_drift_threshold=2)
  config = overrides.apply_overrides(config_lib.PipelineConfig(),
      ["validation.stop_on_drift=true", "validation.label_drift_comparator=js"])
  assert config.validation.stop_on_drift
  assert config.validation.label_drift_comparator == "js"


# ---------------------------------------------------------------------------
# The DAG.

def _validator_and_baseline(tmp_path, **settings):
  os.makedirs(tmp_path / features.image_dir_name(192) / "val",
              exist_ok=True)
  config = config_lib.PipelineConfig().replace(
      predict__test_split="off", **settings)
  pipeline = pipeline_lib.create_pipeline(
      "p", str(tmp_path / "root"), data_plan.make_plan(str(tmp_path), config),
      str(tmp_path / "serving"), config)
  nodes = {node.id: node for node in pipeline.components}
  return (nodes[pipeline_lib.IMAGE_VALIDATOR_ID],
          nodes.get(pipeline_lib.PREVIOUS_MODEL_ID))


def test_the_validator_gets_the_drift_baseline_and_its_settings(tmp_path):
  validator, baseline = _validator_and_baseline(
      tmp_path, validation__label_drift_comparator="js",
      validation__stop_on_drift=True, validation__label_drift_threshold=0.2,
      validation__allow_one_class_eval=True)
  # The served model not trained on this run's Examples, from the push
  # records of the run's serving folder.
  assert isinstance(baseline, baseline_component.PushRecordBaseline)
  assert baseline.exec_properties["serving_dir"] == str(tmp_path / "serving")
  assert set(baseline.inputs) == {"examples"}
  assert validator.inputs["baseline_model"] is not None
  assert baseline in validator.upstream_nodes
  settings = custom_config.decode(validator.exec_properties,
                                  config_lib.ImageValidatorSettings).validation
  assert settings.drift_check and settings.stop_on_drift
  assert settings.allow_one_class_eval
  assert settings.label_drift_comparator == "js"
  assert settings.label_drift_threshold == 0.2
  assert settings.image_drift_threshold == (
      config_lib.ValidationConfig().image_drift_threshold)


def test_drift_check_off_has_no_baseline_node(tmp_path):
  validator, baseline = _validator_and_baseline(
      tmp_path, validation__drift_check=False)
  assert baseline is None
  assert not custom_config.decode(validator.exec_properties,
                                  config_lib.ImageValidatorSettings
                                  ).validation.drift_check
  assert "baseline_model" not in validator.inputs
  # The warm start needs the previous model all the same, the validator not.
  validator, baseline = _validator_and_baseline(
      tmp_path, validation__drift_check=False, train__warm_start=True)
  assert baseline is not None and "baseline_model" not in validator.inputs


# ---------------------------------------------------------------------------
# The run summary.

def test_the_summary_prints_each_drift_warning_once(tmp_path):
  baseline = _profile(tmp_path, "a", [0] * 10 + [1] * 10)
  current = _profile(tmp_path, "b", [0] * 18 + [1] * 2)
  findings, section = drift.compare_profiles(
      current, baseline, CLASS_NAMES, "linf", 0.1, 1.0)
  messages = [f"split 'train': data drift: {m}" for _, m in findings]
  validation = records.ValidationSummary(
      splits={"train": {"num_examples": 20}},
      warnings=["split 'train': class imbalance"] + messages,
      drift=dict(section, baseline="/m/1", messages=messages))
  text = summary_lib.RunSummary(
      metrics={}, blessed=None, pushed=False, pushed_model_dir=None,
      evaluation_dir=None, model_dir=None,
      validation=validation).format(config_lib.PipelineConfig())
  [line] = [l for l in text.splitlines() if "drifted" in l]
  assert line.startswith("  data drift         split 'train': data drift:")
  assert f"{CLASS_NAMES[0]!r} (0) 50.0% -> 90.0%" in line
  assert "  data warning       split 'train': class imbalance" in text


# ---------------------------------------------------------------------------
# The report.

def _report_page(drift_section):
  data = content.ReportData(
      title="report", evaluation_dir="/e", model_location="/m",
      metrics={}, validation_ok=True, failures=[], rows=[],
      confusion=np.zeros((2, 2), np.int64), class_names=CLASS_NAMES[:2],
      data_splits={"train": 20}, drift=drift_section)
  return render.render_html(data, {"per_class_f1": "f1.png",
                                   "confusion": "confusion.png"}), data


def test_the_report_shows_the_drift_check(tmp_path):
  baseline = _profile(tmp_path, "a", [0] * 10 + [1] * 10)
  current = _profile(tmp_path, "b", [0] * 18 + [1] * 2)
  _, section = drift.compare_profiles(current, baseline, CLASS_NAMES,
                                      "linf", 0.1, 1.0)
  section = dict(section, baseline="/runs/Trainer/model/4",
                 stop_on_drift=False)
  page, data = _report_page(section)
  assert '<h2 id="drift">Data drift</h2>' in page
  assert "/runs/Trainer/model/4" in page
  drift_part = page.split('<h2 id="drift">', 1)[1].split("<h2", 1)[0]
  assert "Drift</span> in class (a warning)" in drift_part
  # Each distance with its threshold; the shifted classes, old -> new.
  assert "<tr><td>class</td><td>L_INFTY</td><td class=num>0.4000</td>" \
      "<td class=num>0.1000</td><td>yes</td></tr>" in drift_part
  assert (f"<td>{CLASS_NAMES[0]}</td><td class=num>50.0%</td>"
          "<td class=num>90.0%</td><td class=num>+40.0%</td>") in drift_part
  assert content.metrics_record(data)["data"]["drift"] == section
  page, _ = _report_page({"baseline": None, "note": "no blessed model yet"})
  assert "No comparison: no blessed model yet." in page
  page, _ = _report_page(None)
  assert 'id="drift"' not in page
