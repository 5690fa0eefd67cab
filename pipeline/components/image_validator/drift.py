"""Drift: this run's training data against the served model's.

Both sides are profiles from `modules.data_profile` (the served model's,
which its run's ImageValidator kept and its push record names; this run's,
from the image scan), compared by TFDV's drift comparators
(`tfdv.validate_statistics(..., previous_statistics=...)`): the label with
L-infinity or Jensen-Shannon (`validation.label_drift_comparator`), the
image features (byte size, height, width, mean R, G, B) with
Jensen-Shannon divergence over their histograms.

TFDV's anomaly names only the one value with the largest difference, and
a changed class balance moves several classes at once (some up, some
down). So the warning also names the shifted classes, computed from the
two label distributions by one rule: a class is shifted when its share of
the training split changed by at least half the largest change of any
class (SHIFTED_FRACTION_OF_LARGEST), largest change first. Half the largest
names the group that drives the distance, and leaves out the small moves
every class makes when others change.
"""

from typing import Any, Dict, List, Sequence, Tuple

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from modules import data_profile
from settings import features
from pipeline.components.image_validator import findings

# validation.label_drift_comparator -> TFDV's comparator of the label.
LABEL_COMPARATORS = {"linf": "infinity_norm",
                     "js": "jensen_shannon_divergence"}
COMPARATOR_NAMES = {"linf": "L-infinity distance",
                    "js": "Jensen-Shannon divergence"}
SHIFTED_FRACTION_OF_LARGEST = 0.5
# At most this many shifted classes are named in the warning (all of them
# are in validation_summary.json).
MAX_SHIFTED_IN_MESSAGE = 10
LABEL_ANOMALY = features.LABEL_KEY
IMAGE_ANOMALY = features.IMAGE_KEY


def drift_schema(label_comparator: str, label_threshold: float,
                 image_threshold: float) -> schema_pb2.Schema:
  """The profile's schema with a drift comparator on every feature."""
  schema = data_profile.profile_schema()
  for feature in schema.feature:
    if feature.name == features.LABEL_KEY:
      getattr(feature.drift_comparator,
              LABEL_COMPARATORS[label_comparator]).threshold = label_threshold
    else:
      feature.drift_comparator.jensen_shannon_divergence.threshold = (
          image_threshold)
  return schema


def shifted_classes(baseline_counts: Sequence[int],
                    current_counts: Sequence[int],
                    class_names: Sequence[str]) -> List[Dict[str, Any]]:
  """Classes whose share moved most (the module docstring's rule).

  Returns:
    One dict per shifted class, largest change first: `class` (label),
    `name`, `baseline_share`, `current_share`, `change` (current - baseline).
  """
  baseline_total = sum(baseline_counts) or 1
  current_total = sum(current_counts) or 1
  changes = []
  for label in range(len(class_names)):
    old = baseline_counts[label] / baseline_total
    new = current_counts[label] / current_total
    changes.append((label, old, new, new - old))
  largest = max((abs(change[3]) for change in changes), default=0.0)
  if largest <= 0:
    return []
  return [{"class": label, "name": class_names[label],
           "baseline_share": round(old, 6), "current_share": round(new, 6),
           "change": round(change, 6)}
          for label, old, new, change in
          sorted(changes, key=lambda c: (-abs(c[3]), c[0]))
          if abs(change) >= SHIFTED_FRACTION_OF_LARGEST * largest]


def _counts(statistics: statistics_pb2.DatasetFeatureStatisticsList,
            num_classes: int) -> List[int]:
  counts = findings.class_counts_from_statistics(statistics.datasets[0])
  return [counts.get(label, 0) for label in range(num_classes)]


def _classes_text(shifted: Sequence[Dict[str, Any]]) -> str:
  shown = ", ".join(
      f"{c['name']!r} ({c['class']}) {c['baseline_share']:.1%} -> "
      f"{c['current_share']:.1%}" for c in shifted[:MAX_SHIFTED_IN_MESSAGE])
  more = len(shifted) - MAX_SHIFTED_IN_MESSAGE
  return shown + (f", and {more} more (see {findings.SUMMARY_FILE})"
                  if more > 0 else "")


def compare_profiles(current: statistics_pb2.DatasetFeatureStatisticsList,
                     baseline: statistics_pb2.DatasetFeatureStatisticsList,
                     class_names: Sequence[str], label_comparator: str,
                     label_threshold: float, image_threshold: float
                     ) -> Tuple[List[Tuple[str, str]], Dict[str, Any]]:
  """Compares two profiles with TFDV's drift comparators.

  Args:
    current: this run's training data profile.
    baseline: the profile of the data the baseline model was trained on.
    class_names: class names in label order.
    label_comparator: "linf" or "js" (LABEL_COMPARATORS).
    label_threshold: the label's distance above which it has drifted.
    image_threshold: the image features' Jensen-Shannon divergence above
      which they have drifted.

  Returns:
    (found, section): found are (anomaly feature, message) pairs,
    one for the label and one for the image features when they drifted,
    empty when nothing did; section is the summary's `drift` entry without
    the baseline's name: `comparator`, the thresholds, `distances`
    (feature -> {value, threshold, drifted}), `drifted_features`,
    `shifted_classes` and the rule that chose them, and the record counts.
  """
  anomalies = tfdv.validate_statistics(
      current, drift_schema(label_comparator, label_threshold,
                            image_threshold),
      previous_statistics=baseline)
  drifted = {
      name for name, info in anomalies.anomaly_info.items()
      if any(reason.type in (
          anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
          anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH)
             for reason in info.reason)}
  distances = {}
  for info in anomalies.drift_skew_info:
    name = ".".join(info.path.step)
    for measurement in info.drift_measurements:
      distances[name] = {
          "measure": anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(
              measurement.type),
          "value": round(measurement.value, 6),
          "threshold": measurement.threshold,
          "drifted": name in drifted}
  num_classes = len(class_names)
  baseline_counts = _counts(baseline, num_classes)
  current_counts = _counts(current, num_classes)
  shifted = shifted_classes(baseline_counts, current_counts, class_names)
  section = {
      "comparator": label_comparator,
      "label_threshold": label_threshold,
      "image_threshold": image_threshold,
      "distances": distances,
      "drifted_features": sorted(drifted),
      "shifted_classes": shifted[:findings.MAX_EXAMPLES_IN_SUMMARY],
      "shifted_classes_rule": (
          f"share of the training split changed by at least "
          f"{SHIFTED_FRACTION_OF_LARGEST:g} x the largest change"),
      "baseline_examples": sum(baseline_counts),
      "current_examples": sum(current_counts),
  }
  found = []
  if features.LABEL_KEY in drifted:
    label = distances[features.LABEL_KEY]
    found.append((LABEL_ANOMALY, (
        f"the label {features.LABEL_KEY!r} drifted from the baseline "
        f"model's training data: {COMPARATOR_NAMES[label_comparator]} "
        f"{label['value']:.4f} > {label_threshold}; shifted classes (share "
        f"of the training split, baseline -> now): "
        f"{_classes_text(shifted)}")))
  image_drifted = [name for name in data_profile.IMAGE_FEATURES
                   if name in drifted]
  if image_drifted:
    found.append((IMAGE_ANOMALY, (
        "image statistics drifted from the baseline model's training data "
        f"(Jensen-Shannon divergence > {image_threshold}): " + ", ".join(
            f"{name} {distances[name]['value']:.4f}"
            for name in image_drifted))))
  return found, section
