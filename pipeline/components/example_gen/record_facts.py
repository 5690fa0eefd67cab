"""What the data check reads from one tf.Example: its label, its id and
image digest, and whether TFX's hash split can take it.

The data check (input_files.py) and the hash split (copy_import.py) read
each record once; these are the facts they take from it.
"""

from typing import Optional, Tuple

import tensorflow as tf

from modules import image_facts
from settings import features


def example_label(example: tf.train.Example) -> Optional[int]:
  """The record's one int64 `class` value; None without exactly one."""
  feature = example.features.feature.get(features.LABEL_KEY)
  values = feature.int64_list.value if feature is not None else []
  return int(values[0]) if len(values) == 1 else None


def partition_problem(example: tf.train.Example, feature: str
                      ) -> Optional[str]:
  """Why TFX's split by hash of `feature` would refuse `example` (its
  `_GeneratePartitionKey`'s rules); None when it would not."""
  feature_map = example.features.feature
  if feature not in feature_map:
    return f"has no {feature!r} feature"
  kind = feature_map[feature].WhichOneof("kind")
  if kind is None:
    return f"has an empty {feature!r} feature"
  if kind not in ("bytes_list", "int64_list"):
    return f"has an {feature!r} feature of floats"
  return None


def record_key(serialized: bytes) -> Tuple[str, Optional[str]]:
  """(id, image digest) of a serialized tf.Example; "" / None if absent."""
  return example_key(tf.train.Example.FromString(serialized))


def example_key(example: tf.train.Example) -> Tuple[str, Optional[str]]:
  """(id, image digest) of a tf.Example; "" / None if absent."""
  feature_map = example.features.feature
  ids = (feature_map[features.ID_KEY].bytes_list.value
         if features.ID_KEY in feature_map else [])
  images = (feature_map[features.IMAGE_KEY].bytes_list.value
            if features.IMAGE_KEY in feature_map else [])
  record_id = ids[0].decode("utf-8", "replace") if ids else ""
  return record_id, (image_facts.image_digest(images[0])
                     if len(images) == 1 else None)
