"""The data plan: what a run reads, worked out once from the data root and
the config.

A runner builds it (`make_plan`), prints it (`DataPlan.lines`) and passes it
to `create_pipeline`, which wires it into ImportExampleGen and TestExampleGen
and looks at no folder itself. Before the DAG runs, a local data root is
listed once, in pipeline/data_listing.py (`list_data_root`): the image
size, the spans, the optional splits, the Beam profile's input size and the
pre-flight's file lists are all read from that one listing
(tests/test_data_plan.py counts the listings). The plan holds:

* the image size: the flags', or the one `tfrecords-jpeg-<S>x<S>` folder of
  the data root (of its newest span);
* the spans read (`data.spans`, settings/spans.py);
* where the eval split comes from: the `val` folder, or a hash holdout of
  `train` (`eval.split`);
* whether the `test` folder is predicted, or why not (`predict.test_split`);
* the local image folders the pre-flight checks, each split folder's
  entries, and the bytes of the `.tfrec` files read;
* ImportExampleGen's input, output and range configs, and TestExampleGen's.

A URI data root (gs://...) is looked at where the compiling machine can
read it; where it cannot, an optional split (`val`, `test`) is off unless
its setting asks for it, and the plan's lines say which it assumed
(settings/object_store_splits.py).
"""

import dataclasses
import fnmatch
import os
from typing import Dict, List, Optional, Tuple

from tfx.proto import example_gen_pb2

from settings import config as config_lib
from settings import features
from settings import object_store_splits
from settings import spans
from pipeline import data_listing
from pipeline.data_listing import DataListing


@dataclasses.dataclass(frozen=True)
class DataPlan:
  """What a run reads (see the module docstring).

  Attributes:
    data_root: the folder (or URI) holding the image folders or the spans.
    image_size: the side of the images read (`tfrecords-jpeg-<S>x<S>`).
    spans_setting: `data.spans` as given.
    selection: the spans read; None for the plain layout.
    val_folder: evaluation reads the `val` folder (else a holdout of train).
    holdout_percent: the share of train held out without a `val` folder.
    no_test_reason: why the `test` folder is not predicted; None when it is.
    folders: the image folders read, oldest span first (the pre-flight's).
    ignored_folders: data root folders never read as a span.
    split_notes: for a URI data root, whether its optional splits were
      seen or assumed.
    split_entries: (split folder, its entries) of each split folder of a
      local `folders`, as listed.
    input_bytes: the bytes of the `.tfrec` files in the split folders of a
      local `folders` (what the Beam profile is chosen by).
  """
  data_root: str
  image_size: int
  spans_setting: str
  selection: Optional[spans.SpanSelection]
  val_folder: bool
  holdout_percent: int
  no_test_reason: Optional[str]
  folders: Tuple[str, ...]
  ignored_folders: Tuple[str, ...] = ()
  split_notes: Tuple[str, ...] = ()
  split_entries: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
  input_bytes: int = 0

  def entries_of(self, image_folder: str) -> Dict[str, List[str]]:
    """The listed entries of each split folder of one of `folders`, by the
    split folder's name (the pre-flight checks these, listing nothing)."""
    return {os.path.basename(split): list(names)
            for split, names in self.split_entries
            if os.path.dirname(split) == image_folder}

  @property
  def predicts_test(self) -> bool:
    return self.no_test_reason is None

  @property
  def input_base(self) -> str:
    return spans.input_base(self.data_root, self.image_size, self.selection)

  def input_config(self) -> example_gen_pb2.Input:
    return input_config(self.val_folder, self.image_size, self.selection)

  def output_config(self) -> example_gen_pb2.Output:
    return output_config(self.val_folder, self.holdout_percent)

  def range_config(self):
    return spans.range_config(self.selection)

  def test_input_config(self) -> example_gen_pb2.Input:
    """The `test` folder (of the newest span read) as TestExampleGen's one
    split."""
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
        name=features.TEST_SPLIT,
        pattern=spans.split_pattern(features.TEST_SPLIT_DIR, self.image_size,
                                    self.selection))])

  def lines(self) -> List[str]:
    """What the runner prints about the data before the run."""
    lines = list(self.split_notes)
    if self.selection is not None:
      lines.append(f"data: reading {self.selection.describe()} of "
                   f"{self.data_root} (data.spans={self.spans_setting})")
    for name in self.ignored_folders:
      lines.append(f"data: ignored folder {os.path.join(self.data_root, name)}"
                   f" (not {spans.SPAN_DIR_PREFIX}<N>, so never read as a "
                   "span)")
    if not self.val_folder:
      lines.append(f"data: no val folder: evaluating on "
                   f"{self.holdout_percent}% of train, chosen by a hash of "
                   "each record's id (eval.split)")
    if self.no_test_reason:
      lines.append(f"data: no test predictions and no submission.csv "
                   f"({self.no_test_reason})")
    return lines


def make_plan(data_root: str, config: config_lib.PipelineConfig,
              size_from_data: bool = False) -> DataPlan:
  """The plan of a run of `config` over `data_root`, which is listed here
  once (`list_data_root`).

  Args:
    data_root: the data root (a local folder or a URI).
    config: the run's config.
    size_from_data: take the image size from the local data root
      (`image_size_of`) rather than from `config` (no flag gave it).

  Raises:
    data_listing.DataRootError: `size_from_data` and the data root cannot tell the size.
    ValueError: "latest" spans of a local data root without span folders.
  """
  listing = data_listing.list_data_root(data_root)
  local = not features.is_object_store(data_root)
  image_size = (data_listing.image_size_of(data_root, listing)
                if size_from_data else config.image_size)
  found_spans = spans.span_numbers(listing.folders(), data_root)
  selection = spans.parse_setting(config.data.spans)
  if selection is None and found_spans:
    selection = spans.SpanSelection()
  if (selection is not None and selection.latest and local
      and not found_spans):
    raise ValueError(f"data.spans={config.data.spans}: no "
                     f"{spans.SPAN_DIR_PREFIX}<N> folder in {data_root}")
  image_dir = features.image_dir_name(image_size)
  if selection is None:
    newest_span = ""
  elif selection.last is not None:
    newest_span = spans.span_dir(selection.last)
  elif found_spans:
    newest_span = spans.span_dir(found_spans[-1])
  else:
    # Not looked at (a URI): the folder a span would be in; ExampleGen's
    # check names it missing.
    newest_span = f"{spans.SPAN_DIR_PREFIX}<N>"
  newest_images = os.path.join(newest_span, image_dir)  # Relative.
  newest = os.path.join(data_root, newest_images)
  if selection is None or selection.latest:
    folders = (newest,)
  else:
    folders = tuple(os.path.join(data_root, spans.span_dir(span), image_dir)
                    for span in range(selection.first, selection.last + 1))
  if not local:
    # The newest span found by listing, where the store can be read.
    newest = object_store_splits.newest_image_folder(
        data_root, image_size, selection) or newest
  if config.eval.split != "auto":
    val_folder = config.eval.split == "val"
  elif local:
    val_folder = listing.has_folder(
        os.path.join(newest_images, features.VAL_SPLIT_DIR))
  else:
    val_folder = object_store_splits.holds_records(
        os.path.join(newest, features.VAL_SPLIT_DIR))
  no_test_reason = _no_test_reason(listing, newest_images, newest,
                                   config.predict.test_split)
  split_notes = ()
  if not local:
    split_notes = tuple(object_store_splits.describe(
        data_root, val_folder, no_test_reason is None, config.eval.split,
        config.predict.test_split))
  relative = [os.path.relpath(folder, data_root) for folder in folders]
  return DataPlan(
      data_root=data_root, image_size=image_size,
      spans_setting=config.data.spans, selection=selection,
      val_folder=val_folder, holdout_percent=config.eval.holdout_percent,
      no_test_reason=no_test_reason, folders=folders,
      ignored_folders=tuple(spans.ignored_among(listing.folders(),
                                                data_root)),
      split_notes=split_notes,
      split_entries=tuple(
          (os.path.join(data_root, split), tuple(listing.names(split)))
          for folder in relative for split in (
              os.path.join(folder, name) for name in listing.folders(folder))),
      input_bytes=sum(listing.file_bytes(os.path.join(folder, name))
                      for folder in relative
                      for name in listing.folders(folder)))


def _no_test_reason(listing: DataListing, newest_images: str, newest: str,
                    setting: str) -> Optional[str]:
  """Why the run does not predict the `test` folder; None when it does.

  `predict.test_split`: "on", "off", or "auto": looked up as the `val`
  folder is (`newest_images` in the listing, or the URI `newest`). A `test`
  folder without `*.tfrec` files counts as none (a data set converted with
  no test fraction, or emptied): TestExampleGen would stop the run on it,
  and a missing folder only skips batch prediction.
  """
  if setting != "auto":
    return None if setting == "on" else "predict.test_split is off"
  if features.is_object_store(newest):
    if not object_store_splits.holds_records(
        os.path.join(newest, features.TEST_SPLIT_DIR)):
      return "no test folder"
    return None
  test = os.path.join(newest_images, features.TEST_SPLIT_DIR)
  if not listing.has_folder(test):
    return "no test folder"
  if not any(fnmatch.fnmatch(name, features.TFRECORD_PATTERN)
             for name in listing.names(test)):
    return (f"the test folder {os.path.join(newest, features.TEST_SPLIT_DIR)}"
            f" has no {features.TFRECORD_PATTERN} files")
  return None


def input_config(val_folder: bool = True,
                 image_size: int = features.DEFAULT_IMAGE_SIZE,
                 selection: Optional[spans.SpanSelection] = None
                 ) -> example_gen_pb2.Input:
  """Kaggle split directories -> TFX splits (only `train` without `val`);
  with spans, each pattern names `span-{SPAN}` (settings/spans.py)."""
  if not val_folder:
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
        name="single_split",
        pattern=spans.split_pattern(features.TRAIN_SPLIT_DIR, image_size,
                                    selection))])
  return example_gen_pb2.Input(splits=[
      example_gen_pb2.Input.Split(
          name=split,
          pattern=spans.split_pattern(directory, image_size, selection))
      for split, directory in features.KAGGLE_SPLIT_DIRS.items()
  ])


def output_config(val_folder: bool, holdout_percent: int
                  ) -> example_gen_pb2.Output:
  """The input splits as they are, or `train` cut in two by hash of `id`.

  Without a `val` folder, `holdout_percent` of 100 hash buckets of each
  record's `id` become split `eval`: the same record always lands in the
  same split, whatever the file order, shard count or run, and adding
  records never moves the old ones.
  """
  if val_folder:
    return example_gen_pb2.Output()
  return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
      splits=[
          example_gen_pb2.SplitConfig.Split(
              name=features.TRAIN_SPLIT, hash_buckets=100 - holdout_percent),
          example_gen_pb2.SplitConfig.Split(
              name=features.EVAL_SPLIT, hash_buckets=holdout_percent),
      ],
      partition_feature_name=features.ID_KEY))


def test_output_config() -> example_gen_pb2.Output:
  """One output split, `test` (one input split would default to a 2:1 cut
  into train and eval)."""
  return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
      splits=[example_gen_pb2.SplitConfig.Split(name=features.TEST_SPLIT,
                                                hash_buckets=1)]))
