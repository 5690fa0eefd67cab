"""Pre-flight check of a data root's files, before the pipeline starts.

ImportExampleGen reads `<split>/*.tfrec`; this check looks at the same files
first so that file-level problems get a message naming the file:

* a split folder that is missing, or holds no `.tfrec` file: error (`val`
  may be absent when `val_folder` is False: the pipeline then holds out
  part of `train`, pipeline/pipeline.py `has_val_folder`);
* a `.tfrec` file that is truncated or is not a TFRecord file at all: error,
  naming the file and the index of the first unreadable record;
* a file that does not match `*.tfrec` (a README, a `.DS_Store`): skipped
  by ImportExampleGen's pattern, so it is counted and reported here, never
  dropped in silence.

Record-level problems (bad images, labels, missing features) are the
DataValidator component's (pipeline/validation.py), inside the pipeline.
"""

import dataclasses
import fnmatch
import os
from typing import Dict, List

import tensorflow as tf

from pipeline import features


class DataCheckError(ValueError):
  """The data root cannot be read as the Kaggle layout."""


@dataclasses.dataclass
class DataCheckReport:
  """What the check found in a readable data root."""
  records: Dict[str, int]
  skipped_files: List[str]

  def lines(self) -> List[str]:
    result = [f"data: {split} {count} records" for split, count in
              sorted(self.records.items())]
    if self.skipped_files:
      result.append(
          f"skipped {len(self.skipped_files)} file(s) that do not match "
          f"{features.TFRECORD_PATTERN}: " + ", ".join(self.skipped_files))
    return result


def count_records(path: str) -> int:
  """Reads every record of a TFRecord file; returns how many there are.

  Raises:
    DataCheckError: naming the file and the first unreadable record.
  """
  count = 0
  try:
    for _ in tf.data.TFRecordDataset(path):
      count += 1
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
    raise DataCheckError(
        f"{path}: unreadable at record {count} (truncated or not a TFRecord "
        f"file): {error.message.splitlines()[0]}") from None
  return count


def check_data_root(data_root: str, image_size: int,
                    val_folder: bool = True) -> DataCheckReport:
  """Checks the split folders of `data_root` for `image_size` images.

  `val_folder` False checks `train` only (evaluation holds out part of it).

  Raises:
    DataCheckError: with a message naming the folder or file at fault.
  """
  directory = os.path.join(data_root, features.image_dir_name(image_size))
  if not tf.io.gfile.isdir(directory):
    raise DataCheckError(
        f"{directory} does not exist: --data-root must hold "
        f"{features.image_dir_name(image_size)}/{{train,val}}/*.tfrec")
  records, skipped = {}, []
  split_dirs = (features.KAGGLE_SPLIT_DIRS.values() if val_folder else
                [features.TRAIN_SPLIT_DIR])
  for split_dir in split_dirs:
    path = os.path.join(directory, split_dir)
    if not tf.io.gfile.isdir(path):
      raise DataCheckError(f"{path} does not exist")
    names = sorted(tf.io.gfile.listdir(path))
    data = [n for n in names if fnmatch.fnmatch(n, features.TFRECORD_PATTERN)]
    skipped += [os.path.join(path, n) for n in names if n not in data]
    if not data:
      raise DataCheckError(f"{path}: no {features.TFRECORD_PATTERN} files")
    records[split_dir] = sum(count_records(os.path.join(path, n))
                             for n in data)
    if records[split_dir] == 0:
      raise DataCheckError(f"{path}: the split is empty (0 records)")
  return DataCheckReport(records=records, skipped_files=skipped)
