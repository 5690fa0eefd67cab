"""The compiled spec as the replay reads it: its tasks in an order that
respects every dependency, artifact types, constant parameters."""

import json
from typing import Any, Dict, List, Mapping

import yaml


class ReplayError(RuntimeError):
  """The spec asks for something the replay cannot do, or a task failed."""


def load_spec(path: str) -> Dict[str, Any]:
  """The PipelineSpec of a `.json` PipelineJob or a `.yaml` PipelineSpec."""
  with open(path, encoding="utf-8") as spec_file:
    document = (yaml.safe_load(spec_file) if path.endswith((".yaml", ".yml"))
                else json.load(spec_file))
  return document.get("pipelineSpec", document)


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


def legacy_value(value: Any) -> Dict[str, Any]:
  """A value in ExecutorInput's legacy `parameters` form."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return {"stringValue": value if isinstance(value, str)
            else json.dumps(value)}
  if isinstance(value, int):
    return {"intValue": str(value)}
  return {"doubleValue": value}
