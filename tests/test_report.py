"""The Report component (pipeline/components/report/) and tools/report.py.

Fast tests render synthetic data (a confusion matrix scored by
`modules.metrics`) and run the executor on synthetic artifacts (an Evaluator
output written with TFMA's own writer, a blessing, a training history, a
validation summary), blessed and not; slow ones read the session pipeline
run's real Evaluator output, through the library and through the command
line, and check the report the run's Report component wrote and the summary
announced.
"""

import glob
import html
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as sk_metrics
import tensorflow as tf
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer

from conftest import REPO_ROOT
from modules import metrics
from settings import config as config_lib
from settings import features
from settings import records
from pipeline.components.report import component as report_component
from pipeline.components.report import content
from pipeline.components.report import executor as report_executor
from pipeline.components.util import model_card
from pipeline.components.report import render
from pipeline.components.util import artifact_types
from tools import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _images(page):
  return re.findall(r'<img src="([^"]+)"', page)


def _check_figures(report_path):
  """Every image is a PNG beside the page, linked by a relative path."""
  folder = os.path.dirname(report_path)
  with open(report_path, encoding="utf-8") as f:
    page = f.read()
  images = _images(page)
  assert images
  links = set(re.findall(r'href="([^"#][^"]*)"', page))
  # The model card, when there is one, is a file beside the page.
  cards = links & {model_card.MARKDOWN_FILE, model_card.HTML_FILE}
  for name in cards:
    assert os.path.getsize(os.path.join(folder, name)) > 0, name
  # Each figure opens at full size; the numbers are one click away.
  assert links - cards == set(images) | {render.METRICS_FILE}
  for name in images:
    assert "/" not in name and ":" not in name, name  # Opens from disk.
    with open(os.path.join(folder, html.unescape(name)), "rb") as f:
      assert f.read(8) == PNG_MAGIC, name
  return page, images


def _table_rows(page, header):
  """Rows (cell texts) of the table right after the `header` heading."""
  heading = re.search(f"<h2[^>]*>{re.escape(html.escape(header))}</h2>", page)
  assert heading, header
  table = page[heading.end():].split("</table>", 1)[0]
  return [[html.unescape(re.sub("<[^>]+>", "", cell)) for cell in
           re.findall(r"<td[^>]*>(.*?)</td>", row)]
          for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td" in row]


def _synthetic_data(with_baseline):
  names = ["rose", "tulip", "<b>daisy & co</b>", "iris"]
  confusion = np.array([[5, 1, 0, 0],
                        [2, 2, 1, 0],
                        [0, 3, 1, 0],
                        [0, 0, 0, 0]])
  per_class_arrays = metrics.per_class_from_confusion(confusion)
  present = np.flatnonzero(per_class_arrays["present"])
  per_class = {name: {int(c): float(per_class_arrays[key][c]) for c in present}
               for name, key in ((metrics.CLASS_F1, "f1"),
                                 (metrics.CLASS_PRECISION, "precision"),
                                 (metrics.CLASS_RECALL, "recall"))}
  baseline_f1 = {0: 0.5, 1: 0.5, 2: 0.25} if with_baseline else None
  rows = content.build_rows(per_class, confusion, names, [40, 12, 3, 7],
                           baseline_f1)
  scores = metrics.scores_from_confusion(confusion)
  return content.ReportData(
      title="Evaluation report: model/7",
      evaluation_dir="/runs/Evaluator/evaluation/8",
      model_location="/runs/Trainer/model/7/Format-Serving",
      metrics=dict(scores, example_count=15.0),
      validation_ok=False,
      failures=["macro_f1 = 0.4000, below the minimum 0.9"],
      rows=rows, confusion=confusion, class_names=names,
      baseline_metrics=(dict(scores, macro_f1=0.5, example_count=15.0)
                        if with_baseline else None),
      baseline_source="/runs/Trainer/model/3/Format-Serving"
      if with_baseline else None)


def test_top_confused_pairs_by_count_with_shares():
  confusion = np.array([[5, 1, 0], [4, 2, 2], [0, 3, 0]])
  pairs = content.top_confused_pairs(confusion, ["a", "b", "c"])
  assert pairs == [("b", "a", 4, 0.5), ("c", "b", 3, 1.0),
                   ("b", "c", 2, 0.25), ("a", "b", 1, 1 / 6)]
  assert content.top_confused_pairs(np.eye(3) * 4, ["a", "b", "c"]) == []


def test_class_names_fall_back_to_ids_without_history():
  names, counts = content.class_names_and_counts(None, 3)
  assert names == ["class 0", "class 1", "class 2"] and counts is None
  history = records.TrainingHistory(config={"class_names": ["x", "y"]},
                                    class_counts=[4, 5])
  assert content.class_names_and_counts(history, 2) == (["x", "y"], [4, 5])


def test_synthetic_report_without_baseline(tmp_path):
  path = render.render_report(_synthetic_data(with_baseline=False),
                              str(tmp_path))
  page, images = _check_figures(path)
  assert sorted(images) == sorted([render.PER_CLASS_F1_PNG,
                                   render.CONFUSION_PNG])
  assert "NOT BLESSED" in page
  assert "macro_f1 = 0.4000, below the minimum 0.9" in page
  assert "Against the baseline model" not in page
  # Names are escaped, never markup.
  assert "<b>daisy" not in page and "&lt;b&gt;daisy &amp; co&lt;/b&gt;" in page
  confused = _table_rows(page, "Most confused classes")
  assert confused[0] == ["<b>daisy & co</b>", "tulip", "3", "75%"]
  assert confused[1] == ["tulip", "rose", "2", "40%"]
  # All classes, ascending F1; iris (no example, never predicted) last,
  # with its training count but no score.
  rows = _table_rows(page, "All classes")
  assert [r[1] for r in rows] == ["<b>daisy & co</b>", "tulip", "rose",
                                  "iris"]
  assert rows[0][2:4] == ["3", "4"]  # train, eval examples
  f1s = [float(r[6]) for r in rows[:3]]
  assert f1s == sorted(f1s)
  assert rows[3][2] == "7" and rows[3][6] == "\u2013"
  assert "1 classes have no eval example" in page
  # The same numbers for machines.
  with open(tmp_path / render.METRICS_FILE, encoding="utf-8") as f:
    record = json.load(f)
  assert record["verdict"] == "NOT BLESSED" and record["blessed"] is False
  assert record["failed_gates"] == ["macro_f1 = 0.4000, below the minimum 0.9"]
  assert record["baseline"] is None
  macro_f1 = metrics.scores_from_confusion(
      _synthetic_data(False).confusion)[metrics.MACRO_F1]
  assert record["metrics"]["macro_f1"] == {
      "value": pytest.approx(macro_f1), "baseline": None, "change": None}
  by_name = {c["name"]: c for c in record["per_class"]}
  assert by_name["iris"]["f1"] is None and by_name["iris"]["train_count"] == 7
  assert by_name["tulip"]["f1"] == pytest.approx(float(rows[1][6]), abs=1e-4)
  assert record["most_confused"][0] == {
      "true": "<b>daisy & co</b>", "predicted": "tulip", "count": 3,
      "share_of_true_class": 0.75}
  assert record["figures"] == sorted(images)


def test_synthetic_report_with_baseline(tmp_path):
  (tmp_path / render.F1_CHANGE_PNG).write_bytes(b"stale")
  path = render.render_report(_synthetic_data(with_baseline=True),
                              str(tmp_path))
  page, images = _check_figures(path)
  assert render.F1_CHANGE_PNG in images
  assert "Against the baseline model" in page
  assert "/runs/Trainer/model/3/Format-Serving" in page
  metric_rows = {r[0]: r[1:] for r in _table_rows(
      page, "Metrics (eval split, all classes)")}
  macro_f1 = metrics.scores_from_confusion(
      _synthetic_data(False).confusion)[metrics.MACRO_F1]
  assert metric_rows["macro_f1"] == [f"{macro_f1:.4f}", "0.5000",
                                     f"{macro_f1 - 0.5:+.4f}"]
  assert metric_rows["example_count"] == ["15", "15", "+0"]
  rose = [r for r in _table_rows(page, "All classes") if r[1] == "rose"][0]
  assert rose[7] == "0.5000"
  assert float(rose[8]) == pytest.approx(float(rose[6]) - 0.5, abs=1e-4)
  with open(tmp_path / render.METRICS_FILE, encoding="utf-8") as f:
    record = json.load(f)
  assert record["metrics"]["macro_f1"] == pytest.approx(
      {"value": macro_f1, "baseline": 0.5, "change": macro_f1 - 0.5})
  assert record["baseline"] == "/runs/Trainer/model/3/Format-Serving"
  rose_record = [c for c in record["per_class"] if c["name"] == "rose"][0]
  assert rose_record["baseline_f1"] == 0.5
  assert rose_record["f1_change"] == pytest.approx(float(rose[8]), abs=1e-4)


def test_report_writes_through_gfile_only():
  """TensorFlow's in-memory filesystem stands in for gs://: a plain open()
  or os call anywhere in the writing would fail on it."""
  folder = "ram://report-test/run-1"
  path = render.render_report(_synthetic_data(with_baseline=True), folder)
  assert path == f"{folder}/{render.REPORT_FILE}"
  assert sorted(tf.io.gfile.listdir(folder)) == sorted([
      render.REPORT_FILE, render.METRICS_FILE, render.PER_CLASS_F1_PNG,
      render.CONFUSION_PNG, render.F1_CHANGE_PNG])
  with tf.io.gfile.GFile(f"{folder}/{render.CONFUSION_PNG}", "rb") as f:
    assert f.read(8) == PNG_MAGIC
  with tf.io.gfile.GFile(f"{folder}/{render.METRICS_FILE}") as f:
    assert json.load(f)["verdict"] == "NOT BLESSED"


def test_missing_or_matrix_less_evaluation_is_refused(tmp_path):
  with pytest.raises(FileNotFoundError, match="no TFMA metrics"):
    report.write_report(str(tmp_path / "missing"), str(tmp_path / "out"))
  # An evaluation with the macro scores only (no MacroF1 matrix).
  evaluation = tmp_path / "evaluation"
  evaluation.mkdir()
  key = metric_types.MetricKey(name=metrics.MACRO_F1)
  proto = metrics_plots_and_validations_writer.convert_slice_metrics_to_proto(
      ((), {key: 0.5}), add_metrics_callbacks=None)
  with tf.io.TFRecordWriter(
      str(evaluation / "metrics-00000-of-00001.tfrecord")) as writer:
    writer.write(proto.SerializeToString())
  with pytest.raises(ValueError, match="no confusion_matrix metric"):
    report.write_report(str(evaluation), str(tmp_path / "out"))
  assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# The executor, on synthetic artifacts.

NAMES = ["rose", "tulip", "daisy", "iris"]
CONFUSION = np.array([[5, 1, 0, 0], [2, 2, 1, 0], [0, 3, 1, 0], [0, 0, 0, 0]])


def _write_evaluation(folder, validation_ok, minimum=0.9):
  """An Evaluator output written with TFMA's own writers: the overall
  slice's scores, per-class scores, the matrix and a validation result."""
  from tensorflow_model_analysis.proto import validation_result_pb2  # pylint: disable=g-import-not-at-top
  os.makedirs(folder)
  scores = metrics.scores_from_confusion(CONFUSION)
  values = {metric_types.MetricKey(name=name): value
            for name, value in scores.items()}
  values[metric_types.MetricKey(name="example_count")] = float(
      CONFUSION.sum())
  per_class = metrics.per_class_from_confusion(CONFUSION)
  for class_id in np.flatnonzero(per_class["present"]):
    for name, key in ((metrics.CLASS_F1, "f1"),
                      (metrics.CLASS_PRECISION, "precision"),
                      (metrics.CLASS_RECALL, "recall")):
      values[metric_types.MetricKey(
          name=name, sub_key=metric_types.SubKey(class_id=int(class_id)))] = (
              float(per_class[key][class_id]))
  values[metric_types.MetricKey(name=metrics.CONFUSION_MATRIX)] = CONFUSION
  proto = metrics_plots_and_validations_writer.convert_slice_metrics_to_proto(
      ((), values), add_metrics_callbacks=None)
  with tf.io.TFRecordWriter(
      os.path.join(folder, "metrics-00000-of-00001.tfrecord")) as writer:
    writer.write(proto.SerializeToString())
  result = validation_result_pb2.ValidationResult(validation_ok=validation_ok)
  if not validation_ok:
    failure = result.metric_validations_per_slice.add().failures.add()
    failure.metric_key.CopyFrom(
        metric_types.MetricKey(name=metrics.MACRO_F1).to_proto())
    failure.metric_value.double_value.value = scores[metrics.MACRO_F1]
    failure.metric_threshold.value_threshold.lower_bound.value = minimum
  with tf.io.TFRecordWriter(
      os.path.join(folder, "validations.tfrecord")) as writer:
    writer.write(result.SerializeToString())
  return scores


def _artifacts(tmp_path, validation_ok, blessed=None, summary=True):
  """input_dict and output_dict of the executor, as the Evaluator, Trainer
  and ImageValidator would have left them."""
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = str(tmp_path / "Evaluator" / "evaluation" / "8")
  scores = _write_evaluation(evaluation.uri, validation_ok)
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / "Evaluator" / "blessing" / "8")
  os.makedirs(blessing.uri)
  blessing.set_int_custom_property(
      "blessed", int(validation_ok if blessed is None else blessed))
  model_run = standard_artifacts.ModelRun()
  model_run.uri = str(tmp_path / "Trainer" / "model_run" / "7")
  os.makedirs(model_run.uri)
  with open(os.path.join(model_run.uri, "training_history.json"), "w") as f:
    json.dump({"config": {"class_names": NAMES},
               "class_counts": [40, 12, 3, 7]}, f)
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / "ImageValidator" / "anomalies" / "4")
  os.makedirs(anomalies.uri)
  if summary:
    with open(os.path.join(anomalies.uri, "validation_summary.json"),
              "w") as f:
      json.dump({"splits": {
          "train": {"num_examples": 62, "class_counts": [40, 12, 3, 7]},
          "eval": {"num_examples": 15, "class_counts": [6, 5, 4, 0]}},
                 "errors": [],
                 "warnings": ["split 'train': class imbalance: 13.3"]}, f)
  report = artifact_types.EvaluationReport()
  report.uri = str(tmp_path / "Report" / "report" / "9")
  inputs = {report_executor.EVALUATION_KEY: [evaluation],
            report_executor.BLESSING_KEY: [blessing],
            report_executor.MODEL_RUN_KEY: [model_run],
            report_executor.ANOMALIES_KEY: [anomalies]}
  return inputs, {report_executor.REPORT_KEY: [report]}, scores


@pytest.mark.parametrize("blessed", [True, False])
def test_executor_writes_the_report_artifact(tmp_path, blessed):
  inputs, outputs, scores = _artifacts(tmp_path, validation_ok=blessed)
  report_executor.Executor().Do(inputs, outputs, {})
  artifact = outputs[report_executor.REPORT_KEY][0]
  page, images = _check_figures(os.path.join(artifact.uri,
                                             render.REPORT_FILE))
  assert sorted(images) == sorted([render.PER_CLASS_F1_PNG,
                                   render.CONFUSION_PNG])
  with open(os.path.join(artifact.uri, render.METRICS_FILE)) as f:
    record = json.load(f)
  verdict = "BLESSED" if blessed else "NOT BLESSED"
  assert record["verdict"] == verdict and record["blessed"] is blessed
  assert artifact.get_string_custom_property("verdict") == verdict
  assert artifact.get_float_custom_property("macro_f1") == pytest.approx(
      scores[metrics.MACRO_F1])
  assert record["metrics"]["macro_f1"]["value"] == pytest.approx(
      scores[metrics.MACRO_F1])
  assert record["failed_gates"] == ([] if blessed else [
      f"macro_f1 = {scores[metrics.MACRO_F1]:.4f}, below the minimum 0.9"])
  # Names and training counts from the Trainer's history; the data
  # section from the validator's summary.
  assert [(c["name"], c["train_count"]) for c in record["per_class"]] == (
      list(zip(NAMES, [40, 12, 3, 7])))
  assert record["data"] == {"examples_per_split": {"eval": 15, "train": 62},
                            "warnings": ["split 'train': class imbalance: "
                                         "13.3"], "drift": None,
                            "spans": None}
  assert "class imbalance: 13.3" in page
  assert _table_rows(page, "All classes")[0][1] == "daisy"


@pytest.mark.parametrize("record, line", [
    ({"requested": True, "from": "/root/Trainer/model/3", "loaded": True,
      "reason": ""}, "warm start: from /root/Trainer/model/3 (loaded)"),
    ({"requested": True, "from": "/root/Trainer/model/3", "loaded": False,
      "reason": "the base model has 5 classes, this model has 4"},
     "cold start: the base model has 5 classes, this model has 4"),
    ({"requested": False, "from": None, "loaded": False,
      "reason": "train.warm_start is off"}, None),
])
def test_report_says_where_training_started(tmp_path, record, line):
  """The Trainer's warm start record (training_history.json) is one line of
  the page and a key of metrics.json; none when it was not asked for."""
  inputs, outputs, _ = _artifacts(tmp_path, validation_ok=True)
  history_path = os.path.join(inputs[report_executor.MODEL_RUN_KEY][0].uri,
                              "training_history.json")
  with open(history_path, "w") as f:
    json.dump({"config": {"class_names": NAMES},
               "class_counts": [40, 12, 3, 7], "warm_start": record}, f)
  report_executor.Executor().Do(inputs, outputs, {})
  folder = outputs[report_executor.REPORT_KEY][0].uri
  with open(os.path.join(folder, render.METRICS_FILE)) as f:
    assert json.load(f)["warm_start"] == line
  with open(os.path.join(folder, render.REPORT_FILE)) as f:
    page = f.read()
  assert ("Training: " in page) == (line is not None)
  if line:
    assert f"Training: {html.escape(line)}<br>" in page


def test_executor_fails_on_a_blessing_of_another_evaluation(tmp_path):
  inputs, outputs, _ = _artifacts(tmp_path, validation_ok=False, blessed=True)
  with pytest.raises(ValueError, match="the blessing says blessed"):
    report_executor.Executor().Do(inputs, outputs, {})


def test_executor_fails_on_anomalies_without_a_summary(tmp_path):
  inputs, outputs, _ = _artifacts(tmp_path, validation_ok=True,
                                  summary=False)
  with pytest.raises(FileNotFoundError, match="validation_summary.json"):
    report_executor.Executor().Do(inputs, outputs, {})


def test_executor_with_the_evaluation_alone(tmp_path):
  """The other inputs are optional: classes by id, counts unknown."""
  inputs, outputs, _ = _artifacts(tmp_path, validation_ok=True)
  inputs = {report_executor.EVALUATION_KEY:
                inputs[report_executor.EVALUATION_KEY]}
  report_executor.Executor().Do(inputs, outputs, {})
  folder = outputs[report_executor.REPORT_KEY][0].uri
  page, _ = _check_figures(os.path.join(folder, render.REPORT_FILE))
  assert "training counts are unknown" in page
  assert "No data validation output given." in page
  with open(os.path.join(folder, render.METRICS_FILE)) as f:
    record = json.load(f)
  assert record["verdict"] == "BLESSED"  # From the stored validation.
  assert record["per_class"][0]["name"] == "class 0"


# ---------------------------------------------------------------------------
# From the session's real pipeline run.

def _evaluation_and_history(pipeline_run):
  root = os.path.join(pipeline_run["output_dir"], "pipeline_root")
  evaluations = glob.glob(os.path.join(root, "Evaluator", "evaluation", "*"))
  histories = glob.glob(os.path.join(root, "Trainer", "model_run", "*",
                                     "training_history.json"))
  assert len(evaluations) == 1 and len(histories) == 1
  return evaluations[0], histories[0]


@pytest.mark.slow
def test_report_from_the_real_evaluator_output(pipeline_run, tmp_path):
  evaluation_dir, history_path = _evaluation_and_history(pipeline_run)
  data = content.load_report_data(evaluation_dir,
                                 training_history=history_path)
  with open(history_path) as f:
    history = json.load(f)
  assert data.class_names == history["config"]["class_names"]
  assert [r.train_count for r in data.rows] == history["class_counts"]
  assert data.confusion.shape == (104, 104)
  assert int(data.confusion.sum()) == pipeline_run["counts"]["val"]
  # What TFMA stored per class agrees with the stored matrix (sklearn).
  true, predicted = np.nonzero(data.confusion)
  counts = data.confusion[true, predicted]
  labels, predictions = np.repeat(true, counts), np.repeat(predicted, counts)
  present = np.unique(np.concatenate([labels, predictions]))
  expected_f1 = sk_metrics.f1_score(labels, predictions, average=None)
  got = {r.class_id: r.f1 for r in data.rows}
  np.testing.assert_allclose([got[c] for c in present], expected_f1,
                             atol=1e-9)
  assert all(got[c] is None for c in set(range(104)) - set(present))
  assert data.metrics[metrics.MACRO_F1] == pytest.approx(
      sk_metrics.f1_score(labels, predictions, average="macro"))
  assert data.validation_ok is True and data.failures == []

  path = render.render_report(data, str(tmp_path))
  page, _ = _check_figures(path)
  rows = _table_rows(page, "All classes")
  assert len(rows) == 104
  summary_f1 = [line.split()[-1] for line in
                pipeline_run["stdout"].splitlines()
                if line.startswith("  macro_f1 ")][0]
  metric_rows = {r[0]: r[1] for r in _table_rows(
      page, "Metrics (eval split, all classes)")}
  assert metric_rows["macro_f1"] == summary_f1


@pytest.mark.slow
def test_command_line_with_a_baseline_evaluation(pipeline_run, tmp_path):
  evaluation_dir, history_path = _evaluation_and_history(pipeline_run)
  # As a user runs it: no PYTHONPATH, from another folder.
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  process = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "tools", "report.py"),
       "--evaluation", evaluation_dir, "--baseline-evaluation",
       evaluation_dir, "--training-history", history_path,
       "--output", str(tmp_path / "cli")],
      cwd=str(tmp_path), env=env, capture_output=True, text=True,
      timeout=600, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  path = str(tmp_path / "cli" / render.REPORT_FILE)
  assert f"wrote {path}" in process.stdout
  page, images = _check_figures(path)
  # Compared with itself: a baseline section, and no class changed.
  assert "Against the baseline model" in page
  assert "No class's F1 changed." in page
  assert render.F1_CHANGE_PNG not in images


@pytest.mark.slow
def test_run_writes_and_announces_its_report(pipeline_run):
  """The summary's report is the Report component's artifact, recorded in
  ML Metadata as the output of the run's Report execution."""
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  lines = [line for line in pipeline_run["stdout"].splitlines()
           if line.startswith("  report ")]
  assert len(lines) == 1, pipeline_run["stdout"][-3000:]
  path = lines[0].split()[-1]
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.join(pipeline_run["output_dir"],
                                                "metadata.sqlite")
  store = metadata_store.MetadataStore(connection)
  [artifact] = store.get_artifacts_by_type(
      artifact_types.EvaluationReport.TYPE_NAME)
  assert path == os.path.join(artifact.uri, render.REPORT_FILE)
  [event] = [e for e in store.get_events_by_artifact_ids([artifact.id])
             if e.type == metadata_store_pb2.Event.OUTPUT]
  # The execution's node context is `<pipeline>.<node id>`.
  contexts = [context.name for context in
              store.get_contexts_by_execution(event.execution_id)]
  pipeline_name = config_lib.pipeline_name(features.load_class_names())
  assert f"{pipeline_name}.{report_component.COMPONENT_ID}" in contexts
  assert artifact.custom_properties["verdict"].string_value == "BLESSED"
  page, images = _check_figures(path)
  # The figures, and the gallery's thumbnails (tests/test_batch_prediction.py
  # checks those).
  assert sorted(name for name in images
                if not name.startswith(render.GALLERY_PREFIX)) == sorted([
                    render.PER_CLASS_F1_PNG, render.CONFUSION_PNG,
                    render.TEST_DISTRIBUTION_PNG])
  assert any(name.startswith(render.GALLERY_PREFIX) for name in images)
  assert "BLESSED" in page
  with open(os.path.join(artifact.uri, render.METRICS_FILE)) as f:
    record = json.load(f)
  summary_f1 = [line.split()[-1] for line in
                pipeline_run["stdout"].splitlines()
                if line.startswith("  macro_f1 ")][0]
  assert f"{record['metrics']['macro_f1']['value']:.4f}" == summary_f1
  assert record["data"]["examples_per_split"] == {
      "eval": pipeline_run["counts"]["val"],
      "train": pipeline_run["counts"]["train"]}
