"""The ImageValidator's checks: labels, class balance details, ids, integrity.

Each takes statistics or record keys and returns anomalies, messages and a
summary fragment; none reads files (image_scan.py does), so each is
unit-tested on its own.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline.components.util import class_balance
from settings import features
from settings import records

SUMMARY_FILE = records.VALIDATION_SUMMARY_FILE
# At most this many bad records are named in the error message (all of them
# are in validation_summary.json).
MAX_RECORDS_IN_MESSAGE = 10
# At most this many examples of each integrity finding are listed in
# validation_summary.json (the counts are always complete).
MAX_EXAMPLES_IN_SUMMARY = 100


def class_counts_from_statistics(
    stats: statistics_pb2.DatasetFeatureStatistics,
    label_key: str = features.LABEL_KEY) -> Dict[int, int]:
  """label -> number of examples, from the label's categorical histogram.

  Args:
    stats: one split's statistics, computed with the schema (so the label
      is categorical and has a rank histogram of every value).
    label_key: the label feature.

  Returns:
    Counts of every label value seen, including out-of-range ones.

  Raises:
    ValueError: if the statistics have no categorical histogram of the label.
  """
  for feature in stats.features:
    if feature.path.step and feature.path.step[0] == label_key:
      if not feature.HasField("string_stats"):
        raise ValueError(
            f"statistics of {label_key!r} are not categorical: compute them "
            "with the schema (StatisticsGen schema=...)")
      return {int(bucket.label): int(round(bucket.sample_count))
              for bucket in feature.string_stats.rank_histogram.buckets}
  return {}


def class_balance_detail(rule: str, counts: Sequence[int],
                         class_names: Sequence[str],
                         min_examples: int) -> str:
  """Which classes are behind a class balance anomaly of ExampleValidator.

  TFDV's rule (components/util/class_balance.py) decided that the split
  breaks it; this names the classes and, for the imbalance, the ratio, from
  the same statistics' counts.
  """
  named = lambda i: f"{class_names[i]!r} ({i}): {counts[i]}"
  present = [i for i, n in enumerate(counts) if n > 0]
  if rule == class_balance.MISSING:
    missing = [i for i, n in enumerate(counts) if n == 0]
    return (f"{len(missing)} class(es) have no examples: " +
            ", ".join(f"{class_names[i]!r} ({i})" for i in missing))
  if rule == class_balance.FEW:
    few = [i for i in present if counts[i] < min_examples]
    return (f"{len(few)} class(es) have fewer than {min_examples} "
            "examples: " + ", ".join(named(i) for i in few))
  if not present:
    return "no class has examples"
  largest = max(present, key=lambda i: counts[i])
  smallest = min(present, key=lambda i: counts[i])
  return (f"ratio is {counts[largest] / counts[smallest]:.1f}: largest "
          f"{named(largest)}, smallest {named(smallest)}")


def example_validator_findings(
    split: str, anomalies: anomalies_pb2.Anomalies,
    counts: Sequence[int], class_names: Sequence[str], min_examples: int,
    check_balance: bool) -> Tuple[List[str], List[str]]:
  """(errors, warnings) of one split from TFX ExampleValidator's anomalies.

  Schema anomalies keep their severity: an ERROR stops the run, as when
  this component ran TFDV itself. The class balance rules' reasons
  (WARNING) are reported for the training split only (`check_balance`):
  TFDV runs them on every split (util/class_balance.py says why), and the eval
  split's classes are `eval_class_coverage`'s business.
  """
  errors, warnings = [], []
  for name, info in sorted(anomalies.anomaly_info.items()):
    schema_reasons = [r for r in info.reason
                      if class_balance.rule_name(r) is None]
    if schema_reasons:
      # Custom rules are WARNINGs, so an ERROR comes from the schema.
      message = (f"split {split!r}, feature {name!r}: " +
                 " ".join(r.description for r in schema_reasons))
      (errors if info.severity == anomalies_pb2.AnomalyInfo.ERROR
       else warnings).append(message)
    if not check_balance:
      continue
    for reason in info.reason:
      rule = class_balance.rule_name(reason)
      if rule is not None:
        warnings.append(
            f"split {split!r}: {reason.short_description}: " +
            class_balance_detail(rule, counts, class_names, min_examples))
  if anomalies.HasField("dataset_anomaly_info"):
    info = anomalies.dataset_anomaly_info
    (errors if info.severity == anomalies_pb2.AnomalyInfo.ERROR
     else warnings).append(f"split {split!r}: {info.description}")
  return errors, warnings


def _examples_text(examples: Sequence[str]) -> str:
  shown = ", ".join(examples[:MAX_RECORDS_IN_MESSAGE])
  more = len(examples) - MAX_RECORDS_IN_MESSAGE
  return shown + (f", and {more} more (see {SUMMARY_FILE})" if more > 0 else
                  "")


def id_findings(split: str, keys: Sequence[Tuple[str, Optional[str]]]
                ) -> Tuple[List[str], Dict[str, Any]]:
  """Empty and repeated ids within one split: (messages, details).

  Records are named by their position in the split (scan order).
  """
  empty = [index for index, (record_id, _) in enumerate(keys)
           if not record_id.strip()]
  positions: Dict[str, List[int]] = {}
  for index, (record_id, _) in enumerate(keys):
    if record_id.strip():
      positions.setdefault(record_id, []).append(index)
  repeated = {i: p for i, p in positions.items() if len(p) > 1}
  messages = []
  if empty:
    messages.append(
        f"split {split!r}: {len(empty)} record(s) with an empty "
        f"{features.ID_KEY!r}: records " +
        _examples_text([str(i) for i in empty]))
  if repeated:
    messages.append(
        f"split {split!r}: {len(repeated)} {features.ID_KEY!r} value(s) "
        f"repeated ({sum(len(p) for p in repeated.values())} records): " +
        _examples_text([f"{i!r} (records {', '.join(map(str, p))})"
                        for i, p in repeated.items()]))
  details = {
      "empty_id_records": len(empty),
      "empty_id_examples": empty[:MAX_EXAMPLES_IN_SUMMARY],
      "repeated_ids": len(repeated),
      "repeated_id_examples": {
          i: p for i, p in list(repeated.items())[:MAX_EXAMPLES_IN_SUMMARY]},
  }
  return messages, details


def cross_split_findings(keys_by_split: Dict[str, Sequence[Tuple[
                             str, Optional[str]]]],
                         train_split: str = features.TRAIN_SPLIT
                         ) -> Tuple[List[str], Dict[str, Any]]:
  """Images of the training split in other splits, and ids in two splits.

  Returns:
    (messages, details): one message per pair of splits with a finding,
    naming examples by id; details hold the full counts.
  """
  messages, details = [], {"same_image": {}, "same_id": {}}
  train_images: Dict[str, str] = {}
  for record_id, digest in keys_by_split.get(train_split, []):
    if digest is not None:
      train_images.setdefault(digest, record_id)
  for other, keys in keys_by_split.items():
    if other == train_split:
      continue
    leaked = [(record_id, train_images[digest]) for record_id, digest in keys
              if digest is not None and digest in train_images]
    if leaked:
      details["same_image"][f"{train_split}/{other}"] = {
          "records": len(leaked),
          "examples": [list(p) for p in leaked[:MAX_EXAMPLES_IN_SUMMARY]]}
      messages.append(
          f"{len(leaked)} record(s) of split {other!r} have the same image "
          f"as a record of split {train_split!r} (leakage): " +
          _examples_text([f"{other} id {a!r} = {train_split} id {b!r}"
                          for a, b in leaked]))
  names = sorted(keys_by_split)
  ids = {split: {i for i, _ in keys_by_split[split] if i.strip()}
         for split in names}
  for position, first in enumerate(names):
    for second in names[position + 1:]:
      shared = sorted(ids[first] & ids[second])
      if shared:
        details["same_id"][f"{first}/{second}"] = {
            "ids": len(shared), "examples": shared[:MAX_EXAMPLES_IN_SUMMARY]}
        messages.append(
            f"{len(shared)} {features.ID_KEY!r} value(s) in both split "
            f"{first!r} and split {second!r}: " +
            _examples_text([repr(i) for i in shared]))
  return messages, details


def eval_class_coverage(train_counts: Sequence[int],
                        eval_counts: Sequence[int],
                        class_names: Sequence[str]
                        ) -> Tuple[Optional[str], Dict[str, Any]]:
  """Training classes that the eval split lacks: (warning or None, record).

  The gate's macro F1 (modules/metrics.py, scikit-learn's "macro") averages
  over the classes present in the eval labels or the predictions, so a
  class missing from eval counts only if the model predicts it there. The
  record names the classes the eval labels cover.
  """
  missing = [label for label, n in enumerate(train_counts)
             if n > 0 and eval_counts[label] == 0]
  record = {
      "eval_classes": [label for label, n in enumerate(eval_counts) if n > 0],
      "train_classes_missing_from_eval": missing,
      "note": ("macro F1 averages over the classes present in the eval "
               "labels or in the model's eval predictions"),
  }
  if not missing:
    return None, record
  return (f"{len(missing)} class(es) of the training split have no example "
          f"in split {features.EVAL_SPLIT!r}, so the gate's macro F1 covers "
          f"{len(record['eval_classes'])} of {len(class_names)} classes: " +
          _examples_text([f"{class_names[i]!r} ({i})" for i in missing]),
          record)


def one_class_eval(eval_classes: Sequence[int],
                   class_names: Sequence[str]) -> Optional[str]:
  """The problem with an eval split of one class, or None.

  Macro F1 over one class is that class's F1: a model that calls every
  image that class passes any gate. Whether it stops the run is
  `validation.allow_one_class_eval`'s (the executor's) decision.
  """
  if len(eval_classes) != 1:
    return None
  label = eval_classes[0]
  return (f"split {features.EVAL_SPLIT!r} holds examples of one class only, "
          f"{class_names[label]!r} ({label}): the gate's macro F1 would be "
          "that class's F1 alone, and a model that predicts it for every "
          "image would pass")


def add_reason(anomalies: anomalies_pb2.Anomalies, feature_name: str,
                severity, short: str, description: str) -> None:
  """Adds a reason to the anomaly of `feature_name` (created if absent)."""
  info = anomalies.anomaly_info[feature_name]
  if info.severity < severity:
    info.severity = severity
  info.short_description = (short if not info.short_description else
                            "Multiple errors")
  info.description = (description if not info.description else
                      f"{info.description} {description}")
  reason = info.reason.add()
  reason.type = anomalies_pb2.AnomalyInfo.CUSTOM_VALIDATION
  reason.short_description = short
  reason.description = description


def validate_split(split: str,
                   stats: statistics_pb2.DatasetFeatureStatistics,
                   example_anomalies: anomalies_pb2.Anomalies,
                   class_names: Sequence[str], min_examples: int,
                   check_balance: bool
                   ) -> Tuple[anomalies_pb2.Anomalies, Dict[str, Any]]:
  """One split's findings from its statistics and ExampleValidator's
  anomalies; returns (this component's own anomalies, summary).

  The own anomalies hold only what TFDV did not find (labels out of range
  here; the executor adds images, ids and drift): ExampleValidator's
  artifact keeps the schema and class balance anomalies.
  """
  num_classes = len(class_names)
  anomalies = anomalies_pb2.Anomalies()
  raw_counts = class_counts_from_statistics(stats)
  counts = [raw_counts.get(label, 0) for label in range(num_classes)]
  errors, warnings = example_validator_findings(
      split, example_anomalies, counts, class_names, min_examples,
      check_balance and stats.num_examples > 0)
  if stats.num_examples == 0:
    errors.append(f"split {split!r} is empty (0 examples)")
  out_of_range = {label: n for label, n in raw_counts.items()
                  if not 0 <= label < num_classes}
  if out_of_range:
    description = (f"labels outside [0, {num_classes - 1}]: " + ", ".join(
        f"{label} ({n} examples)" for label, n in sorted(out_of_range.items())))
    add_reason(anomalies, features.LABEL_KEY, anomalies_pb2.AnomalyInfo.ERROR,
                "Label out of range", description)
    errors.append(f"split {split!r}, feature {features.LABEL_KEY!r}: "
                  f"{description}")
  return anomalies, {"num_examples": int(stats.num_examples),
                     "class_counts": counts, "errors": errors,
                     "warnings": warnings}
