"""kubeflow_runner.py compiles the same pipeline to a KFP v2 spec.

For every Beam profile the spec is compiled in this process (the imports
cost ~10 s once, a compile about a second) and checked against the pipeline
object `create_pipeline` returns: every component with the same upstream
nodes, so a change to the DAG keeps local and Kubeflow in agreement. YAML
output and settings from environment variables go through `main`; the
Dockerfile, which cannot be built here, is checked as text.
"""

import dataclasses
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.proto import example_gen_pb2

import kubeflow_runner
from pipeline.runner import beam_flags
from pipeline.runner import kfp_backend
from settings import config as config_lib
from settings import features
from settings import spans
from pipeline.runner import trainer_placement
from tools import check_image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "registry.example/flowers:1"
TRAINER_IMAGE = "registry.example/flowers-gpu:1"
ROOT = "gs://bucket/flowers-root"
# gs://bucket is not readable from here, so the compile would leave the
# optional splits out (settings/object_store_splits.py): they are asked for.
COMMON = ["--image", IMAGE, "--pipeline-root", ROOT, "--data-root",
          "gs://bucket/data", "--serving-dir", "gs://bucket/serving",
          "--set", "eval.split=val", "--set", "predict.test_split=on"]
# The settings each profile needs, as a user gives them.
PROFILE_FLAGS = {
    "local": ["--beam-workers", "3"],
    "in_memory": [],
    "dataflow": ["--gcp-project", "test-project", "--gcp-region",
                 "europe-west4", "--beam-temp-location", "gs://bucket/tmp",
                 "--dataflow-max-workers", "5",
                 # The Trainer's request rides along with one profile.
                 "--trainer-image", TRAINER_IMAGE,
                 "--trainer-accelerator-type", "NVIDIA_TESLA_T4",
                 "--trainer-accelerator-count", "2", "--trainer-cpu", "8",
                 "--trainer-memory", "30Gi"],
    "flink": ["--flink-master", "flink-jobmanager:8081",
              "--beam-parallelism", "4"],
    "spark": ["--beam-job-endpoint", "beam-job-server:8099",
              "--beam-environment-type", "EXTERNAL",
              "--beam-environment-config", "localhost:50000"],
}
# What each profile must put in every executor's arguments, written out
# rather than recomputed so a wrong preset fails here.
EXPECTED_BEAM_ARGS = {
    # The pod's worker processes run the pod's interpreter: nothing to ship
    # (pipeline/runner/beam.py, SAME_ENVIRONMENT_ARGS).
    "local": ["--direct_running_mode=multi_processing",
              "--direct_num_workers=3",
              "--sdk_container_image=this-python-environment"],
    # Beam's DirectRunner defaults: no arguments (pipeline/runner/beam.py).
    "in_memory": [],
    "dataflow": ["--runner=DataflowRunner", "--project=test-project",
                 "--region=europe-west4", "--temp_location=gs://bucket/tmp",
                 "--staging_location=gs://bucket/tmp/staging",
                 f"--sdk_container_image={IMAGE}", "--sdk_location=container",
                 "--experiments=use_runner_v2", "--max_num_workers=5"],
    "flink": ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081",
              "--flink_submit_uber_jar", "--environment_type=DOCKER",
              f"--environment_config={IMAGE}", "--parallelism=4"],
    "spark": ["--runner=PortableRunner",
              "--job_endpoint=beam-job-server:8099",
              "--environment_type=EXTERNAL",
              "--environment_config=localhost:50000"],
}
# The DAG, written out: (upstream node id, downstream node id) for every
# edge, so an input wired to the wrong component (or lost) fails here.
EXPECTED_EDGES = {
    ("ImportExampleGen", "StatisticsGen"),
    ("SchemaGen", "StatisticsGen"),
    # TFX's own ExampleValidator reads statistics and the schema only.
    ("SchemaGen", "ExampleValidator"),
    ("StatisticsGen", "ExampleValidator"),
    # The ImageValidator reads the records, the statistics and
    # ExampleValidator's anomalies.
    ("ImportExampleGen", "ImageValidator"),
    ("StatisticsGen", "ImageValidator"),
    ("ExampleValidator", "ImageValidator"),
    # Drift (validation.drift_check, on by default): the served model of
    # other data, whose artifact holds its training data's profile.
    ("ImportExampleGen", "PreviousModel"),
    ("PreviousModel", "ImageValidator"),
    # Transform waits for the data check: bad data stops the run first.
    ("ImageValidator", "Transform"),
    ("ImportExampleGen", "Transform"),
    ("SchemaGen", "Transform"),
    ("ImportExampleGen", "Trainer"),
    ("SchemaGen", "Trainer"),
    ("Transform", "Trainer"),
    # The gate: the served model other than the candidate; each model
    # predicts the eval split once (EvalInference), and the Evaluator
    # scores those predictions.
    ("Trainer", "BaselineModel"),
    ("BaselineModel", "EvalInference"),
    ("BaselineModel", "Evaluator"),
    ("EvalInference", "Evaluator"),
    ("Trainer", "Evaluator"),
    ("Evaluator", "Pusher"),
    ("ImportExampleGen", "Pusher"),
    ("Trainer", "Pusher"),
    ("Evaluator", "Report"),
    ("ImageValidator", "Report"),
    ("Trainer", "Report"),
    # Every model's eval predictions: the model card's interval (Pusher)
    # and the gallery (Report, which also shows the eval images), and the
    # scored examples the Evaluator reads.
    ("ImportExampleGen", "EvalInference"),
    ("Trainer", "EvalInference"),
    ("ImageValidator", "Pusher"),
    ("EvalInference", "Pusher"),
    ("ImportExampleGen", "Report"),
    ("EvalInference", "Report"),
    # The test folder (a URI data root is taken to have one): its own
    # ExampleGen, predicted by a blessed model only, shown in the report.
    ("TestExampleGen", "BatchPrediction"),
    ("Trainer", "BatchPrediction"),
    ("Evaluator", "BatchPrediction"),
    ("BatchPrediction", "Report"),
    # The on-device LiteRT models (lite.enabled, on by default): converted
    # from the Trainer's model, int8 calibrated on train, scored on eval
    # against the SavedModel's eval predictions, through the Transform
    # graph's pixels; pushed with the Pusher's version when the Evaluator
    # blessed the model; their table in the report.
    ("Trainer", "LiteRTExport"),
    ("ImportExampleGen", "LiteRTExport"),
    ("Transform", "LiteRTExport"),
    ("EvalInference", "LiteRTExport"),
    ("LiteRTExport", "LiteRTPusher"),
    ("Trainer", "LiteRTPusher"),
    ("Evaluator", "LiteRTPusher"),
    ("Pusher", "LiteRTPusher"),
    ("LiteRTExport", "Report"),
}
EXPECTED_NODES = {node for edge in EXPECTED_EDGES for node in edge}
# With --tune: TFX's Tuner trains on what the Trainer trains on, hands it
# the best hyperparameters, and its trials go to the report.
TUNER_EDGES = {
    ("ImportExampleGen", "Tuner"),
    ("SchemaGen", "Tuner"),
    ("Transform", "Tuner"),
    ("Tuner", "Trainer"),
    ("Tuner", "Report"),
}
# An absolute path that is not a URI's (gs://...) and not inside the image.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/[\w.\-]+(?:/[\w.\-]+)*")


def _clear_flowers_env(monkeypatch):
  """The runner reads FLOWERS_* variables; the caller's must not leak in."""
  for name in list(os.environ):
    if name.startswith("FLOWERS_"):
      monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def no_flowers_env(monkeypatch):
  _clear_flowers_env(monkeypatch)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
  """profile -> (spec text, parsed spec, the pipeline object compiled)."""
  output_dir = tmp_path_factory.mktemp("kfp")
  results = {}
  with pytest.MonkeyPatch.context() as monkeypatch:
    _clear_flowers_env(monkeypatch)
    for profile, flags in PROFILE_FLAGS.items():
      args = kubeflow_runner.parse_args(
          COMMON + ["--beam-profile", profile, *flags,
                    "--output", str(output_dir / f"{profile}.json")])
      path = kubeflow_runner.compile_pipeline(args)
      with open(path, encoding="utf-8") as spec_file:
        text = spec_file.read()
      results[profile] = (text, json.loads(text),
                          kubeflow_runner.build_pipeline(args))
  return results


def _node_of(task_name, node_ids):
  """The pipeline node a spec task comes from: a Resolver becomes tasks
  named `<node id>-<part>-resolver`."""
  if task_name in node_ids:
    return task_name
  owners = [node_id for node_id in node_ids
            if task_name.startswith(node_id + "-")]
  assert len(owners) == 1, (task_name, owners)
  return owners[0]


def _container_executors(parsed):
  executors = parsed["pipelineSpec"]["deploymentSpec"]["executors"]
  return {name: executor["container"] for name, executor in executors.items()
          if "container" in executor}


def _spec_nodes_and_edges(parsed, node_ids=EXPECTED_NODES):
  """(node ids, (upstream, downstream) node id pairs) of a compiled spec."""
  tasks = parsed["pipelineSpec"]["root"]["dag"]["tasks"]
  nodes, edges = set(), set()
  for name, task in tasks.items():
    node_id = _node_of(name, node_ids)
    nodes.add(node_id)
    for dependency in task.get("dependentTasks", []):
      upstream = _node_of(dependency, node_ids)
      if upstream != node_id:
        edges.add((upstream, node_id))
  return nodes, edges


@pytest.mark.parametrize("profile", list(PROFILE_FLAGS))
def test_every_component_with_its_edges(compiled, profile):
  _, parsed, pipeline = compiled[profile]
  assert _spec_nodes_and_edges(parsed) == (EXPECTED_NODES, EXPECTED_EDGES)
  # The node the runner attaches the Trainer's resources to.
  assert trainer_placement.TRAINER_ID in EXPECTED_NODES
  assert {(upstream.id, node.id) for node in pipeline.components
          for upstream in node.upstream_nodes} == EXPECTED_EDGES


def test_example_validator_task_carries_the_balance_rules_as_json(compiled):
  """TFX's ExampleValidator compiles with its custom validation config as
  JSON text, which the task's executor (TFX's, behind the guard) parses."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import class_balance  # pylint: disable=g-import-not-at-top
  _, parsed, _ = compiled["local"]
  [task] = [task for name, task in
            parsed["pipelineSpec"]["root"]["dag"]["tasks"].items()
            if _node_of(name, EXPECTED_NODES) == "ExampleValidator"]
  parameters = task["inputs"]["parameters"]
  text = parameters["custom_validation_config"]["runtimeValue"]["constant"]
  rules = json_format.Parse(
      text, custom_validation_config_pb2.CustomValidationConfig())
  names = [class_balance.rule_name(_anomalies_reason(rule.description))
           for rule in rules.feature_validations[0].validations]
  assert names == list(class_balance.RULES)
  [container] = [container for name, container in
                 _container_executors(parsed).items()
                 if "ExampleValidator" in name]
  assert ("pipeline.components.example_validator.executor.Executor"
          in " ".join(container["args"]))


def _anomalies_reason(short_description):
  """A CUSTOM_VALIDATION reason as TFDV writes one for a failed rule."""
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top
  return anomalies_pb2.AnomalyInfo.Reason(
      type=anomalies_pb2.AnomalyInfo.CUSTOM_VALIDATION,
      short_description=short_description)


# Open-source Kubeflow Pipelines' rules for an uploaded spec, written from
# its code (kubeflow/pipelines 2.17.0 and the Argo it builds with), not from
# ours, so that a spec it would refuse fails here:
# 1. The API server's upload (backend/src/apiserver/template/v2_template.go,
#    template.New) refuses any schemaVersion but this one.
KFP_SCHEMA_VERSION = "2.1.0"
# 2. Its Argo compiler (backend/src/v2/compiler/argocompiler/dag.go) turns
#    each task into the Argo DAG tasks `<task>-driver` and `<task>`, and its
#    dependencies into a `depends` expression of task names. Argo
#    (argo-workflows workflow/validate/validate.go) takes a DAG task name
#    that matches this, in at most 128 characters, and not beginning with a
#    digit where `depends` is used; its `depends` parser
#    (workflow/common/ancestry.go) reads a name with the same pattern, so
#    `a_b` is read as the task `a`.
ARGO_TASK_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
ARGO_TASK_NAME_MAX = 128
ARGO_DRIVER_SUFFIX = "-driver"
# Every shape of the DAG the flags make, each compiled for both backends.
ENSEMBLE_MEMBERS = "simple_cnn,simple_cnn:24,mobilenet_v3_small:32:3"
DAG_VARIANTS = {
    "plain": [],
    "spans": ["--spans", "2-4"],
    "warm-start": ["--spans", "latest", "--warm-start"],
    "tune": ["--tune"],
    "ensemble": ["--ensemble", ENSEMBLE_MEMBERS, "--input-size", "32"],
}


def _backend_refusals(spec):
  """What open-source Kubeflow Pipelines would refuse in a PipelineSpec, by
  the two rules above."""
  refusals = []
  if spec.get("schemaVersion") != KFP_SCHEMA_VERSION:
    refusals.append(f"schemaVersion {spec.get('schemaVersion')!r}")
  dags = [spec["root"]] + list(spec.get("components", {}).values())
  for dag in dags:
    for task in dag.get("dag", {}).get("tasks", {}):
      for argo_name in (task, task + ARGO_DRIVER_SUFFIX):
        if (not ARGO_TASK_NAME.fullmatch(argo_name) or
            len(argo_name) > ARGO_TASK_NAME_MAX or argo_name[0].isdigit()):
          refusals.append(f"task name {argo_name!r}")
          break
  return refusals


@pytest.mark.parametrize("backend", ["vertex", "kubeflow"])
@pytest.mark.parametrize("variant", list(DAG_VARIANTS))
def test_the_backend_accepts_every_variant(variant, backend, tmp_path):
  """The YAML spec, as Kubeflow Pipelines uploads it, for every DAG shape
  and both --kfp-backend values (Vertex AI takes schema 2.1.0 too)."""
  output = tmp_path / "spec.yaml"
  assert kubeflow_runner.main(
      COMMON + DAG_VARIANTS[variant] +
      ["--kfp-backend", backend, "--output", str(output)]) == 0
  spec = yaml.safe_load(output.read_text())
  refusals = _backend_refusals(spec)
  assert not refusals, f"Kubeflow Pipelines would refuse {refusals}"
  # The variant is what it says: its own nodes are in the spec.
  tasks = spec["root"]["dag"]["tasks"]
  if variant == "tune":
    assert "Tuner" in tasks
  if variant == "ensemble":
    assert len([task for task in tasks if task.startswith("Trainer")]) == 3


def test_the_backend_rules_refuse_what_kfp_refused():
  """The rules fail the spec KFP 2.17.0 refused (docs/kubeflow.md): schema
  2.0.0 and a task name with `_`; an Argo-valid name passes."""
  spec = {"schemaVersion": "2.0.0", "root": {"dag": {"tasks": {
      "latest_blessed_model_resolver": {}, "Transform-24": {},
      "EvalInference": {}}}}}
  assert _backend_refusals(spec) == [
      "schemaVersion '2.0.0'", "task name 'latest_blessed_model_resolver'"]


@pytest.mark.parametrize("flag", ["--image", "--pipeline-root", "--data-root",
                                  "--serving-dir"])
def test_a_spec_without_a_deployment_flag_is_refused(flag, tmp_path):
  """No placeholder image or bucket: one line names the missing flag and its
  variable, and no spec is written."""
  index = COMMON.index(flag)
  argv = COMMON[:index] + COMMON[index + 2:]
  output = tmp_path / "spec.json"
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(argv + ["--output", str(output)])
  message = str(exit_info.value.code)
  assert message.startswith("error: ") and "\n" not in message
  env = "FLOWERS_" + flag[2:].upper().replace("-", "_")
  assert f"{flag} (env {env}) not given" in message
  assert not output.exists()


def test_tune_adds_the_tuner_with_its_edges(tmp_path):
  args = kubeflow_runner.parse_args(
      COMMON + ["--tune", "--output", str(tmp_path / "spec.json")])
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    parsed = json.load(f)
  edges = EXPECTED_EDGES | TUNER_EDGES
  nodes = {node for edge in edges for node in edge}
  assert _spec_nodes_and_edges(parsed, nodes) == (nodes, edges)


def test_spans_reach_both_example_gens(tmp_path):
  """A range of spans compiles: ImportExampleGen gets the `span-{SPAN}`
  patterns, the RangeConfig of the last span and the first span in its
  custom_config; TestExampleGen the same last span (settings/spans.py)."""
  args = kubeflow_runner.parse_args(
      COMMON + ["--spans", "2-4", "--output", str(tmp_path / "spec.json")])
  dag = kubeflow_runner.build_pipeline(args)
  nodes = {node.id: node for node in dag.components}
  for node_id in ("ImportExampleGen", "TestExampleGen"):
    properties = nodes[node_id].exec_properties
    assert "span-{SPAN}/" in str(properties["input_config"])
    assert json.loads(properties["range_config"])["static_range"] == {
        "start_span_number": 4, "end_span_number": 4}
  custom_config = example_gen_pb2.CustomConfig()
  json_format.Parse(nodes["ImportExampleGen"].exec_properties[
      "custom_config"], custom_config)
  assert spans.first_span_of(custom_config) == 2
  assert nodes["TestExampleGen"].exec_properties.get("custom_config") is None
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    text = f.read()
  assert "span-{SPAN}" in text and "Int64Value" in text


# With --warm-start: the served model of other data (PreviousModel, which
# also feeds the drift check) is the Trainer's base_model.
@pytest.mark.parametrize("backend", ["container", "vertex"])
def test_warm_start_resolves_the_trainers_base_model(tmp_path, backend):
  args = kubeflow_runner.parse_args(
      COMMON + (VERTEX_FLAGS if backend == "vertex" else []) +
      ["--warm-start", "--output", str(tmp_path / "spec.json")])
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    parsed = json.load(f)
  edges = EXPECTED_EDGES | {("PreviousModel", "Trainer")}
  nodes = {node for edge in edges for node in edge}
  assert _spec_nodes_and_edges(parsed, nodes) == (nodes, edges)
  tasks = parsed["pipelineSpec"]["root"]["dag"]["tasks"]
  base_model = tasks["Trainer"]["inputs"]["artifacts"]["base_model"]
  assert base_model["taskOutputArtifact"]["producerTask"] == "PreviousModel"
  # A container task that reads the push records, on every backend: no
  # resolver, no metadata query.
  assert not kfp_backend.resolver_executors(parsed["pipelineSpec"])


@pytest.mark.parametrize("profile", list(PROFILE_FLAGS))
def test_image_root_and_beam_arguments(compiled, profile):
  text, parsed, _ = compiled[profile]
  assert parsed["runtimeConfig"]["gcsOutputDirectory"] == ROOT
  assert parsed["pipelineSpec"]["defaultPipelineRoot"] == ROOT
  containers = _container_executors(parsed)
  trainer_image = TRAINER_IMAGE if "--trainer-image" in PROFILE_FLAGS[
      profile] else IMAGE
  images = {name: container["image"]
            for name, container in containers.items()}
  assert images.pop("Trainer_executor") == trainer_image
  assert set(images.values()) == {IMAGE}
  expected = EXPECTED_BEAM_ARGS[profile]
  def beam_tail(args):
    return args[len(args) - len(expected):]
  for name, container in containers.items():
    # Beam arguments come last in every executor's (and driver's) args.
    assert beam_tail(container["args"]) == expected, name
    if not expected:
      assert not [arg for arg in container["args"]
                  if arg.startswith(("--direct_", "--runner"))], name
    if "lifecycle" in container:
      hook_args = container["lifecycle"]["preCacheCheck"]["args"]
      assert beam_tail(hook_args) == expected, name
  # Module code and the schema come from the image, by module path.
  assert "modules.trainer.run_fn" in text
  assert "modules.preprocessing.preprocessing_fn" in text
  assert kubeflow_runner.IMAGE_SCHEMA_FILE in text


@pytest.mark.parametrize("profile", list(PROFILE_FLAGS))
def test_no_local_path_leaks(compiled, profile, tmp_path_factory):
  text, _, _ = compiled[profile]
  for local in (REPO_ROOT, sys.prefix, str(tmp_path_factory.getbasetemp()),
                os.getcwd()):
    assert local not in text
  home = os.path.expanduser("~")
  if home != "/":
    assert home + "/" not in text
  outside_image = [path for path in _ABSOLUTE_PATH.findall(text)
                   if not path.startswith(
                       kubeflow_runner.IMAGE_PROJECT_DIR + "/")]
  assert not outside_image


def test_trainer_resources_only_where_asked(compiled):
  _, parsed, _ = compiled["dataflow"]
  containers = _container_executors(parsed)
  resources = containers["Trainer_executor"]["resources"]
  assert resources["accelerator"]["type"] == "NVIDIA_TESLA_T4"
  assert int(resources["accelerator"]["count"]) == 2
  assert resources["accelerator"]["resourceType"] == "NVIDIA_TESLA_T4"
  assert resources["accelerator"]["resourceCount"] == "2"
  assert resources["cpuLimit"] == 8
  assert resources["resourceCpuLimit"] == "8"
  assert resources["resourceMemoryLimit"] == "30Gi"
  assert resources["memoryLimit"] == pytest.approx(30 * 2**30 / 1e9)
  others = [name for name, container in containers.items()
            if "resources" in container and name != "Trainer_executor"]
  assert not others
  _, parsed, _ = compiled["local"]
  assert all("resources" not in container
             for container in _container_executors(parsed).values())


VERTEX_FLAGS = ["--trainer-backend", "vertex", "--gcp-project", "test-project",
                "--gcp-region", "europe-west4", "--trainer-image",
                "registry.example/flowers-tpu:1", "--trainer-machine-type",
                "ct5lp-hightpu-4t", "--trainer-accelerator-type",
                "TPU_V5_LITEPOD", "--trainer-accelerator-count", "4",
                "--trainer-tpu-topology", "2x2"]


def test_vertex_trainer_job(tmp_path):
  """--trainer-backend vertex: the same DAG; the Trainer task launches a
  Vertex AI custom job on the TPU machine, in the TPU image, and its run_fn
  still reads the pipeline's config from the same custom_config."""
  args = kubeflow_runner.parse_args(
      COMMON + VERTEX_FLAGS + ["--output", str(tmp_path / "spec.json")])
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    parsed = json.load(f)
  assert _spec_nodes_and_edges(parsed) == (EXPECTED_NODES, EXPECTED_EDGES)
  containers = _container_executors(parsed)
  # The task only launches the job: the pipeline image, no resources.
  trainer = containers["Trainer_executor"]
  assert trainer["image"] == IMAGE and "resources" not in trainer
  assert ("tfx.extensions.google_cloud_ai_platform.trainer.executor."
          "GenericExecutor") in trainer["args"]
  custom_config = json.loads(
      parsed["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]
      ["parameters"]["custom_config"]["runtimeValue"]["constant"])
  assert custom_config["ai_platform_enable_vertex"] is True
  assert custom_config["ai_platform_vertex_region"] == "europe-west4"
  job = custom_config["ai_platform_training_args"]
  assert job["project"] == "test-project"
  assert job["job_spec"]["worker_pool_specs"] == [{
      "machine_spec": {"machine_type": "ct5lp-hightpu-4t",
                       "accelerator_type": "TPU_V5_LITEPOD",
                       "accelerator_count": 4, "tpu_topology": "2x2"},
      "replica_count": 1,
      "container_spec": {"image_uri": "registry.example/flowers-tpu:1"}}]
  assert config_lib.TrainerSettings.from_custom_config(custom_config) == (
      config_lib.TrainerSettings.from_dict(
          config_lib.PipelineConfig().trainer_settings()))


def test_vertex_keys_are_the_ones_the_config_leaves_out():
  """from_custom_config drops keys by prefix: TFX's Vertex keys have it."""
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  for key in (vertex.ENABLE_VERTEX_KEY, vertex.VERTEX_REGION_KEY,
              vertex.TRAINING_ARGS_KEY, vertex.JOB_ID_KEY):
    assert key.startswith(config_lib.PLATFORM_KEY_PREFIX), key
  assert not any(field.name.startswith(config_lib.PLATFORM_KEY_PREFIX)
                 for field in dataclasses.fields(config_lib.PipelineConfig))


def test_vertex_settings_cannot_shadow_the_config():
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipeline import data_plan  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.PipelineConfig()
  with pytest.raises(ValueError, match="'train'"):
    pipeline_lib.create_pipeline(
        "flowers", ROOT, data_plan.make_plan("gs://bucket/data", config),
        "gs://bucket/serving", config,
        vertex_training={"ai_platform_enable_vertex": True, "train": {}})


def test_env_settings_and_yaml_output(tmp_path, monkeypatch, capsys):
  """Settings from FLOWERS_* variables alone; YAML, as KFP uploads it."""
  output = tmp_path / "flowers.yaml"
  for name, value in dict(
      FLOWERS_IMAGE=IMAGE, FLOWERS_PIPELINE_ROOT=ROOT,
      FLOWERS_DATA_ROOT="gs://bucket/data",
      FLOWERS_SERVING_DIR="gs://bucket/serving",
      FLOWERS_OUTPUT=str(output), FLOWERS_BEAM_PROFILE="flink",
      FLOWERS_BEAM_JOB_ENDPOINT="beam-job-server:8099",
      FLOWERS_BEAM_ENVIRONMENT_TYPE="LOOPBACK",
      FLOWERS_TRAINER_ACCELERATOR_TYPE="TPU_V3",
      FLOWERS_TRAINER_ACCELERATOR_COUNT="8").items():
    monkeypatch.setenv(name, value)
  assert kubeflow_runner.main([]) == 0
  assert f"wrote {output}" in capsys.readouterr().out
  text = output.read_text()
  spec = yaml.safe_load(text)
  # What Kubeflow Pipelines' client does with an uploaded YAML file.
  proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
  assert proto.default_pipeline_root == ROOT
  # The default class list's own pipeline (one per label space).
  assert proto.pipeline_info.name == config_lib.pipeline_name(
      features.load_class_names())
  assert text.startswith(f"# PIPELINE DEFINITION\n# Name: "
                         f"{proto.pipeline_info.name}\n")
  trainer = spec["deploymentSpec"]["executors"]["Trainer_executor"][
      "container"]
  assert trainer["image"] == IMAGE
  assert trainer["resources"]["accelerator"]["type"] == "TPU_V3"
  assert int(trainer["resources"]["accelerator"]["count"]) == 8
  # LOOPBACK's workers run this interpreter: no SDK to ship
  # (pipeline/runner/beam.py, SAME_ENVIRONMENT_ARGS).
  assert trainer["args"][-4:] == [
      "--runner=PortableRunner", "--job_endpoint=beam-job-server:8099",
      "--environment_type=LOOPBACK",
      "--sdk_container_image=this-python-environment"]
  assert set(spec["root"]["dag"]["tasks"]) >= {"ImportExampleGen", "Trainer",
                                               "Pusher"}
  assert str(tmp_path) not in text and REPO_ROOT not in text


@pytest.mark.parametrize("profile,missing", [
    ("dataflow", ("--gcp-project", "FLOWERS_GCP_PROJECT", "--gcp-region",
                  "--beam-temp-location")),
    ("flink", ("--flink-master", "FLOWERS_FLINK_MASTER",
               "--beam-job-endpoint")),
    ("spark", ("--spark-master-url", "FLOWERS_SPARK_MASTER_URL")),
])
def test_missing_profile_settings_fail_clearly(profile, missing, tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(COMMON + ["--beam-profile", profile, "--output",
                                   str(tmp_path / "spec.json")])
  message = str(exit_info.value.code)
  assert message.startswith("error:")
  for text in missing:
    assert text in message
  assert not (tmp_path / "spec.json").exists()


def test_vertex_trainer_replicas_are_a_chief_and_workers(tmp_path):
  """--trainer-replicas 3: pool 0 (Vertex AI's chief) has one replica and
  pool 1 (its workers) two, on the same machine, accelerators and image."""
  flags = ["--trainer-backend", "vertex", "--gcp-project", "test-project",
           "--gcp-region", "europe-west4", "--trainer-image",
           "registry.example/flowers-gpu:1", "--trainer-machine-type",
           "n1-standard-8", "--trainer-accelerator-type", "NVIDIA_L4",
           "--trainer-accelerator-count", "2", "--trainer-replicas", "3"]
  args = kubeflow_runner.parse_args(
      COMMON + flags + ["--output", str(tmp_path / "spec.json")])
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    parsed = json.load(f)
  custom_config = json.loads(
      parsed["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]
      ["parameters"]["custom_config"]["runtimeValue"]["constant"])
  machine = {"machine_type": "n1-standard-8",
             "accelerator_type": "NVIDIA_L4", "accelerator_count": 2}
  image = {"image_uri": "registry.example/flowers-gpu:1"}
  assert custom_config["ai_platform_training_args"]["job_spec"][
      "worker_pool_specs"] == [
          {"machine_spec": machine, "replica_count": 1,
           "container_spec": image},
          {"machine_spec": machine, "replica_count": 2,
           "container_spec": image}]


@pytest.mark.parametrize("flags,named", [
    (["--trainer-accelerator-count", "2"], "--trainer-accelerator-type"),
    (["--trainer-accelerator-type", "NVIDIA_L4",
      "--trainer-accelerator-count", "0"], "--trainer-accelerator-count"),
    (["--trainer-memory", "lots"], "--trainer-memory"),
    (["--trainer-cpu", "eight"], "--trainer-cpu"),
    (["--output", "spec.txt"], "--output"),
    (["--trainer-machine-type", "n1-standard-8"], "--trainer-backend vertex"),
    (["--trainer-tpu-topology", "2x2"], "--trainer-tpu-topology"),
    (["--trainer-backend", "vertex", "--gcp-region", "us-central1"],
     "--gcp-project"),
    (["--trainer-backend", "vertex", "--gcp-project", "p", "--gcp-region",
      "r", "--trainer-cpu", "8"], "--trainer-machine-type sets them"),
    (["--trainer-backend", "vertex", "--gcp-project", "p", "--gcp-region",
      "r", "--trainer-accelerator-count", "2"], "--trainer-accelerator-type"),
    (["--trainer-replicas", "2"], "--trainer-replicas needs --trainer-backend"),
    (["--trainer-backend", "vertex", "--gcp-project", "p", "--gcp-region",
      "r", "--trainer-replicas", "0"], "must be at least 1"),
    (["--trainer-backend", "vertex", "--gcp-project", "p", "--gcp-region",
      "r", "--trainer-tpu-topology", "2x2", "--trainer-replicas", "2"],
     "--trainer-tpu-topology"),
])
def test_bad_deployment_settings_fail_clearly(flags, named, tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(COMMON + ["--output", str(tmp_path / "spec.json"),
                                   *flags])
  assert named in str(exit_info.value.code)


def test_bad_backend_from_the_environment_fails_clearly(tmp_path,
                                                       monkeypatch):
  """argparse checks the flag's choices; the variable is checked too."""
  monkeypatch.setenv("FLOWERS_TRAINER_BACKEND", "slurm")
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(COMMON + ["--output", str(tmp_path / "spec.json")])
  assert "FLOWERS_TRAINER_BACKEND" in str(exit_info.value.code)
  assert "'slurm'" in str(exit_info.value.code)


def test_every_physical_flag_has_its_env_variable(monkeypatch):
  """--some-name defaults to FLOWERS_SOME_NAME, and its help says so."""
  from pipeline.runner import flags  # pylint: disable=g-import-not-at-top
  logical = set(flags.logical_flag_names())
  physical = {}
  for action in kubeflow_runner.build_parser()._actions:  # pylint: disable=protected-access
    long_flags = [flag for flag in action.option_strings
                  if flag.startswith("--") and flag != "--help"]
    if long_flags and long_flags[0] not in logical:
      physical[long_flags[0]] = action
  # What deployment scripts pass; the Beam flags are pipeline/runner/beam_flags.py's.
  assert {"--image", "--pipeline-root", "--data-root", "--serving-dir",
          "--output", "--trainer-image", "--trainer-backend",
          "--trainer-cpu", "--trainer-memory", "--beam-profile"} | {
              *beam_flags.beam_flag_names()} <= set(physical)
  expected = {}
  for flag, action in physical.items():
    env = "FLOWERS_" + flag[2:].upper().replace("-", "_")
    assert f"env {env}" in " ".join(action.help.split()), flag
    text = (action.choices[-1] if action.choices else
            "7" if action.type is int else f"from-{env}")
    monkeypatch.setenv(env, str(text))
    expected[action.dest] = action.type(text) if action.type else text
  args = kubeflow_runner.parse_args([])
  assert {dest: getattr(args, dest) for dest in expected} == expected


def test_the_beam_image_does_not_replace_the_pipeline_image():
  args = kubeflow_runner.parse_args(["--image", IMAGE,
                                     "--beam-image", TRAINER_IMAGE])
  assert args.image == IMAGE
  assert beam_flags.settings_from_args(args).image == TRAINER_IMAGE


def test_help_runs_from_anywhere(tmp_path):
  """The command line as a user runs it (cheap: --help imports no TFX)."""
  process = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "kubeflow_runner.py"),
       "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
      check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  text = " ".join(process.stdout.split())
  for flag in ("--image", "--pipeline-root", "--trainer-accelerator-type",
               "--beam-profile", "--gcp-project", "--flink-master",
               "--spark-master-url"):
    assert flag in text


# ---------------------------------------------------------------------------
# The container image (it cannot be built here).

def _dockerfile_instructions():
  return check_image.dockerfile_instructions()


def _pinned_version(package):
  with open(os.path.join(REPO_ROOT, "requirements.txt"),
            encoding="utf-8") as f:
    for line in f:
      match = re.match(rf"{re.escape(package)}(\[[^\]]*\])?==(\S+)", line)
      if match:
        return match.group(2)
  raise AssertionError(f"{package} is not pinned in requirements.txt")


def _pip_installs(run):
  return [command[1:] for command in run.commands
          if command[0] == "pip" and "--upgrade" not in command]


def _requirement_files(words):
  return [words[index + 1].rsplit("/", 1)[-1]
          for index, word in enumerate(words) if word == "-r"]


def test_dockerfile_installs_exactly_the_pinned_requirements():
  """The install step, run as written with pip recording (not installing):
  requirements.txt under constraints.txt, plus the accelerator's file."""
  instructions = _dockerfile_instructions()
  assert ("FROM", "python:3.11-slim") in instructions
  expected = {"cpu": [["requirements.txt"]],
              "gpu": [["requirements.txt", "requirements-gpu.txt"]],
              "tpu": [["requirements.txt"], ["requirements-tpu.txt"]]}
  assert set(expected) == set(check_image.ACCELERATORS)
  for accelerator, files in expected.items():
    run = check_image.run_install(accelerator)
    assert run.returncode == 0, run.stderr
    installs = _pip_installs(run)
    assert [_requirement_files(words) for words in installs] == files
    main = installs[0]
    assert main[main.index("-c") + 1] == (
        check_image.IMAGE_REQUIREMENTS_DIR + "/constraints.txt")
    assert "--ignore-requires-python" in main
    if accelerator == "tpu":
      # Over the cpu install, without touching its dependencies.
      assert "--no-deps" in installs[1]
    # Nothing but requirement files (and pip itself) is installed.
    for command in run.commands:
      if command[0] == "pip":
        packages = [word for word in command[2:] if not word.startswith("-")
                    and not word.endswith(".txt")]
        assert all(package.startswith("pip==") for package in packages)
    # The compiler needed for two sdists leaves with the layer.
    assert ["apt-get", "purge", "-y", "build-essential"] in run.commands
  for name in check_image.copied_requirement_files(instructions):
    assert os.path.exists(os.path.join(REPO_ROOT, name)), name


def test_dockerfile_rejects_an_unknown_accelerator():
  run = check_image.run_install("arm64")
  assert run.returncode != 0
  assert "ACCELERATOR must be cpu, gpu or tpu, not 'arm64'" in run.stderr
  assert not _pip_installs(run)


def _requirement_lines(name):
  with open(os.path.join(REPO_ROOT, name), encoding="utf-8") as f:
    return [line.strip() for line in f
            if line.strip() and not line.startswith("#")]


def test_accelerator_builds_pin_the_same_tensorflow():
  version = _pinned_version("tensorflow")
  assert _requirement_lines("requirements-gpu.txt") == [
      f"tensorflow[and-cuda]=={version}"]
  tpu = _requirement_lines("requirements-tpu.txt")
  assert f"tensorflow-tpu=={version}" in tpu
  assert [line for line in tpu if line.startswith("libtpu==")]


@pytest.mark.slow
def test_gpu_image_packages_resolve():
  """pip resolves the GPU build's exact package set (dry run, registry)."""
  run = check_image.run_install("gpu", resolve=True)
  assert run.returncode == 0, run.stderr[-3000:]
  assert run.packages["tensorflow"] == _pinned_version("tensorflow")
  assert run.packages["nvidia-cudnn-cu12"].startswith("8.9")


def test_dockerfile_puts_the_project_where_the_spec_expects_it():
  instructions = _dockerfile_instructions()
  project_dir = kubeflow_runner.IMAGE_PROJECT_DIR
  assert ("COPY", f". {project_dir}") in instructions
  assert ("WORKDIR", project_dir) in instructions
  env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
  assert f"PYTHONPATH={project_dir}" in env
  assert "TF_USE_LEGACY_KERAS=1" in env
  # Beam workers start the image through Beam's boot, from the SDK image
  # of the same Beam version as requirements.txt.
  assert ("ENTRYPOINT", '["/opt/apache/beam/boot"]') in instructions
  assert ("ARG", f"BEAM_VERSION={_pinned_version('apache-beam')}") in (
      instructions)


def test_dockerignore_keeps_the_modules_and_drops_local_state():
  with open(os.path.join(REPO_ROOT, ".dockerignore"), encoding="utf-8") as f:
    patterns = [line.strip() for line in f
                if line.strip() and not line.startswith("#")]

  def ignored(path):
    return any(fnmatch.fnmatch(path, pattern.lstrip("*/")) or
               fnmatch.fnmatch(path, pattern) or
               path.startswith(pattern.rstrip("/") + "/")
               for pattern in patterns)

  for needed in ("modules/trainer.py", "modules/preprocessing.py",
                 "pipeline/pipeline.py", "settings/kaggle_classes.txt",
                 "schema/schema.pbtxt", "requirements.txt",
                 "requirements-gpu.txt", "requirements-tpu.txt",
                 "constraints.txt"):
    assert os.path.exists(os.path.join(REPO_ROOT, needed)), needed
    assert not ignored(needed), needed
  for local in (".venv", ".git", "data", "output"):
    assert ignored(local), local
