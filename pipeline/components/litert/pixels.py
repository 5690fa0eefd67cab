"""The pixels a device model is fed: examples through the run's Transform graph.

The SavedModel decodes and resizes each image with the Transform graph
inside its signatures; the device models take the result, uint8 pixels at
the model's input size. Feeding them the very graph's output makes the
SavedModel and its device variants differ by conversion alone. On a phone
the app resizes the camera's bitmap itself (docs/on-device.md).

`representative_ids` picks the int8 variant's calibration images from the
train split, by a seeded hash of their ids: the same records whatever the
order or sharding of ExampleGen's files, and never an eval record.
"""

import hashlib
import heapq
from typing import Callable, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from modules import record_reader
from settings import features

# Records decoded per call of the Transform graph.
BATCH = 64
_SEED = b"flowers-litert-representative"


def pixel_function(transform_graph_uri: str
                   ) -> Callable[[Sequence[bytes]], np.ndarray]:
  """serialized tf.Examples -> uint8 pixels [n, S, S, 3], through the
  Transform graph at `transform_graph_uri` (its output is whole numbers
  0-255 in float32: modules/preprocessing.py)."""
  tft_output = tft.TFTransformOutput(transform_graph_uri)
  layer = tft_output.transform_features_layer()
  spec = tft_output.raw_feature_spec()
  spec.pop(features.LABEL_KEY, None)

  # Traced once, as the SavedModel's signatures are: run eagerly, the
  # graph's per-image map_fn cost 4.7 s for the 3,684 eval images at
  # 512 px, against 1.0 s as one function (measured side by side).
  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)],
               autograph=False)
  def graph(serialized: tf.Tensor) -> tf.Tensor:
    transformed = layer(tf.io.parse_example(serialized, spec))
    return tf.cast(transformed[features.TRANSFORMED_IMAGE_KEY], tf.uint8)

  def pixels(serialized: Sequence[bytes]) -> np.ndarray:
    return graph(tf.constant(list(serialized), tf.string)).numpy()

  return pixels


def record_id(serialized: bytes) -> Optional[str]:
  """A record's `id`, or None without exactly one."""
  feature = tf.train.Example.FromString(serialized).features.feature
  values = (feature[features.ID_KEY].bytes_list.value
            if features.ID_KEY in feature else [])
  return values[0].decode("utf-8", "replace") if len(values) == 1 else None


def _rank(image_id: str) -> bytes:
  return hashlib.sha256(_SEED + image_id.encode("utf-8")).digest()


def representative_ids(files: Sequence[str], count: int) -> Set[str]:
  """The `count` ids of `files` with the smallest seeded hashes."""
  ids = (record_id(raw) for raw in record_reader.serialized_records(files))
  return set(heapq.nsmallest(count, (i for i in ids if i is not None),
                             key=_rank))


def batches(files: Sequence[str],
            keep: Optional[Callable[[str], bool]] = None,
            batch_size: int = BATCH) -> Iterator[Tuple[List[str],
                                                       List[bytes]]]:
  """(ids, serialized records) of `files` in batches, the records whose id
  `keep` accepts (all with an id when None)."""
  ids, records = [], []
  for raw in record_reader.serialized_records(files):
    image_id = record_id(raw)
    if image_id is None or (keep is not None and not keep(image_id)):
      continue
    ids.append(image_id)
    records.append(raw)
    if len(records) >= batch_size:
      yield ids, records
      ids, records = [], []
  if records:
    yield ids, records


def decode(pixels: Callable[[Sequence[bytes]], np.ndarray],
           ids: Sequence[str], records: Sequence[bytes]
           ) -> Tuple[List[str], np.ndarray]:
  """(ids, pixels) of the records the graph decodes: one undecodable image
  fails its whole batch, so that batch is retried record by record and
  only the bad ones are left out (the eval split's are left out of the
  SavedModel's predictions too: BatchInference skips them)."""
  try:
    return list(ids), pixels(records)
  except tf.errors.OpError:
    kept, images = [], []
    for image_id, raw in zip(ids, records):
      try:
        images.append(pixels([raw])[0])
        kept.append(image_id)
      except tf.errors.OpError:
        continue
    return kept, (np.stack(images) if images else np.zeros((0,), np.uint8))


def representative_pixels(files: Sequence[str], count: int,
                          pixels: Callable[[Sequence[bytes]], np.ndarray]
                          ) -> np.ndarray:
  """uint8 pixels [<= count, S, S, 3] of the chosen train records, in
  the order of their hashes (the same set in the same order every run)."""
  chosen = representative_ids(files, count)
  found = {}
  for ids, records in batches(files, chosen.__contains__):
    for image_id, image in zip(*decode(pixels, ids, records)):
      found[image_id] = image
  if not found:
    raise ValueError(f"no train record with an id in {list(files)[:3]}...: "
                     "the int8 variant needs representative images")
  return np.stack([found[i] for i in sorted(found, key=_rank)])
