"""The image scan: every record's image decodes, in a format the model
reads (features.MODEL_IMAGE_FORMATS), at the directory's size."""

import io
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from pipeline.components.example_gen import data_check
from settings import features


# Pillow's format names where they differ from the usual spelling.
_FORMAT_NAMES = {"WEBP": "WebP", "JPEG2000": "JPEG 2000"}


def check_image(encoded: bytes, image_size: int) -> Optional[str]:
  """None if `encoded` decodes to an image_size x image_size image, else why.

  PIL decodes here (it reads at 1/8 scale, below), but it reads more
  formats than the model: only the formats of features.MODEL_IMAGE_FORMATS
  pass, so a WebP or TIFF record stops here, named, not in the Trainer.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    image = Image.open(io.BytesIO(encoded))
  except Exception as error:  # pylint: disable=broad-except
    return f"image does not decode ({error})"
  if features.model_image_format(encoded) is None:
    name = _FORMAT_NAMES.get(image.format, image.format)
    return (f"image is {name}; the model reads "
            f"{features.model_formats_text()}; {features.CONVERTER} "
            "converts it")
  try:
    size = image.size
    # Decoding at 1/8 scale still reads every entropy-coded block, so a
    # corrupt or truncated JPEG fails here, at a fraction of the cost.
    image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
    image.load()
  except Exception as error:  # pylint: disable=broad-except
    return f"image does not decode ({error})"
  if size != (image_size, image_size):
    # An error, not a note: the folder name declares the size, and
    # tools/convert_images.py writes every image at it (docs/your-data.md).
    return (f"image is {size[0]}x{size[1]}, expected "
            f"{image_size}x{image_size} (the directory's size; "
            "tools/convert_images.py brings images of any size to it)")
  return None


def scan_records(file_patterns: Sequence[str], image_size: int,
                 compression_type: Optional[str] = None,
                 keys: Optional[List[Tuple[str, Optional[str]]]] = None
                 ) -> Tuple[int, List[Dict]]:
  """Checks every record's image; returns (records, problems).

  Each problem names the record by its `id` and its position in the split.
  When `keys` is a list, (id, image digest) of each record is appended to
  it in the same pass ("" for a missing id, None for no single image), for
  the id and leakage checks of `integrity_findings`.
  """
  files = sorted(f for p in file_patterns for f in tf.io.gfile.glob(p))
  problems = []
  total = 0
  if compression_type is None:  # By name, as ExampleGen writes them.
    compression_type = features.record_compression(files)
  for raw in tf.data.TFRecordDataset(files, compression_type=compression_type):
    example = tf.train.Example.FromString(raw.numpy())
    feature_map = example.features.feature
    record_id = (feature_map[features.ID_KEY].bytes_list.value[0].decode(
        "utf-8", "replace") if features.ID_KEY in feature_map and
                 feature_map[features.ID_KEY].bytes_list.value else "")
    images = (feature_map[features.IMAGE_KEY].bytes_list.value
              if features.IMAGE_KEY in feature_map else [])
    if len(images) != 1:
      problem = f"has {len(images)} values of {features.IMAGE_KEY!r}"
    else:
      problem = check_image(images[0], image_size)
    if keys is not None:
      keys.append((record_id, data_check.image_digest(images[0])
                   if len(images) == 1 else None))
    if problem:
      problems.append({"record": total, "id": record_id or "?",
                       "problem": problem})
    total += 1
  return total, problems
