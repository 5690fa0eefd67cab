"""Replays a compiled Kubeflow (KFP v2) pipeline spec here, task by task.

    python tools/replay_kfp_spec.py --spec flowers_pipeline.json \
        --pipeline-root /tmp/replay/root

`kubeflow_runner.py` compiles the pipeline; this runs what the cluster would
run from that file, without a cluster, to show the spec itself works (its
commands, arguments, module paths, artifact types and wiring), not only the
pipeline object it was compiled from:

* tasks run one at a time, in an order that respects every dependency
  (`dependentTasks` and the producers of input artifacts);
* a container task runs its executor's `command` and `args` as written, with
  `{{$}}` replaced by the ExecutorInput JSON the KFP v2 launcher would pass:
  input artifacts (name, uri, type, metadata) from the producing tasks, the
  task's constant parameters (both the legacy `parameters` and the newer
  `parameterValues` form, as Vertex AI fills them), output artifacts with
  fresh URIs `<root>/<run id>/<task>_<n>/<output>` and the `outputFile` the
  executor writes its ExecutorOutput to; a `lifecycle.preCacheCheck` hook
  (ExampleGen's driver) runs first with the same input, and the metadata it
  gives the output artifacts is merged in before the executor runs, as the
  service does;
* the container's environment is the image's: `python` is this
  interpreter, the working directory and every `<image project dir>/...`
  path (the schema) map to this checkout, and the Dockerfile's ENV lines
  are set;
* the KFP driver's own tasks are emulated: an importer yields its URI as an
  artifact; a resolver evaluates its `outputArtifactQueries` filter (the
  clauses TFX writes: schema_title, state, metadata.<key>.number_value,
  name, with `{{$.inputs.artifacts[...]}}` placeholders) over the artifacts
  earlier replays into the same pipeline root recorded in
  `<root>/replay_ledger.json`, this replay's stand-in for ML Metadata, and
  returns the newest match. On a first run a resolver resolves nothing.

docs/kubeflow.md lists what this does not cover (the driver's caching, ML
Metadata on the cluster, the resolver's real queries, the cluster, images).
"""

import argparse
import dataclasses
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEDGER_FILE = "replay_ledger.json"
EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
OUTPUT_FILE = "executor_output.json"
LOG_FILE = "replay.log"
_INPUT_METADATA = re.compile(
    r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}")
_CLAUSES = (
    ("schema_title", re.compile(r'^schema_title="([^"]*)"$')),
    ("state", re.compile(r"^state=(\w+)$")),
    ("metadata", re.compile(r"^metadata\.(\w+)\.number_value=(-?[\d.]+)$")),
    ("name", re.compile(r'^name="([^"]*)"$')),
)


class ReplayError(RuntimeError):
  """The spec asks for something the replay cannot do, or a task failed."""


@dataclasses.dataclass
class TaskRun:
  """What one task did: its kind, outputs (RuntimeArtifact dicts), time."""
  name: str
  kind: str  # "container", "resolver" or "importer".
  outputs: Dict[str, List[Dict[str, Any]]]
  seconds: float
  log_file: Optional[str] = None


@dataclasses.dataclass
class ReplayResult:
  run_id: str
  pipeline_root: str
  tasks: List[TaskRun]

  def task(self, name: str) -> TaskRun:
    return next(t for t in self.tasks if t.name == name)


# ---------------------------------------------------------------------------
# The spec.

def load_spec(path: str) -> Dict[str, Any]:
  """The PipelineSpec of a `.json` PipelineJob or a `.yaml` PipelineSpec."""
  with open(path, encoding="utf-8") as spec_file:
    document = (yaml.safe_load(spec_file) if path.endswith((".yaml", ".yml"))
                else json.load(spec_file))
  return document.get("pipelineSpec", document)


def _dependencies(task: Mapping[str, Any]) -> set:
  needed = set(task.get("dependentTasks", []))
  for source in task.get("inputs", {}).get("artifacts", {}).values():
    producer = source.get("taskOutputArtifact", {}).get("producerTask")
    if producer:
      needed.add(producer)
  return needed


def task_order(spec: Mapping[str, Any]) -> List[str]:
  """The root DAG's tasks, each after everything it depends on (ties by
  name, so the order is the same on every run)."""
  tasks = spec["root"]["dag"]["tasks"]
  waiting = {name: _dependencies(task) for name, task in tasks.items()}
  unknown = {d for deps in waiting.values() for d in deps} - set(tasks)
  if unknown:
    raise ReplayError(f"tasks depend on tasks the spec lacks: {unknown}")
  order: List[str] = []
  while waiting:
    ready = sorted(name for name, deps in waiting.items()
                   if deps <= set(order))
    if not ready:
      raise ReplayError(f"the tasks {sorted(waiting)} depend on each other")
    order.append(ready[0])
    del waiting[ready[0]]
  return order


def schema_title(artifact_type: Mapping[str, Any]) -> str:
  """The type's title: `tfx.Model`, or a custom type's `<module>.<Class>`."""
  if "schemaTitle" in artifact_type:
    return artifact_type["schemaTitle"]
  return yaml.safe_load(artifact_type["instanceSchema"])["title"]


def _constant(source: Mapping[str, Any], where: str) -> Any:
  """A task parameter's value; only constants exist without a cluster."""
  runtime_value = source.get("runtimeValue")
  if runtime_value is None:
    raise ReplayError(
        f"{where}: only constant parameters can be replayed, not {source}")
  if "constant" in runtime_value:
    return runtime_value["constant"]
  value = runtime_value["constantValue"]
  if "stringValue" in value:
    return value["stringValue"]
  if "intValue" in value:
    return int(value["intValue"])
  return float(value["doubleValue"])


def _legacy_value(value: Any) -> Dict[str, Any]:
  """A value in ExecutorInput's legacy `parameters` form."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return {"stringValue": value if isinstance(value, str)
            else json.dumps(value)}
  if isinstance(value, int):
    return {"intValue": str(value)}
  return {"doubleValue": value}


# ---------------------------------------------------------------------------
# The stand-in for ML Metadata: what earlier replays produced.

class Ledger:
  """Artifacts replays into one pipeline root produced, oldest first."""

  def __init__(self, path: str):
    self.path = path
    self.records: List[Dict[str, Any]] = []
    if os.path.exists(path):
      with open(path, encoding="utf-8") as f:
        self.records = json.load(f)

  def add(self, artifact: Mapping[str, Any], run_id: str, task: str) -> None:
    self.records.append({
        "name": artifact["name"], "uri": artifact["uri"],
        "type": artifact["type"], "schema_title": schema_title(
            artifact["type"]),
        "metadata": artifact.get("metadata", {}), "state": "LIVE",
        "run_id": run_id, "task": task})

  def save(self) -> None:
    with open(self.path, "w", encoding="utf-8") as f:
      json.dump(self.records, f, indent=1, sort_keys=True)

  def query(self, artifact_filter: str) -> List[Dict[str, Any]]:
    """Records matching a KFP resolver filter, newest first."""
    clauses = []
    for text in artifact_filter.split(" AND "):
      for field, pattern in _CLAUSES:
        match = pattern.match(text.strip())
        if match:
          clauses.append((field, match.groups()))
          break
      else:
        raise ReplayError(
            f"the replay does not understand the filter clause {text!r} "
            f"of {artifact_filter!r}")
    return [record for record in reversed(self.records)
            if all(_matches(record, field, values)
                   for field, values in clauses)]


def _matches(record: Mapping[str, Any], field: str, values) -> bool:
  if field == "schema_title":
    return record["schema_title"] == values[0]
  if field == "state":
    return record["state"] == values[0]
  if field == "name":
    return record["name"] == values[0]
  key, number = values
  value = record["metadata"].get(key)
  return isinstance(value, (int, float)) and float(value) == float(number)


# ---------------------------------------------------------------------------
# The replay.

def image_environment(project_dir: str, image_project_dir: str,
                      dockerfile: str) -> Dict[str, str]:
  """The Dockerfile's ENV settings, with the image's project folder mapped
  to `project_dir`."""
  from tools import check_image  # pylint: disable=g-import-not-at-top
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
        "%Y%m%d-%H%M%S")
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
    tasks = self.spec["root"]["dag"]["tasks"]
    executors = self.spec["deploymentSpec"]["executors"]
    runs = []
    for name in task_order(self.spec):
      task = tasks[name]
      component = self.spec["components"][task["componentRef"]["name"]]
      executor = executors[component["executorLabel"]]
      start = time.time()
      if "container" in executor:
        outputs, log_file = self._container(name, task, component,
                                            executor["container"])
        kind = "container"
      elif "resolver" in executor:
        outputs = self._resolver(name, task, executor["resolver"])
        log_file = None
        kind = "resolver"
      elif "importer" in executor:
        outputs = self._importer(name, task, component,
                                 executor["importer"])
        log_file = None
        kind = "importer"
      else:
        raise ReplayError(f"task {name}: unknown executor {list(executor)}")
      self.outputs[name] = outputs
      for artifacts in outputs.values():
        for artifact in artifacts:
          self.ledger.add(artifact, self.run_id, name)
      self.ledger.save()
      runs.append(TaskRun(name, kind, outputs, time.time() - start, log_file))
      found = ", ".join(f"{key}: {len(artifacts)}"
                        for key, artifacts in sorted(outputs.items()))
      self.echo(f"{name} ({kind}, {runs[-1].seconds:.0f} s): {found}")
    return ReplayResult(self.run_id, self.root, runs)

  def _input_artifacts(self, name: str, task: Mapping[str, Any]
                       ) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
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
    return {key: self.map_path(_constant(source, f"task {name}, {key}"))
            for key, source in task.get("inputs", {}).get(
                "parameters", {}).items()}

  def _container(self, name, task, component, container):
    self._executions += 1
    task_dir = os.path.join(self.root, self.run_id,
                            f"{name}_{self._executions}")
    if component.get("outputDefinitions", {}).get("parameters"):
      raise ReplayError(f"task {name}: output parameters are not replayed")
    parameters = self._parameters(name, task)
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
            "artifacts": self._input_artifacts(name, task),
            "parameters": {k: _legacy_value(v) for k, v in parameters.items()},
            "parameterValues": parameters,
        },
        "outputs": {"artifacts": outputs,
                    "outputFile": os.path.join(task_dir, OUTPUT_FILE)},
    }
    os.makedirs(task_dir, exist_ok=True)
    log_file = os.path.join(task_dir, LOG_FILE)
    hook = container.get("lifecycle", {}).get("preCacheCheck")
    if hook:
      self._execute(name, hook["command"], hook.get("args", []),
                    executor_input, container.get("env", []), log_file)
      driver_output = self._read_output(executor_input)
      # What the service does with the driver's output before the executor
      # runs: the output artifacts get the metadata the driver computed.
      for key, listed in driver_output.get("artifacts", {}).items():
        for given, computed in zip(outputs[key]["artifacts"],
                                   listed.get("artifacts", [])):
          given["metadata"].update(computed.get("metadata", {}))
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
    return result, log_file

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
    with open(log_file, "a", encoding="utf-8") as log:
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

  def _resolver(self, name, task, resolver):
    inputs = self._input_artifacts(name, task)
    result = {}
    for key, query in resolver.get("outputArtifactQueries", {}).items():
      artifact_filter = query["filter"]
      unresolved = False

      def fill(match):
        nonlocal unresolved
        artifacts = inputs.get(match.group(1), {}).get("artifacts", [])
        if not artifacts or match.group(2) not in artifacts[0].get(
            "metadata", {}):
          unresolved = True  # Nothing upstream: nothing to look up.
          return ""
        return str(artifacts[0]["metadata"][match.group(2)])

      artifact_filter = _INPUT_METADATA.sub(fill, artifact_filter)
      matches = [] if unresolved else self.ledger.query(artifact_filter)
      result[key] = [{"name": m["name"], "uri": m["uri"], "type": m["type"],
                      "metadata": m["metadata"]} for m in matches[:1]]
    return result

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
      uri = self.map_path(_constant({"runtimeValue": uri_source},
                                    f"task {name}, artifactUri"))
    return {outputs[0]: [{"name": f"{self.run_id}/{name}/{outputs[0]}",
                          "uri": uri, "type": importer["typeSchema"],
                          "metadata": dict(importer.get("metadata", {}))}]}


def replay(spec_path: str, pipeline_root: str, image_project_dir: str,
           **kwargs) -> ReplayResult:
  """Replays the spec file; see Replayer for the keyword arguments."""
  kwargs.setdefault("image_env", image_environment(
      kwargs.get("project_dir", REPO_ROOT), image_project_dir,
      os.path.join(kwargs.get("project_dir", REPO_ROOT), "Dockerfile")))
  return Replayer(load_spec(spec_path), pipeline_root, image_project_dir,
                  **kwargs).run()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Run a compiled KFP v2 pipeline spec's tasks on this "
      "machine, as the cluster would (see docs/kubeflow.md for what it does "
      "not cover).")
  parser.add_argument("--spec", required=True,
                      help="the spec kubeflow_runner.py wrote (.json or "
                      ".yaml), compiled with local --pipeline-root, "
                      "--data-root and --serving-dir")
  parser.add_argument("--pipeline-root", required=True,
                      help="local folder for the artifacts and the replay's "
                      "ledger (reuse it to let the resolver find earlier "
                      "runs' models)")
  import kubeflow_runner  # pylint: disable=g-import-not-at-top
  parser.add_argument("--image-project-dir",
                      default=kubeflow_runner.IMAGE_PROJECT_DIR,
                      help="where the image holds the project; mapped to "
                      "this checkout (default: %(default)s)")
  parser.add_argument("--task-timeout", type=float, default=None,
                      help="seconds before a task counts as failed")
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  try:
    result = replay(args.spec, args.pipeline_root, args.image_project_dir,
                    task_timeout_s=args.task_timeout)
  except ReplayError as error:
    print(f"error: {error}", file=sys.stderr)
    return 1
  print(f"replayed {len(result.tasks)} tasks as run {result.run_id} under "
        f"{result.pipeline_root}")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
