"""An image folder's files by class, and their stratified, seeded split.

`tools/convert_images.py` reads `<images>/<class name>/*` with `find_images`
and assigns each file to train, val or test with `stratified_split`: each
class's files, sorted by name, shuffled by a generator seeded with the seed
and the class name, round(n x fraction) to `test` and `val` (at least one
each while the class keeps one image for `train`), so adding a class moves
no other class's images.
"""

import dataclasses
import os
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from settings import features

SPLITS = (features.TRAIN_SPLIT_DIR, features.VAL_SPLIT_DIR,
          features.TEST_SPLIT_DIR)


class ConversionError(ValueError):
  """The image folder or the arguments cannot be converted."""


@dataclasses.dataclass
class Source:
  """One image file: its path below the image folder, and its label."""
  relative_path: str
  label: int


def image_extensions() -> Tuple[str, ...]:
  """The file extensions of every format Pillow reads (WebP, TIFF, AVIF,
  JPEG 2000... besides the model's JPEG, PNG, GIF and BMP), lower case."""
  Image.init()
  return tuple(sorted(extension.lower() for extension, image_format in
                      Image.registered_extensions().items()
                      if image_format in Image.OPEN))


def find_images(image_root: str, class_names: Optional[Sequence[str]] = None
                ) -> Tuple[List[str], Dict[str, List[str]], List[str]]:
  """Lists `<image_root>/<class>/*` images.

  Args:
    image_root: the folder of class folders.
    class_names: label order; None sorts the class folder names.

  Returns:
    (class names, class name -> relative paths of its images, sorted;
    relative paths of ignored files: no image extension, or not inside a
    class folder).

  Raises:
    ConversionError: no class folder, or a folder that is not in
      `class_names`.
  """
  if not os.path.isdir(image_root):
    raise ConversionError(f"{image_root} is not a folder")
  ignored = []
  folders = []
  for name in sorted(os.listdir(image_root)):
    if os.path.isdir(os.path.join(image_root, name)):
      folders.append(name)
    else:
      ignored.append(name)
  if not folders:
    raise ConversionError(f"{image_root} has no class folders (expected "
                          "<images>/<class name>/*.jpg)")
  if class_names is None:
    class_names = folders
  else:
    unknown = sorted(set(folders) - set(class_names))
    if unknown:
      raise ConversionError(
          f"{image_root}: folder(s) {unknown} are not in the class list; "
          "add them to it or move them away")
  images: Dict[str, List[str]] = {name: [] for name in class_names}
  extensions = image_extensions()
  for name in folders:
    for folder, subfolders, files in os.walk(os.path.join(image_root, name)):
      subfolders.sort()
      for file_name in sorted(files):
        relative = os.path.relpath(os.path.join(folder, file_name),
                                   image_root).replace(os.sep, "/")
        if file_name.lower().endswith(extensions):
          images[name].append(relative)
        else:
          ignored.append(relative)
  return list(class_names), images, ignored


def split_counts(total: int, val_fraction: float, test_fraction: float
                 ) -> Tuple[int, int, int]:
  """(train, val, test) sizes of one class of `total` images.

  round(total x fraction) each, at least 1 for a split with a fraction
  above 0 as long as one image is left for train; train never goes below 1
  (for a class that has any image).
  """
  counts = {}
  left = total - 1  # One image stays in train.
  for name, fraction in (("test", test_fraction), ("val", val_fraction)):
    count = int(round(total * fraction)) if fraction > 0 else 0
    if fraction > 0:
      count = max(count, 1)
    count = max(0, min(count, left))
    counts[name] = count
    left -= count
  return total - counts["val"] - counts["test"], counts["val"], counts["test"]


def stratified_split(images: Dict[str, List[str]], class_names: Sequence[str],
                     val_fraction: float, test_fraction: float, seed: int
                     ) -> Dict[str, List[Source]]:
  """Assigns every image to train, val or test, class by class.

  Each class is shuffled by its own generator, seeded with `seed` and the
  class name, so one class's files never change another's split.
  """
  splits: Dict[str, List[Source]] = {split: [] for split in SPLITS}
  for label, name in enumerate(class_names):
    paths = sorted(images.get(name, []))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    order = [paths[i] for i in rng.permutation(len(paths))]
    _, n_val, n_test = split_counts(len(paths), val_fraction, test_fraction)
    parts = {features.TEST_SPLIT_DIR: order[:n_test],
             features.VAL_SPLIT_DIR: order[n_test:n_test + n_val],
             features.TRAIN_SPLIT_DIR: order[n_test + n_val:]}
    for split, part in parts.items():
      splits[split] += [Source(path, label) for path in part]
  return splits
