"""A data root on an object store: its optional splits (`val`, `test`) are
looked up where the compiling machine can read it, else off unless asked
for, and the compile says which (settings/object_store_splits.py).

TensorFlow's in-memory `ram://` filesystem is the readable object store;
`gs://` without credentials or network (as here) the unreadable one.
"""

import os

import tensorflow as tf

import kubeflow_runner
from settings import config as config_lib
from settings import features
from settings import object_store_splits
from pipeline import data_plan
from pipeline.runner import overrides as overrides_lib
from tools.kfp_replay import spec as spec_lib

SIZE = 32
UNREADABLE = "gs://no-such-bucket-here/data"


def _file(root, *parts):
  with tf.io.gfile.GFile(os.path.join(root, *parts), "w") as f:
    f.write("x")


def _plan(root, *overrides):
  return data_plan.make_plan(root, overrides_lib.apply_overrides(
      config_lib.PipelineConfig(image_size=SIZE), list(overrides)))


def test_a_readable_store_is_looked_up(tmp_path):
  root = f"ram://{tmp_path.name}/val-only"
  image_dir = features.image_dir_name(SIZE)
  _file(root, image_dir, "train", "a.tfrec")
  _file(root, image_dir, "val", "a.tfrec")
  assert object_store_splits.readable(root)
  plan = _plan(root)
  assert plan.val_folder and not plan.predicts_test
  assert plan.lines()[:3] == [f"data: {root}: looked up from here",
                              "data: val folder read: found",
                              "data: test folder not read: not found"]
  _file(root, image_dir, "test", "a.tfrec")
  assert _plan(root).predicts_test
  # A span named by number is looked up in its folder.
  spans_root = f"ram://{tmp_path.name}/spans"
  _file(spans_root, "span-3", image_dir, "test", "a.tfrec")
  plan = _plan(spans_root, "data.spans=3")
  assert plan.predicts_test and not plan.val_folder
  lines = object_store_splits.describe(root, True, True, "auto", "auto")
  assert lines == [f"data: {root}: looked up from here",
                   "data: val folder read: found",
                   "data: test folder read: found"]


def test_an_unreadable_store_reads_only_what_is_asked_for():
  assert not object_store_splits.readable(UNREADABLE)
  plan = _plan(UNREADABLE)
  assert not plan.val_folder and not plan.predicts_test
  asked = _plan(UNREADABLE, "eval.split=val", "predict.test_split=on")
  assert asked.val_folder and asked.predicts_test


def test_the_compile_says_which_splits_it_assumed(tmp_path, capsys):
  spec_path = str(tmp_path / "spec.json")
  assert kubeflow_runner.main([
      "--data-root", UNREADABLE, "--image-size", str(SIZE),
      "--image", "registry.example/flowers:1",
      "--pipeline-root", "gs://no-such-bucket-here/root",
      "--serving-dir", "gs://no-such-bucket-here/serving",
      "--output", spec_path, "--set", "predict.test_split=on"]) == 0
  out = capsys.readouterr().out
  assert f"data: {UNREADABLE}: not readable from here" in out
  assert ("data: val folder not read: assumed absent; --set eval.split=val "
          "reads it") in out
  assert "data: test folder read: as set (on)" in out
  tasks = spec_lib.load_spec(spec_path)["root"]["dag"]["tasks"]
  assert "TestExampleGen" in tasks
  # No val folder: evaluation holds out part of train.
  input_config = spec_lib.constant(
      tasks["ImportExampleGen"]["inputs"]["parameters"]["input_config"],
      "input_config")
  assert "single_split" in input_config and "/val/" not in input_config
