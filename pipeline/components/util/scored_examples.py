"""Scored examples: the eval split with each model's predictions, as TFX
Examples, written once by EvalInference and read by the Evaluator twice (by
TFMA, and by the gate).

This is what TFX's BulkInferrer writes with an `output_example_spec` and
what TFMA's model-agnostic evaluation reads: one tf.Example per eval record
with its `id`, its label `class`, `probabilities` (the candidate's) and,
when there is a served model to compare with, `baseline_probabilities`
(features.BASELINE_PROBABILITIES_KEY), in one GZIP TFRecord file of split
`eval`. The images are not copied: TFMA needs labels and predictions only.

The artifact's custom properties name the models behind the columns
(`candidate_model`, `baseline_model`) and, when there is no baseline
column, why (`baseline_note`).
"""

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from modules import record_reader
from settings import features

FILE_NAME = "data_tfrecord-00000-of-00001" + features.GZIP_SUFFIX
CANDIDATE_MODEL_PROPERTY = "candidate_model"
BASELINE_MODEL_PROPERTY = "baseline_model"
BASELINE_NOTE_PROPERTY = "baseline_note"


@dataclasses.dataclass
class ScoredSplit:
  """A split's labels and each model's probabilities, row for row."""
  ids: np.ndarray                       # [n] str
  labels: np.ndarray                    # [n] int64
  probabilities: np.ndarray             # [n, classes] the candidate's
  baseline_probabilities: Optional[np.ndarray] = None  # [n, classes]

  def __len__(self) -> int:
    return len(self.ids)


def split_dir(uri: str, split: str) -> str:
  """The folder of one split, named as TFX names Examples splits."""
  return os.path.join(uri, f"Split-{split}")


def write_split(uri: str, split: str, scored: ScoredSplit) -> str:
  """Writes the split's scored examples; returns the file's path."""
  directory = split_dir(uri, split)
  tf.io.gfile.makedirs(directory)
  path = os.path.join(directory, FILE_NAME)
  with tf.io.TFRecordWriter(path, options="GZIP") as writer:
    for row in range(len(scored)):
      feature = {
          features.ID_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[str(scored.ids[row]).encode("utf-8")])),
          features.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
              value=[int(scored.labels[row])])),
          features.PROBABILITIES_KEY: tf.train.Feature(
              float_list=tf.train.FloatList(
                  value=scored.probabilities[row].tolist())),
      }
      if scored.baseline_probabilities is not None:
        feature[features.BASELINE_PROBABILITIES_KEY] = tf.train.Feature(
            float_list=tf.train.FloatList(
                value=scored.baseline_probabilities[row].tolist()))
      writer.write(tf.train.Example(features=tf.train.Features(
          feature=feature)).SerializeToString())
  return path


def read_split(uri: str, split: str) -> ScoredSplit:
  """Reads a split's scored examples back, in file order.

  Raises:
    ValueError: no scored examples in the split's folder, or a record
      without a label or probabilities.
  """
  files = sorted(tf.io.gfile.glob(os.path.join(split_dir(uri, split), "*")))
  if not files:
    raise ValueError(f"no scored examples in {split_dir(uri, split)}")
  ids, labels, candidate, baseline = [], [], [], []
  for index, serialized in enumerate(
      record_reader.serialized_records(files, "GZIP")):
    feature = tf.train.Example.FromString(serialized).features.feature
    if (features.LABEL_KEY not in feature or
        features.PROBABILITIES_KEY not in feature):
      raise ValueError(f"{files} record {index}: no "
                       f"{features.LABEL_KEY!r} or "
                       f"{features.PROBABILITIES_KEY!r}")
    ids.append(feature[features.ID_KEY].bytes_list.value[0].decode("utf-8"))
    labels.append(feature[features.LABEL_KEY].int64_list.value[0])
    candidate.append(feature[features.PROBABILITIES_KEY].float_list.value)
    if features.BASELINE_PROBABILITIES_KEY in feature:
      baseline.append(
          feature[features.BASELINE_PROBABILITIES_KEY].float_list.value)
  if baseline and len(baseline) != len(candidate):
    raise ValueError(f"{files}: {len(baseline)} of {len(candidate)} records "
                     "have the baseline's probabilities")
  return ScoredSplit(
      ids=np.asarray(ids, dtype=str), labels=np.asarray(labels, np.int64),
      probabilities=np.asarray(candidate, np.float32),
      baseline_probabilities=(np.asarray(baseline, np.float32)
                              if baseline else None))
