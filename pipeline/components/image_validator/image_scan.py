"""The image scan: every record's image decodes, in a format the model
reads (features.MODEL_IMAGE_FORMATS), at the directory's size."""

from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from modules import data_profile
from modules import image_facts
from modules import record_reader
from settings import features


# Pillow's format names where they differ from the usual spelling.
_FORMAT_NAMES = {"WEBP": "WebP", "JPEG2000": "JPEG 2000"}


def judge(facts: image_facts.ImageFacts, encoded: bytes,
          image_size: int) -> Optional[str]:
  """None if the image (`facts` of `encoded`) decodes to an image_size x
  image_size image in a format the model reads, else why.

  PIL decodes (modules/image_facts.py, at 1/8 scale), but it reads more
  formats than the model: only the formats of features.MODEL_IMAGE_FORMATS
  pass, so a WebP or TIFF record stops here, named, not in the Trainer.
  """
  if facts.size is None:
    return facts.error
  if features.model_image_format(encoded) is None:
    name = _FORMAT_NAMES.get(facts.format, facts.format)
    return (f"image is {name}; the model reads "
            f"{features.model_formats_text()}; {features.CONVERTER} "
            "converts it")
  if facts.error:
    # Decoding at 1/8 scale still reads every entropy-coded block, so a
    # corrupt or truncated JPEG fails, at a fraction of the cost.
    return facts.error
  if facts.size != (image_size, image_size):
    # An error, not a note: the folder name declares the size, and
    # tools/convert_images.py writes every image at it (docs/your-data.md).
    return (f"image is {facts.size[0]}x{facts.size[1]}, expected "
            f"{image_size}x{image_size} (the directory's size; "
            "tools/convert_images.py brings images of any size to it)")
  return None


def check_image(encoded: bytes, image_size: int) -> Optional[str]:
  """`judge` of one image, decoded here."""
  return judge(image_facts.measure(encoded), encoded, image_size)


def scan_records(file_patterns: Sequence[str], image_size: int,
                 compression_type: Optional[str] = None,
                 keys: Optional[List[Tuple[str, Optional[str]]]] = None,
                 profile: Optional[data_profile.ProfileBuilder] = None
                 ) -> Tuple[int, List[Dict]]:
  """Checks every record's image; returns (records, problems).

  Each problem names the record by its `id` and its position in the split.
  When `keys` is a list, (id, image digest) of each record is appended to
  it in the same pass ("" for a missing id, None for no single image), for
  the id and leakage checks of `integrity_findings`. When `profile` is
  given, each record is added to it from the same decode.
  """
  files = sorted(f for p in file_patterns for f in tf.io.gfile.glob(p))
  problems = []
  total = 0
  for feature_map, facts in record_reader.examples_with_image_facts(
      files, compression_type):
    record_id = (feature_map[features.ID_KEY].bytes_list.value[0].decode(
        "utf-8", "replace") if features.ID_KEY in feature_map and
                 feature_map[features.ID_KEY].bytes_list.value else "")
    encoded = (feature_map[features.IMAGE_KEY].bytes_list.value
               if features.IMAGE_KEY in feature_map else [])
    labels = (feature_map[features.LABEL_KEY].int64_list.value
              if features.LABEL_KEY in feature_map else [])
    if len(encoded) != 1:
      problem = f"has {len(encoded)} values of {features.IMAGE_KEY!r}"
    else:
      problem = judge(facts, encoded[0], image_size)
    if keys is not None:
      keys.append((record_id, image_facts.image_digest(encoded[0])
                   if len(encoded) == 1 else None))
    if profile is not None:
      profile.add(labels, encoded, facts)
    if problem:
      problems.append({"record": total, "id": record_id or "?",
                       "problem": problem})
    total += 1
  return total, problems
