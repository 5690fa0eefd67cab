"""File-level check of the data folder that ImportExampleGen reads.

ImportExampleGen reads `<split>/*.tfrec`; this check reads the same files
first so that file-level problems get a message naming the file. It runs in
the DAG, inside ImportExampleGen's own executor, before Beam reads a byte
(executor.py), and `local_runner.py` calls it once
more as a fast pre-flight; both give the same messages:

* a split folder that is missing, or holds no `.tfrec` file, or whose files
  hold 0 records in all: error naming the folder (`val` may be absent when
  `val_folder` is False: the pipeline then holds out part of `train`,
  pipeline/data_plan.py `make_plan`);
* a `.tfrec` file that is truncated or is not a TFRecord file at all, or a
  record that is not a tf.Example: error, naming the file and the index of
  the first such record (every record is read and its checksum checked, so
  the copy import of executor.py can copy files without reading them
  again);
* when the eval split is cut from `train` by a hash of each record's `id`
  (no `val` folder: pipeline/data_plan.py `output_config`), a record without
  a usable `id` (missing, empty, or neither bytes nor int64, which TFX's
  hash refuses deep inside Beam without naming the file): error, naming the
  file and the index of the first such record;
* a `.tfrec` file with zero records (a 0-byte file left by a failed upload):
  a counted warning naming the file;
* a file that does not match `*.tfrec` (a README, a `.DS_Store`): skipped
  by ImportExampleGen's pattern, so it is counted and listed here, never
  dropped in silence.

The test folder (`test/`, no labels; ImportExampleGen does not read it) is
read too when it exists: each record's `id` and a sha256 of its image go to
the summary, for ImageValidator's id and leakage checks
(pipeline/components/image_validator/). An unreadable test file is a counted
warning (the pipeline does not train or evaluate on it; tools/submission.py
reports its records again). Record-level problems of train and eval (bad
images, labels, missing features) are ImageValidator's.
"""

import dataclasses
import fnmatch
import json
import os
import re
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from google.protobuf import message
import tensorflow as tf

from modules import record_reader
from pipeline.components.example_gen import record_facts
from pipeline.components.util import data_check
from settings import features


class DataCheckError(ValueError):
  """The data folder cannot be read as the Kaggle layout."""


@dataclasses.dataclass
class DataCheckReport:
  """What the check found in a readable data folder.

  Attributes:
    records: split folder -> number of records.
    skipped_files: files in a split folder that do not match the pattern.
    empty_files: `.tfrec` files with zero records.
    file_records: path of each `.tfrec` file read -> its number of records.
    test_records: (id, sha256 of the image) of each test record, in file
      order; None when there is no test folder.
    test_warnings: unreadable test files and records, one line each.
    spans: the span numbers read (settings/spans.py); None in the plain
      layout.
    file_labels: path of each split file read -> label -> its records
      (None: records without exactly one int64 `class`); not written to
      the report's JSON: the import sums it into each output split's
      class counts (executor.py).
  """
  records: Dict[str, int]
  skipped_files: List[str]
  empty_files: List[str] = dataclasses.field(default_factory=list)
  file_records: Dict[str, int] = dataclasses.field(default_factory=dict)
  test_records: Optional[List[Tuple[str, str]]] = None
  test_warnings: List[str] = dataclasses.field(default_factory=list)
  spans: Optional[List[int]] = None
  file_labels: Dict[str, Dict[Optional[int], int]] = dataclasses.field(
      default_factory=dict)

  def warnings(self) -> List[str]:
    """The counted notes of this report (the run goes on)."""
    result = []
    if self.skipped_files:
      result.append(
          f"skipped {len(self.skipped_files)} file(s) that do not match "
          f"{features.TFRECORD_PATTERN}: " + ", ".join(self.skipped_files))
    if self.empty_files:
      result.append(
          f"{len(self.empty_files)} {features.TFRECORD_PATTERN} file(s) with "
          "0 records (a failed upload?): " + ", ".join(self.empty_files))
    return result + self.test_warnings

  def lines(self, span: str = "") -> List[str]:
    """What a runner prints: records per split, then the warnings; `span`
    (a span folder's name) before the splits where a run reads several."""
    where = f"{span}: " if span else ""
    result = [f"data: {where}{split} {count} records" for split, count in
              sorted(self.records.items())]
    if self.test_records is not None:
      result.append(f"data: {where}{features.TEST_SPLIT_DIR} "
                    f"{len(self.test_records)} records")
    return result + self.warnings()

  def to_json(self) -> Dict:
    """A JSON-ready dict (written next to ImportExampleGen's output)."""
    return {
        "records": self.records,
        "skipped_files": self.skipped_files,
        "empty_files": self.empty_files,
        "file_records": self.file_records,
        "test_records": ([list(r) for r in self.test_records]
                         if self.test_records is not None else None),
        "warnings": self.warnings(),
        "spans": self.spans,
    }


def count_records(path: str,
                  keys: Optional[List[Tuple[str, Optional[str]]]] = None,
                  partition_feature: Optional[str] = None,
                  labels: Optional[Dict[Optional[int], int]] = None) -> int:
  """Reads every record of a TFRecord file (its checksums too) and parses
  each as a tf.Example, as TFX's import does; returns how many there are.
  With `keys`, appends each record's `record_key` to it. With
  `partition_feature` (the feature ImportExampleGen cuts the splits by),
  each record must have it as TFX's hash takes it. With `labels`, counts
  each record under its `record_facts.example_label`.

  Raises:
    DataCheckError: naming the file and the first unreadable record, the
      first record that is not a tf.Example, or the first without a usable
      `partition_feature`.
  """
  count = 0
  try:
    for raw in record_reader.serialized_records([path], ""):
      try:
        example = tf.train.Example.FromString(raw)
      except message.DecodeError as error:
        raise DataCheckError(
            f"{path}: record {count} is not a tf.Example ({error}); the "
            "pipeline reads TFRecords of tf.Examples with the features "
            f"{features.ID_KEY!r}, {features.LABEL_KEY!r} and "
            f"{features.IMAGE_KEY!r}") from None
      if partition_feature:
        problem = record_facts.partition_problem(example, partition_feature)
        if problem:
          raise DataCheckError(
              f"{path}: record {count} {problem}; the eval split is held "
              "out of the training data by a hash of each record's "
              f"{partition_feature!r} (no {features.VAL_SPLIT_DIR!r} folder, "
              "or eval.split), which needs a bytes or int64 value in every "
              "record")
      if keys is not None:
        keys.append(record_facts.example_key(example))
      if labels is not None:
        label = record_facts.example_label(example)
        labels[label] = labels.get(label, 0) + 1
      count += 1
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
    raise DataCheckError(
        f"{path}: unreadable at record {_readable_records(path)} (truncated "
        f"or not a TFRecord file): {_reader_reason(error)}") from None
  return count


def _readable_records(path: str) -> int:
  """How many records of `path` read before the first unreadable one (one
  at a time: a batched read stops at the start of the failing batch)."""
  count = 0
  try:
    for _ in tf.data.TFRecordDataset(path):
      count += 1
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
    pass
  return count


def _reader_reason(error: tf.errors.OpError) -> str:
  """The reader's own words, without TensorFlow's op and function names."""
  reason = error.message.splitlines()[0]
  reason = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", reason)
  return re.sub(r"\s*\[Op:.*$", "", reason)


def _test_file_keys(records: Iterable[bytes], file_path: str
                    ) -> Tuple[List[Tuple[str, Optional[str]]], List[str],
                               int, bool]:
  """(keys, warnings, records read, whether the whole file read) of one
  test file's `records`."""
  keys, warnings, index = [], [], 0
  try:
    for raw in records:
      try:
        keys.append(record_facts.record_key(raw))
      except Exception:  # pylint: disable=broad-except
        warnings.append(
            f"{file_path}: record {index} is not a tf.Example (left out of "
            "the test id and leakage checks)")
      index += 1
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
    return keys, warnings, index, False
  return keys, warnings, index, True


def _read_test_folder(path: str, report: DataCheckReport) -> None:
  """Fills the report's test records; unreadable data becomes warnings."""
  report.test_records = []
  for name in sorted(tf.io.gfile.listdir(path)):
    file_path = os.path.join(path, name)
    if not fnmatch.fnmatch(name, features.TFRECORD_PATTERN):
      report.skipped_files.append(file_path)
      continue
    keys, warnings, index, whole = _test_file_keys(
        record_reader.serialized_records([file_path], ""), file_path)
    if not whole:
      # Again one record at a time, to keep every record before the bad one
      # (a batched read stops at the start of the failing batch).
      keys, warnings, index, _ = _test_file_keys(
          (raw.numpy() for raw in tf.data.TFRecordDataset(file_path)),
          file_path)
      warnings.append(
          f"{file_path}: unreadable from record {index} on (truncated or not "
          "a TFRecord file; left out of the test id and leakage checks)")
    report.test_records += keys
    report.test_warnings += warnings
    report.file_records[file_path] = index
    if index == 0:
      report.empty_files.append(file_path)


def check_input_base(input_base: str,
                     split_patterns: Mapping[str, Union[str, Sequence[str]]],
                     read_test: bool = True,
                     partition_feature: Optional[str] = None,
                     listed: Optional[Mapping[str, Sequence[str]]] = None
                     ) -> DataCheckReport:
  """Checks the split folders ImportExampleGen will read under `input_base`.

  Args:
    input_base: ImportExampleGen's input_base (`.../tfrecords-jpeg-<S>x<S>`,
      or the data root with spans).
    split_patterns: split name -> its pattern relative to input_base, as in
      ImportExampleGen's input_config (e.g. `val/*.tfrec`), or the patterns
      of each span a range reads (settings/spans.py), oldest first.
    read_test: also read the `test` folder beside the last pattern's split
      folder (`input_base/test/` in the plain layout) when it exists.
    partition_feature: the feature ImportExampleGen's output config cuts
      the splits by a hash of (`partition_feature_name`), which every
      record of the split folders must then have; None when it has none.
    listed: split folder -> its entries, as the caller listed them (the
      runner's data plan); None: each split folder is listed here.

  Returns:
    The report, keyed by split folder relative to input_base.

  Raises:
    DataCheckError: with a message naming the folder or file at fault.
  """
  if not tf.io.gfile.isdir(input_base):
    raise DataCheckError(f"{input_base} does not exist")
  report = DataCheckReport(records={}, skipped_files=[])
  split_dirs = [os.path.split(pattern) for patterns in split_patterns.values()
                for pattern in ([patterns] if isinstance(patterns, str)
                                else patterns)]
  test_dir = os.path.join(
      os.path.dirname(split_dirs[-1][0]) if split_dirs else "",
      features.TEST_SPLIT_DIR)
  for split_dir, file_pattern in split_dirs:
    # The test folder read as a split (TestExampleGen's): its keys come
    # from the same pass.
    keys = None
    if read_test and split_dir == test_dir:
      keys = report.test_records = []
    report.records[split_dir] = _check_split_folder(
        os.path.join(input_base, split_dir), file_pattern, report, keys,
        partition_feature, (listed or {}).get(split_dir))
  test_path = os.path.join(input_base, test_dir)
  if (read_test and report.test_records is None and
      tf.io.gfile.isdir(test_path)):
    _read_test_folder(test_path, report)
  return report


def _check_split_folder(path: str, file_pattern: str,
                        report: DataCheckReport,
                        keys: Optional[List[Tuple[str, Optional[str]]]] = None,
                        partition_feature: Optional[str] = None,
                        names: Optional[Sequence[str]] = None) -> int:
  """Counts one split folder's records into `report` (and their keys into
  `keys`); returns the total. `names`: the folder's entries, if listed."""
  if not tf.io.gfile.isdir(path):
    raise DataCheckError(f"{path} does not exist")
  names = sorted(tf.io.gfile.listdir(path) if names is None else names)
  data = [n for n in names if fnmatch.fnmatch(n, file_pattern)]
  report.skipped_files += [os.path.join(path, n) for n in names
                           if n not in data]
  if not data:
    raise DataCheckError(f"{path}: no {file_pattern} files")
  total = 0
  for name in data:
    file_path = os.path.join(path, name)
    labels = report.file_labels.setdefault(file_path, {})
    count = count_records(file_path, keys, partition_feature, labels)
    report.file_records[file_path] = count
    if count == 0:
      report.empty_files.append(file_path)
    total += count
  if total == 0:
    raise DataCheckError(f"{path}: the split is empty (0 records)")
  return total


def kaggle_split_patterns(val_folder: bool = True) -> Dict[str, str]:
  """The split patterns of the Kaggle layout (pipeline.input_config's);
  `train` alone when there is no `val` folder."""
  if not val_folder:
    return {features.TRAIN_SPLIT:
            f"{features.TRAIN_SPLIT_DIR}/{features.TFRECORD_PATTERN}"}
  return {split: f"{directory}/{features.TFRECORD_PATTERN}"
          for split, directory in features.KAGGLE_SPLIT_DIRS.items()}


def check_data_root(data_root: str, image_size: int,
                    read_test: bool = False,
                    val_folder: bool = True,
                    listed: Optional[Mapping[str, Sequence[str]]] = None
                    ) -> DataCheckReport:
  """Checks the split folders of `data_root` for `image_size` images.

  The local pre-flight: the DAG runs `check_input_base` itself.
  `val_folder` False checks `train` only, and that each record has an `id`:
  evaluation holds out part of it by a hash of `id` (pipeline/data_plan.py
  `output_config`, whose `partition_feature_name` the DAG's check reads).
  `listed`: as `check_input_base`'s (the runner's data plan lists the
  folders).

  Raises:
    DataCheckError: with a message naming the folder or file at fault.
  """
  directory = os.path.join(data_root, features.image_dir_name(image_size))
  if not tf.io.gfile.isdir(directory):
    raise DataCheckError(
        f"{directory} does not exist: --data-root must hold "
        f"{features.image_dir_name(image_size)}/{{train,val}}/*.tfrec")
  return check_input_base(
      directory, kaggle_split_patterns(val_folder), read_test=read_test,
      partition_feature=None if val_folder else features.ID_KEY,
      listed=listed)


def write_report(report: DataCheckReport, examples_uri: str) -> None:
  """Writes the report into an Examples artifact's folder, beside the
  `Split-*` folders; the ImageValidator reads it (util/data_check.py)."""
  with tf.io.gfile.GFile(os.path.join(examples_uri, data_check.REPORT_FILE),
                         "w") as f:
    json.dump(report.to_json(), f)
