"""What the KFP driver does itself, without a container of the project's.

* A resolver task: its `outputArtifactQueries` filter (the clauses TFX
  writes: schema_title, state, metadata.<key>.number_value, name, with
  `{{$.inputs.artifacts[...]}}` placeholders) over the ledger; the newest
  match, or nothing (a first run).
* An importer task: its URI as an artifact.
* A container's `lifecycle.preCacheCheck` hook (ExampleGen's driver on
  Vertex AI): what its ExecutorOutput gives the executor, as the service
  passes it on: the output artifacts' metadata and the execution
  parameters it resolved (span, version, input fingerprint, the
  input_config resolved to that span).
"""

import re
from typing import Any, Dict, List, Mapping

from tools.kfp_replay.ledger import Ledger
from tools.kfp_replay.spec import ReplayError

_INPUT_METADATA = re.compile(
    r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}")


def resolve(ledger: Ledger, inputs: Mapping[str, Any],
            resolver: Mapping[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
  """A resolver task's outputs: for each query, the newest ledger record
  matching its filter (none where an input it refers to is empty)."""
  result = {}
  for key, query in resolver.get("outputArtifactQueries", {}).items():
    unresolved = False

    def fill(match):
      nonlocal unresolved
      artifacts = inputs.get(match.group(1), {}).get("artifacts", [])
      if not artifacts or match.group(2) not in artifacts[0].get(
          "metadata", {}):
        unresolved = True  # Nothing upstream: nothing to look up.
        return ""
      return str(artifacts[0]["metadata"][match.group(2)])

    artifact_filter = _INPUT_METADATA.sub(fill, query["filter"])
    matches = [] if unresolved else ledger.query(artifact_filter)
    result[key] = [{"name": m["name"], "uri": m["uri"], "type": m["type"],
                    "metadata": m["metadata"]} for m in matches[:1]]
  return result


def imported(name: str, output: str, uri: str, importer: Mapping[str, Any],
             run_id: str) -> Dict[str, List[Dict[str, Any]]]:
  """An importer task's one output artifact."""
  return {output: [{"name": f"{run_id}/{name}/{output}", "uri": uri,
                    "type": importer["typeSchema"],
                    "metadata": dict(importer.get("metadata", {}))}]}


def _plain(value: Any) -> Any:
  """A protobuf JSON number that is whole as an int (the span, version)."""
  if isinstance(value, float) and value.is_integer():
    return int(value)
  return value


def apply_hook_output(driver_output: Mapping[str, Any],
                      executor_input: Dict[str, Any]) -> List[str]:
  """Merges a preCacheCheck hook's ExecutorOutput into the executor's
  input, in place; returns the parameters it set.

  The output artifacts get the metadata the driver computed; the
  parameters it returns replace the task's `parameterValues`.
  """
  outputs = executor_input["outputs"]["artifacts"]
  for key, listed in driver_output.get("artifacts", {}).items():
    if key not in outputs:
      raise ReplayError(f"the driver returned an artifact {key!r} the task "
                        "does not output")
    for given, computed in zip(outputs[key]["artifacts"],
                               listed.get("artifacts", [])):
      given["metadata"].update(computed.get("metadata", {}))
  parameters = {key: _plain(value) for key, value in driver_output.get(
      "parameterValues", {}).items()}
  inputs = executor_input["inputs"]
  for key, value in parameters.items():
    inputs["parameterValues"][key] = value
  return sorted(parameters)
