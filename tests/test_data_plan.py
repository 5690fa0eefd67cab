"""The data plan lists a local data root once (pipeline/data_plan.py).

The runner's planning (the image size, the spans, the optional splits, the
Beam profile's input size and the pre-flight's files) reads one listing:
each folder of the data root is listed at most once, whichever library
would list it (os, glob, tf.io.gfile).
"""

import collections
import os

import pytest
import tensorflow as tf
from tensorflow.python.lib.io import file_io

import local_runner
from pipeline import data_listing
from pipeline import data_plan
from settings import config as config_lib
from settings import features
from tools import make_sample_data

SIZE = 32


def _write(root, span=None):
  return make_sample_data.make_sample_data(
      str(root), image_size=SIZE, num_classes=4, head_classes=1,
      head_count=6, tail_count=2, val_fraction=0.5, test_count=2, seed=7,
      span=span)


def _count_listings(monkeypatch, data_root: str) -> collections.Counter:
  """Counts, by folder under `data_root`, every listing made from now on
  through os, glob (which lists with os.scandir) and tf.io.gfile."""
  counts = collections.Counter()
  root = os.path.realpath(data_root)

  def record(path):
    path = os.path.realpath(os.fspath(path))
    if path == root or path.startswith(root + os.sep):
      counts[os.path.relpath(path, root)] += 1

  def counting(function, folder_of=lambda path: path):
    def wrapper(path=".", *args, **kwargs):
      record(folder_of(path))
      return function(path, *args, **kwargs)
    return wrapper

  pattern_folder = lambda pattern: os.path.dirname(os.fspath(pattern))
  monkeypatch.setattr(os, "listdir", counting(os.listdir))
  monkeypatch.setattr(os, "scandir", counting(os.scandir))
  monkeypatch.setattr(tf.io.gfile, "listdir", counting(tf.io.gfile.listdir))
  monkeypatch.setattr(tf.io.gfile, "glob",
                      counting(tf.io.gfile.glob, pattern_folder))
  monkeypatch.setattr(file_io, "list_directory",
                      counting(file_io.list_directory))
  monkeypatch.setattr(file_io, "get_matching_files",
                      counting(file_io.get_matching_files, pattern_folder))
  return counts


@pytest.mark.parametrize("layout,flags", [
    ("plain", []),
    ("plain", ["--image-size", str(SIZE)]),
    ("spans", ["--spans", "1-2"]),
    ("spans", []),
])
def test_the_runner_lists_each_folder_of_the_data_root_once(
    tmp_path, monkeypatch, layout, flags):
  root = tmp_path / "data"
  if layout == "plain":
    _write(root)
  else:
    _write(root, span=1)
    _write(root, span=2)
  (root / "notes").mkdir()  # Not read: never listed.
  args = local_runner.parse_args(["--data-root", str(root), *flags])
  counts = _count_listings(monkeypatch, str(root))

  _, plan = local_runner.config_and_plan(args)
  lines = local_runner.preflight(plan)

  assert plan.image_size == SIZE
  assert any(" records" in line for line in lines), lines
  assert counts["."] == 1, counts
  assert [folder for folder, count in counts.items() if count > 1] == [], (
      counts)
  assert "notes" not in counts


def test_input_bytes_are_the_tfrec_files_of_the_folders_read(tmp_path):
  images = tmp_path / features.image_dir_name(SIZE)
  for split, files in (("train", {"a.tfrec": 10, "b.tfrec": 5,
                                  "c.txt": 100}),
                       ("val", {"v.tfrec": 7}), ("test", {"t.tfrec": 3})):
    (images / split).mkdir(parents=True)
    for name, size in files.items():
      (images / split / name).write_bytes(b"x" * size)
  # Another size's folder is not read.
  other = tmp_path / features.image_dir_name(SIZE * 2) / "train"
  other.mkdir(parents=True)
  (other / "a.tfrec").write_bytes(b"x" * 1000)
  plan = data_plan.make_plan(str(tmp_path),
                             config_lib.PipelineConfig(image_size=SIZE))
  assert plan.input_bytes == 25
  assert plan.val_folder and plan.predicts_test
  assert plan.entries_of(str(images))["train"] == ["a.tfrec", "b.tfrec",
                                                   "c.txt"]


def test_the_size_comes_from_the_plan_only_when_no_flag_gives_it(tmp_path):
  _write(tmp_path)
  config = config_lib.PipelineConfig(image_size=SIZE + 1)
  assert data_plan.make_plan(str(tmp_path), config).image_size == SIZE + 1
  assert data_plan.make_plan(str(tmp_path), config,
                             size_from_data=True).image_size == SIZE
  with pytest.raises(data_listing.DataRootError, match="does not exist"):
    data_plan.make_plan(str(tmp_path / "missing"), config,
                        size_from_data=True)
