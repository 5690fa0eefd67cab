"""Writes a small, deterministic flower-like data set in the Kaggle layout.

    python tools/make_sample_data.py --output data/sample

writes `<output>/tfrecords-jpeg-<S>x<S>/{train,val,test}/NN-<S>x<S>-<count>.tfrec`
with the Kaggle features: `id` (bytes), `class` (int64, absent from test) and
`image` (JPEG bytes). Each class is a drawn "flower": petals of one colour
around a centre of another, at a random place, size, rotation and petal
count, on a noisy background. The (petal, centre) colour pair identifies the
class, so a small CNN learns it on a CPU in a few epochs.

Classes are imbalanced like the real data: `--head-classes` classes (from
`--head-first` on) get `--head-count` training images, the others
`--tail-count`. The same arguments always give the same bytes.

`--span N` writes the data set as span N of a continuously trained pipeline,
`<output>/span-N/tfrecords-jpeg-<S>x<S>/...` (settings/spans.py): for
example a span 2 whose head classes differ from span 1's, to see the drift
check (docs/continuous-training.md, "New data arrives"):

    python tools/make_sample_data.py --output data/spans --span 1
    python tools/make_sample_data.py --output data/spans --span 2 \
        --head-first 50 --seed 8
"""

import argparse
import colorsys
import io
import math
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from settings import features  # pylint: disable=g-import-not-at-top
from pipeline.runner import runtime  # pylint: disable=g-import-not-at-top
from settings import spans  # pylint: disable=g-import-not-at-top

# Colours far apart in hue and lightness, so that every (petal, centre) pair
# is distinct after JPEG compression and the background noise.
_PETAL_HUES = 8
_CENTRE_COLOURS = (
    (255, 255, 255), (20, 20, 20), (128, 128, 128), (110, 60, 20),
    (255, 230, 0), (0, 120, 0), (0, 0, 160), (160, 0, 0), (0, 200, 200),
    (230, 0, 230), (255, 140, 0), (140, 200, 255), (200, 255, 140),
)
SHARD_SIZE = 256


def class_colours(label: int):
  """Returns the (petal, centre) RGB colours that identify a class."""
  hue_index = label % _PETAL_HUES
  centre_index = (label // _PETAL_HUES) % len(_CENTRE_COLOURS)
  # Classes beyond 8 x 13 repeat the pair with a darker petal shade.
  shade = 1.0 - 0.45 * ((label // (_PETAL_HUES * len(_CENTRE_COLOURS))) % 2)
  r, g, b = colorsys.hsv_to_rgb(hue_index / _PETAL_HUES, 0.85, 0.95 * shade)
  petal = (int(r * 255), int(g * 255), int(b * 255))
  return petal, _CENTRE_COLOURS[centre_index]


def draw_flower(label: int, size: int, rng: np.random.Generator) -> Image.Image:
  """Draws one image of class `label`, `size` x `size` pixels."""
  base = rng.integers(60, 200, size=3)
  noise = rng.normal(0, 25, size=(size // 8, size // 8, 3))
  background = np.clip(base + noise, 0, 255).astype(np.uint8)
  image = Image.fromarray(background).resize((size, size), Image.BILINEAR)
  draw = ImageDraw.Draw(image)
  petal, centre = class_colours(label)
  jitter = lambda c: tuple(int(np.clip(v + rng.normal(0, 8), 0, 255)) for v in c)
  cx, cy = rng.uniform(0.35, 0.65, size=2) * size
  radius = rng.uniform(0.22, 0.38) * size
  petals = int(rng.integers(5, 9))
  phase = rng.uniform(0, 2 * math.pi)
  petal_r = radius * 0.45
  for k in range(petals):
    angle = phase + 2 * math.pi * k / petals
    px = cx + math.cos(angle) * radius * 0.6
    py = cy + math.sin(angle) * radius * 0.6
    draw.ellipse([px - petal_r, py - petal_r, px + petal_r, py + petal_r],
                 fill=jitter(petal))
  centre_r = radius * 0.35
  draw.ellipse([cx - centre_r, cy - centre_r, cx + centre_r, cy + centre_r],
               fill=jitter(centre))
  return image.filter(ImageFilter.GaussianBlur(radius=0.6))


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format="JPEG", quality=quality)
  return buffer.getvalue()


def make_example(image_id: str, jpeg: bytes, label=None):
  """Builds a tf.train.Example with the Kaggle features."""
  # slow import: TensorFlow (4 s); --help and bench/ must not load it
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  feature = {
      features.ID_KEY: tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[image_id.encode()])),
      features.IMAGE_KEY: tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[jpeg])),
  }
  if label is not None:
    feature[features.LABEL_KEY] = tf.train.Feature(
        int64_list=tf.train.Int64List(value=[int(label)]))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def split_labels(num_classes: int, head_classes: int, head_count: int,
                 tail_count: int, fraction: float, head_first: int = 0
                 ) -> List[int]:
  """Labels of one split: `head_count` (classes head_first to
  head_first + head_classes - 1) or `tail_count` x fraction a class."""
  labels = []
  for label in range(num_classes):
    count = (head_count if head_first <= label < head_first + head_classes
             else tail_count)
    labels += [label] * max(1, int(round(count * fraction)))
  return labels


def write_split(directory: str, split_dir: str, labels: Sequence[int],
                image_size: int, labelled: bool, seed: int) -> int:
  """Writes one split as Kaggle-named shards; returns the example count."""
  # slow import: TensorFlow (4 s); --help and bench/ must not load it
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(labels))
  out_dir = os.path.join(directory, split_dir)
  os.makedirs(out_dir, exist_ok=True)
  shards = [order[i:i + SHARD_SIZE] for i in range(0, len(order), SHARD_SIZE)]
  for shard_index, shard in enumerate(shards):
    name = f"{shard_index:02d}-{image_size}x{image_size}-{len(shard)}.tfrec"
    with tf.io.TFRecordWriter(os.path.join(out_dir, name)) as writer:
      for position in shard:
        label = labels[position]
        image = draw_flower(label, image_size, rng)
        image_id = f"{split_dir}{seed:03d}{position:06d}"
        example = make_example(image_id, encode_jpeg(image),
                               label if labelled else None)
        writer.write(example.SerializeToString())
  return len(labels)


def make_sample_data(output: str,
                     image_size: int = features.DEFAULT_IMAGE_SIZE,
                     num_classes: int = 104, head_classes: int = 4,
                     head_count: int = 40, tail_count: int = 8,
                     val_fraction: float = 0.35, test_count: int = 150,
                     seed: int = 7, head_first: int = 0,
                     span: Optional[int] = None) -> Dict[str, int]:
  """Writes the data set (as span `span`, if given); returns the number of
  examples per split."""
  if span is not None:
    output = os.path.join(output, spans.span_dir(span))
  directory = os.path.join(output, features.image_dir_name(image_size))
  train = split_labels(num_classes, head_classes, head_count, tail_count, 1.0,
                       head_first)
  val = split_labels(num_classes, head_classes, head_count, tail_count,
                     val_fraction, head_first)
  test = list(np.random.default_rng(seed + 2).integers(0, num_classes,
                                                       test_count))
  return {
      "train": write_split(directory, "train", train, image_size, True, seed),
      "val": write_split(directory, "val", val, image_size, True, seed + 1),
      "test": write_split(directory, "test", test, image_size, False,
                          seed + 2),
  }


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--output", default="data/sample",
                      help="data root to write (default: %(default)s)")
  parser.add_argument("--image-size", type=int,
                      default=features.DEFAULT_IMAGE_SIZE,
                      help="image side in pixels (default: %(default)s)")
  parser.add_argument("--classes", default=features.DEFAULT_CLASSES_FILE,
                      help="class names file; its length is the number of "
                      "classes (default: the 104 Kaggle names)")
  parser.add_argument("--head-classes", type=int, default=4,
                      help="classes with many images (default: %(default)s)")
  parser.add_argument("--head-first", type=int, default=0,
                      help="the first head class (default: %(default)s)")
  parser.add_argument("--span", type=int, default=None,
                      help="write span N: <output>/span-N/tfrecords-jpeg-"
                      "<S>x<S> (default: the plain layout)")
  parser.add_argument("--head-count", type=int, default=40,
                      help="training images per head class "
                      "(default: %(default)s)")
  parser.add_argument("--tail-count", type=int, default=8,
                      help="training images per other class "
                      "(default: %(default)s)")
  parser.add_argument("--val-fraction", type=float, default=0.35,
                      help="val images per class, as a fraction of train "
                      "(default: %(default)s)")
  parser.add_argument("--test-count", type=int, default=150,
                      help="unlabelled test images (default: %(default)s)")
  parser.add_argument("--seed", type=int, default=7,
                      help="random seed; the same arguments always give the "
                      "same bytes (default: %(default)s)")
  args = parser.parse_args(argv)
  # TensorFlow, imported below for tf.train.Example, quietly.
  runtime.configure()
  num_classes = len(features.load_class_names(args.classes))
  counts = make_sample_data(args.output, args.image_size, num_classes,
                            args.head_classes, args.head_count,
                            args.tail_count, args.val_fraction,
                            args.test_count, args.seed, args.head_first,
                            args.span)
  output = (os.path.join(args.output, spans.span_dir(args.span))
            if args.span is not None else args.output)
  print(f"wrote {os.path.join(output, features.image_dir_name(args.image_size))}:"
        f" {counts['train']} train, {counts['val']} val, {counts['test']} test"
        f" images, {num_classes} classes")


if __name__ == "__main__":
  main()
