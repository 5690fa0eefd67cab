"""Slices of `train` held out of training by a hash of `id`: the ensemble's
fit slice and the selection slice.

A record's slice is decided by which of 100 hash buckets its `id` falls in
(`tf.strings.to_hash_bucket_fast`, a fingerprint: the same id always lands
in the same bucket, on every machine and in every run, whatever the file
order):

* the fit slice, the first `ensemble.fit_percent` buckets: every ensemble
  member's Trainer leaves these records out of its training stream
  (modules/dataset.py) and the Ensemble component fits its weights on
  exactly these (pipeline/components/ensemble/), both through
  `in_fit_slice`, so the two can never disagree;
* the selection slice, the last `train.selection_percent` buckets: what
  early stopping, ReduceLROnPlateau and the Tuner's objective watch, so no
  choice is made on the eval split the gate scores (a choice made there
  would make the gated macro F1 optimistic). Left out of training where one
  of them is on (`watches_selection_slice`), and always by the Tuner.

Both percents are at most 50, so the two slices never overlap.
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


def in_selection_slice(ids: tf.Tensor, percent: int) -> tf.Tensor:
  """Whether each id is in the selection slice: the last `percent` of the
  100 buckets."""
  return tf.strings.to_hash_bucket_fast(ids, BUCKETS) >= BUCKETS - percent


def _kept(records: tf.data.Dataset, in_slice, percent: int,
          inside: bool) -> tf.data.Dataset:
  """The records (serialized tf.Examples, unbatched) whose id is in the
  slice (`inside`), or those whose id is not."""
  def keep(serialized):
    member = in_slice(record_ids(serialized), percent)
    return member if inside else tf.logical_not(member)
  return records.filter(keep)


def without_fit_slice(records: tf.data.Dataset,
                      percent: int) -> tf.data.Dataset:
  """`records` (serialized tf.Examples, unbatched) less the fit slice."""
  return _kept(records, in_fit_slice, percent, inside=False)


def only_fit_slice(records: tf.data.Dataset,
                   percent: int) -> tf.data.Dataset:
  """The fit slice of `records` (serialized tf.Examples, unbatched)."""
  return _kept(records, in_fit_slice, percent, inside=True)


def without_selection_slice(records: tf.data.Dataset,
                            percent: int) -> tf.data.Dataset:
  """`records` (serialized tf.Examples, unbatched) less the selection
  slice."""
  return _kept(records, in_selection_slice, percent, inside=False)


def only_selection_slice(records: tf.data.Dataset,
                         percent: int) -> tf.data.Dataset:
  """The selection slice of `records` (serialized tf.Examples, unbatched)."""
  return _kept(records, in_selection_slice, percent, inside=True)


def watches_selection_slice(config) -> bool:
  """Whether the Trainer makes a choice on held-out data (early stopping or
  ReduceLROnPlateau), which then watches the selection slice."""
  return bool(config.train.early_stopping_patience or
              config.train.reduce_lr_patience)
