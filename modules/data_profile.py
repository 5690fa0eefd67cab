"""The data profile: per-record image statistics of a split, as TFDV stats.

One function, `profile_records`, computes the profile on both sides of the
drift check: the Trainer (`write_training_profile`, from run_fn) profiles
the split it trains on and stores it in its Model artifact; the
DataValidator profiles this run's training split and compares the two
(pipeline/components/data_validator/drift.py).

Why inside the Model artifact: the drift baseline is "the data the latest
blessed model was trained on". KubeflowV2DagRunner compiles only TFX's
`LatestBlessedModelStrategy` / `LatestArtifactStrategy` resolvers
(tfx/orchestration/kubeflow/v2/step_builder.py), so on Kubeflow the only
way to reach that data is through the blessed Model itself. The profile
sits in `<model_uri>/data_profile/`, beside `Format-Serving`: the Pusher
copies only `Format-Serving` (TFX's `serving_model_path`), so the profile
never reaches a model server.

Per record: the label, the encoded image's size in bytes, its height and
width (read from the header), and its mean brightness per channel (R, G,
B) from a 1/8-scale decode: a JPEG's 1/8 DCT-scaled decode is the mean of
each 8x8 block, so the image mean is nearly exact at a fraction of a full
decode's cost. One pass, no Beam: TFDV turns the values into a
`DatasetFeatureStatisticsList` in-process (`generate_statistics_from_dataframe`),
so the drift comparators of `tfdv.validate_statistics` read it as they read
StatisticsGen's output.
"""

import io
import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from settings import features

# `<model_uri>/<PROFILE_DIR>/`: outside Format-Serving (the module docstring
# says why).
PROFILE_DIR = "data_profile"
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


def _measure_image(encoded: bytes) -> Dict[str, float]:
  """Byte size, size and mean R, G, B of one encoded image.

  Raises:
    Exception: whatever PIL raises for an image that does not decode.
  """
  from PIL import Image, ImageStat  # pylint: disable=g-import-not-at-top
  image = Image.open(io.BytesIO(encoded))
  width, height = image.size
  # JPEG: decode at 1/8 scale through the DCT (each pixel is an 8x8 block's
  # mean); other formats decode whole.
  image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
  means = ImageStat.Stat(image.convert("RGB")).mean
  return {IMAGE_BYTES: len(encoded), IMAGE_HEIGHT: height,
          IMAGE_WIDTH: width, MEAN_RED: means[0], MEAN_GREEN: means[1],
          MEAN_BLUE: means[2]}


def profile_schema() -> schema_pb2.Schema:
  """The profile's schema: the label categorical (so its statistics are a
  histogram of every class), the image features numeric."""
  schema = schema_pb2.Schema()
  label = schema.feature.add(name=features.LABEL_KEY, type=schema_pb2.INT)
  label.int_domain.is_categorical = True
  for name in IMAGE_FEATURES:
    schema.feature.add(name=name, type=schema_pb2.FLOAT)
  return schema


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
    are counted, not profiled; the DataValidator names them as errors) and
    `label_counts` (label -> records, as strings for JSON).
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  files = sorted(f for pattern in file_patterns
                 for f in tf.io.gfile.glob(pattern))
  if not files:
    raise ValueError(f"no files match {list(file_patterns)}")
  columns: Dict[str, List] = {name: [] for name in
                              (features.LABEL_KEY,) + IMAGE_FEATURES}
  records, skipped = 0, []
  start = time.perf_counter()
  if compression_type is None:
    compression_type = features.record_compression(files)
  for raw in tf.data.TFRecordDataset(files, compression_type=compression_type):
    records += 1
    feature_map = tf.train.Example.FromString(raw.numpy()).features.feature
    labels = feature_map[features.LABEL_KEY].int64_list.value
    images = feature_map[features.IMAGE_KEY].bytes_list.value
    measured = None
    if len(labels) == 1 and len(images) == 1:
      try:
        measured = _measure_image(images[0])
      except Exception:  # pylint: disable=broad-except
        measured = None
    if measured is None:
      skipped.append(records - 1)
    else:
      columns[features.LABEL_KEY].append(int(labels[0]))
      for name in IMAGE_FEATURES:
        columns[name].append(float(measured[name]))
    if records % PROGRESS_EVERY == 0:
      logging.info("Data profile: %d records (%.0f s).", records,
                   time.perf_counter() - start)
  frame = pd.DataFrame(columns)
  frame[features.LABEL_KEY] = frame[features.LABEL_KEY].astype("int64")
  statistics = tfdv.generate_statistics_from_dataframe(
      frame, tfdv.StatsOptions(schema=profile_schema()))
  label_counts: Dict[str, int] = {}
  for label in columns[features.LABEL_KEY]:
    label_counts[str(label)] = label_counts.get(str(label), 0) + 1
  logging.info("Data profile: %d records, %d skipped, in %.1f s.", records,
               len(skipped), time.perf_counter() - start)
  return statistics, {"records": records, "profiled": records - len(skipped),
                      "skipped": len(skipped),
                      "skipped_records": skipped[:100],
                      "label_counts": label_counts}


def write_profile(statistics: statistics_pb2.DatasetFeatureStatisticsList,
                  record: Dict, model_uri: str) -> str:
  """Writes the profile into `<model_uri>/data_profile/`; returns that path."""
  directory = os.path.join(model_uri, PROFILE_DIR)
  tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(os.path.join(directory, STATISTICS_FILE),
                         "wb") as f:
    f.write(statistics.SerializeToString())
  with tf.io.gfile.GFile(os.path.join(directory, LABEL_COUNTS_FILE),
                         "w") as f:
    json.dump(record, f, indent=2)
  return directory


def write_training_profile(fn_args) -> str:
  """The Trainer's call (run_fn): profiles `fn_args.train_files` into the
  Model artifact, beside the SavedModel (`fn_args.serving_model_dir` is
  `<model_uri>/Format-Serving`)."""
  statistics, record = profile_records(fn_args.train_files)
  model_uri = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
  directory = write_profile(statistics, record, model_uri)
  logging.info("Wrote the training data's profile to %s.", directory)
  return directory


def read_profile(model_uri: str
                 ) -> Optional[statistics_pb2.DatasetFeatureStatisticsList]:
  """The profile statistics stored in a Model artifact, or None (a model
  trained before profiles existed, or by another run_fn)."""
  path = os.path.join(model_uri, PROFILE_DIR, STATISTICS_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path, "rb") as f:
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
