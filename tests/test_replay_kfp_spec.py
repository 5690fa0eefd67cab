"""The compiled Kubeflow spec runs: tools/replay_kfp_spec.py replays it here.

The spec comes from `kubeflow_runner.main`, as a user compiles it, with
local paths for the pipeline root, the data and the serving folder. Fast
tests check the replay's own logic on that spec (task order, paths, the
ledger's queries); the slow one runs every task's container
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
from pipeline.components.image_validator import executor as image_validator
from pipeline.components.util import publishing
from pipeline.components.report import component as report_component
from pipeline.components.report import render
from pipeline.components.util import artifact_types
from tools import make_sample_data
from tools import replay_kfp_spec as replay
from tools.kfp_replay import driver_tasks
from tools.kfp_replay import ledger as ledger_lib
from tools.kfp_replay import replayer as replayer_lib
from tools.kfp_replay import spec as spec_lib

# The served-model tasks: the gate's baseline, and the drift check's
# reference (validation.drift_check, on by default).
BASELINE_TASKS = ("BaselineModel", "PreviousModel")


def compile_spec(folder, data_root, *flags):
  """kubeflow_runner.py's spec with every path on this machine."""
  spec_path = os.path.join(folder, "spec.json")
  argv = ["--image", "registry.example/flowers:1",
          "--pipeline-root", os.path.join(folder, "root"),
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
  # Every task is a container task: the baselines too (no resolver).
  assert {t.kind for t in result.tasks} == {"container"}
  # A first run: no served model, for the gate nor for the drift check,
  # which says so.
  for name in BASELINE_TASKS:
    [model] = result.task(name).outputs["model"]
    assert model["metadata"]["baseline_found"] == 0, name
  [anomalies] = result.task("ImageValidator").outputs["anomalies"]
  drift = image_validator.read_validation_summary(anomalies["uri"]).drift
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
      artifact_types.EvaluationReport.TYPE_NAME)
  assert report["metadata"]["verdict"] == "BLESSED"
  with open(os.path.join(report["uri"], render.METRICS_FILE)) as f:
    metrics_record = json.load(f)
  assert metrics_record["verdict"] == "BLESSED"
  assert metrics_record["metrics"]["example_count"]["value"] == counts["val"]
  assert len(metrics_record["per_class"]) == 104
  assert os.path.exists(os.path.join(report["uri"], render.REPORT_FILE))
  assert os.path.exists(os.path.join(report["uri"], render.CONFUSION_PNG))


def _inputs_spec(spec, task):
  """The inputs spec TFX writes into a task's executor arguments (schema
  2.1.0), which its entry point types `parameterValues` by."""
  component = spec["components"][spec["root"]["dag"]["tasks"][task][
      "componentRef"]["name"]]
  args = spec["deploymentSpec"]["executors"][component["executorLabel"]][
      "container"]["args"]
  return args[args.index("--json_serialized_inputs_spec_args") + 1]


def test_hook_output_reaches_the_executor(spec):
  """What TFX's ExampleGen driver writes (parameterValues, numbers as
  floats) becomes the executor's parameterValues, which TFX's entry point
  reads with the task's inputs spec."""
  executor_input = {
      "inputs": {"parameterValues": {"input_base": "/d"}},
      "outputs": {"artifacts": {"examples": {"artifacts": [
          {"name": "e", "uri": "/u", "metadata": {}}]}}}}
  set_here = driver_tasks.apply_hook_output({
      "parameterValues": {"span": 2.0, "input_fingerprint": "split:train",
                          "input_config": '{"splits": []}'},
      "artifacts": {"examples": {"artifacts": [
          {"metadata": {"custom:span": 2.0}}]}}}, executor_input)
  assert set_here == ["input_config", "input_fingerprint", "span"]
  inputs = executor_input["inputs"]
  assert inputs["parameterValues"]["span"] == 2
  assert executor_input["outputs"]["artifacts"]["examples"]["artifacts"][0][
      "metadata"] == {"custom:span": 2.0}
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from kfp.pipeline_spec import pipeline_spec_pb2  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils  # pylint: disable=g-import-not-at-top
  parsed = json_format.ParseDict({"inputs": inputs},
                                 pipeline_spec_pb2.ExecutorInput())
  inputs_spec = json_format.Parse(_inputs_spec(spec, "ImportExampleGen"),
                                  pipeline_spec_pb2.ComponentInputsSpec())
  properties = kubeflow_v2_entrypoint_utils.parse_execution_properties(
      parsed.inputs.parameter_values, parsed.inputs.parameters, inputs_spec)
  assert properties["span"] == 2 and properties["input_base"] == "/d"


def test_every_tasks_parameters_pass_the_drivers_check(spec):
  """Each task's constants, as the replay passes them, pass the KFP
  driver's type check; a number where the spec declares a string becomes
  text, and a string where it declares a number is refused by name."""
  constants = {}
  for name, task in spec["root"]["dag"]["tasks"].items():
    component = spec["components"][task["componentRef"]["name"]]
    constants[name] = {key: spec_lib.constant(source, key) for key, source
                       in task.get("inputs", {}).get("parameters", {}).items()}
    assert spec_lib.parameter_values(component, constants[name], name) == (
        constants[name])
  component = spec["components"]["ImportExampleGen"]
  declared = component["inputDefinitions"]["parameters"]
  assert declared["input_base"]["parameterType"] == "STRING"
  assert declared["output_data_format"]["parameterType"] == "NUMBER_INTEGER"
  values = constants["ImportExampleGen"]
  assert spec_lib.parameter_values(
      component, dict(values, input_base=7), "t")["input_base"] == "7"
  with pytest.raises(replay.ReplayError, match="'output_data_format' type "
                     "mismatch: expect NUMBER_INTEGER, got str"):
    spec_lib.parameter_values(
        component, dict(values, output_data_format="6"), "t")
  del values["input_base"]
  with pytest.raises(replay.ReplayError, match="'input_base'"):
    spec_lib.parameter_values(component, values, "t")


def test_a_spec_of_another_schema_is_refused(tmp_path):
  path = tmp_path / "old.json"
  path.write_text(json.dumps({"pipelineSpec": {"schemaVersion": "2.0.0"}}))
  with pytest.raises(replay.ReplayError,
                     match=r"old.json: pipeline spec schema '2.0.0'"):
    spec_lib.load_spec(str(path))


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
