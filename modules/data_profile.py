"""The data profile: per-record image statistics of a split, as TFDV stats.

One function, `profile_records` (or a `ProfileBuilder` fed by a pass that
already decodes the records), computes the profile on both sides of the
drift check (pipeline/components/image_validator/drift.py). It is made once
per run, by the ImageValidator, from the decode its image scan does anyway:
the validator compares it with the served model's and writes it into its
ExampleAnomalies artifact (`<anomalies>/data_profile/`). The Pusher names
that folder in the push record (`data.profile_uri`), and the PreviousModel
task hands it to the next run's validator with the served model
(`PROFILE_PROPERTY`). The Trainer reads the training split once, to train.

Models trained before this kept the profile in their Model artifact
(`<model_uri>/data_profile/`, which the Trainer wrote with a second decode
of the split); the validator still reads it there when the push record
names none.

Per record: the label, the encoded image's size in bytes, its height and
width (read from the header), and its mean brightness per channel (R, G,
B) from a 1/8-scale decode: a JPEG's 1/8 DCT-scaled decode is the mean of
each 8x8 block, so the image mean is nearly exact at a fraction of a full
decode's cost (modules/image_facts.py, on every core; the ImageValidator's
image scan feeds the same `ProfileBuilder` in its own pass, so a split it
scans is decoded once). One pass, no Beam: TFDV turns the values into a
`DatasetFeatureStatisticsList` in-process (`generate_statistics_from_dataframe`),
so the drift comparators of `tfdv.validate_statistics` read it as they read
StatisticsGen's output.
"""

import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from modules import image_facts
from modules import record_reader
from settings import features

# `<anomalies>/<PROFILE_DIR>/` (and, in older models, `<model_uri>/...`).
PROFILE_DIR = "data_profile"
# The custom property of the baseline Model (PreviousModel's output) naming
# the folder of its training data's profile.
PROFILE_PROPERTY = "data_profile"
STATISTICS_FILE = "statistics.pb"
LABEL_COUNTS_FILE = "label_counts.json"

# The profile's features, besides the label (features.LABEL_KEY).
IMAGE_BYTES = "image_bytes"
IMAGE_HEIGHT = "image_height"
IMAGE_WIDTH = "image_width"
MEAN_RED = "mean_red"
MEAN_GREEN = "mean_green"
MEAN_BLUE = "mean_blue"
IMAGE_FEATURES = (IMAGE_BYTES, IMAGE_HEIGHT, IMAGE_WIDTH, MEAN_RED,
                  MEAN_GREEN, MEAN_BLUE)
# Log progress every this many records (a Kaggle training split has 12753).
PROGRESS_EVERY = 5000


def profile_schema() -> schema_pb2.Schema:
  """The profile's schema: the label categorical (so its statistics are a
  histogram of every class), the image features numeric."""
  schema = schema_pb2.Schema()
  label = schema.feature.add(name=features.LABEL_KEY, type=schema_pb2.INT)
  label.int_domain.is_categorical = True
  for name in IMAGE_FEATURES:
    schema.feature.add(name=name, type=schema_pb2.FLOAT)
  return schema


class ProfileBuilder:
  """Collects the profile record by record (`add`), for `finish`.

  The image scan (pipeline/components/image_validator/image_scan.py) feeds
  one while it checks a split, so a split it scans is decoded once for
  both; `profile_records` feeds one from the files.
  """

  def __init__(self):
    self._columns: Dict[str, List] = {
        name: [] for name in (features.LABEL_KEY,) + IMAGE_FEATURES}
    self.records = 0
    self.skipped: List[int] = []
    self._start = time.perf_counter()

  def add(self, labels: Sequence[int], images: Sequence[bytes],
          facts: Optional[image_facts.ImageFacts]) -> None:
    """One record: its label values, its image values, and the facts of
    its one image (None when it has not exactly one)."""
    self.records += 1
    if (len(labels) != 1 or len(images) != 1 or facts is None or
        facts.means is None):
      self.skipped.append(self.records - 1)
    else:
      width, height = facts.size
      values = {IMAGE_BYTES: len(images[0]), IMAGE_HEIGHT: height,
                IMAGE_WIDTH: width, MEAN_RED: facts.means[0],
                MEAN_GREEN: facts.means[1], MEAN_BLUE: facts.means[2]}
      self._columns[features.LABEL_KEY].append(int(labels[0]))
      for name in IMAGE_FEATURES:
        self._columns[name].append(float(values[name]))
    if self.records % PROGRESS_EVERY == 0:
      logging.info("Data profile: %d records (%.0f s).", self.records,
                   time.perf_counter() - self._start)

  def finish(self) -> Tuple[statistics_pb2.DatasetFeatureStatisticsList,
                            Dict[str, Any]]:
    """(statistics, record), as `profile_records` returns them."""
    # slow import: TFDV (1 s); reading a profile must not load it
    import pandas as pd  # pylint: disable=g-import-not-at-top
    import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
    frame = pd.DataFrame(self._columns)
    frame[features.LABEL_KEY] = frame[features.LABEL_KEY].astype("int64")
    statistics = tfdv.generate_statistics_from_dataframe(
        frame, tfdv.StatsOptions(schema=profile_schema()))
    label_counts: Dict[str, int] = {}
    for label in self._columns[features.LABEL_KEY]:
      label_counts[str(label)] = label_counts.get(str(label), 0) + 1
    logging.info("Data profile: %d records, %d skipped, in %.1f s.",
                 self.records, len(self.skipped),
                 time.perf_counter() - self._start)
    return statistics, {"records": self.records,
                        "profiled": self.records - len(self.skipped),
                        "skipped": len(self.skipped),
                        "skipped_records": self.skipped[:100],
                        "label_counts": label_counts}


def profile_records(file_patterns: Sequence[str],
                    compression_type: Optional[str] = None
                    ) -> Tuple[statistics_pb2.DatasetFeatureStatisticsList,
                               Dict[str, Any]]:
  """Profiles every record of the files (ExampleGen's output by default).

  Args:
    file_patterns: glob patterns of TFRecord files of tf.Examples.
    compression_type: of the files; None: by their names (settings/
      features.py `record_compression`), as ExampleGen writes them.

  Returns:
    (statistics, record): TFDV statistics of the label and the image
    features; a JSON-ready record of the counts: `records`, `profiled`,
    `skipped` (records without one label and one image that decodes: they
    are counted, not profiled; the ImageValidator names them as errors) and
    `label_counts` (label -> records, as strings for JSON).
  """
  files = sorted(f for pattern in file_patterns
                 for f in tf.io.gfile.glob(pattern))
  if not files:
    raise ValueError(f"no files match {list(file_patterns)}")
  builder = ProfileBuilder()
  for feature_map, facts in record_reader.examples_with_image_facts(
      files, compression_type):
    builder.add(feature_map[features.LABEL_KEY].int64_list.value,
                feature_map[features.IMAGE_KEY].bytes_list.value, facts)
  return builder.finish()


def write_profile(statistics: statistics_pb2.DatasetFeatureStatisticsList,
                  record: Dict, artifact_uri: str) -> str:
  """Writes the profile into `<artifact_uri>/data_profile/`; returns that
  path."""
  directory = os.path.join(artifact_uri, PROFILE_DIR)
  tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(os.path.join(directory, STATISTICS_FILE),
                         "wb") as f:
    f.write(statistics.SerializeToString())
  with tf.io.gfile.GFile(os.path.join(directory, LABEL_COUNTS_FILE),
                         "w") as f:
    json.dump(record, f, indent=2)
  return directory


def read_profile(folder: str
                 ) -> Optional[statistics_pb2.DatasetFeatureStatisticsList]:
  """The profile statistics in `folder` (a profile folder, or a Model or
  ExampleAnomalies artifact holding one in PROFILE_DIR), or None."""
  for directory in (folder, os.path.join(folder, PROFILE_DIR)):
    path = os.path.join(directory, STATISTICS_FILE)
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(
            f.read())
  return None
