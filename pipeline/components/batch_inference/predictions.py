"""A model's predictions on a split: computing them, their files, their use.

The BatchInference executor predicts every record of a split with the
model's `serving_default` signature (serialized tf.Examples in, class
probabilities out) and writes, per split, `Split-<name>/predictions.npz`:
`ids`, `labels` (NO_LABEL where the record has no `class`, as in `test`)
and `probabilities`. For the submission split it also writes the Kaggle
`submission.csv` (`id,label`). The Report and the Pusher's model card read
the eval split's predictions back (`read_predictions`).

A batch the model cannot predict (one undecodable image fails the whole
batch) is re-run one record at a time: only the bad records are lost, and
each is named (file, record index, id) in `skipped.json` and counted.
"""

import collections
from concurrent import futures
import csv
import dataclasses
import io
import json
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from modules import image_facts
from modules import record_reader
from settings import features
from pipeline.components import serving_model

PREDICTIONS_FILE = "predictions.npz"
SUBMISSION_FILE = "submission.csv"
SKIPPED_FILE = "skipped.json"
# The Kaggle competition's columns; tools/submission.py writes the same.
SUBMISSION_COLUMNS = ("id", "label")
# The label of a record without a `class` feature (the test split).
NO_LABEL = -1


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
  """The Kaggle submission: header `id,label`, one row per id."""
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(SUBMISSION_COLUMNS)
  writer.writerows(zip(ids, (int(label) for label in labels)))
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(buffer.getvalue())


def class_counts(classes: np.ndarray, num_classes: int) -> List[int]:
  """How many times each class index occurs."""
  return np.bincount(np.asarray(classes, dtype=np.int64),
                     minlength=num_classes)[:num_classes].tolist()


def _records(path: str) -> Iterator[Tuple[int, bytes]]:
  """(index, serialized record) of an ExampleGen output file."""
  yield from enumerate(record_reader.serialized_records([path]))


def _id_and_label(serialized: bytes) -> Tuple[Optional[str], int]:
  example = tf.train.Example.FromString(serialized)
  feature = example.features.feature
  ids = feature[features.ID_KEY].bytes_list.value if (
      features.ID_KEY in feature) else []
  labels = feature[features.LABEL_KEY].int64_list.value if (
      features.LABEL_KEY in feature) else []
  return (ids[0].decode("utf-8", "replace") if len(ids) == 1 else None,
          int(labels[0]) if len(labels) == 1 else NO_LABEL)


def predict_files(model, files: Sequence[str], batch_size: int = 64
                  ) -> Tuple[SplitPredictions, List[str]]:
  """Predicts every record of `files` with `serving_default`.

  Args:
    model: a loaded served model (`serving_model.load_serving_model`).
    files: ExampleGen output files of one split (TFRecords).
    batch_size: records per model call.

  Returns:
    (the predictions, one line per skipped record saying where and why).

  Raises:
    ValueError: if two records share an id (a submission would be
      ambiguous), naming both.
  """
  signature = model.signatures[serving_model.SERVING_DEFAULT]
  ids: List[str] = []
  labels: List[int] = []
  probabilities: List[np.ndarray] = []
  skipped: List[str] = []
  seen = {}

  def predict(batch):
    return signature(examples=tf.constant([s for *_, s in batch]))[
        features.PROBABILITIES_KEY].numpy()

  def predict_batch(batch):
    """(kept records, their rows, skipped lines) of one batch."""
    try:
      return batch, list(predict(batch)), []
    except tf.errors.OpError:
      # One undecodable image fails the whole batch: retry record by
      # record so that only the bad ones are lost.
      rows, kept, lost = [], [], []
      for item in batch:
        try:
          rows.append(predict([item])[0])
          kept.append(item)
        except tf.errors.OpError as error:
          path, index, image_id, _, _ = item
          lost.append(f"{path} record {index} (id {image_id}): "
                      f"{serving_model.short_error(error)}")
      return kept, rows, lost

  def collect(future):
    kept, rows, lost = future.result()
    skipped.extend(lost)
    for (_, _, image_id, label, _), row in zip(kept, rows):
      ids.append(image_id)
      labels.append(label)
      probabilities.append(row)

  # Batches run on `threads` threads at once: the serving graph decodes a
  # batch's images one after another (TFT's graph is batched through
  # tf.map_fn), so one call keeps one core busy. Results are kept in order.
  threads = image_facts.default_processes()
  pending: collections.deque = collections.deque()
  with futures.ThreadPoolExecutor(threads) as pool:
    batch = []
    for path in sorted(files):
      for index, serialized in _records(path):
        image_id, label = _id_and_label(serialized)
        if image_id is None:
          skipped.append(f"{path} record {index}: no '{features.ID_KEY}' "
                         "feature (one bytes value)")
          continue
        if image_id in seen:
          raise ValueError(f"duplicate id {image_id!r}: {seen[image_id]} "
                           f"and {path} record {index}")
        seen[image_id] = f"{path} record {index}"
        batch.append((path, index, image_id, label, serialized))
        if len(batch) >= batch_size:
          pending.append(pool.submit(predict_batch, batch))
          batch = []
          if len(pending) > threads:
            collect(pending.popleft())
    if batch:
      pending.append(pool.submit(predict_batch, batch))
    while pending:
      collect(pending.popleft())
  width = serving_model.num_classes(model)
  return SplitPredictions(
      ids=np.asarray(ids, dtype=str),
      labels=np.asarray(labels, dtype=np.int64),
      probabilities=(np.stack(probabilities).astype(np.float32)
                     if probabilities else np.zeros((0, width), np.float32))
  ), skipped


def write_skipped(uri: str, skipped: dict) -> None:
  """`skipped.json`: split -> the lines naming each skipped record."""
  with tf.io.gfile.GFile(os.path.join(uri, SKIPPED_FILE), "w") as f:
    f.write(json.dumps(skipped, indent=2))
