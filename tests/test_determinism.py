"""Training on the real input path: reproducible on request, and a second
training phase that continues the data stream instead of replaying it.

Uses the session run's ExampleGen and Transform outputs. Each training runs
`run_fn` in its own process, as two `make run`s would (op determinism is
process-wide, so it also stays out of the other tests' process).
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

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


def _train_and_predict(inputs, output_dir, deterministic):
  """Runs run_fn in a fresh process; returns (macro F1, probabilities) of
  the exported model on the eval split."""
  env = dict(os.environ, PYTHONPATH=REPO_ROOT)
  process = subprocess.run(
      [sys.executable, os.path.abspath(__file__), json.dumps(inputs),
       output_dir, str(deterministic)],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
      check=False)
  assert process.returncode == 0, process.stderr[-5000:]
  with open(os.path.join(output_dir, "predictions.json")) as f:
    result = json.load(f)
  return result["macro_f1"], np.array(result["probabilities"])


def test_deterministic_training_gives_the_same_macro_f1(pipeline_run,
                                                        tmp_path):
  inputs = _inputs(pipeline_run)
  first_f1, first = _train_and_predict(inputs, str(tmp_path / "a"), True)
  second_f1, second = _train_and_predict(inputs, str(tmp_path / "b"), True)
  assert first_f1 == pytest.approx(second_f1, abs=1e-6)
  np.testing.assert_allclose(first, second, atol=1e-6)
  assert 0 < first_f1 <= 1


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


def _main(inputs_json, output_dir, deterministic):
  """The training process: run_fn on the inputs, then the eval split
  through the exported model's serving signature."""
  from pipeline import runtime  # pylint: disable=g-import-not-at-top
  runtime.configure()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  from tfx.components.trainer import fn_args_utils  # pylint: disable=g-import-not-at-top
  from modules import trainer  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  inputs = json.loads(inputs_json)
  config = config_lib.PipelineConfig().replace(
      train__epochs=2, model__warmup_epochs=1,
      train__deterministic=deterministic == "True")
  # The Trainer's settings as the pipeline passes them (a per-component
  # view where the config has one).
  custom_config = getattr(config, "trainer_settings", config.to_dict)()
  serving_dir = os.path.join(output_dir, "serving")
  trainer.run_fn(fn_args_utils.FnArgs(
      train_files=inputs["train_files"], eval_files=inputs["eval_files"],
      transform_output=inputs["transform_output"],
      transform_graph_path=inputs["transform_output"],
      serving_model_dir=serving_dir,
      model_run_dir=os.path.join(output_dir, "run"),
      custom_config=custom_config))
  files = sorted(f for pattern in inputs["eval_files"]
                 for f in tf.io.gfile.glob(pattern))
  serialized = [r.numpy() for r in
                tf.data.TFRecordDataset(
                    files, compression_type=features.record_compression(files))]
  labels = [tf.train.Example.FromString(s).features.feature[
      features.LABEL_KEY].int64_list.value[0] for s in serialized]
  model = tf.saved_model.load(serving_dir)
  probabilities = model.signatures["serving_default"](
      examples=tf.constant(serialized))[features.PROBABILITIES_KEY].numpy()
  macro_f1 = sk_metrics.f1_score(labels, probabilities.argmax(axis=1),
                                 average="macro")
  with open(os.path.join(output_dir, "predictions.json"), "w") as f:
    json.dump({"macro_f1": macro_f1,
               "probabilities": probabilities.tolist()}, f)


if __name__ == "__main__":
  _main(*sys.argv[1:])
