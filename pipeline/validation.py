"""DataValidator: the pipeline's ExampleValidator, plus class balance and images.

A custom component (spec, executor, component) that replaces TFX's
ExampleValidator and writes the same ExampleAnomalies artifact
(`Split-<name>/SchemaDiff.pb`, an `Anomalies` proto that TFDV's tools read),
adding what the flower data needs:

* schema anomalies from TFDV, per split, in the TRAINING environment;
* class balance of the training split (from StatisticsGen's histogram of the
  label): the max/min class-count ratio above a threshold, classes with fewer
  than a minimum of examples, classes missing entirely. These are warnings
  (severity WARNING): the pipeline goes on, and the run summary shows them;
* labels outside [0, num_classes), an empty split, and a scan of every record:
  an image that does not decode, or whose size differs from the directory's
  `<S>x<S>`;
* data integrity, in the same pass (docs/data-validation.md): empty or
  repeated ids within a split (errors in the test split, whose ids key
  submission.csv; its ids come from CheckedImportExampleGen's file check,
  `data_check.json`), the same image bytes in train and another split, the
  same id in two splits, and training classes missing from eval (recorded
  as `eval_class_coverage`: the classes the gate's macro F1 covers). These
  are counted warnings, with examples by id;
* the file check's own warnings (skipped files, 0-record shards).

Hard problems (severity ERROR: any TFDV error, a label out of range, an
empty split, a bad image, an empty or repeated test id) stop the pipeline
here, before Transform and Trainer, with a message naming the split, the
feature or record, and the problem. Nothing is skipped silently: every
problem is written to `validation_summary.json` and the per-class counts to
`class_counts.txt` and `class_counts.png` in the artifact's folder.
"""

import io
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils

from pipeline import data_check
from pipeline import features

SUMMARY_FILE = "validation_summary.json"
COUNTS_TABLE_FILE = "class_counts.txt"
COUNTS_CHART_FILE = "class_counts.png"
ANOMALIES_FILE = "SchemaDiff.pb"
# At most this many bad records are named in the error message (all of them
# are in validation_summary.json).
MAX_RECORDS_IN_MESSAGE = 10
# At most this many examples of each integrity finding are listed in
# validation_summary.json (the counts are always complete).
MAX_EXAMPLES_IN_SUMMARY = 100


class DataValidationError(RuntimeError):
  """The data has problems that must be fixed before training."""


# ---------------------------------------------------------------------------
# Pure helpers (unit-tested on their own).

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


def imbalance_warnings(counts: Sequence[int], class_names: Sequence[str],
                       max_ratio: float, min_examples: int) -> List[str]:
  """Warnings about the balance of one split's classes (may be empty)."""
  warnings = []
  named = lambda i: f"{class_names[i]!r} ({i}): {counts[i]}"
  present = [i for i, n in enumerate(counts) if n > 0]
  missing = [i for i, n in enumerate(counts) if n == 0]
  if missing:
    warnings.append(f"{len(missing)} class(es) have no examples: " +
                    ", ".join(f"{class_names[i]!r} ({i})" for i in missing))
  if present:
    largest = max(present, key=lambda i: counts[i])
    smallest = min(present, key=lambda i: counts[i])
    ratio = counts[largest] / counts[smallest]
    if ratio > max_ratio:
      warnings.append(
          f"class imbalance: largest/smallest class count ratio is "
          f"{ratio:.1f} (> {max_ratio}): largest {named(largest)}, smallest "
          f"{named(smallest)}")
  few = [i for i in present if counts[i] < min_examples]
  if few:
    warnings.append(f"{len(few)} class(es) have fewer than {min_examples} "
                    "examples: " + ", ".join(named(i) for i in few))
  return warnings


def check_image(encoded: bytes, image_size: int) -> Optional[str]:
  """None if `encoded` decodes to an image_size x image_size image, else why."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    image = Image.open(io.BytesIO(encoded))
    size = image.size
    # Decoding at 1/8 scale still reads every entropy-coded block, so a
    # corrupt or truncated JPEG fails here, at a fraction of the cost.
    image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
    image.load()
  except Exception as error:  # pylint: disable=broad-except
    return f"image does not decode ({error})"
  if size != (image_size, image_size):
    # An error, not a note: the folder name declares the size, and
    # tools/convert_images.py writes every image at it (docs/your-data.md).
    return (f"image is {size[0]}x{size[1]}, expected "
            f"{image_size}x{image_size} (the directory's size; "
            "tools/convert_images.py brings images of any size to it)")
  return None


def scan_records(file_patterns: Sequence[str], image_size: int,
                 compression_type: str = "GZIP",
                 keys: Optional[List[Tuple[str, Optional[str]]]] = None
                 ) -> Tuple[int, List[Dict]]:
  """Checks every record's image; returns (records, problems).

  Each problem names the record by its `id` and its position in the split.
  When `keys` is a list, (id, image digest) of each record is appended to
  it in the same pass ("" for a missing id, None for no single image), for
  the id and leakage checks of `integrity_findings`.
  """
  files = sorted(f for p in file_patterns for f in tf.io.gfile.glob(p))
  problems = []
  total = 0
  for raw in tf.data.TFRecordDataset(files, compression_type=compression_type):
    example = tf.train.Example.FromString(raw.numpy())
    feature_map = example.features.feature
    record_id = (feature_map[features.ID_KEY].bytes_list.value[0].decode(
        "utf-8", "replace") if features.ID_KEY in feature_map and
                 feature_map[features.ID_KEY].bytes_list.value else "")
    images = (feature_map[features.IMAGE_KEY].bytes_list.value
              if features.IMAGE_KEY in feature_map else [])
    if len(images) != 1:
      problem = f"has {len(images)} values of {features.IMAGE_KEY!r}"
    else:
      problem = check_image(images[0], image_size)
    if keys is not None:
      keys.append((record_id, data_check.image_digest(images[0])
                   if len(images) == 1 else None))
    if problem:
      problems.append({"record": total, "id": record_id or "?",
                       "problem": problem})
    total += 1
  return total, problems


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


def cross_split_findings(keys_by_split: Dict[str, Sequence[Tuple[str,
                                                                 Optional[str]]]],
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


def write_class_count_report(output_dir: str,
                             counts_by_split: Dict[str, List[int]],
                             class_names: Sequence[str]) -> Dict[str, str]:
  """Writes the per-class count table and bar chart; returns their paths."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

  splits = sorted(counts_by_split)
  table_path = os.path.join(output_dir, COUNTS_TABLE_FILE)
  width = max(len(n) for n in class_names)
  lines = [f"{'label':>5}  {'class':<{width}}  " +
           "  ".join(f"{s:>7}" for s in splits)]
  for label, name in enumerate(class_names):
    lines.append(f"{label:>5}  {name:<{width}}  " + "  ".join(
        f"{counts_by_split[s][label]:>7}" for s in splits))
  lines.append(f"{'':>5}  {'total':<{width}}  " + "  ".join(
      f"{sum(counts_by_split[s]):>7}" for s in splits))
  with tf.io.gfile.GFile(table_path, "w") as f:
    f.write("\n".join(lines) + "\n")

  figure, axes = plt.subplots(len(splits), 1,
                              figsize=(max(8, len(class_names) * 0.14),
                                       3 * len(splits)), squeeze=False)
  for axis, split in zip(axes[:, 0], splits):
    axis.bar(range(len(class_names)), counts_by_split[split], width=0.8)
    axis.set_title(f"examples per class: split {split!r}")
    axis.set_xlabel("label")
    axis.set_ylabel("examples")
    axis.set_xlim(-1, len(class_names))
  figure.tight_layout()
  chart_path = os.path.join(output_dir, COUNTS_CHART_FILE)
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=80)
  plt.close(figure)
  with tf.io.gfile.GFile(chart_path, "wb") as f:
    f.write(buffer.getvalue())
  return {"table": table_path, "chart": chart_path}


def _add_reason(anomalies: anomalies_pb2.Anomalies, feature_name: str,
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
                   stats_list: statistics_pb2.DatasetFeatureStatisticsList,
                   schema, class_names: Sequence[str],
                   max_ratio: float, min_examples: int,
                   check_balance: bool
                   ) -> Tuple[anomalies_pb2.Anomalies, Dict[str, Any]]:
  """Validates one split's statistics; returns (anomalies, summary)."""
  num_classes = len(class_names)
  anomalies = tfdv.validate_statistics(stats_list, schema,
                                       environment="TRAINING")
  errors, warnings = [], []
  for name, info in anomalies.anomaly_info.items():
    message = f"split {split!r}, feature {name!r}: {info.description}"
    if info.severity == anomalies_pb2.AnomalyInfo.ERROR:
      errors.append(message)
    else:
      warnings.append(message)
  if stats.num_examples == 0:
    errors.append(f"split {split!r} is empty (0 examples)")
  raw_counts = class_counts_from_statistics(stats)
  out_of_range = {label: n for label, n in raw_counts.items()
                  if not 0 <= label < num_classes}
  if out_of_range:
    description = (f"labels outside [0, {num_classes - 1}]: " + ", ".join(
        f"{label} ({n} examples)" for label, n in sorted(out_of_range.items())))
    _add_reason(anomalies, features.LABEL_KEY, anomalies_pb2.AnomalyInfo.ERROR,
                "Label out of range", description)
    errors.append(f"split {split!r}, feature {features.LABEL_KEY!r}: "
                  f"{description}")
  counts = [raw_counts.get(label, 0) for label in range(num_classes)]
  if check_balance and stats.num_examples:
    for warning in imbalance_warnings(counts, class_names, max_ratio,
                                      min_examples):
      _add_reason(anomalies, features.LABEL_KEY,
                  anomalies_pb2.AnomalyInfo.WARNING, "Class imbalance",
                  warning)
      warnings.append(f"split {split!r}: {warning}")
  return anomalies, {"num_examples": int(stats.num_examples),
                     "class_counts": counts, "errors": errors,
                     "warnings": warnings}


# ---------------------------------------------------------------------------
# The component.

class DataValidatorSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of DataValidator."""
  PARAMETERS = {
      "class_names": ExecutionParameter(type=str),  # JSON list.
      "image_size": ExecutionParameter(type=int),
      "max_imbalance_ratio": ExecutionParameter(type=float),
      "min_class_examples": ExecutionParameter(type=int),
      "scan_images": ExecutionParameter(type=int),
  }
  INPUTS = {
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "statistics": ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
      "schema": ChannelParameter(type=standard_artifacts.Schema),
  }
  OUTPUTS = {
      "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
  }


class DataValidatorExecutor(base_executor.BaseExecutor):
  """Validates every split; raises DataValidationError on hard problems."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    class_names = json.loads(exec_properties["class_names"])
    image_size = int(exec_properties["image_size"])
    examples = artifact_utils.get_single_instance(input_dict["examples"])
    stats_artifact = artifact_utils.get_single_instance(
        input_dict["statistics"])
    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(
        artifact_utils.get_single_uri(input_dict["schema"])))
    anomalies_artifact = artifact_utils.get_single_instance(
        output_dict["anomalies"])
    splits = artifact_utils.decode_split_names(stats_artifact.split_names)
    anomalies_artifact.split_names = artifact_utils.encode_split_names(splits)
    anomalies_artifact.span = stats_artifact.span

    summary: Dict[str, Any] = {"splits": {}, "errors": [], "warnings": []}
    # The file check's report, written by CheckedImportExampleGen (None for
    # Examples from another ExampleGen).
    file_check = data_check.read_report(examples.uri)
    if file_check is not None:
      summary["warnings"] += [f"data files: {w}" for w in
                              file_check.get("warnings", [])]
      summary["data_files"] = {k: v for k, v in file_check.items()
                               if k != "test_records"}
    keys_by_split: Dict[str, List[Tuple[str, Optional[str]]]] = {}
    blessed = {}
    for split in splits:
      stats_list = stats_artifact_utils.load_statistics(stats_artifact,
                                                        split).proto()
      anomalies, split_summary = validate_split(
          split, stats_list.datasets[0], stats_list, schema, class_names,
          float(exec_properties["max_imbalance_ratio"]),
          int(exec_properties["min_class_examples"]),
          check_balance=(split == features.TRAIN_SPLIT))
      if exec_properties["scan_images"] and split_summary["num_examples"]:
        logging.info("Checking every image of split %s.", split)
        pattern = os.path.join(
            artifact_utils.get_split_uri([examples], split), "*")
        keys = keys_by_split.setdefault(split, [])
        scanned, problems = scan_records([pattern], image_size, keys=keys)
        split_summary["records_scanned"] = scanned
        split_summary["bad_records"] = problems
        if problems:
          _add_reason(anomalies, features.IMAGE_KEY,
                      anomalies_pb2.AnomalyInfo.ERROR, "Bad images",
                      f"{len(problems)} record(s) with bad images")
          shown = "; ".join(f"record {p['record']} (id {p['id']}): "
                            f"{p['problem']}" for p in
                            problems[:MAX_RECORDS_IN_MESSAGE])
          more = len(problems) - MAX_RECORDS_IN_MESSAGE
          split_summary["errors"].append(
              f"split {split!r}, feature {features.IMAGE_KEY!r}: "
              f"{len(problems)} bad record(s): {shown}" +
              (f"; and {more} more (see {SUMMARY_FILE})" if more > 0 else ""))
        # Ids of train and eval only name records (messages, reports):
        # counted warnings. The test split's are errors, below.
        messages, split_summary["ids"] = id_findings(split, keys)
        for message in messages:
          _add_reason(anomalies, features.ID_KEY,
                      anomalies_pb2.AnomalyInfo.WARNING, "Bad ids", message)
        split_summary["warnings"] += messages
      out_dir = artifact_utils.get_split_uri([anomalies_artifact], split)
      tf.io.gfile.makedirs(out_dir)
      io_utils.write_bytes_file(os.path.join(out_dir, ANOMALIES_FILE),
                                anomalies.SerializeToString())
      blessed[split] = 0 if split_summary["errors"] else 1
      summary["splits"][split] = split_summary
      summary["errors"] += split_summary["errors"]
      summary["warnings"] += split_summary["warnings"]

    if file_check is not None and file_check.get("test_records") is not None:
      # Its ids key submission.csv: an empty or repeated one corrupts it.
      test_keys = [tuple(key) for key in file_check["test_records"]]
      keys_by_split[features.TEST_SPLIT_DIR] = test_keys
      messages, test_ids = id_findings(features.TEST_SPLIT_DIR, test_keys)
      summary["test"] = {"num_examples": len(test_keys), "ids": test_ids}
      summary["errors"] += messages
    if keys_by_split:
      messages, summary["integrity"] = cross_split_findings(keys_by_split)
      summary["warnings"] += messages
    if (features.TRAIN_SPLIT in summary["splits"] and
        features.EVAL_SPLIT in summary["splits"]):
      warning, summary["eval_class_coverage"] = eval_class_coverage(
          summary["splits"][features.TRAIN_SPLIT]["class_counts"],
          summary["splits"][features.EVAL_SPLIT]["class_counts"],
          class_names)
      if warning:
        summary["warnings"].append(warning)

    summary["reports"] = write_class_count_report(
        anomalies_artifact.uri,
        {s: v["class_counts"] for s, v in summary["splits"].items()},
        class_names)
    with tf.io.gfile.GFile(os.path.join(anomalies_artifact.uri, SUMMARY_FILE),
                           "w") as f:
      json.dump(summary, f, indent=2)
    anomalies_artifact.set_json_value_custom_property("blessed", blessed)
    for warning in summary["warnings"]:
      logging.warning("Data validation: %s", warning)
    if summary["errors"]:
      raise DataValidationError(
          "data validation failed, the pipeline stops before Transform:\n  " +
          "\n  ".join(summary["errors"]) +
          f"\n(details in {anomalies_artifact.uri})")


class DataValidator(base_component.BaseComponent):
  """ExampleValidator with class-balance checks and an image scan."""

  SPEC_CLASS = DataValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(DataValidatorExecutor)

  def __init__(self, examples, statistics, schema,
               class_names: Sequence[str], image_size: int,
               max_imbalance_ratio: float, min_class_examples: int,
               scan_images: bool = True):
    super().__init__(spec=DataValidatorSpec(
        examples=examples, statistics=statistics, schema=schema,
        class_names=json.dumps(list(class_names)), image_size=image_size,
        max_imbalance_ratio=max_imbalance_ratio,
        min_class_examples=min_class_examples, scan_images=int(scan_images),
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))


def read_summary(anomalies_uri: str) -> Optional[Dict[str, Any]]:
  """The validation summary of a DataValidator output, if it exists."""
  path = os.path.join(anomalies_uri, SUMMARY_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)
