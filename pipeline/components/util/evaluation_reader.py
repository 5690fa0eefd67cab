"""Reads an Evaluator output back: metrics by role, the gate's verdict.

`load_evaluation(dir)` returns the candidate's, the baseline's and the
change's metrics (overall and per class, TFMA's files), the confusion
matrix, and the gate's record (`gate.json`, pipeline/components/evaluator/
gate.py): the verdict, one readable line per gate, the intervals. The
Pusher's record, the report component and the run summary read evaluations
here; the metric they read is computed by modules/metrics.py.
"""

import dataclasses
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow_model_analysis.writers import eval_config_writer
from tensorflow_model_analysis.writers import (
    metrics_plots_and_validations_writer as writer)
from tfx.utils import path_utils

from modules import metrics as metrics_lib
from settings import records

# The scalar metrics every summary shows first, in this order (TFMA's
# ExampleCount, then what MacroF1 outputs).
EXAMPLE_COUNT = "example_count"
HEADLINE_METRICS = (EXAMPLE_COUNT, metrics_lib.ACCURACY,
                    metrics_lib.MACRO_PRECISION, metrics_lib.MACRO_RECALL,
                    metrics_lib.MACRO_F1)

CANDIDATE = "candidate"
BASELINE = "baseline"
CHANGE = "change"  # candidate minus baseline, as TFMA's `_diff` metrics.


@dataclasses.dataclass
class Evaluation:
  """The overall slice of an Evaluator output, by role.

  Attributes:
    metrics: role (CANDIDATE, and BASELINE / CHANGE when a baseline model was
      evaluated) -> scalar metric name -> value (example_count included).
    per_class: role -> per-class metric name -> {class_id: value}.
    confusion: role -> [num_classes, num_classes] matrix (rows = true class).
    model_locations: role -> the served model's directory (its
      SavedModel: `<Model artifact>/Format-Serving`) that was evaluated.
    validation_ok: the gate's verdict (None: no gate record written).
    failures: why the gate failed, one readable line per failed gate.
    gate: the gate's record (its checks, intervals, rule); None for an
      evaluation written before the gate kept one.
  """
  metrics: Dict[str, Dict[str, float]]
  per_class: Dict[str, Dict[str, Dict[int, float]]]
  confusion: Dict[str, np.ndarray]
  model_locations: Dict[str, str]
  validation_ok: Optional[bool]
  failures: List[str]
  gate: Optional[records.GateRecord] = None

  @property
  def has_baseline(self) -> bool:
    return BASELINE in self.metrics


def _array_from_proto(array) -> np.ndarray:
  """TFMA's ArrayValue proto -> numpy array of its shape."""
  for field in ("int64_values", "int32_values", "float64_values",
                "float32_values"):
    values = getattr(array, field)
    if len(values):  # pylint: disable=g-explicit-length-test
      return np.asarray(values).reshape(tuple(array.shape))
  return np.zeros(tuple(array.shape))


def describe_failure(failure) -> str:
  """One readable line for a TFMA ValidationFailure."""
  name = failure.metric_key.name
  value = failure.metric_value.double_value.value
  threshold = failure.metric_threshold
  if threshold.HasField("change_threshold"):
    change = threshold.change_threshold
    if change.HasField("absolute"):
      return (f"{name} changed by {value:+.4f} against the baseline model "
              f"(the gate allows {change.absolute.value:+g})")
    return f"{name} changed by {value:+.4f} against the baseline model"
  if threshold.HasField("value_threshold"):
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
      return (f"{name} = {value:.4f}, below the minimum "
              f"{bounds.lower_bound.value:g}")
    if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
      return (f"{name} = {value:.4f}, above the maximum "
              f"{bounds.upper_bound.value:g}")
  return failure.message or f"{name} failed its threshold"


def load_evaluation(evaluation_dir: str) -> Evaluation:
  """Reads the overall slice of an Evaluator (TFMA) output directory.

  Args:
    evaluation_dir: the ModelEvaluation artifact's folder (`metrics-*`,
      `eval_config.json`, `validations.tfrecord`).

  Returns:
    What the pipeline's metrics say about the candidate (and baseline).

  Raises:
    FileNotFoundError: if the folder holds no TFMA metrics.
  """
  if not tf.io.gfile.glob(f"{evaluation_dir}/metrics*"):
    raise FileNotFoundError(f"no TFMA metrics in {evaluation_dir}")
  eval_config, _, _, model_locations = eval_config_writer.load_eval_run(
      evaluation_dir)
  baseline_names = {spec.name for spec in eval_config.model_specs
                    if spec.is_baseline} if eval_config else set()
  baseline_names.discard("")

  def role_of(key) -> str:
    if key.is_diff:
      return CHANGE
    return BASELINE if key.model_name in baseline_names else CANDIDATE

  metrics: Dict[str, Dict[str, float]] = {}
  per_class: Dict[str, Dict[str, Dict[int, float]]] = {}
  confusion: Dict[str, np.ndarray] = {}
  for metrics_for_slice in writer.load_and_deserialize_metrics(
      evaluation_dir):
    if (metrics_for_slice.HasField("cross_slice_key") or
        metrics_for_slice.slice_key.single_slice_keys):
      continue  # Only the overall slice.
    for entry in metrics_for_slice.metric_keys_and_values:
      key, value = entry.key, entry.value
      role = role_of(key)
      if value.HasField("array_value"):
        if (key.name == metrics_lib.CONFUSION_MATRIX and
            not key.HasField("sub_key")):
          confusion[role] = _array_from_proto(value.array_value)
      elif not value.HasField("double_value"):
        continue
      elif key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        per_class.setdefault(role, {}).setdefault(key.name, {})[
            key.sub_key.class_id.value] = value.double_value.value
      elif not key.HasField("sub_key"):
        metrics.setdefault(role, {})[key.name] = value.double_value.value
  locations = {}
  for name, location in (model_locations or {}).items():
    locations[BASELINE if name in baseline_names else CANDIDATE] = location

  validation_ok, failures = None, []
  gate = records.GateRecord.read(evaluation_dir)
  if gate is not None:
    # TFMA ran no model (the scored examples carry the predictions): the
    # gate's record names the Model artifacts they came from.
    validation_ok, failures = gate.blessed, gate.failures
    locations[CANDIDATE] = path_utils.serving_model_path(gate.candidate_model)
    if gate.baseline_model:
      locations[BASELINE] = path_utils.serving_model_path(
          gate.baseline_model)
  elif tf.io.gfile.glob(f"{evaluation_dir}/validations*"):
    # An evaluation written before the gate kept its record: TFMA's own
    # validation result.
    result = writer.load_and_deserialize_validation_result(evaluation_dir)
    validation_ok = bool(result.validation_ok)
    for per_slice in result.metric_validations_per_slice:
      failures.extend(describe_failure(f) for f in per_slice.failures)
    for missing in result.missing_slices:
      failures.append(f"no examples in slice {missing}")
    if not validation_ok and not failures:
      failures.append("the Evaluator did not validate the model")
  return Evaluation(metrics=metrics, per_class=per_class,
                    confusion=confusion, model_locations=locations,
                    validation_ok=validation_ok, failures=failures,
                    gate=gate)
