"""The one home of feature keys, split names, data layout and class names.

Every module that reads the TFRecords, the schema or the served model imports
its names from here; `tests/test_schema.py` and `tests/test_sample_data.py`
check that they agree with the curated schema and with the sample data.
"""

import os
from typing import List, Optional, Sequence

# Raw features, as written in the Kaggle "Flower Classification with TPUs"
# TFRecords.
ID_KEY = "id"
IMAGE_KEY = "image"
LABEL_KEY = "class"

# Features produced by the Transform graph (modules/preprocessing.py).
TRANSFORMED_IMAGE_KEY = "image_pixels"
TRANSFORMED_LABEL_KEY = "label"

# Kaggle directory names and the TFX split names they become.
TRAIN_SPLIT_DIR = "train"
VAL_SPLIT_DIR = "val"
KAGGLE_SPLIT_DIRS = {"train": TRAIN_SPLIT_DIR, "eval": VAL_SPLIT_DIR}
TEST_SPLIT_DIR = "test"
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
TEST_SPLIT = "test"  # TestExampleGen's one split (pipeline/data_plan.py).
TFRECORD_PATTERN = "*.tfrec"
# ExampleGen's output files. TFX's own Beam import writes GZIP TFRecords
# named `*.gz`; the copy import (pipeline/components/example_gen/) keeps the
# input's uncompressed records under this suffix. Readers choose by name, as
# TFX's own readers do (Beam's AUTO, tfx_bsl's detect_compression_type).
COPIED_RECORD_SUFFIX = ".tfrecord"
GZIP_SUFFIX = ".gz"

# Image sizes the Kaggle data set ships.
KAGGLE_IMAGE_SIZES = (192, 224, 331, 512)
# The data's image size when nothing else says it (the config's default, and
# what tools/make_sample_data.py and tools/convert_images.py write): the
# smallest Kaggle size. Tools that read data take the size from the data
# root instead (pipeline/data_plan.py `image_size_of`).
DEFAULT_IMAGE_SIZE = KAGGLE_IMAGE_SIZES[0]

# The Trainer's record next to the model it trains (in its `model_run`
# artifact): class names, per-class training counts, the Keras history. The
# Pusher and the report read it.
TRAINING_HISTORY_FILE = "training_history.json"

# The image formats the model's input path decodes (tf.io.decode_image in
# modules/preprocessing.py, and the served model), each with the leading
# bytes by which TensorFlow tells them apart. The ImageValidator's image scan
# accepts these and names any other (WebP, TIFF...) with the fix, the
# converter's tool; tests/test_preprocessing.py checks the list against
# tf.io.decode_image itself.
MODEL_IMAGE_FORMATS = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
}
# Turns any image Pillow reads into a JPEG the model reads.
CONVERTER = "tools/convert_images.py"

# Serving outputs.
PROBABILITIES_KEY = "probabilities"
# In EvalInference's scored examples, beside `probabilities` (the
# candidate's): the served model's probabilities of the same example.
BASELINE_PROBABILITIES_KEY = "baseline_probabilities"
CLASS_INDEX_KEY = "class_index"
CLASS_NAME_KEY = "class_name"

DEFAULT_CLASSES_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "kaggle_classes.txt")


def image_dir_name(image_size: int) -> str:
  """Returns the Kaggle directory name for square images of `image_size`."""
  return f"tfrecords-jpeg-{image_size}x{image_size}"


def record_compression(files: Sequence[str]) -> str:
  """The compression ("GZIP" or "") of ExampleGen output files, by name.

  Raises:
    ValueError: the files mix `.gz` and other names (one artifact never
      does: each is written by one import).
  """
  kinds = {f.endswith(GZIP_SUFFIX) for f in files}
  if len(kinds) > 1:
    raise ValueError(f"files mix {GZIP_SUFFIX} and uncompressed records: "
                     f"{sorted(files)[:4]}...")
  return "GZIP" if kinds == {True} else ""


def is_object_store(path: str) -> bool:
  """Whether `path` is a URI (gs://, s3://, hdfs://...), read through
  tf.io.gfile, rather than a path on this machine's disk."""
  return "://" in path


def model_image_format(encoded: bytes) -> Optional[str]:
  """The MODEL_IMAGE_FORMATS name of encoded image bytes, or None when the
  model's decoder does not read them."""
  for name, signatures in MODEL_IMAGE_FORMATS.items():
    if encoded.startswith(signatures):
      return name
  return None


def model_formats_text() -> str:
  """"JPEG, PNG, GIF and BMP"."""
  names = list(MODEL_IMAGE_FORMATS)
  return ", ".join(names[:-1]) + " and " + names[-1]


def load_class_names(path: str = DEFAULT_CLASSES_FILE) -> List[str]:
  """Reads class names, one a line; the line index is the label.

  Args:
    path: a text file with one class name per line (blank lines at the end
      are ignored).

  Returns:
    The class names in label order.

  Raises:
    ValueError: if the file is empty, has a blank line inside, or repeats a
      name.
  """
  with open(path, encoding="utf-8") as f:
    lines = f.read().rstrip("\n").split("\n")
  names = [line.strip() for line in lines]
  if not names or names == [""]:
    raise ValueError(f"{path}: no class names")
  for index, name in enumerate(names):
    if not name:
      raise ValueError(f"{path}:{index + 1}: blank class name")
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError(f"{path}: repeated class names: {duplicates}")
  return names


def check_class_names(names: Sequence[str]) -> None:
  """Raises ValueError unless `names` is a usable list of class names."""
  if len(names) < 2:
    raise ValueError(f"need at least 2 classes, got {len(names)}")
  if len(set(names)) != len(names):
    raise ValueError("class names must be unique")
