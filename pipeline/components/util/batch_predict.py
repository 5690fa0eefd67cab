"""Batch prediction of TFRecord files: the one path every caller shares.

BatchPrediction and EvalInference (pipeline/components/batch_inference/),
the Ensemble's fit (pipeline/components/ensemble/) and `tools/submission.py`
all predict records here, so a bad record is skipped, named and counted the
same way in the DAG and outside it. It lives in the components' util/, not
lower: its callers are components and tools (layer 4 may import layer 2),
and no modules/ code predicts a split.

Two passes over the files, in sorted order:

1. `scan_files`, no model: reads each record's `id` (and `class`). A
   repeated id stops everything before any prediction, naming both records
   (it would make a submission ambiguous). Records that are not tf.Examples,
   or lack one `id` or one `image` bytes value, are skipped; so is the rest
   of a file whose TFRecord framing breaks (bad length or CRC, truncated),
   as one entry "record N onwards": how many records it held cannot be
   known.
2. `predict_scan`: reads the files again (no image is kept in memory between
   the passes) and calls the model's `serving_default` (serialized
   tf.Examples in) on batches of the usable records. One undecodable image
   fails its whole batch, so a failed batch is re-run one record at a time
   and only the bad records are skipped.

Each skipped record is a `predictions.SkippedRecord` (file, record index,
id, why); the artifact's `skipped.json` holds their descriptions.
"""

import collections
from concurrent import futures
import dataclasses
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from google.protobuf import message as protobuf_message
import numpy as np
import tensorflow as tf

from modules import image_facts
from modules import record_reader
from settings import features
from pipeline.components.util import serving_model
from pipeline.components.util import predictions as predictions_lib

SkippedRecord = predictions_lib.SkippedRecord


class DuplicateIdError(ValueError):
  """Two records share an id."""


@dataclasses.dataclass(frozen=True)
class RecordRef:
  """A predictable record: where it is, its id and its label."""
  path: str
  index: int
  image_id: str
  label: int  # predictions.NO_LABEL if the record has no `class`.


@dataclasses.dataclass
class Scan:
  """What the first pass found, before any prediction."""
  files: List[str]
  usable: List[RecordRef]
  skipped: List[SkippedRecord]

  @property
  def broken_files(self) -> int:
    """Files whose framing broke (their tail is one skipped entry)."""
    return sum(record.rest_of_file for record in self.skipped)

  @property
  def records_read(self) -> int:
    """Records located: usable or skipped one by one (a broken tail counts
    none: its records cannot be counted)."""
    return len(self.usable) + len(self.skipped) - self.broken_files


def read_records(path: str) -> Iterator[Tuple[int, Optional[bytes],
                                              Optional[str]]]:
  """Yields (index, serialized record, None) for each record of a file.

  If the file's framing is corrupt (bad length or CRC, truncated, not a
  TFRecord file), yields one last (index, None, reason): nothing after that
  point can be located. Compression ("GZIP" for ExampleGen's `.gz` files)
  goes by the name (settings/features.py `record_compression`).
  """
  compression = features.record_compression([path])
  index = 0
  try:
    # Read in Python, checksums verified (modules/record_reader.py).
    for serialized in record_reader.serialized_records([path], compression):
      yield index, serialized, None
      index += 1
    return
  except tf.errors.OpError:
    pass  # Records of tf.data's batch holding the break: located below.
  iterator = iter(tf.data.TFRecordDataset(
      path, compression_type=compression).skip(index))
  while True:
    try:
      serialized = next(iterator)
    except StopIteration:
      return
    except tf.errors.OpError as error:
      yield index, None, ("unreadable TFRecord data "
                          f"({serving_model.short_error(error)})")
      return
    yield index, serialized.numpy(), None
    index += 1


def _single_bytes(example: tf.train.Example, key: str) -> Optional[bytes]:
  """The one bytes value of feature `key`, or None if absent or not one."""
  feature = example.features.feature.get(key)
  if feature is None or len(feature.bytes_list.value) != 1:
    return None
  return feature.bytes_list.value[0]


def check_record(serialized: bytes) -> Tuple[Optional[str], int,
                                             Optional[str]]:
  """(id or None, label, None) for a predictable record; (id or None,
  label, why not) for one that is not."""
  try:
    example = tf.train.Example.FromString(serialized)
  except protobuf_message.DecodeError:
    return None, predictions_lib.NO_LABEL, "not a tf.Example"
  labels = (example.features.feature[features.LABEL_KEY].int64_list.value
            if features.LABEL_KEY in example.features.feature else [])
  label = int(labels[0]) if len(labels) == 1 else predictions_lib.NO_LABEL
  raw_id = _single_bytes(example, features.ID_KEY)
  image_id = raw_id.decode("utf-8", "replace") if raw_id else None
  if not image_id:
    return None, label, f"no '{features.ID_KEY}' feature (one bytes value)"
  if not _single_bytes(example, features.IMAGE_KEY):
    return (image_id, label,
            f"no '{features.IMAGE_KEY}' feature (one bytes value)")
  return image_id, label, None


def scan_files(files: Sequence[str]) -> Scan:
  """The first pass: sorts every record of `files` into usable and skipped.

  Raises:
    DuplicateIdError: naming the id and both records that carry it.
  """
  files = sorted(files)
  usable: List[RecordRef] = []
  skipped: List[SkippedRecord] = []
  first_seen: Dict[str, Tuple[str, int]] = {}
  for path in files:
    for index, serialized, read_error in read_records(path):
      if read_error:
        skipped.append(SkippedRecord(path, index, None, read_error,
                                     rest_of_file=True))
        continue
      image_id, label, problem = check_record(serialized)
      if image_id is not None:
        # A record skipped for its image still claims its id: two records
        # with one id are the data's error either way.
        if image_id in first_seen:
          earlier_path, earlier_index = first_seen[image_id]
          raise DuplicateIdError(
              f"duplicate id {image_id!r}: {earlier_path} record "
              f"{earlier_index} and {path} record {index}")
        first_seen[image_id] = (path, index)
      if problem:
        skipped.append(SkippedRecord(path, index, image_id, problem))
      else:
        usable.append(RecordRef(path, index, image_id, label))
  return Scan(files=files, usable=usable, skipped=skipped)


def predict_scan(model, scan: Scan, batch_size: int,
                 progress: Optional[Callable[[int, int], None]] = None
                 ) -> Tuple[predictions_lib.SplitPredictions,
                            List[SkippedRecord]]:
  """The second pass: predicts the scan's usable records.

  Args:
    model: a loaded served model (`serving_model.load_serving_model`).
    scan: `scan_files` of the files.
    batch_size: records per model call.
    progress: called as (records done, records to predict) after each batch,
      in order.

  Returns:
    (the predictions, in file order; every skipped record, the scan's and
    the model's, sorted by file and index).
  """
  signature = model.signatures[serving_model.SERVING_DEFAULT]
  wanted = {(r.path, r.index): r for r in scan.usable}
  total = len(wanted)
  kept_refs: List[RecordRef] = []
  rows: List[np.ndarray] = []
  skipped = list(scan.skipped)
  done = 0

  def predict(serialized: List[bytes]) -> np.ndarray:
    return signature(examples=tf.constant(serialized))[
        features.PROBABILITIES_KEY].numpy()

  def predict_batch(batch):
    """(kept records, their rows, skipped records) of one batch."""
    try:
      return [r for r, _ in batch], list(predict([s for _, s in batch])), []
    except tf.errors.OpError:
      # One undecodable image fails the whole batch: retry record by
      # record so that only the bad ones are lost.
      kept, batch_rows, lost = [], [], []
      for record, serialized in batch:
        try:
          batch_rows.append(predict([serialized])[0])
          kept.append(record)
        except tf.errors.OpError as error:
          lost.append(SkippedRecord(
              record.path, record.index, record.image_id,
              f"prediction failed: {serving_model.short_error(error)}"))
      return kept, batch_rows, lost

  def collect(future, size: int) -> None:
    nonlocal done
    kept, batch_rows, lost = future.result()
    kept_refs.extend(kept)
    rows.extend(batch_rows)
    skipped.extend(lost)
    done += size
    if progress is not None:
      progress(done, total)

  # Batches run on `threads` threads at once: the serving graph decodes a
  # batch's images one after another (TFT's graph is batched through
  # tf.map_fn), so one call keeps one core busy. Results are kept in order.
  threads = image_facts.default_processes()
  pending: collections.deque = collections.deque()
  with futures.ThreadPoolExecutor(threads) as pool:
    batch: List[Tuple[RecordRef, bytes]] = []

    def submit() -> None:
      pending.append((pool.submit(predict_batch, batch[:]), len(batch)))
      batch.clear()

    for path in scan.files:
      for index, serialized, _ in read_records(path):
        record = wanted.get((path, index))
        if record is None:
          continue
        batch.append((record, serialized))
        if len(batch) >= batch_size:
          submit()
          if len(pending) > threads:
            collect(*pending.popleft())
    if batch:
      submit()
    while pending:
      collect(*pending.popleft())
  skipped.sort(key=lambda r: (r.path, r.index))
  width = serving_model.num_classes(model)
  return predictions_lib.SplitPredictions(
      ids=np.asarray([r.image_id for r in kept_refs], dtype=str),
      labels=np.asarray([r.label for r in kept_refs], dtype=np.int64),
      probabilities=(np.stack(rows).astype(np.float32) if rows
                     else np.zeros((0, width), np.float32))
  ), skipped


def predict_files(model, files: Sequence[str], batch_size: int,
                  progress: Optional[Callable[[int, int], None]] = None
                  ) -> Tuple[predictions_lib.SplitPredictions,
                             List[SkippedRecord]]:
  """Both passes: predicts every record of `files` (`predict_scan`).

  Raises:
    DuplicateIdError: if two records share an id, before any prediction.
  """
  return predict_scan(model, scan_files(files), batch_size, progress)
