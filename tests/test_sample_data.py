"""The sample data generator writes the Kaggle layout, deterministically."""

import collections
import glob
import hashlib
import os

import tensorflow as tf

from settings import features
from tools import make_sample_data

SMALL = dict(image_size=192, num_classes=10, head_classes=2, head_count=9,
             tail_count=3, val_fraction=0.5, test_count=5, seed=3)


def _read(pattern):
  records = []
  for path in sorted(glob.glob(pattern)):
    for raw in tf.data.TFRecordDataset(path):
      records.append(tf.train.Example.FromString(raw.numpy()))
  return records


def test_layout_features_and_imbalance(tmp_path):
  counts = make_sample_data.make_sample_data(str(tmp_path), **SMALL)
  base = tmp_path / features.image_dir_name(192)
  for split in ("train", "val", "test"):
    files = os.listdir(base / split)
    assert files and all(f.endswith(".tfrec") for f in files)
  train = _read(str(base / "train" / "*.tfrec"))
  test = _read(str(base / "test" / "*.tfrec"))
  assert len(train) == counts["train"] == 2 * 9 + 8 * 3
  assert len(test) == counts["test"] == 5
  example = train[0].features.feature
  assert set(example) == {features.ID_KEY, features.IMAGE_KEY,
                          features.LABEL_KEY}
  image = tf.io.decode_jpeg(example[features.IMAGE_KEY].bytes_list.value[0])
  assert image.shape == (192, 192, 3)
  assert all(features.LABEL_KEY not in e.features.feature for e in test)
  labels = collections.Counter(
      e.features.feature[features.LABEL_KEY].int64_list.value[0]
      for e in train)
  assert labels[0] == labels[1] == 9 and labels[9] == 3
  ids = [e.features.feature[features.ID_KEY].bytes_list.value[0]
         for e in train + test]
  assert len(set(ids)) == len(ids)


def test_same_arguments_give_the_same_bytes(tmp_path):
  digests = []
  for name in ("a", "b"):
    make_sample_data.make_sample_data(str(tmp_path / name), **SMALL)
    digest = hashlib.sha256()
    for path in sorted(glob.glob(str(tmp_path / name / "*" / "*" / "*"))):
      digest.update(open(path, "rb").read())
    digests.append(digest.hexdigest())
  assert digests[0] == digests[1]


def test_classes_have_distinct_colours():
  pairs = {make_sample_data.class_colours(label) for label in range(104)}
  assert len(pairs) == 104
