"""A model's predictions on a split: what they hold, and their files.

batch_predict.py computes them (`SplitPredictions`, and a `SkippedRecord`
for each record it could not predict); the BatchInference executors write,
per split, `Split-<name>/predictions.npz`: `ids`, `labels` (NO_LABEL where
the record has no `class`, as in `test`) and `probabilities`; for the
submission split the Kaggle `submission.csv` (`id,label`); and
`skipped.json`, each skipped record named (file, record index, id) and why.
The Report, the Pusher's model card and LiteRTExport read the eval split's
predictions back (`read_predictions`); the Report also the test split's,
`skipped.json` and where submission.csv is.

`write_submission` is the one writer of submission.csv: BatchPrediction's
and `tools/submission.py`'s files are the same format by construction.
"""

import csv
import dataclasses
import io
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

PREDICTIONS_FILE = "predictions.npz"
SUBMISSION_FILE = "submission.csv"
SKIPPED_FILE = "skipped.json"
# The Kaggle competition's columns.
SUBMISSION_COLUMNS = ("id", "label")
# The label of a record without a `class` feature (the test split).
NO_LABEL = -1
# Custom property of a Predictions artifact that holds no predictions (its
# model not blessed): why. The Report and the run summary show it.
NOT_PREDICTED_REASON = "not_predicted_reason"


@dataclasses.dataclass
class SplitPredictions:
  """One split's predictions, one entry per predicted record, in file order."""
  ids: np.ndarray            # [n] str
  labels: np.ndarray         # [n] int64, NO_LABEL if unlabelled
  probabilities: np.ndarray  # [n, num_classes] float32

  @property
  def predicted(self) -> np.ndarray:
    return self.probabilities.argmax(axis=1)

  @property
  def confidence(self) -> np.ndarray:
    return self.probabilities.max(axis=1)

  def __len__(self) -> int:
    return len(self.ids)


@dataclasses.dataclass(frozen=True)
class SkippedRecord:
  """A record left out of the predictions, and why."""
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


def split_dir(uri: str, split: str) -> str:
  """The folder of one split's files, named as TFX names Examples splits."""
  return os.path.join(uri, f"Split-{split}")


def write_predictions(uri: str, split: str,
                      predictions: SplitPredictions) -> str:
  """Writes `Split-<split>/predictions.npz` (any tf.io.gfile filesystem)."""
  directory = split_dir(uri, split)
  tf.io.gfile.makedirs(directory)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, ids=predictions.ids.astype(str),
                      labels=predictions.labels.astype(np.int64),
                      probabilities=predictions.probabilities.astype(
                          np.float32))
  path = os.path.join(directory, PREDICTIONS_FILE)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())
  return path


def read_predictions(uri: str, split: str) -> Optional[SplitPredictions]:
  """A split's predictions; None if there are none (model not blessed)."""
  path = os.path.join(split_dir(uri, split), PREDICTIONS_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path, "rb") as f:
    arrays = np.load(io.BytesIO(f.read()), allow_pickle=False)
    return SplitPredictions(ids=arrays["ids"], labels=arrays["labels"],
                            probabilities=arrays["probabilities"])


def write_submission(path: str, ids: Sequence[str],
                     labels: Sequence[int]) -> None:
  """The Kaggle submission: header `id,label`, one row per id.

  Written to `<path>.tmp` and renamed at the end (any tf.io.gfile
  filesystem), so an interrupted run never leaves a partial submission.
  """
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(SUBMISSION_COLUMNS)
  writer.writerows(zip(ids, (int(label) for label in labels)))
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  temporary = path + ".tmp"
  with tf.io.gfile.GFile(temporary, "w") as f:
    f.write(buffer.getvalue())
  tf.io.gfile.rename(temporary, path, overwrite=True)


def class_counts(classes: np.ndarray, num_classes: int) -> List[int]:
  """How many times each class index occurs."""
  return np.bincount(np.asarray(classes, dtype=np.int64),
                     minlength=num_classes)[:num_classes].tolist()


def write_skipped(uri: str,
                  skipped: Dict[str, Sequence[SkippedRecord]]) -> None:
  """`skipped.json`: split -> one line per skipped record (`describe`)."""
  lines = {split: [record.describe() for record in records]
           for split, records in skipped.items()}
  with tf.io.gfile.GFile(os.path.join(uri, SKIPPED_FILE), "w") as f:
    f.write(json.dumps(lines, indent=2))
