"""The report's gallery: the misclassified eval images of the most-confused
class pairs, as thumbnails, read back from the eval split's examples by the
ids BatchInference predicted.
"""

import dataclasses
import io
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image
import tensorflow as tf

from settings import features

# The gallery: this many most-confused pairs, this many images each, as
# thumbnails this many pixels on their longer side.
GALLERY_PAIRS = 6
GALLERY_PER_PAIR = 6
THUMBNAIL_PIXELS = 128


@dataclasses.dataclass
class GalleryImage:
  """One misclassified eval image."""
  image_id: str
  confidence: float  # The model's probability of the predicted class.
  thumbnail: bytes   # PNG.


@dataclasses.dataclass
class GalleryPair:
  """A (true class, predicted class) pair and some of its images."""
  true_name: str
  predicted_name: str
  count: int
  images: List[GalleryImage]


def thumbnail(image_bytes: bytes, pixels: int = THUMBNAIL_PIXELS) -> bytes:
  """A PNG at most `pixels` on its longer side, of an encoded image."""
  image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
  image.thumbnail((pixels, pixels))
  buffer = io.BytesIO()
  image.save(buffer, format="PNG")
  return buffer.getvalue()


def read_images(files: Sequence[str], ids: Sequence[str]) -> Dict[str, bytes]:
  """id -> encoded image of the records of `files` (ExampleGen's
  TFRecords) whose id is in `ids`."""
  wanted, found = set(ids), {}
  for path in sorted(files):
    for record in tf.data.TFRecordDataset(
        path, compression_type=features.record_compression([path])):
      feature = tf.train.Example.FromString(record.numpy()).features.feature
      image_id = feature[features.ID_KEY].bytes_list.value[0].decode()
      if image_id in wanted:
        found[image_id] = feature[features.IMAGE_KEY].bytes_list.value[0]
  return found


def gallery(predictions, class_names: Sequence[str], eval_files: Sequence[str],
            pairs: int = GALLERY_PAIRS, per_pair: int = GALLERY_PER_PAIR
            ) -> List[GalleryPair]:
  """The misclassified eval images of the most-confused class pairs.

  Args:
    predictions: the eval split's `SplitPredictions` (BatchInference).
    class_names: names in label order.
    eval_files: the eval split's files, where the images are read from.
    pairs: how many pairs, most examples first.
    per_pair: images per pair, most confident first.
  """
  labelled = predictions.labels >= 0
  labels = predictions.labels[labelled]
  predicted = predictions.predicted[labelled]
  confidence = predictions.confidence[labelled]
  ids = predictions.ids[labelled]
  wrong = labels != predicted
  counts: Dict[Tuple[int, int], int] = {}
  for true_id, predicted_id in zip(labels[wrong], predicted[wrong]):
    key = (int(true_id), int(predicted_id))
    counts[key] = counts.get(key, 0) + 1
  top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:pairs]
  chosen = []
  for (true_id, predicted_id), count in top:
    members = np.flatnonzero((labels == true_id) & (predicted == predicted_id))
    members = members[np.argsort(-confidence[members], kind="stable")]
    chosen.append(((true_id, predicted_id), count, members[:per_pair]))
  images = read_images(eval_files, [ids[i] for _, _, m in chosen for i in m])
  missing = sorted({str(ids[i]) for _, _, m in chosen for i in m} -
                   set(images))
  if missing:
    raise ValueError(f"eval ids {missing[:10]} of the predictions are not in "
                     f"the eval examples {list(eval_files)[:3]}...: are "
                     "they from the same run?")
  result = []
  for (true_id, predicted_id), count, members in chosen:
    result.append(GalleryPair(
        true_name=class_names[true_id],
        predicted_name=class_names[predicted_id], count=count,
        images=[GalleryImage(image_id=str(ids[i]),
                             confidence=float(confidence[i]),
                             thumbnail=thumbnail(images[ids[i]]))
                for i in members]))
  return result
