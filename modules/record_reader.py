"""Serialized records of TFRecord files, read in Python with their checksums.

Every pass here that reads records one by one in Python (the data check,
the image scan, the data profile, batch prediction, the device models'
gate) reads them through `serialized_records`; the image scan and the
profile through `examples_with_image_facts`, which decodes each record's
image alongside.

Why not `tf.data.TFRecordDataset`: handing records from tf.data to Python
costs far more than reading them. For the Kaggle train and val splits at
512 px (16,500 records, 640 MB, in the page cache) tf.data took 2.6 s even
256 records at a time; this reader takes 0.17 s for the same bytes, every
record's length and data checksum verified (`google_crc32c`, the C
library TensorFlow's own reader uses; measured side by side, 2026-12-07).
The format is TFRecord's: a little-endian uint64 length, the masked
CRC-32C of those 8 bytes, the data, the masked CRC-32C of the data.

At the first record that does not verify (a truncated file, a flipped
byte, a file that is not TFRecords at all) the file is handed to tf.data
from that record on, so the error raised is TensorFlow's own, with its
words, and a record this reader would refuse but TensorFlow reads is read.
Compressions other than GZIP go to tf.data whole.
"""

import collections
import gzip
import struct
import zlib
from typing import Any, BinaryIO, Iterator, Optional, Sequence, Tuple

import google_crc32c
import tensorflow as tf

from modules import image_facts
from settings import features

# Records tf.data hands over per step where it reads (the fallback).
BATCH = 256
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
_READ_BUFFER = 1 << 20
# Python allocates a read's whole length up front: a longer record (none
# is an image) goes to tf.data, which reads it in pieces.
_MAX_RECORD_BYTES = 1 << 28


def _masked_crc(data: bytes) -> int:
  """TFRecord's masked CRC-32C of `data`."""
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _open(path: str, compression_type: str) -> BinaryIO:
  raw = (open(path, "rb", buffering=_READ_BUFFER)  # pylint: disable=consider-using-with
         if not features.is_object_store(path) else tf.io.gfile.GFile(path, "rb"))
  return gzip.GzipFile(fileobj=raw, mode="rb") if compression_type else raw


def _verified_records(path: str, compression_type: str,
                      count: list) -> Iterator[bytes]:
  """The records of one file up to the first that does not verify;
  `count[0]` is the number yielded, and `count[1]` True when the file
  ended cleanly."""
  with _open(path, compression_type) as stream:
    while True:
      header = stream.read(_HEADER.size)
      if not header:
        count[1] = True
        return
      if len(header) < _HEADER.size:
        return
      length, length_crc = _HEADER.unpack(header)
      if (_masked_crc(header[:8]) != length_crc or
          length > _MAX_RECORD_BYTES):
        return
      data = stream.read(length)
      footer = stream.read(_FOOTER.size)
      if (len(data) < length or len(footer) < _FOOTER.size or
          _masked_crc(data) != _FOOTER.unpack(footer)[0]):
        return
      count[0] += 1
      yield data


def _tf_records(path: str, compression_type: str, skip: int,
                batch_size: int) -> Iterator[bytes]:
  dataset = tf.data.TFRecordDataset(
      [path], compression_type=compression_type).skip(skip)
  for batch in dataset.batch(batch_size).as_numpy_iterator():
    yield from batch


def serialized_records(files: Sequence[str],
                       compression_type: Optional[str] = None,
                       batch_size: int = BATCH) -> Iterator[bytes]:
  """Each record of `files`, in order, as bytes.

  Args:
    files: TFRecord files.
    compression_type: "GZIP" or ""; None: by the files' names
      (settings/features.py `record_compression`).
    batch_size: records tf.data reads per step, where it reads (after a
      record that does not verify, and for other compressions).

  Raises:
    tf.errors.DataLossError, tf.errors.InvalidArgumentError: an unreadable
      record (truncated file, bad checksum, not a TFRecord file), raised by
      TensorFlow's reader; the records before it are yielded, except those
      of tf.data's batch that holds it.
  """
  if compression_type is None:
    compression_type = features.record_compression(files)
  for path in files:
    if compression_type not in ("", "GZIP"):
      yield from _tf_records(path, compression_type, 0, batch_size)
      continue
    count = [0, False]
    try:
      yield from _verified_records(path, compression_type, count)
    except (OSError, EOFError, zlib.error):
      # A broken GZIP stream: TensorFlow's reader says what it is.
      count[1] = False
    if not count[1]:
      yield from _tf_records(path, compression_type, count[0], batch_size)


def examples_with_image_facts(files: Sequence[str],
                              compression_type: Optional[str] = None
                              ) -> Iterator[Tuple[Any, Optional[Any]]]:
  """(feature map, facts of its image) of each tf.Example of `files`, in
  order, the images decoded at 1/8 scale on every core
  (modules/image_facts.py); the facts are None for a record without
  exactly one `image` value."""
  pending: collections.deque = collections.deque()

  def images():
    for raw in serialized_records(files, compression_type):
      feature_map = tf.train.Example.FromString(raw).features.feature
      encoded = (feature_map[features.IMAGE_KEY].bytes_list.value
                 if features.IMAGE_KEY in feature_map else [])
      pending.append((feature_map, len(encoded) == 1))
      # One decode per record (an empty one where there is not one image),
      # so the facts come back one per record, in order.
      yield encoded[0] if len(encoded) == 1 else b""

  for facts in image_facts.measure_all(images()):
    feature_map, one_image = pending.popleft()
    yield feature_map, facts if one_image else None
