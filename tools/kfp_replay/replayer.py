"""Runs one compiled spec's tasks here, as the KFP driver and launcher would.

* Tasks run one at a time, in an order that respects every dependency
  (spec.task_order).
* A container task runs its executor's `command` and `args` as written,
  with `{{$}}` replaced by the ExecutorInput JSON the KFP v2 launcher
  passes: input artifacts (name, uri, type, metadata) from the producing
  tasks, the task's constant parameters as `parameterValues` (checked
  against the component's inputs and typed as the KFP driver does,
  spec.parameter_values; schema 2.1.0 has no legacy `parameters`, and
  TFX's entry point reads `parameterValues` with the inputs spec the
  executor's arguments carry), output artifacts with fresh URIs
  `<root>/<run id>/<task>_<n>/<output>` and the `outputFile` the executor
  writes its ExecutorOutput to. A `lifecycle.preCacheCheck` hook runs first
  with the same input, and what it returns (artifact metadata, execution
  parameters) reaches the executor (driver_tasks.apply_hook_output). The
  outputs the next tasks get are what the ExecutorOutput reports: URI and
  metadata, as the launcher merges them.
* The container's environment is the image's: `python` is this
  interpreter, the working directory and every `<image project dir>/...`
  path (the schema) map to this checkout, and the Dockerfile's ENV lines
  are set.
* Resolver and importer tasks are the driver's own (driver_tasks.py); the
  ledger (ledger.py), kept in the pipeline root, is the ML Metadata of
  every run replayed into that root.
"""

import dataclasses
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional

from tools import check_image
from tools.kfp_replay import driver_tasks
from tools.kfp_replay.ledger import LEDGER_FILE
from tools.kfp_replay.ledger import Ledger
from tools.kfp_replay.spec import ReplayError
from tools.kfp_replay.spec import constant
from tools.kfp_replay.spec import parameter_values
from tools.kfp_replay.spec import task_order

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
OUTPUT_FILE = "executor_output.json"
LOG_FILE = "replay.log"


@dataclasses.dataclass
class TaskRun:
  """What one task did: its kind, outputs (RuntimeArtifact dicts), time;
  for a container with a hook, the parameters the hook set."""
  name: str
  kind: str  # "container", "resolver" or "importer".
  outputs: Dict[str, List[Dict[str, Any]]]
  seconds: float
  log_file: Optional[str] = None
  driver_parameters: Optional[List[str]] = None


@dataclasses.dataclass
class ReplayResult:
  run_id: str
  pipeline_root: str
  tasks: List[TaskRun]

  def task(self, name: str) -> TaskRun:
    return next(t for t in self.tasks if t.name == name)


def image_environment(project_dir: str, image_project_dir: str,
                      dockerfile: str) -> Dict[str, str]:
  """The Dockerfile's ENV settings, with the image's project folder mapped
  to `project_dir`."""
  env = {}
  for keyword, rest in check_image.dockerfile_instructions(dockerfile):
    if keyword == "ENV":
      for item in shlex.split(rest):
        name, _, value = item.partition("=")
        env[name] = value.replace(image_project_dir, project_dir)
  return env


class Replayer:
  """Runs one spec's tasks; see the module docstring."""

  def __init__(self, spec: Mapping[str, Any], pipeline_root: str,
               image_project_dir: str, project_dir: str = REPO_ROOT,
               python: str = sys.executable,
               image_env: Optional[Mapping[str, str]] = None,
               run_id: Optional[str] = None,
               task_timeout_s: Optional[float] = None,
               echo=print):
    self.spec = spec
    self.root = os.path.abspath(pipeline_root)
    self.image_project_dir = image_project_dir.rstrip("/")
    self.project_dir = os.path.abspath(project_dir)
    self.python = python
    self.image_env = dict(image_env or {})
    self.run_id = run_id or "replay-" + datetime.datetime.now().strftime(
        "%Y%m%d-%H%M%S-%f")
    self.task_timeout_s = task_timeout_s
    self.echo = echo
    os.makedirs(self.root, exist_ok=True)
    self.ledger = Ledger(os.path.join(self.root, LEDGER_FILE))
    self.outputs: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    self._executions = 0

  def map_path(self, value: Any) -> Any:
    """An image path (`/flowers/schema/...`) -> the same file here."""
    if isinstance(value, str) and (
        value == self.image_project_dir or
        value.startswith(self.image_project_dir + "/")):
      return self.project_dir + value[len(self.image_project_dir):]
    return value

  def run(self) -> ReplayResult:
    """Every task of the root DAG, in order."""
    runs = [self.run_task(name) for name in task_order(self.spec)]
    return ReplayResult(self.run_id, self.root, runs)

  def run_task(self, name: str) -> TaskRun:
    """One task, after the tasks it depends on have run; its outputs go
    into the ledger."""
    task = self.spec["root"]["dag"]["tasks"][name]
    component = self.spec["components"][task["componentRef"]["name"]]
    executor = self.spec["deploymentSpec"]["executors"][
        component["executorLabel"]]
    start = time.time()
    log_file, driver_parameters = None, None
    if "container" in executor:
      outputs, log_file, driver_parameters = self._container(
          name, task, component, executor["container"])
      kind = "container"
    elif "resolver" in executor:
      outputs = driver_tasks.resolve(
          self.ledger, self.input_artifacts(name, task),
          executor["resolver"])
      kind = "resolver"
    elif "importer" in executor:
      outputs = self._importer(name, task, component, executor["importer"])
      kind = "importer"
    else:
      raise ReplayError(f"task {name}: unknown executor {list(executor)}")
    self.outputs[name] = outputs
    for artifacts in outputs.values():
      for artifact in artifacts:
        self.ledger.add(artifact, self.run_id, name)
    self.ledger.save()
    run = TaskRun(name, kind, outputs, time.time() - start, log_file,
                  driver_parameters)
    found = ", ".join(f"{key}: {len(artifacts)}"
                      for key, artifacts in sorted(outputs.items()))
    self.echo(f"{name} ({kind}, {run.seconds:.0f} s): {found}")
    return run

  def input_artifacts(self, name: str, task: Mapping[str, Any]
                      ) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    """A task's input artifacts, from the outputs of the tasks before."""
    inputs = {}
    for key, source in task.get("inputs", {}).get("artifacts", {}).items():
      if "taskOutputArtifact" not in source:
        raise ReplayError(f"task {name}: input {key} comes from {source}, "
                          "which the replay cannot provide")
      producer = source["taskOutputArtifact"]
      artifacts = self.outputs[producer["producerTask"]].get(
          producer["outputArtifactKey"], [])
      inputs[key] = {"artifacts": [dict(a) for a in artifacts]}
    return inputs

  def _parameters(self, name: str, task: Mapping[str, Any]
                  ) -> Dict[str, Any]:
    return {key: self.map_path(constant(source, f"task {name}, {key}"))
            for key, source in task.get("inputs", {}).get(
                "parameters", {}).items()}

  def _container(self, name, task, component, container):
    self._executions += 1
    task_dir = os.path.join(self.root, self.run_id,
                            f"{name}_{self._executions}")
    if component.get("outputDefinitions", {}).get("parameters"):
      raise ReplayError(f"task {name}: output parameters are not replayed")
    parameters = parameter_values(component, self._parameters(name, task),
                                  f"task {name}")
    outputs = {
        key: {"artifacts": [{
            "name": f"{self.run_id}/{name}/{key}",
            "uri": os.path.join(task_dir, key),
            "type": definition["artifactType"],
            "metadata": dict(definition.get("metadata", {})),
        }]}
        for key, definition in component.get("outputDefinitions", {}).get(
            "artifacts", {}).items()}
    executor_input = {
        "inputs": {
            "artifacts": self.input_artifacts(name, task),
            "parameterValues": parameters,
        },
        "outputs": {"artifacts": outputs,
                    "outputFile": os.path.join(task_dir, OUTPUT_FILE)},
    }
    os.makedirs(task_dir, exist_ok=True)
    log_file = os.path.join(task_dir, LOG_FILE)
    hook = container.get("lifecycle", {}).get("preCacheCheck")
    driver_parameters = None
    if hook:
      # The driver writes the executor's output file, where TFX's executor
      # entry point finds it too (as on Vertex AI); the executor rewrites it.
      self._execute(name, hook["command"], hook.get("args", []),
                    executor_input, container.get("env", []), log_file)
      driver_parameters = driver_tasks.apply_hook_output(
          self._read_output(executor_input), executor_input)
    self._execute(name, container["command"], container.get("args", []),
                  executor_input, container.get("env", []), log_file)
    written = self._read_output(executor_input).get("artifacts", {})
    result = {}
    for key, listed in outputs.items():
      artifacts = []
      for given, reported in zip(
          listed["artifacts"],
          written.get(key, {}).get("artifacts", [{}] * len(
              listed["artifacts"]))):
        # The executor reports URI and metadata (blessed, pushed, ...); the
        # name and type stay those the launcher gave.
        artifacts.append(dict(given, uri=reported.get("uri", given["uri"]),
                              metadata=reported.get("metadata",
                                                    given["metadata"])))
      result[key] = artifacts
    return result, log_file, driver_parameters

  def _execute(self, name, command, args, executor_input, env_list,
               log_file) -> None:
    invocation = json.dumps(executor_input)
    argv = [self.python if i == 0 and word in ("python", "python3") else word
            for i, word in enumerate(command)]
    argv += [arg.replace(EXECUTOR_INPUT_PLACEHOLDER, invocation)
             for arg in args]
    leftover = [arg for arg in argv[len(command):] if "{{$" in arg and
                arg != invocation]
    if leftover:
      raise ReplayError(f"task {name}: placeholders the replay does not "
                        f"fill: {leftover}")
    env = dict(os.environ)
    env.update(self.image_env)
    env.update({item["name"]: item["value"] for item in env_list})
    # A pod's /tmp goes with the pod, so each task gets a temp folder of its
    # own, removed after it. It matters: TFX's KFP entrypoint hands every
    # Beam executor its own program path as a Beam argument, so TFX builds a
    # 52 MiB sdist of itself in the temp folder on every Beam task
    # (tfx/utils/dependency_utils.py) and never removes it.
    with tempfile.TemporaryDirectory(prefix="kfp-replay-task-") as pod_tmp, \
        open(log_file, "a", encoding="utf-8") as log:
      env["TMPDIR"] = pod_tmp
      log.write(f"$ {' '.join(shlex.quote(word) for word in argv)}\n")
      log.flush()
      try:
        process = subprocess.run(argv, cwd=self.project_dir, env=env,
                                 stdout=log, stderr=subprocess.STDOUT,
                                 timeout=self.task_timeout_s, check=False)
      except subprocess.TimeoutExpired as error:
        raise ReplayError(f"task {name} ran past {self.task_timeout_s} s; "
                          f"log: {log_file}") from error
    if process.returncode != 0:
      with open(log_file, encoding="utf-8", errors="replace") as log:
        tail = log.read()[-3000:]
      raise ReplayError(f"task {name} failed with exit status "
                        f"{process.returncode}; log: {log_file}\n{tail}")

  @staticmethod
  def _read_output(executor_input) -> Dict[str, Any]:
    path = executor_input["outputs"]["outputFile"]
    if not os.path.exists(path):
      return {}
    with open(path, encoding="utf-8") as f:
      return json.load(f)

  def _importer(self, name, task, component, importer):
    outputs = list(component.get("outputDefinitions", {}).get(
        "artifacts", {}))
    if len(outputs) != 1:
      raise ReplayError(f"task {name}: an importer has one output, not "
                        f"{outputs}")
    uri_source = importer["artifactUri"]
    if "runtimeParameter" in uri_source:
      uri = self._parameters(name, task)[uri_source["runtimeParameter"]]
    else:
      uri = self.map_path(constant({"runtimeValue": uri_source},
                                   f"task {name}, artifactUri"))
    return driver_tasks.imported(name, outputs[0], uri, importer,
                                 self.run_id)
