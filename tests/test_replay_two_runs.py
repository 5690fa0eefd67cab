"""Two consecutive runs of one compiled Kubeflow spec, replayed (issue 29).

The spec is compiled once, for open-source Kubeflow Pipelines
(`--kfp-backend kubeflow`: no resolver task, no lifecycle hook), with
`--spans latest` and warm start, when the data root holds span 1 only.
Run 1 replays it; span 2 is then written and run 2 replays the same spec
into the same pipeline root (the replay's ledger and the serving folder
kept, as a cluster keeps its metadata store and bucket). Checked:

* run 2 reads span 2, resolved by ExampleGen's executor (no driver runs);
* its drift baseline, its warm-start base and its Evaluator baseline are
  run 1's model, found from run 1's push record by the baseline tasks;
* its gate compares it with run 1's model and blesses it (the change gate
  at its default: warm-started on new data, it is not worse);
* its push record names span 2, and its report has the drift section.

Span 1 has two head classes (a, b), span 2 two others (f, g), so the
drift check has a real shift to report. The absolute gate is open (macro
F1 >= 0): the tiny models are not good, what is checked is which model each
baseline is and the change gate's verdict.
"""

import json
import os

import pytest

import kubeflow_runner
from pipeline.components.util import evaluation_reader as evaluation_lib
from pipeline.runner import kfp_backend
from pipeline.components.image_validator import executor as image_validator
from pipeline.components.util import publishing
from pipeline.components.report import component as report_component
from pipeline.components.report import render
from tools import make_sample_data
from tools import replay_kfp_spec as replay
from tools.kfp_replay import spec as spec_lib

SIZE = 64
CLASS_NAMES = ("a", "b", "c", "d", "e", "f", "g", "h")
EPOCHS = 2
# The gate's baseline; the drift check's reference and the warm start's
# base are one task.
EVALUATOR_BASELINE = "BaselineModel"
PREVIOUS_MODEL = "PreviousModel"


def _write_span(data_root: str, span: int, head_first: int):
  make_sample_data.make_sample_data(
      data_root, image_size=SIZE, num_classes=len(CLASS_NAMES),
      head_classes=2, head_count=24, tail_count=5, val_fraction=0.34,
      test_count=6, seed=40 + span, head_first=head_first, span=span)


def _compile(folder, data_root, classes_file, *extra):
  spec_path = os.path.join(folder, "spec.json")
  assert kubeflow_runner.main([
      "--image", "registry.example/flowers:1",
      "--pipeline-root", os.path.join(folder, "root"),
      "--data-root", data_root,
      "--serving-dir", os.path.join(folder, "serving"),
      "--output", spec_path, "--beam-profile", "in_memory",
      "--kfp-backend", "kubeflow", "--spans", "latest",
      "--classes", classes_file, "--epochs", str(EPOCHS), "--warm-start",
      "--min-macro-f1", "0", *extra]) == 0
  return spec_path


@pytest.fixture(scope="module")
def classes_file(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("classes") / "classes.txt")
  with open(path, "w") as f:
    f.write("\n".join(CLASS_NAMES) + "\n")
  return path


@pytest.fixture(scope="module")
def spans_data(tmp_path_factory):
  data_root = str(tmp_path_factory.mktemp("data"))
  _write_span(data_root, 1, head_first=0)
  return data_root


def test_kubeflow_spec_has_no_resolver_and_no_hook(tmp_path, spans_data,
                                                   classes_file):
  spec = spec_lib.load_spec(_compile(str(tmp_path), spans_data,
                                     classes_file))
  assert kfp_backend.resolver_executors(spec) == []
  executors = spec["deploymentSpec"]["executors"]
  assert not [label for label, executor in executors.items()
              if "lifecycle" in executor.get("container", {})]
  tasks = spec["root"]["dag"]["tasks"]
  for name in (EVALUATOR_BASELINE, PREVIOUS_MODEL):
    component = spec["components"][tasks[name]["componentRef"]["name"]]
    assert "container" in executors[component["executorLabel"]], name
  # The gate's baseline leaves out the Trainer's model; the previous model
  # the models trained on this run's Examples.
  inputs = {name: {key: source["taskOutputArtifact"]["producerTask"]
                   for key, source in tasks[name]["inputs"][
                       "artifacts"].items()}
            for name in (EVALUATOR_BASELINE, PREVIOUS_MODEL)}
  assert inputs == {EVALUATOR_BASELINE: {"candidate": "Trainer"},
                    PREVIOUS_MODEL: {"examples": "ImportExampleGen"}}
  for task, key in (("Evaluator", "baseline_model"),
                    ("EvalInference", "baseline_model")):
    assert tasks[task]["inputs"]["artifacts"][key]["taskOutputArtifact"][
        "producerTask"] == EVALUATOR_BASELINE
  for task, key in (("ImageValidator", "baseline_model"),
                    ("Trainer", "base_model")):
    assert tasks[task]["inputs"]["artifacts"][key]["taskOutputArtifact"][
        "producerTask"] == PREVIOUS_MODEL


def test_vertex_spec_finds_baselines_the_same_way(tmp_path, spans_data,
                                                  classes_file):
  spec = spec_lib.load_spec(_compile(str(tmp_path), spans_data,
                                     classes_file, "--kfp-backend", "vertex"))
  assert kfp_backend.resolver_executors(spec) == []
  tasks = spec["root"]["dag"]["tasks"]
  assert {EVALUATOR_BASELINE, PREVIOUS_MODEL} <= set(tasks)
  # Vertex runs TFX's ExampleGen driver as the executor's hook.
  assert "lifecycle" in spec["deploymentSpec"]["executors"][
      "ImportExampleGen_executor"]["container"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, spans_data, classes_file):
  folder = str(tmp_path_factory.mktemp("replay"))
  spec_path = _compile(folder, spans_data, classes_file)
  root = os.path.join(folder, "root")
  first = replay.replay(spec_path, root, kubeflow_runner.IMAGE_PROJECT_DIR,
                        run_id="run-1", task_timeout_s=1200,
                        echo=lambda line: None)
  _write_span(spans_data, 2, head_first=5)
  second = replay.replay(spec_path, root, kubeflow_runner.IMAGE_PROJECT_DIR,
                         run_id="run-2", task_timeout_s=1200,
                         echo=lambda line: None)
  return first, second


def _one(result, task, key):
  [artifact] = result.task(task).outputs[key]
  return artifact


def _push_record(result):
  pushed = _one(result, "Pusher", "pushed_model")
  assert pushed["metadata"]["pushed"] == 1, pushed
  with open(os.path.join(pushed["metadata"]["pushed_destination"],
                         publishing.RECORD_FILE)) as f:
    return json.load(f)


@pytest.mark.slow
def test_first_run_has_no_baselines_and_pushes_span_1(two_runs):
  first, _ = two_runs
  assert {t.kind for t in first.tasks} == {"container"}
  for name in (EVALUATOR_BASELINE, PREVIOUS_MODEL):
    assert _one(first, name, "model")["metadata"]["baseline_found"] == 0
  drift = image_validator.read_validation_summary(
      _one(first, "ImageValidator", "anomalies")["uri"]).drift
  assert drift["baseline"] is None and "no model" in drift["note"]
  assert _push_record(first)["data"]["spans"] == "span 1"


@pytest.mark.slow
def test_second_run_reads_span_2(two_runs):
  _, second = two_runs
  examples = _one(second, "ImportExampleGen", "examples")
  # Set by the executor, as TFX's driver would (no driver ran); TFX writes
  # the span as a custom property, "custom:span", beside the type's own.
  assert examples["metadata"]["custom:span"] == 2
  assert examples["metadata"]["spans"] == "2"
  assert second.task("ImportExampleGen").driver_parameters is None
  record = _push_record(second)
  assert record["data"]["spans"] == "span 2"
  assert record["data"]["span"] == 2


@pytest.mark.slow
def test_second_runs_baselines_are_the_first_runs_model(two_runs):
  first, second = two_runs
  first_model = _one(first, "Trainer", "model")["uri"]
  second_model = _one(second, "Trainer", "model")["uri"]
  assert first_model != second_model
  for name in (EVALUATOR_BASELINE, PREVIOUS_MODEL):
    baseline = _one(second, name, "model")
    assert baseline["metadata"]["baseline_found"] == 1, baseline
    assert baseline["uri"] == first_model, name
  drift = image_validator.read_validation_summary(
      _one(second, "ImageValidator", "anomalies")["uri"]).drift
  assert drift["baseline"] == first_model
  shifted = {entry["class"] for entry in drift["shifted_classes"]}
  assert shifted == {0, 1, 5, 6}
  evaluation = evaluation_lib.load_evaluation(
      _one(second, "Evaluator", "evaluation")["uri"])
  assert evaluation.model_locations[evaluation_lib.BASELINE].startswith(
      first_model)
  assert evaluation.model_locations[evaluation_lib.CANDIDATE].startswith(
      second_model)
  blessing = _one(second, "Evaluator", "blessing")
  assert blessing["metadata"]["baseline_model"] == first_model
  # The change gate at its default compared the two and blessed run 2.
  assert evaluation.validation_ok is True, evaluation.failures
  assert [check["name"] for check in evaluation.gate.checks] == [
      "absolute", "change"]
  assert blessing["metadata"]["blessed"] == 1
  with open(os.path.join(_one(second, "Trainer", "model_run")["uri"],
                         "training_history.json")) as f:
    warm_start = json.load(f)["warm_start"]
  assert warm_start["loaded"] is True, warm_start
  assert warm_start["from"] == first_model


@pytest.mark.slow
def test_second_runs_report_has_the_drift_section(two_runs):
  _, second = two_runs
  report = _one(second, report_component.COMPONENT_ID, "report")
  with open(os.path.join(report["uri"], render.REPORT_FILE),
            encoding="utf-8") as f:
    html = f.read()
  assert '<h2 id="drift">Data drift</h2>' in html
  assert "Data: span 2<br>" in html
