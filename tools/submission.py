"""Kaggle submission: a pushed model's predictions for every test record.

    python tools/submission.py --model output/serving/1795822896 \\
        --data-root data/sample --output submission.csv

Reads `<data-root>/tfrecords-jpeg-<S>x<S>/test/*.tfrec` (features `id` and
`image`, no `class`), runs the model's `serving_default` signature over the
serialized records in batches, and writes the competition's format: a header
`id,label`, then one row per test id, the label being the predicted class
index.

A first pass reads only the ids, so a repeated id stops the run before any
prediction (it would make the submission ambiguous). Records that cannot be
predicted are skipped, named by file and record index, and reported:
records that are not tf.Examples or lack `id` or `image`, images the model
cannot decode, and the rest of a file whose TFRecord framing is corrupt. A
batch that fails is re-run one record at a time, so only its bad records are
lost.

Exit status: 0 when every record was written, 1 when the file was written
but some records were skipped, 2 on an error (nothing written).
"""

import argparse
import csv
import dataclasses
import glob
import os
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline import runtime

runtime.configure()  # Before TensorFlow is imported.
from google.protobuf import message as protobuf_message
import tensorflow as tf

from settings import features
from pipeline import flags
from pipeline.components import serving_model as inference_lib
from pipeline.components.batch_inference import predictions
# pylint: enable=g-import-not-at-top,wrong-import-position

# The columns the DAG's BatchPrediction writes too.
CSV_HEADER = predictions.SUBMISSION_COLUMNS


@dataclasses.dataclass(frozen=True)
class RecordRef:
  """Where a test record is, and its id."""
  path: str
  index: int
  image_id: str


@dataclasses.dataclass(frozen=True)
class SkippedRecord:
  """A test record left out of the submission, and why."""
  path: str
  index: int
  image_id: Optional[str]
  reason: str
  # True when the file's framing broke here: this and every later record of
  # the file are lost, and how many there were cannot be known.
  rest_of_file: bool = False

  def describe(self) -> str:
    where = f"{self.path} record {self.index}"
    if self.rest_of_file:
      where += " onwards"
    if self.image_id is not None:
      where += f" (id {self.image_id})"
    return f"{where}: {self.reason}"


@dataclasses.dataclass
class SubmissionReport:
  """What `write_submission` did."""
  output: str
  records_read: int
  rows_written: int
  skipped: List[SkippedRecord]
  seconds: float

  def format(self) -> str:
    lines = [f"wrote {self.rows_written} rows to {self.output} "
             f"({self.records_read} records read, {len(self.skipped)} "
             f"skipped, {self.seconds:.1f} s)"]
    if self.skipped:
      lines.append("skipped records:")
      lines += [f"  {record.describe()}" for record in self.skipped]
      lines.append("warning: the submission lacks the ids of the skipped "
                   "records (Kaggle expects every test id)")
    return "\n".join(lines)


class DuplicateIdError(ValueError):
  """Two test records share an id."""


def find_test_files(data_root: str, image_size: int) -> List[str]:
  """The test split's TFRecord files, sorted.

  Raises:
    ValueError: if the folder does not exist or holds no .tfrec files.
  """
  directory = os.path.join(data_root, features.image_dir_name(image_size),
                           features.TEST_SPLIT_DIR)
  if not os.path.isdir(directory):
    raise ValueError(f"{directory} does not exist (check --data-root and "
                     "--image-size)")
  files = sorted(glob.glob(os.path.join(directory,
                                        features.TFRECORD_PATTERN)))
  if not files:
    raise ValueError(f"no {features.TFRECORD_PATTERN} files in {directory}")
  return files


def _read_records(path: str) -> Iterator[Tuple[int, Optional[bytes],
                                               Optional[str]]]:
  """Yields (index, serialized record, None) for each record of a file.

  If the file's framing is corrupt (bad length or CRC), yields one last
  (index, None, reason): nothing after that point can be located.
  """
  iterator = iter(tf.data.TFRecordDataset(path))
  index = 0
  while True:
    try:
      serialized = next(iterator)
    except StopIteration:
      return
    except tf.errors.OpError as error:
      yield index, None, ("unreadable TFRecord data "
                          f"({inference_lib.short_error(error)})")
      return
    yield index, serialized.numpy(), None
    index += 1


def _single_bytes(example: tf.train.Example, key: str) -> Optional[bytes]:
  """The one bytes value of feature `key`, or None if absent or not one."""
  feature = example.features.feature.get(key)
  if feature is None or len(feature.bytes_list.value) != 1:
    return None
  return feature.bytes_list.value[0]


def _check_record(serialized: bytes) -> Tuple[Optional[str], Optional[str]]:
  """Returns (id, None) for a predictable record, else (id or None, reason)."""
  try:
    example = tf.train.Example.FromString(serialized)
  except protobuf_message.DecodeError:
    return None, "not a tf.Example"
  raw_id = _single_bytes(example, features.ID_KEY)
  image_id = raw_id.decode("utf-8", "replace") if raw_id else None
  if not image_id:
    return None, f"no '{features.ID_KEY}' feature (one bytes value)"
  if not _single_bytes(example, features.IMAGE_KEY):
    return image_id, f"no '{features.IMAGE_KEY}' feature (one bytes value)"
  return image_id, None


def scan_test_split(files: Sequence[str]
                    ) -> Tuple[List[RecordRef], List[SkippedRecord]]:
  """Reads the ids of every record; sorts records into usable and skipped.

  Raises:
    DuplicateIdError: naming the id and both records that carry it.
  """
  usable: List[RecordRef] = []
  skipped: List[SkippedRecord] = []
  first_seen: Dict[str, RecordRef] = {}
  for path in files:
    for index, serialized, read_error in _read_records(path):
      if read_error:
        skipped.append(SkippedRecord(path, index, None, read_error,
                                     rest_of_file=True))
        continue
      image_id, problem = _check_record(serialized)
      if image_id is not None and image_id in first_seen:
        earlier = first_seen[image_id]
        raise DuplicateIdError(
            f"duplicate test id {image_id!r}: {earlier.path} record "
            f"{earlier.index} and {path} record {index}")
      record = RecordRef(path, index, image_id) if image_id else None
      if record is not None:
        first_seen[image_id] = record
      if problem:
        skipped.append(SkippedRecord(path, index, image_id, problem))
      else:
        usable.append(record)
  return usable, skipped


def _predict_class_indices(signature, serialized: Sequence[bytes]
                           ) -> List[int]:
  outputs = signature(examples=tf.constant(list(serialized)))
  return [int(i) for i in outputs[features.CLASS_INDEX_KEY].numpy()]


def write_submission(model, files: Sequence[str], output: str,
                     batch_size: int = 64, progress_every: int = 1000,
                     log=None) -> SubmissionReport:
  """Predicts every test record and writes the submission CSV.

  Args:
    model: a loaded served model (`inference_lib.load_serving_model`).
    files: the test split's TFRecord files (`find_test_files`).
    output: the CSV to write; written to `<output>.tmp` first and renamed at
      the end, so an interrupted run never leaves a partial submission.
    batch_size: records per model call.
    progress_every: print a progress line every this many records.
    log: where progress lines go (default: stderr).

  Returns:
    What was written and skipped.

  Raises:
    DuplicateIdError: if two records share an id (before any prediction).
  """
  log = log or sys.stderr
  start = time.perf_counter()
  usable, skipped = scan_test_split(files)
  total = len(usable)
  records_read = total + sum(not r.rest_of_file for r in skipped)
  broken_files = sum(r.rest_of_file for r in skipped)
  print(f"{records_read} test records in {len(files)} file(s)"
        + (f" ({broken_files} with an unreadable tail)" if broken_files
           else "")
        + f"; {records_read - total} unusable; predicting {total} in "
        f"batches of {batch_size}", file=log, flush=True)
  by_location = {(r.path, r.index): r for r in usable}
  signature = model.signatures[inference_lib.SERVING_DEFAULT]
  rows: List[Tuple[str, int]] = []
  done = 0
  next_report = progress_every

  def flush(batch: List[Tuple[RecordRef, bytes]]) -> None:
    nonlocal done, next_report
    if not batch:
      return
    try:
      labels = _predict_class_indices(signature, [s for _, s in batch])
      rows.extend((r.image_id, label) for (r, _), label in zip(batch, labels))
    except tf.errors.OpError:
      # One undecodable image fails the whole batch: retry record by record
      # so that only the bad ones are lost.
      for record, serialized in batch:
        try:
          rows.append((record.image_id,
                       _predict_class_indices(signature, [serialized])[0]))
        except tf.errors.OpError as error:
          skipped.append(SkippedRecord(
              record.path, record.index, record.image_id,
              f"prediction failed: {inference_lib.short_error(error)}"))
    done += len(batch)
    batch.clear()
    if done >= next_report or done == total:
      elapsed = time.perf_counter() - start
      print(f"  {done}/{total} records predicted "
            f"({100.0 * done / max(total, 1):.0f}%, {elapsed:.0f} s)",
            file=log, flush=True)
      while next_report <= done:
        next_report += progress_every

  batch: List[Tuple[RecordRef, bytes]] = []
  for path in files:
    for index, serialized, _ in _read_records(path):
      if (path, index) in by_location:
        batch.append((by_location[(path, index)], serialized))
        if len(batch) >= batch_size:
          flush(batch)
  flush(batch)

  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  temporary = output + ".tmp"
  with open(temporary, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(rows)
  os.replace(temporary, output)
  skipped.sort(key=lambda r: (r.path, r.index))
  return SubmissionReport(output=output, records_read=records_read,
                          rows_written=len(rows), skipped=skipped,
                          seconds=time.perf_counter() - start)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Write a Kaggle submission (id,label) from a pushed model's "
      "predictions on the test split.",
      epilog="Exit status: 0 every record written; 1 written, but some "
      "records were skipped (listed); 2 error, nothing written.")
  parser.add_argument("--model", required=True,
                      help="pushed SavedModel folder, e.g. "
                      "output/serving/<version> (or an ensemble from "
                      "tools/ensemble.py)")
  parser.add_argument("--data-root", required=True,
                      help="folder holding tfrecords-jpeg-<S>x<S>/test/"
                      "*.tfrec")
  parser.add_argument("--image-size", type=int, default=None,
                      help="which tfrecords-jpeg-<S>x<S> folder to read "
                      "(default: the data root's only one)")
  parser.add_argument("--output", default="submission.csv",
                      help="CSV file to write (default: %(default)s)")
  parser.add_argument("--batch-size", type=int, default=64,
                      help="records per model call (default: %(default)s)")
  parser.add_argument("--progress-every", type=int, default=1000,
                      help="print a progress line every this many records "
                      "(default: %(default)s)")
  args = parser.parse_args(argv)
  if args.batch_size < 1:
    parser.error("--batch-size must be >= 1")
  if args.progress_every < 1:
    parser.error("--progress-every must be >= 1")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    image_size = args.image_size or flags.image_size_of(args.data_root)
    files = find_test_files(args.data_root, image_size)
    model = inference_lib.load_serving_model(
        args.model, [inference_lib.SERVING_DEFAULT])
    report = write_submission(model, files, args.output, args.batch_size,
                              args.progress_every)
  except (ValueError, OSError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(report.format())
  return 1 if report.skipped else 0


if __name__ == "__main__":
  sys.exit(main())
