"""Converts a folder of images per class into the pipeline's TFRecord layout.

    python tools/convert_images.py ~/flower_photos data/mine --image-size 192
    python local_runner.py --data-root data/mine --classes data/mine/classes.txt

reads `<images>/<class name>/*.{jpg,png,webp,tif,...}` (the layout of
tf_flowers and most image data sets; any format Pillow reads) and writes,
under `<output>`:

* `tfrecords-jpeg-<S>x<S>/{train,val,test}/NN-<S>x<S>-<count>.tfrec`: the
  Kaggle features `id` (bytes: the image's path below `<images>`, so unique
  and traceable), `class` (int64, the line of the class in classes.txt;
  absent from `test`, as in the Kaggle test set) and `image` (JPEG bytes of
  an S x S image). A split with fraction 0 gets no folder; without `val` the
  pipeline holds out part of `train` (docs/your-data.md).
* `tfrecords-jpeg-<S>x<S>/conversion.json`: what was converted (counts per
  split and class, the arguments, every unreadable or ignored file), and
  `test_labels.csv` (id,class) when there is a test split.
* `classes.txt`: the class names, one a line; the line index is the label.
  Sorted folder names, or the order of `--classes FILE`.

Splits are stratified and seeded: each class's files, sorted by name, are
shuffled with a generator seeded by `--seed` and the class name, then
round(n x fraction) go to `test` and `val` (at least one each while the
class keeps one image for `train`). The same arguments always give the same
split and the same bytes; adding a class moves no other class's images.

Images: every image becomes S x S, the size the folder name declares and the
ImageValidator checks. A JPEG that is already S x S, RGB and upright is
copied byte for byte; any other image (PNG, GIF, BMP, WebP, TIFF, AVIF,
JPEG 2000, CMYK or grayscale JPEG, EXIF-rotated, another size) is
decoded, turned upright by its EXIF orientation, flattened onto white if it
has transparency, resized to S x S (aspect ratio not kept: the served model
resizes raw images the same way, so training and serving see the same
geometry) and re-encoded as JPEG at `--quality`.

Nothing is dropped silently: files without the extension of a format
Pillow reads are listed as ignored; files that fail to decode are listed as
unreadable. With unreadable files the converter writes nothing and exits 1,
unless `--allow-unreadable` (then they are left out, listed in the summary
and in conversion.json).
The output appears only when complete (written beside it, then renamed).

Finding and splitting the files: tools/image_folder.py; one image to its
JPEG: tools/square_jpeg.py; here, the records, the shards, the manifest and
the command line.
"""

import argparse
import csv
import dataclasses
import json
import os
import shutil
import sys
import time
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)
from settings import features  # pylint: disable=g-import-not-at-top
from pipeline.runner import flags  # pylint: disable=g-import-not-at-top
from pipeline.runner import runtime  # pylint: disable=g-import-not-at-top
from tools import image_folder  # pylint: disable=g-import-not-at-top
from tools import make_sample_data  # pylint: disable=g-import-not-at-top
from tools import square_jpeg  # pylint: disable=g-import-not-at-top
from tools.image_folder import ConversionError  # pylint: disable=g-import-not-at-top
from tools.image_folder import SPLITS  # pylint: disable=g-import-not-at-top

CLASSES_FILE = "classes.txt"
MANIFEST_FILE = "conversion.json"
TEST_LABELS_FILE = "test_labels.csv"
DEFAULT_SHARD_SIZE = 256
EXIT_UNREADABLE = 1


@dataclasses.dataclass
class Conversion:
  """What `convert` did."""
  image_dir: str
  classes_file: str
  class_names: List[str]
  counts: Dict[str, List[int]]  # split -> examples per class
  unreadable: List[Tuple[str, str]]  # (path, why)
  ignored: List[str]
  copied: int = 0
  reencoded: int = 0
  written: bool = True


class _Progress:
  """Prints `done/total` to stderr: one updated line on a terminal, else a
  line about every 5% (and at the end)."""

  def __init__(self, total: int):
    self.total = total
    self.terminal = sys.stderr.isatty()
    self.step = max(1, total // (200 if self.terminal else 20))
    self.start = time.time()

  def update(self, done: int) -> None:
    if done % self.step and done != self.total:
      return
    rate = done / max(time.time() - self.start, 1e-6)
    end = "\n" if not self.terminal or done == self.total else ""
    print(f"{chr(13) if self.terminal else ''}  {done}/{self.total} images "
          f"({100 * done // self.total}%, {rate:.0f}/s)", end=end,
          file=sys.stderr, flush=True)


def _write_shards(out_dir: str, records: Sequence[bytes], image_size: int,
                  shard_size: int) -> None:
  # slow import: TensorFlow (4 s); --help must not load it
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir)
  for index, start in enumerate(range(0, len(records), shard_size)):
    shard = records[start:start + shard_size]
    name = f"{index:02d}-{image_size}x{image_size}-{len(shard)}.tfrec"
    with tf.io.TFRecordWriter(os.path.join(out_dir, name)) as writer:
      for record in shard:
        writer.write(record)


# ---------------------------------------------------------------------------
# The conversion.

def convert(image_root: str, output_root: str,
            image_size: int = features.DEFAULT_IMAGE_SIZE,
            val_fraction: float = 0.15, test_fraction: float = 0.0,
            seed: int = 42, shard_size: int = DEFAULT_SHARD_SIZE,
            quality: int = 95, class_names: Optional[Sequence[str]] = None,
            allow_unreadable: bool = False, overwrite: bool = False
            ) -> Conversion:
  """Converts `image_root` into `output_root` (see the module docstring).

  Returns:
    What was done; `written` is False when unreadable files stopped it
    (nothing is written then).

  Raises:
    ConversionError: bad arguments, no class folders, a folder not in
      `class_names`, or an existing output without `overwrite`.
  """
  if image_size < 1:
    raise ConversionError(f"--image-size must be positive, got {image_size}")
  if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and
          val_fraction + test_fraction < 1):
    raise ConversionError("--val-fraction and --test-fraction must be in "
                          "[0, 1) and leave some images for train")
  if shard_size < 1 or not 1 <= quality <= 100:
    raise ConversionError("--shard-size must be >= 1, --quality in [1, 100]")
  image_dir = os.path.join(output_root, features.image_dir_name(image_size))
  classes_path = os.path.join(output_root, CLASSES_FILE)
  if os.path.exists(image_dir) and not overwrite:
    raise ConversionError(f"{image_dir} exists (--overwrite replaces it)")
  names, images, ignored = image_folder.find_images(image_root, class_names)
  features.check_class_names(names)
  splits = image_folder.stratified_split(images, names, val_fraction,
                                         test_fraction, seed)
  total = sum(len(sources) for sources in splits.values())
  if not total:
    raise ConversionError(f"{image_root}: no image files (no extension of "
                          "a format Pillow reads) in the class folders")

  # slow import: TensorFlow (4 s), loaded before the progress clock starts
  import tensorflow as tf  # pylint: disable=g-import-not-at-top,unused-import
  result = Conversion(image_dir=image_dir, classes_file=classes_path,
                      class_names=names, counts={}, unreadable=[],
                      ignored=ignored)
  print(f"converting {total} images of {len(names)} classes from "
        f"{image_root} to {image_size}x{image_size} JPEG TFRecords",
        file=sys.stderr)
  progress = _Progress(total)
  done = 0
  encoded: Dict[str, List[bytes]] = {}
  test_labels = []
  for split in SPLITS:
    records = []
    counts = [0] * len(names)
    for source in splits[split]:
      path = os.path.join(image_root, source.relative_path)
      try:
        with open(path, "rb") as f:
          jpeg, reencoded = square_jpeg.to_jpeg(f.read(), image_size, quality)
      except Exception as error:  # pylint: disable=broad-except
        # PIL raises many types (OSError, SyntaxError, ValueError...) for
        # files it cannot decode; each one is listed, none dropped quietly.
        result.unreadable.append((source.relative_path, square_jpeg.why_unreadable(error)))
      else:
        labelled = split != features.TEST_SPLIT_DIR
        records.append(make_sample_data.make_example(
            source.relative_path, jpeg,
            source.label if labelled else None).SerializeToString())
        if not labelled:
          test_labels.append((source.relative_path, source.label))
        counts[source.label] += 1
        result.reencoded += reencoded
        result.copied += not reencoded
      done += 1
      progress.update(done)
    # Shards mix the classes: shuffled with the split's own seed.
    rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
    encoded[split] = [records[i] for i in rng.permutation(len(records))]
    result.counts[split] = counts

  if result.unreadable and not allow_unreadable:
    result.written = False
    return result
  if not encoded[features.TRAIN_SPLIT_DIR]:
    raise ConversionError(f"{image_root}: no readable image for train")
  partial = image_dir + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  for split in SPLITS:
    if encoded[split]:
      _write_shards(os.path.join(partial, split), encoded[split], image_size,
                    shard_size)
  manifest = {
      "source": os.path.abspath(image_root),
      "image_size": image_size, "val_fraction": val_fraction,
      "test_fraction": test_fraction, "seed": seed, "quality": quality,
      "class_names": names,
      "examples": {split: sum(c) for split, c in result.counts.items()},
      "examples_per_class": result.counts,
      "copied_jpeg": result.copied, "reencoded": result.reencoded,
      "unreadable": [{"file": f, "error": e} for f, e in result.unreadable],
      "ignored": result.ignored,
  }
  with open(os.path.join(partial, MANIFEST_FILE), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=2)
  if test_labels:
    with open(os.path.join(partial, TEST_LABELS_FILE), "w", newline="",
              encoding="utf-8") as f:
      writer = csv.writer(f)
      writer.writerow([features.ID_KEY, features.LABEL_KEY])
      writer.writerows(test_labels)
  if os.path.exists(image_dir):
    shutil.rmtree(image_dir)
  os.replace(partial, image_dir)
  with open(classes_path, "w", encoding="utf-8") as f:
    f.write("\n".join(names) + "\n")
  return result


def summary_lines(result: Conversion, allow_unreadable: bool) -> List[str]:
  """The end-of-run summary: counts, then every unreadable and ignored file."""
  lines = []
  if result.written:
    lines.append(f"wrote {result.image_dir} and {result.classes_file}")
  for split in SPLITS:
    count = sum(result.counts[split])
    if count:
      lines.append(f"  {split:<5} {count:>7} images")
  lines.append(f"  {len(result.class_names)} classes; {result.copied} JPEGs "
               f"copied as they were, {result.reencoded} re-encoded")
  if result.ignored:
    lines.append(f"ignored {len(result.ignored)} file(s) without the "
                 "extension of an image format Pillow reads, or outside a "
                 "class folder:")
    lines += [f"  {path}" for path in result.ignored]
  if result.unreadable:
    verdict = ("left out (--allow-unreadable)" if allow_unreadable else
               "nothing written; fix or remove them, or pass "
               "--allow-unreadable to leave them out")
    lines.append(f"{len(result.unreadable)} unreadable file(s), {verdict}:")
    lines += [f"  {path}: {why}" for path, why in result.unreadable]
  return lines


def main(argv=None) -> int:
  runtime.configure()  # Before TensorFlow is imported.
  parser = argparse.ArgumentParser(
      description="Convert <images>/<class name>/*.jpg|png into "
      "<output>/tfrecords-jpeg-<S>x<S>/{train,val,test}/*.tfrec and "
      "<output>/classes.txt.",
      formatter_class=flags.HelpFormatter)
  parser.add_argument("images", help="folder of class folders")
  parser.add_argument("output", help="data root to write (--data-root of "
                      "the runners)")
  parser.add_argument("--image-size", type=int,
                      default=features.DEFAULT_IMAGE_SIZE,
                      help="side S of the square images written")
  parser.add_argument("--val-fraction", type=float, default=0.15,
                      help="fraction of each class for val (0: no val "
                      "folder; the pipeline then holds out part of train)")
  parser.add_argument("--test-fraction", type=float, default=0.0,
                      help="fraction of each class for an unlabelled test "
                      f"split (labels in {TEST_LABELS_FILE})")
  parser.add_argument("--seed", type=int, default=42,
                      help="seed of the split and of the shard order")
  parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                      help="records per .tfrec file")
  parser.add_argument("--quality", type=int, default=95,
                      help="JPEG quality of re-encoded images")
  parser.add_argument("--classes", default=None,
                      help="class names file fixing the label order (default:"
                      " the sorted folder names)")
  parser.add_argument("--allow-unreadable", action="store_true",
                      help="leave out files that do not decode (listed) "
                      "instead of stopping")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace an existing tfrecords-jpeg-<S>x<S> folder")
  args = parser.parse_args(argv)
  try:
    class_names = (features.load_class_names(args.classes) if args.classes
                   else None)
    result = convert(args.images, args.output, args.image_size,
                     args.val_fraction, args.test_fraction, args.seed,
                     args.shard_size, args.quality, class_names,
                     args.allow_unreadable, args.overwrite)
  except (ConversionError, ValueError, OSError) as error:
    raise SystemExit(f"error: {error}") from None
  for line in summary_lines(result, args.allow_unreadable):
    print(line)
  empty = [name for label, name in enumerate(result.class_names)
           if not result.counts[features.TRAIN_SPLIT_DIR][label]]
  if empty:
    print(f"warning: {len(empty)} class(es) have no training image: "
          f"{', '.join(empty)}")
  if result.written:
    print(f"next: python local_runner.py --data-root {args.output} "
          f"--classes {result.classes_file}")
  return 0 if result.written else EXIT_UNREADABLE


if __name__ == "__main__":
  sys.exit(main())
