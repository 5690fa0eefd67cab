"""The replay's stand-in for ML Metadata: every artifact that replays into
one pipeline root produced, oldest first, in `<root>/replay_ledger.json`,
kept between runs as a cluster's metadata store is; resolver filters are
evaluated over it."""

import json
import os
import re
from typing import Any, Dict, List, Mapping

from tools.kfp_replay.spec import ReplayError
from tools.kfp_replay.spec import schema_title

LEDGER_FILE = "replay_ledger.json"
_CLAUSES = (
    ("schema_title", re.compile(r'^schema_title="([^"]*)"$')),
    ("state", re.compile(r"^state=(\w+)$")),
    ("metadata", re.compile(r"^metadata\.(\w+)\.number_value=(-?[\d.]+)$")),
    ("name", re.compile(r'^name="([^"]*)"$')),
)


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
