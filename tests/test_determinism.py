"""The same command gives the same model, and a second training phase
continues the data stream instead of replaying it.

Reproducibility is checked as a user would meet it: one `local_runner.py`
command, run into two fresh output folders on data with no `val` folder
(ExampleGen cuts the eval split from train by a hash of `id`) and with two
Beam worker processes, the settings where ExampleGen's output order used to
change from run to run. Both runs must give byte-identical Examples, the
same macro F1 and the same probabilities for every eval example. The phase
test uses the session run's ExampleGen and Transform outputs.
"""

import filecmp
import glob
import os
import re
import shutil

import numpy as np
import pytest

from conftest import run_local_pipeline
from pipeline.components.util import predictions as predictions_lib
from settings import features

pytestmark = pytest.mark.slow


def _latest(output_dir, *parts):
  paths = sorted(glob.glob(os.path.join(output_dir, "pipeline_root", *parts,
                                        "*")),
                 key=lambda p: int(os.path.basename(p)))
  assert paths, f"no {parts} output"
  return paths[-1]


def _inputs(pipeline_run):
  out = pipeline_run["output_dir"]
  examples = _latest(out, "ImportExampleGen", "examples")
  return dict(
      train_files=[os.path.join(examples, "Split-train", "*")],
      eval_files=[os.path.join(examples, "Split-eval", "*")],
      transform_output=_latest(out, "Transform", "transform_graph"))


@pytest.fixture(scope="module")
def same_command_twice(tiny_data_root, tmp_path_factory):
  """The tiny data without its val folder; one command, two output
  folders."""
  data_root, _ = tiny_data_root
  no_val = str(tmp_path_factory.mktemp("no_val"))
  shutil.copytree(data_root, no_val, dirs_exist_ok=True)
  shutil.rmtree(os.path.join(no_val, features.image_dir_name(
      features.DEFAULT_IMAGE_SIZE), features.VAL_SPLIT_DIR))
  outputs = []
  for name in ("a", "b"):
    output_dir = str(tmp_path_factory.mktemp(f"same_{name}"))
    process = run_local_pipeline(no_val, output_dir, "--epochs", "2",
                                 "--min-macro-f1", "0", "--beam-workers",
                                 "2")
    assert process.returncode == 0, (process.stdout[-3000:] +
                                     process.stderr[-5000:])
    outputs.append((output_dir, process.stdout))
  return outputs


def _summary_value(stdout, name):
  match = re.search(rf"^  {name} +(.+)$", stdout, re.MULTILINE)
  assert match, stdout[-3000:]
  return match.group(1)


def test_the_same_command_gives_the_same_model(same_command_twice):
  (first_dir, first), (second_dir, second) = same_command_twice
  assert "no val folder" in first
  assert _summary_value(first, "reproducible").startswith("yes: ")
  # The same records in the same files, in the same order.
  first_examples = _latest(first_dir, "ImportExampleGen", "examples")
  second_examples = _latest(second_dir, "ImportExampleGen", "examples")
  for split in ("Split-train", "Split-eval"):
    names = sorted(os.listdir(os.path.join(first_examples, split)))
    assert names == sorted(os.listdir(os.path.join(second_examples, split)))
    _, mismatch, errors = filecmp.cmpfiles(
        os.path.join(first_examples, split),
        os.path.join(second_examples, split), names, shallow=False)
    assert not mismatch and not errors, (split, mismatch, errors)
  # The same model: the same macro F1 and the same probabilities.
  assert _summary_value(first, "macro_f1") == _summary_value(second,
                                                             "macro_f1")
  predictions = [predictions_lib.read_predictions(
      _latest(output_dir, "EvalInference", "predictions"),
      features.EVAL_SPLIT) for output_dir in (first_dir, second_dir)]
  np.testing.assert_array_equal(predictions[0].ids, predictions[1].ids)
  np.testing.assert_array_equal(predictions[0].probabilities,
                                predictions[1].probabilities)
  assert len(predictions[0]) > 0


def test_phase_two_continues_the_order_and_the_flips(pipeline_run):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from modules import dataset as dataset_lib  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  inputs = _inputs(pipeline_run)
  tft_output = tft.TFTransformOutput(inputs["transform_output"])
  # As `make run`: its flip is in the model (RandomFlipLeftRight), so the
  # stream holds the order alone.
  config = config_lib.PipelineConfig()
  dataset = lambda start: dataset_lib.make_dataset(
      inputs["train_files"], tft_output, 8, config, training=True,
      start_batch=start)
  whole = list(dataset(0).take(5))
  continued = list(dataset(3).take(2))
  for (images, labels), (want_images, want_labels) in zip(continued,
                                                          whole[3:]):
    np.testing.assert_array_equal(images.numpy(), want_images.numpy())
    np.testing.assert_array_equal(labels.numpy(), want_labels.numpy())
  assert not np.array_equal(continued[0][0].numpy(), whole[0][0].numpy())
  assert tf.executing_eagerly()
