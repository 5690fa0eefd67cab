"""The ensemble's fit slice: which train records its weights are fitted on.

A record is in the fit slice when its `id` falls in the first `percent` of
100 hash buckets (`tf.strings.to_hash_bucket_fast`, a fingerprint: the same
id always lands in the same bucket, on every machine and in every run,
whatever the file order). Every ensemble member's Trainer leaves these
records out of its training stream (modules/dataset.py) and the Ensemble
component predicts exactly these (pipeline/components/ensemble/), both
through `in_fit_slice`, so the two can never disagree.
"""

import tensorflow as tf

from settings import features

BUCKETS = 100


def record_ids(serialized: tf.Tensor) -> tf.Tensor:
  """The `id` of each serialized tf.Example (a [batch] or scalar tensor)."""
  spec = {features.ID_KEY: tf.io.FixedLenFeature([], tf.string)}
  if serialized.shape.rank == 0:
    return tf.io.parse_single_example(serialized, spec)[features.ID_KEY]
  return tf.io.parse_example(serialized, spec)[features.ID_KEY]


def in_fit_slice(ids: tf.Tensor, percent: int) -> tf.Tensor:
  """Whether each id is in the fit slice of `percent` buckets of 100."""
  return tf.strings.to_hash_bucket_fast(ids, BUCKETS) < percent


def without_fit_slice(records: tf.data.Dataset,
                      percent: int) -> tf.data.Dataset:
  """`records` (serialized tf.Examples, unbatched) less the fit slice."""
  return records.filter(
      lambda serialized: tf.logical_not(
          in_fit_slice(record_ids(serialized), percent)))


def only_fit_slice(records: tf.data.Dataset,
                   percent: int) -> tf.data.Dataset:
  """The fit slice of `records` (serialized tf.Examples, unbatched)."""
  return records.filter(
      lambda serialized: in_fit_slice(record_ids(serialized), percent))
