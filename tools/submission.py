"""Kaggle submission: a pushed model's predictions for every test record.

    python tools/submission.py --model output/serving/1795822896 \\
        --data-root data/sample --output submission.csv

A command line around the DAG's own batch prediction: it finds
`<data-root>/tfrecords-jpeg-<S>x<S>/test/*.tfrec` (features `id` and
`image`, no `class`), predicts them as BatchPrediction does
(pipeline/components/util/batch_predict.py) and writes the
submission with BatchPrediction's writer (util/predictions.py
`write_submission`): a header `id,label`, then one row per test id, the
label being the predicted class index.

From the shared path: a first pass reads only the ids, so a repeated id
stops the run before any prediction (it would make the submission
ambiguous). Records that cannot be predicted are skipped, named by file and
record index, and reported: records that are not tf.Examples or lack `id`
or `image`, images the model cannot decode, and the rest of a file whose
TFRecord framing is corrupt. A batch that fails is re-run one record at a
time, so only its bad records are lost. Here: the progress lines, the
report, and the exit status.

Exit status: 0 when every record was written, 1 when the file was written
but some records were skipped, 2 on an error (nothing written).
"""

import argparse
import dataclasses
import glob
import os
import sys
import time
from typing import List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime

runtime.configure()  # Before TensorFlow is imported.
import tensorflow as tf

from settings import config as config_lib
from settings import features
from pipeline import data_listing
from pipeline.components.util import serving_model
from pipeline.components.util import batch_predict
from pipeline.components.util import predictions
# pylint: enable=g-import-not-at-top,wrong-import-position


@dataclasses.dataclass
class SubmissionReport:
  """What `make_submission` did."""
  output: str
  records_read: int
  rows_written: int
  skipped: List[predictions.SkippedRecord]
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


def make_submission(model, files: List[str], output: str,
                    batch_size: int = config_lib.PredictConfig.batch_size,
                    progress_every: int = 1000, log=None
                    ) -> SubmissionReport:
  """Predicts every test record and writes the submission CSV.

  Args:
    model: a loaded served model (`serving_model.load_serving_model`).
    files: the test split's TFRecord files (`find_test_files`).
    output: the CSV to write (`predictions.write_submission`: renamed into
      place at the end, never partial).
    batch_size: records per model call.
    progress_every: print a progress line every this many records.
    log: where progress lines go (default: stderr).

  Returns:
    What was written and skipped.

  Raises:
    batch_predict.DuplicateIdError: if two records share an id (before any
      prediction).
  """
  log = log or sys.stderr
  start = time.perf_counter()
  scan = batch_predict.scan_files(files)
  total = len(scan.usable)
  print(f"{scan.records_read} test records in {len(scan.files)} file(s)"
        + (f" ({scan.broken_files} with an unreadable tail)"
           if scan.broken_files else "")
        + f"; {scan.records_read - total} unusable; predicting {total} in "
        f"batches of {batch_size}", file=log, flush=True)
  next_report = progress_every

  def progress(done: int, to_predict: int) -> None:
    nonlocal next_report
    if done >= next_report or done == to_predict:
      print(f"  {done}/{to_predict} records predicted "
            f"({100.0 * done / max(to_predict, 1):.0f}%, "
            f"{time.perf_counter() - start:.0f} s)", file=log, flush=True)
      while next_report <= done:
        next_report += progress_every

  result, skipped = batch_predict.predict_scan(model, scan, batch_size,
                                               progress)
  predictions.write_submission(output, result.ids, result.predicted)
  return SubmissionReport(output=output, records_read=scan.records_read,
                          rows_written=len(result), skipped=skipped,
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
  parser.add_argument("--batch-size", type=int,
                      default=config_lib.PredictConfig.batch_size,
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
    image_size = args.image_size or data_listing.image_size_of(args.data_root)
    files = find_test_files(args.data_root, image_size)
    model = serving_model.load_serving_model(
        args.model, [serving_model.SERVING_DEFAULT])
    report = make_submission(model, files, args.output, args.batch_size,
                             args.progress_every)
  # OpError: the CSV's filesystem (tf.io.gfile) refused the write.
  except (ValueError, OSError, tf.errors.OpError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(report.format())
  return 1 if report.skipped else 0


if __name__ == "__main__":
  sys.exit(main())
