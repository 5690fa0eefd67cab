"""A local data root, listed once: the folders a run may read and the image
size they name.

`list_data_root` enters each folder a run can read once (the root, its
`span-<N>` folders, their `tfrecords-jpeg-<S>x<S>` folders and those
folders' split folders); the data plan (pipeline/data_plan.py) reads the
image size, the spans, the optional splits, the Beam profile's input size
and the pre-flight's file lists from that one listing, and the tools that
take a data root ask it for the image size (`image_size_of`).
"""

import dataclasses
import fnmatch
import os
import re
from typing import Dict, List, Mapping, Optional

from settings import features
from settings import spans

# The folders a data root may hold: one per image size.
_IMAGE_DIR = re.compile(r"tfrecords-jpeg-(\d+)x\1")


class DataRootError(ValueError):
  """The data root is missing, or cannot tell the image size."""


@dataclasses.dataclass(frozen=True)
class DataListing:
  """One look at a local data root: the folders a run may read.

  Attributes:
    root: the data root.
    entries: folder (relative to `root`; "" is the root) -> its entries,
      name -> size in bytes (None for a folder). Only the folders a run can
      read are listed: the root, its span folders, their image folders and
      those folders' split folders; a URI or a missing root has none.
  """
  root: str
  entries: Mapping[str, Mapping[str, Optional[int]]]

  def folders(self, folder: str = "") -> List[str]:
    """The subfolders of `folder` (relative to the root), sorted."""
    return sorted(name for name, size in self.entries.get(folder, {}).items()
                  if size is None)

  def has_folder(self, folder: str) -> bool:
    return folder in self.entries

  def names(self, folder: str) -> List[str]:
    """Every entry of a listed `folder`, sorted, as `os.listdir` names
    them."""
    return sorted(self.entries.get(folder, {}))

  def file_bytes(self, folder: str,
                 pattern: str = features.TFRECORD_PATTERN) -> int:
    """The total size of the files of `folder` matching `pattern`."""
    return sum(size for name, size in self.entries.get(folder, {}).items()
               if size is not None and fnmatch.fnmatch(name, pattern))


def _size(entry: os.DirEntry) -> Optional[int]:
  """None for a folder, else the file's bytes (0 for a link to nothing:
  the pre-flight names the file it cannot read)."""
  if entry.is_dir():
    return None
  try:
    return entry.stat().st_size
  except OSError:
    return 0


def _scan(folder: str) -> Dict[str, Optional[int]]:
  with os.scandir(folder) as found:
    return {entry.name: _size(entry) for entry in found}


def list_data_root(data_root: str) -> DataListing:
  """Lists a local data root once: the root, its `span-<N>` folders, their
  `tfrecords-jpeg-<S>x<S>` folders and those folders' split folders, each
  folder once. Other folders (a download's extras) are not entered. A URI
  or a missing root gives an empty listing.
  """
  entries = {}
  if features.is_object_store(data_root) or not os.path.isdir(data_root):
    return DataListing(data_root, entries)

  def enter(folder: str, kind: str) -> None:
    entries[folder] = _scan(os.path.join(data_root, folder))
    for name in [n for n, size in entries[folder].items() if size is None]:
      child = os.path.join(folder, name) if folder else name
      if kind == "image":
        enter(child, "split")
      elif _IMAGE_DIR.fullmatch(name) and kind in ("root", "span"):
        enter(child, "image")
      elif kind == "root" and spans.span_number(name) is not None:
        enter(child, "span")

  enter("", "root")
  return DataListing(data_root, entries)


def image_sizes_in(listing: DataListing, folder: str = "") -> List[int]:
  """The sizes S of the `tfrecords-jpeg-<S>x<S>` folders in a listed
  `folder` (relative to the data root)."""
  return sorted(int(match.group(1)) for match in (
      _IMAGE_DIR.fullmatch(name) for name in listing.folders(folder))
                if match)


def image_size_of(data_root: str,
                  listing: Optional[DataListing] = None) -> int:
  """The image size of the one `tfrecords-jpeg-<S>x<S>` folder in a local
  `data_root` (in its newest span's folder, with spans).

  Args:
    data_root: the data root.
    listing: its `list_data_root`; None lists it here.

  Raises:
    DataRootError: the data root is missing, or holds none or several such
      folders (naming them, and asking for --image-size).
  """
  listing = listing or list_data_root(data_root)
  if not listing.has_folder(""):
    raise DataRootError(f"data root {data_root} does not exist or is not a "
                        "folder (--data-root)")
  folder = ""
  found_spans = spans.span_numbers(listing.folders(), data_root)
  if found_spans:
    # Spans: the newest one's folders name the size (settings/spans.py).
    folder = spans.span_dir(found_spans[-1])
  where = _join(data_root, folder)
  sizes = image_sizes_in(listing, folder)
  if not sizes:
    raise DataRootError(
        f"no tfrecords-jpeg-<S>x<S> folder in the data root {where}: "
        "is --data-root the folder that holds them?")
  if len(sizes) > 1:
    raise DataRootError(
        f"the data root {where} holds several image sizes: " +
        ", ".join(features.image_dir_name(size) for size in sizes) +
        "; choose one with --image-size " +
        " or ".join(str(size) for size in sizes))
  return sizes[0]


def _join(root: str, relative: str) -> str:
  return os.path.join(root, relative) if relative else root
