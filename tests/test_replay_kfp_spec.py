"""The compiled Kubeflow spec runs: tools/replay_kfp_spec.py replays it here.

The spec comes from `kubeflow_runner.main`, as a user compiles it, with
local paths for the pipeline root, the data and the serving folder. Fast
tests check the replay's own logic on that spec (task order, the resolver's
queries over the replay's ledger); the slow one runs every task's container
command, as the KFP v2 launcher would, and checks that the run ends like a
local run: a blessed model pushed and the report artifact written by the
Report task. docs/kubeflow.md says what the replay does not cover.
"""

import json
import os

import pytest

import kubeflow_runner
from conftest import E2E_EPOCHS
from conftest import REPO_ROOT
from pipeline.components.data_validator import executor as data_validator
from pipeline.components.pusher import publishing
from pipeline.components.report import component as report_component
from pipeline.components.report import render
from tools import make_sample_data
from tools import replay_kfp_spec as replay
from tools.kfp_replay import driver_tasks
from tools.kfp_replay import ledger as ledger_lib
from tools.kfp_replay import replayer as replayer_lib
from tools.kfp_replay import spec as spec_lib

RESOLVER_PREFIX = "latest_blessed_model_resolver-"
BLESSING_RESOLVER = RESOLVER_PREFIX + "model-blessing-resolver"
MODEL_RESOLVER = RESOLVER_PREFIX + "model-resolver"
# The DataValidator's drift baseline (validation.drift_check, on by default).
DRIFT_RESOLVER_PREFIX = "drift_baseline_resolver-"


def compile_spec(folder, data_root, *flags):
  """kubeflow_runner.py's spec with every path on this machine."""
  spec_path = os.path.join(folder, "spec.json")
  argv = ["--pipeline-root", os.path.join(folder, "root"),
          "--data-root", data_root,
          "--serving-dir", os.path.join(folder, "serving"),
          "--output", spec_path, "--beam-profile", "in_memory", *flags]
  assert kubeflow_runner.main(argv) == 0
  return spec_path


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("spec"))
  return spec_lib.load_spec(compile_spec(folder, "/nonexistent/data",
                                       "--image-size", "192"))


def _replayer(spec, root):
  return replay.Replayer(spec, str(root), kubeflow_runner.IMAGE_PROJECT_DIR,
                         echo=lambda line: None)


def test_task_order_respects_every_dependency(spec):
  order = spec_lib.task_order(spec)
  tasks = spec["root"]["dag"]["tasks"]
  assert set(order) == set(tasks)
  for position, name in enumerate(order):
    for needed in spec_lib.dependencies(tasks[name]):
      assert order.index(needed) < position, (name, needed)
  # Both run after the Evaluator, in id order: the push comes first.
  assert order.index("Pusher") < order.index(report_component.COMPONENT_ID)


def _resolve(replayer, spec):
  """Runs the two resolver tasks as the replay does, in order."""
  tasks = spec["root"]["dag"]["tasks"]
  executors = spec["deploymentSpec"]["executors"]
  for name in (BLESSING_RESOLVER, MODEL_RESOLVER):
    component = spec["components"][tasks[name]["componentRef"]["name"]]
    replayer.outputs[name] = driver_tasks.resolve(
        replayer.ledger, replayer.input_artifacts(name, tasks[name]),
        executors[component["executorLabel"]]["resolver"])
  return replayer.outputs[MODEL_RESOLVER]["model"]


def _record(ledger, spec, task, key, name, metadata):
  """A ledger entry typed as the spec types the task's output."""
  component = spec["components"][task]
  ledger.add({"name": name, "uri": f"/runs/{name}",
              "type": component["outputDefinitions"]["artifacts"][key][
                  "artifactType"], "metadata": metadata}, "earlier", task)


def test_first_run_resolves_nothing(spec, tmp_path):
  assert _resolve(_replayer(spec, tmp_path), spec) == []


def test_resolver_finds_the_latest_blessed_model(spec, tmp_path):
  """The Evaluator's blessing names its model (current_model_id, the
  model's runtime name after TFX's refactor_model_blessing)."""
  replayer = _replayer(spec, tmp_path)
  for run, blessed in (("r1", 1.0), ("r2", 1.0), ("r3", 0.0)):
    _record(replayer.ledger, spec, "Trainer", "model", f"{run}/model", {})
    _record(replayer.ledger, spec, "Evaluator", "blessing", f"{run}/blessing",
            {"blessed": blessed, "current_model_id": f"{run}/model"})
  model = _resolve(replayer, spec)
  assert [artifact["name"] for artifact in model] == ["r2/model"]
  assert spec_lib.schema_title(model[0]["type"]) == "tfx.Model"


def test_unknown_filter_clause_fails_clearly(tmp_path):
  ledger = ledger_lib.Ledger(str(tmp_path / "ledger.json"))
  with pytest.raises(replay.ReplayError, match="create_time"):
    ledger.query('schema_title="tfx.Model" AND create_time>5')


def test_image_paths_map_to_this_checkout(spec, tmp_path):
  replayer = _replayer(spec, tmp_path)
  schema = spec["root"]["dag"]["tasks"]["SchemaGen"]["inputs"][
      "parameters"]["schema_file"]
  local = replayer.map_path(spec_lib.constant(schema, "schema"))
  assert local == os.path.join(REPO_ROOT, "schema", "schema.pbtxt")
  assert os.path.exists(local)
  env = replayer_lib.image_environment(REPO_ROOT,
                                 kubeflow_runner.IMAGE_PROJECT_DIR,
                                 os.path.join(REPO_ROOT, "Dockerfile"))
  assert env["PYTHONPATH"] == REPO_ROOT


@pytest.mark.slow
def test_replayed_spec_pushes_a_model_and_writes_the_report(
    tiny_data_root, tmp_path):
  data_root, counts = tiny_data_root
  spec_path = compile_spec(str(tmp_path), data_root, "--epochs",
                           str(E2E_EPOCHS), "--set", "eval.min_macro_f1=0.0")
  root = str(tmp_path / "root")
  result = replay.replay(spec_path, root, kubeflow_runner.IMAGE_PROJECT_DIR,
                         task_timeout_s=1200)
  spec = spec_lib.load_spec(spec_path)
  assert [t.name for t in result.tasks] == spec_lib.task_order(spec)
  kinds = {t.name: t.kind for t in result.tasks}
  assert kinds[BLESSING_RESOLVER] == kinds[MODEL_RESOLVER] == "resolver"
  assert {kind for name, kind in kinds.items()
          if not name.startswith((RESOLVER_PREFIX, DRIFT_RESOLVER_PREFIX))
          } == {"container"}
  # A first run: no baseline model, for the Evaluator nor for the drift
  # check, which says so.
  assert result.task(MODEL_RESOLVER).outputs == {"model": []}
  assert result.task(DRIFT_RESOLVER_PREFIX + "model-resolver").outputs == {
      "model": []}
  [anomalies] = result.task("ExampleValidator").outputs["anomalies"]
  drift = data_validator.read_summary(anomalies["uri"]).drift
  assert drift["baseline"] is None and drift["note"]
  for task in result.tasks:
    for artifacts in task.outputs.values():
      for artifact in artifacts:
        assert artifact["uri"].startswith(root + os.sep), artifact

  [examples] = result.task("ImportExampleGen").outputs["examples"]
  # The driver's span and fingerprint reached the artifact (TFX writes the
  # span as a custom property, "custom:span", beside the type's own).
  assert examples["metadata"]["custom:span"] == 0
  assert examples["metadata"]["input_fingerprint"].startswith("split:train")
  [blessing] = result.task("Evaluator").outputs["blessing"]
  assert blessing["metadata"]["blessed"] == 1
  [model] = result.task("Trainer").outputs["model"]
  assert blessing["metadata"]["current_model_id"] == model["name"]

  [pushed] = result.task("Pusher").outputs["pushed_model"]
  assert pushed["metadata"]["pushed"] == 1
  destination = pushed["metadata"]["pushed_destination"]
  assert destination.startswith(str(tmp_path / "serving") + os.sep)
  assert os.path.exists(os.path.join(destination, "saved_model.pb"))
  with open(os.path.join(destination, publishing.RECORD_FILE)) as f:
    record = json.load(f)
  assert record["model"]["uri"] == model["uri"]
  assert record["data"]["train_examples"] == counts["train"]
  # The device models, as the SavedModel's version beside its folder.
  [lite] = result.task("LiteRTPusher").outputs["pushed_lite_model"]
  assert lite["metadata"]["pushed"] == 1
  assert lite["metadata"]["pushed_destination"] == os.path.join(
      str(tmp_path / "serving_lite"), os.path.basename(destination))
  assert os.path.exists(os.path.join(lite["metadata"]["pushed_destination"],
                                     "model_float32.tflite"))

  [report] = result.task(report_component.COMPONENT_ID).outputs["report"]
  assert spec_lib.schema_title(report["type"]) == (
      report_component.EvaluationReport.TYPE_NAME)
  assert report["metadata"]["verdict"] == "BLESSED"
  with open(os.path.join(report["uri"], render.METRICS_FILE)) as f:
    metrics_record = json.load(f)
  assert metrics_record["verdict"] == "BLESSED"
  assert metrics_record["metrics"]["example_count"]["value"] == counts["val"]
  assert len(metrics_record["per_class"]) == 104
  assert os.path.exists(os.path.join(report["uri"], render.REPORT_FILE))
  assert os.path.exists(os.path.join(report["uri"], render.CONFUSION_PNG))


def test_hook_output_reaches_the_executor_in_both_forms():
  """What TFX's ExampleGen driver writes (parameterValues, numbers as
  floats) becomes the executor's parameters, as TFX's entry point reads
  them without an inputs spec (the legacy form)."""
  executor_input = {
      "inputs": {"parameters": {"input_base": {"stringValue": "/d"}},
                 "parameterValues": {"input_base": "/d"}},
      "outputs": {"artifacts": {"examples": {"artifacts": [
          {"name": "e", "uri": "/u", "metadata": {}}]}}}}
  set_here = driver_tasks.apply_hook_output({
      "parameterValues": {"span": 2.0, "input_fingerprint": "split:train",
                          "input_config": '{"splits": []}'},
      "artifacts": {"examples": {"artifacts": [
          {"metadata": {"custom:span": 2.0}}]}}}, executor_input)
  assert set_here == ["input_config", "input_fingerprint", "span"]
  inputs = executor_input["inputs"]
  assert inputs["parameters"]["span"] == {"intValue": "2"}
  assert inputs["parameterValues"]["span"] == 2
  assert executor_input["outputs"]["artifacts"]["examples"]["artifacts"][0][
      "metadata"] == {"custom:span": 2.0}
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from kfp.pipeline_spec import pipeline_spec_pb2  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils  # pylint: disable=g-import-not-at-top
  parsed = json_format.ParseDict(
      {"inputs": {"parameters": inputs["parameters"]}},
      pipeline_spec_pb2.ExecutorInput())
  assert kubeflow_v2_entrypoint_utils.parse_execution_properties(
      parsed.inputs.parameter_values, parsed.inputs.parameters)["span"] == 2


@pytest.mark.slow
def test_a_latest_spans_vertex_spec_replays_example_gen(tmp_path):
  """The `vertex` spec with `--spans latest`: TFX's driver hook resolves
  span 2 and the executor reads it (it failed with KeyError: 'span' while
  the replay dropped the driver's parameters)."""
  data_root = tmp_path / "data"
  for span in (1, 2):
    make_sample_data.make_sample_data(
        str(data_root), image_size=32, num_classes=4, head_classes=1,
        head_count=6, tail_count=2, val_fraction=0.5, test_count=0,
        seed=60 + span, span=span)
  spec = spec_lib.load_spec(compile_spec(
      str(tmp_path), str(data_root), "--spans", "latest"))
  assert "lifecycle" in spec["deploymentSpec"]["executors"][
      "ImportExampleGen_executor"]["container"]
  replayer = _replayer(spec, tmp_path / "root")
  replayer.image_env = replayer_lib.image_environment(
      REPO_ROOT, kubeflow_runner.IMAGE_PROJECT_DIR,
      os.path.join(REPO_ROOT, "Dockerfile"))
  run = replayer.run_task("ImportExampleGen")
  assert run.driver_parameters == ["input_config", "input_fingerprint",
                                   "span"]
  [examples] = run.outputs["examples"]
  assert examples["metadata"]["custom:span"] == 2
  assert examples["metadata"]["spans"] == "2"
