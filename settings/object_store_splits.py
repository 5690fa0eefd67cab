"""The optional splits (`val`, `test`) of a data root on an object store
(gs://, s3://, ...), as the compile decides them.

A local data root is looked at (pipeline/data_plan.py). A URI root is looked at the same way, with
tf.io.gfile, when the compiling machine can read it. When it cannot (no
credentials or no network there: `tf.io.gfile.isdir` then says False as
for a missing folder, so `exists` is asked, which raises), a split is off
unless its setting asks for it (`eval.split=val`, `predict.test_split=on`):
the cluster never runs a reader of a folder nobody saw, such as the `test`
folder `tools/convert_images.py` writes only when asked. `describe` gives
the lines the compile prints: which splits it found or assumed, and why.

Beside settings/spans.py, TensorFlow imported only when called;
pipeline/data_plan.py calls it for a URI data root.
"""

import os
from typing import List, Optional

from settings import features
from settings import spans


def readable(data_root: str) -> bool:
  """Whether this machine can read the data root (it may not exist yet)."""
  # slow import: TensorFlow (3 s); pipeline/data_plan.py imports this
  # module, and the runners' --help must not load it
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    tf.io.gfile.exists(data_root)
  except tf.errors.OpError:
    return False
  return True


def newest_image_folder(data_root: str, image_size: int,
                        selection: Optional[spans.SpanSelection]
                        ) -> Optional[str]:
  """`<root>[/span-<newest read>]/tfrecords-jpeg-<S>x<S>`; None when the
  root cannot be read from here, or "latest" finds no span folder in it."""
  # slow import: TensorFlow (3 s); as in readable
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not readable(data_root):
    return None
  root = data_root
  if selection is not None:
    last = selection.last
    if last is None:
      if not tf.io.gfile.isdir(data_root):
        return None
      last = spans.latest_span(data_root, tf.io.gfile.listdir,
                               tf.io.gfile.isdir)
      if last is None:
        return None
    root = os.path.join(data_root, spans.span_dir(last))
  return os.path.join(root, features.image_dir_name(image_size))


def holds_records(folder: Optional[str]) -> bool:
  """Whether `folder` holds `*.tfrec` files; False for None or a folder
  that cannot be read from here."""
  # slow import: TensorFlow (3 s); as in readable
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if folder is None:
    return False
  try:
    return bool(tf.io.gfile.glob(os.path.join(folder,
                                              features.TFRECORD_PATTERN)))
  except tf.errors.OpError:
    return False


def describe(data_root: str, val_folder: bool, test_folder: bool,
             eval_split: str, test_split: str) -> List[str]:
  """The compile's lines on the optional splits of a URI data root: what
  the DAG reads, and whether it was seen or assumed (and how to change it).

  Args:
    data_root: the URI.
    val_folder, test_folder: whether the DAG reads them.
    eval_split, test_split: the settings (`eval.split`,
      `predict.test_split`): "auto" decides by looking.
  """
  seen = readable(data_root)
  how = ("looked up from here" if seen else
         "not readable from here, so each split is off unless asked for")
  lines = [f"data: {data_root}: {how}"]
  for split, read, setting, flag in (
      (features.VAL_SPLIT_DIR, val_folder, eval_split, "eval.split=val"),
      (features.TEST_SPLIT_DIR, test_folder, test_split,
       "predict.test_split=on")):
    if setting != "auto":
      why = f"as set ({setting})"
    elif seen:
      why = "found" if read else "not found"
    else:
      why = f"assumed absent; --set {flag} reads it"
    lines.append(f"data: {split} folder {'read' if read else 'not read'}: "
                 f"{why}")
  return lines
