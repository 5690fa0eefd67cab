"""The end-of-run summary: headline metrics, blessing and pushed model.

Reads the metadata store of a finished run (the latest artifact of each
kind, which is this run's when it was cached or executed) and the
Evaluator's output.
"""

import dataclasses
import os
from typing import Dict, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from modules import metrics as metrics_lib


@dataclasses.dataclass
class RunSummary:
  """What a user needs to know after a run."""
  metrics: Dict[str, float]
  blessed: Optional[bool]
  pushed: bool
  pushed_model_dir: Optional[str]
  evaluation_dir: Optional[str]
  model_dir: Optional[str]

  def format(self, config) -> str:
    lines = ["", "=== Run summary ==="]
    if self.metrics:
      for name in ("example_count", metrics_lib.ACCURACY,
                   metrics_lib.MACRO_PRECISION, metrics_lib.MACRO_RECALL,
                   metrics_lib.MACRO_F1):
        if name in self.metrics:
          lines.append(f"  {name:<18} {self.metrics[name]:.4f}"
                       if name != "example_count" else
                       f"  {name:<18} {int(self.metrics[name])}")
    gate = (f"macro_f1 >= {config.eval.min_macro_f1} and at most "
            f"{config.eval.max_macro_f1_drop} below the latest blessed model")
    verdict = {True: "BLESSED", False: "NOT BLESSED", None: "not evaluated"}
    lines.append(f"  model              {self.model_dir}")
    lines.append(f"  verdict            {verdict[self.blessed]} ({gate})")
    if self.pushed:
      lines.append(f"  pushed model       {self.pushed_model_dir}")
    else:
      lines.append("  pushed model       none (not blessed: nothing pushed)")
    lines.append(f"  evaluation         {self.evaluation_dir}")
    return "\n".join(lines)


def _latest(store, type_name: str):
  artifacts = store.get_artifacts_by_type(type_name)
  live = [a for a in artifacts if a.state == metadata_store_pb2.Artifact.LIVE]
  return max(live or artifacts, key=lambda a: a.id, default=None)


def _custom_int(artifact, name: str) -> Optional[int]:
  if artifact is None or name not in artifact.custom_properties:
    return None
  return artifact.custom_properties[name].int_value


def overall_metrics(evaluation_dir: str) -> Dict[str, float]:
  """Overall-slice metrics of the candidate model from an Evaluator output."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = tfma.load_eval_result(evaluation_dir)
  values: Dict[str, float] = {}
  for slice_key, slice_metrics in result.slicing_metrics:
    if slice_key != ():
      continue
    for _, by_sub_key in slice_metrics.items():
      for _, metric_values in by_sub_key.items():
        for name, value in metric_values.items():
          if "doubleValue" in value and not name.endswith("_diff"):
            values[name] = value["doubleValue"]
  return values


def read_summary(metadata_path: str) -> RunSummary:
  """Summarises the latest run recorded in the SQLite store at the path."""
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = metadata_path
  connection.sqlite.connection_mode = 1  # READONLY
  store = metadata_store.MetadataStore(connection)
  model = _latest(store, "Model")
  evaluation = _latest(store, "ModelEvaluation")
  blessing = _latest(store, "ModelBlessing")
  pushed = _latest(store, "PushedModel")
  blessed_flag = _custom_int(blessing, "blessed")
  pushed_flag = _custom_int(pushed, "pushed")
  destination = None
  if pushed is not None and "pushed_destination" in pushed.custom_properties:
    destination = pushed.custom_properties["pushed_destination"].string_value
  metrics = {}
  if evaluation is not None and os.path.exists(evaluation.uri):
    metrics = overall_metrics(evaluation.uri)
  return RunSummary(
      metrics=metrics,
      blessed=None if blessed_flag is None else bool(blessed_flag),
      pushed=bool(pushed_flag),
      pushed_model_dir=destination if pushed_flag else None,
      evaluation_dir=evaluation.uri if evaluation else None,
      model_dir=model.uri if model else None)
