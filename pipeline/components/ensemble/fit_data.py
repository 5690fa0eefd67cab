"""The fit slice's records, read from the train split of ExampleGen's output.

The slice is the one every member's Trainer left out (modules/fit_slice.py,
the same test of each record's `id`); it is written to one GZIP TFRecord
file so that each member predicts it exactly as BatchInference predicts a
split (`batch_predict.predict_files`: a record a member cannot predict is
named, never silently dropped).
"""

import os
from typing import List

import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils
from tfx.utils import io_utils

from modules import fit_slice
from settings import features


def write_fit_slice(examples: List[types.Artifact], percent: int,
                    path: str) -> int:
  """Writes the train split's fit slice to `path` (GZIP); returns its size.

  Raises:
    ValueError: the examples have no train split, or the slice is empty.
  """
  available = artifact_utils.decode_split_names(
      artifact_utils.get_single_instance(examples).split_names)
  if features.TRAIN_SPLIT not in available:
    raise ValueError(f"no {features.TRAIN_SPLIT!r} split in the examples "
                     f"(they have {available}); the fit slice is carved "
                     "from it")
  pattern = io_utils.all_files_pattern(
      artifact_utils.get_split_uri(examples, features.TRAIN_SPLIT))
  files = sorted(tf.io.gfile.glob(pattern))
  records = fit_slice.only_fit_slice(
      tf.data.TFRecordDataset(
          files, compression_type=features.record_compression(files)),
      percent)
  count = 0
  tf.io.gfile.makedirs(os.path.dirname(path))
  options = tf.io.TFRecordOptions(compression_type="GZIP")
  with tf.io.TFRecordWriter(path, options) as writer:
    for record in records:
      writer.write(record.numpy())
      count += 1
  if not count:
    raise ValueError(
        f"the fit slice (ensemble.fit_percent={percent} of 100 id buckets) "
        f"of {pattern} holds no record; raise ensemble.fit_percent")
  return count
