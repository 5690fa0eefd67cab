"""kubeflow_runner.py compiles the same pipeline to a KFP v2 spec."""

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL_COMPONENTS = {"ImportExampleGen", "StatisticsGen", "ImportSchemaGen",
                    "ExampleValidator", "Transform", "Trainer", "Evaluator",
                    "Pusher"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  output = tmp_path_factory.mktemp("kfp") / "spec.json"
  process = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "kubeflow_runner.py"),
       "--image", "registry.example/flowers:1", "--pipeline-root",
       "gs://bucket/root", "--data-root", "gs://bucket/data",
       "--serving-dir", "gs://bucket/serving", "--output", str(output)],
      cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT),
      capture_output=True, text=True, timeout=600, check=False)
  assert process.returncode == 0, process.stderr[-5000:]
  text = output.read_text()
  return text, json.loads(text)


def test_every_component_with_its_edges(spec):
  _, parsed = spec
  tasks = parsed["pipelineSpec"]["root"]["dag"]["tasks"]
  assert LOCAL_COMPONENTS <= set(tasks)
  deps = {name: set(task.get("dependentTasks", [])) for name, task in
          tasks.items()}
  assert deps["StatisticsGen"] == {"ImportExampleGen"}
  assert deps["ExampleValidator"] == {"StatisticsGen", "ImportSchemaGen"}
  assert {"Transform", "ImportExampleGen"} <= deps["Trainer"]
  assert {"Trainer", "ImportExampleGen"} <= deps["Evaluator"]
  assert deps["Pusher"] == {"Trainer", "Evaluator"}


def test_image_root_and_no_local_paths(spec):
  text, parsed = spec
  assert parsed["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/root"
  executors = parsed["pipelineSpec"]["deploymentSpec"]["executors"]
  images = {e["container"]["image"] for e in executors.values()
            if "container" in e}
  assert images == {"registry.example/flowers:1"}
  assert REPO_ROOT not in text
  assert "modules.trainer.run_fn" in text
