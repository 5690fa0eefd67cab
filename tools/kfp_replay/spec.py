"""The compiled spec as the replay reads it: pipeline spec schema 2.1.0, its
tasks in an order that respects every dependency, artifact types, constant
parameters and the values the KFP driver passes for them."""

import json
from typing import Any, Dict, List, Mapping

import yaml

# The schema kubeflow_runner.py writes, and the only one open-source Kubeflow
# Pipelines' API server accepts (backend/src/apiserver/template/
# v2_template.go). Its parameters are typed (`parameterType`), constants are
# `runtimeValue.constant`, and the executor gets `parameterValues` only.
SCHEMA_VERSION = "2.1.0"


class ReplayError(RuntimeError):
  """The spec asks for something the replay cannot do, or a task failed."""


def load_spec(path: str) -> Dict[str, Any]:
  """The PipelineSpec of a `.json` PipelineJob or a `.yaml` PipelineSpec;
  ReplayError naming the file unless it is schema 2.1.0."""
  with open(path, encoding="utf-8") as spec_file:
    document = (yaml.safe_load(spec_file) if path.endswith((".yaml", ".yml"))
                else json.load(spec_file))
  spec = document.get("pipelineSpec", document)
  version = spec.get("schemaVersion")
  if version != SCHEMA_VERSION:
    raise ReplayError(
        f"{path}: pipeline spec schema {version!r}; the replay reads "
        f"{SCHEMA_VERSION}, which kubeflow_runner.py writes: compile it again")
  return spec


def dependencies(task: Mapping[str, Any]) -> set:
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
  waiting = {name: dependencies(task) for name, task in tasks.items()}
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


def constant(source: Mapping[str, Any], where: str) -> Any:
  """A task parameter's value; only constants exist without a cluster."""
  runtime_value = source.get("runtimeValue")
  if runtime_value is None or "constant" not in runtime_value:
    raise ReplayError(
        f"{where}: only constant parameters can be replayed, not {source}")
  return runtime_value["constant"]


# A non-string parameter's JSON kinds, by its declared type.
_KINDS = {"NUMBER_DOUBLE": (int, float), "NUMBER_INTEGER": (int, float),
          "BOOLEAN": (bool,), "LIST": (list,), "STRUCT": (dict,)}


def parameter_values(component: Mapping[str, Any],
                     values: Mapping[str, Any], where: str
                     ) -> Dict[str, Any]:
  """The `parameterValues` the KFP driver passes a task's executor, checked
  against the component's `inputDefinitions` as the driver checks them
  (kubeflow/pipelines backend/src/v2/driver/resolve.go): a declared
  parameter without a value must be optional or have a default (and is then
  left out), a STRING of another kind becomes its JSON text, and any other
  type must match; a mismatch is a ReplayError naming the parameter."""
  result = dict(values)
  declared = component.get("inputDefinitions", {}).get("parameters", {})
  for name, definition in declared.items():
    kind = definition.get("parameterType")
    if name not in values:
      if not (definition.get("isOptional") or "defaultValue" in definition):
        raise ReplayError(f"{where}: neither value nor default value for "
                          f"the non-optional parameter {name!r}")
      continue
    value = values[name]
    if kind == "STRING":
      if not isinstance(value, str):
        result[name] = json.dumps(value)
    elif kind not in _KINDS:
      raise ReplayError(f"{where}: parameter {name!r} has the type {kind!r}, "
                        "which the replay does not know")
    elif (not isinstance(value, _KINDS[kind]) or
          (isinstance(value, bool) and bool not in _KINDS[kind])):
      raise ReplayError(f"{where}: parameter {name!r} type mismatch: expect "
                        f"{kind}, got {type(value).__name__}")
  return result
