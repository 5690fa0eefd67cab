"""Warm start: the weights file beside the SavedModel, loaded or refused.

The fast tests build tiny models and call modules/warm_start.py directly;
the slow ones run `run_fn` on the session run's ExampleGen and Transform
outputs, warm from the session's own Trainer model.
"""

import dataclasses
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from modules import model as model_lib
from modules import warm_start
from settings import config as config_lib
from settings import features
import serving_consumers

CLASSES = ("a", "b", "c")


def _config(**changes):
  changes = dict(dict(model__backbone="simple_cnn", model__input_size=16,
                      model__dropout=0.0, class_names=CLASSES,
                      train__warm_start=True), **changes)
  return config_lib.PipelineConfig().replace(**changes)


def _saved_base(tmp_path, config, name="base"):
  """A Model artifact folder holding a built model's weights file; returns
  (its Format-Serving path, as TFX gives base_model, and the model)."""
  model = model_lib.build_model(config)
  serving = os.path.join(str(tmp_path), name, "Format-Serving")
  path = warm_start.save_weights(model, config, serving)
  assert path == os.path.join(str(tmp_path), name, "Format-Keras",
                              "model.weights.h5")
  return serving, model


def _same_weights(first, second):
  return all(np.array_equal(a, b) for a, b in
             zip(first.get_weights(), second.get_weights()))


def test_weights_load_into_a_fresh_model_of_the_same_settings(tmp_path):
  config = _config()
  serving, base = _saved_base(tmp_path, config)
  fresh = model_lib.build_model(config)
  assert not _same_weights(fresh, base)
  record = warm_start.load_base_weights(fresh, config, serving)
  assert record == {"requested": True, "from": str(tmp_path / "base"),
                    "loaded": True, "reason": ""}
  assert _same_weights(fresh, base)
  assert warm_start.describe(record) == (
      f"warm start: from {tmp_path / 'base'} (loaded)")


def test_off_or_first_run_leaves_the_model_as_built(tmp_path):
  config = _config()
  serving, _ = _saved_base(tmp_path, config)
  model = model_lib.build_model(config)
  before = model.get_weights()
  off = warm_start.load_base_weights(
      model, config.replace(train__warm_start=False), serving)
  assert off["requested"] is False and off["loaded"] is False
  assert warm_start.describe(off) is None
  first = warm_start.load_base_weights(model, config, None)
  assert first["requested"] is True and first["loaded"] is False
  assert first["from"] is None and "first run" in first["reason"]
  assert warm_start.describe(first).startswith("cold start: no blessed")
  assert all(np.array_equal(a, b)
             for a, b in zip(before, model.get_weights()))


def test_a_model_without_a_weights_file_is_a_cold_start(tmp_path, caplog):
  config = _config()
  model = model_lib.build_model(config)
  with caplog.at_level("WARNING", logger="absl"):
    record = warm_start.load_base_weights(
        model, config, str(tmp_path / "old" / "Format-Serving"))
  assert record["loaded"] is False and record["from"] == str(tmp_path / "old")
  assert "Format-Keras/model.weights.h5" in record["reason"]
  assert any("training from scratch" in r.getMessage()
             for r in caplog.records)


@pytest.mark.parametrize("changes, named", [
    (dict(class_names=("a", "b", "c", "d")), "3 classes, this model has 4"),
    (dict(class_names=("a", "x", "c")), "class 1 is 'b', this model's is 'x'"),
    (dict(model__backbone="mobilenet_v3_small", model__input_size=32),
     "backbone is simple_cnn, this model's is mobilenet_v3_small"),
])
def test_weights_that_do_not_fit_are_named_and_not_loaded(tmp_path, changes,
                                                          named):
  serving, _ = _saved_base(tmp_path, _config())
  other = _config(**changes)
  model = model_lib.build_model(other)
  before = model.get_weights()
  record = warm_start.load_base_weights(model, other, serving)
  assert record["loaded"] is False and named in record["reason"], record
  assert warm_start.describe(record) == f"cold start: {record['reason']}"
  assert all(np.array_equal(a, b)
             for a, b in zip(before, model.get_weights()))


def test_keras_refusal_restores_the_weights(tmp_path):
  """Without the description file (or past it), Keras itself refuses
  weights of the wrong shapes; the half-loaded model is put back."""
  serving, _ = _saved_base(tmp_path, _config())
  os.remove(tmp_path / "base" / "Format-Keras" / warm_start.MODEL_INFO_FILE)
  other = _config(class_names=("a", "b", "c", "d"))
  model = model_lib.build_model(other)
  before = model.get_weights()
  record = warm_start.load_base_weights(model, other, serving)
  assert record["loaded"] is False
  assert record["reason"].startswith("its weights do not fit this model")
  assert all(np.array_equal(a, b)
             for a, b in zip(before, model.get_weights()))


def test_another_input_size_loads_and_says_so(tmp_path):
  serving, base = _saved_base(tmp_path, _config())
  bigger = _config(model__input_size=24)
  model = model_lib.build_model(bigger)
  record = warm_start.load_base_weights(model, bigger, serving)
  assert record["loaded"] is True
  assert "16-pixel inputs, this one on 24" in record["reason"]
  assert _same_weights(model, base)


def test_the_summary_shows_the_trainers_record(tmp_path):
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from pipeline.runner import summary  # pylint: disable=g-import-not-at-top
  model_run = standard_artifacts.ModelRun()
  model_run.uri = str(tmp_path)
  with open(tmp_path / features.TRAINING_HISTORY_FILE, "w") as f:
    json.dump({"warm_start": {
        "requested": True, "from": None, "loaded": False,
        "reason": "no blessed model yet (first run): training from "
                  "scratch"}}, f)
  line = summary._warm_start_line(summary._training_history(model_run))  # pylint: disable=protected-access
  assert line == ("cold start: no blessed model yet (first run): training "
                  "from scratch")
  text = summary.RunSummary(
      metrics={}, blessed=None, pushed=False, pushed_model_dir=None,
      evaluation_dir=None, model_dir="/m", warm_start=line).format(
          config_lib.PipelineConfig())
  assert f"  training           {line}" in text.splitlines()


# The slow tests: run_fn on the session run's ExampleGen and Transform
# outputs, with the session Trainer's own settings.


def _newest(output_dir, node, name):
  """The newest `pipeline_root/<node>/<name>/<id>` folder of a run."""
  paths = glob.glob(os.path.join(output_dir, "pipeline_root", node, name,
                                 "*"))
  assert paths, f"no {node} {name} output"
  return max(paths, key=lambda p: int(os.path.basename(p)))


def _history(model_run_dir):
  with open(os.path.join(model_run_dir, features.TRAINING_HISTORY_FILE),
            encoding="utf-8") as f:
    return json.load(f)


def _run_fn(pipeline_run, output_dir, config, base_model):
  """Trains one run_fn as the Trainer would; returns its training
  history."""
  from tfx.components.trainer import fn_args_utils  # pylint: disable=g-import-not-at-top
  from modules import trainer  # pylint: disable=g-import-not-at-top
  out = pipeline_run["output_dir"]
  examples = _newest(out, "ImportExampleGen", "examples")
  transform = _newest(out, "Transform", "transform_graph")
  model_run = os.path.join(output_dir, "model_run")
  trainer.run_fn(fn_args_utils.FnArgs(
      train_files=[os.path.join(examples, "Split-train", "*")],
      eval_files=[os.path.join(examples, "Split-eval", "*")],
      transform_output=transform, transform_graph_path=transform,
      serving_model_dir=os.path.join(output_dir, "model", "Format-Serving"),
      model_run_dir=model_run, base_model=base_model,
      custom_config=config.to_dict()))
  return _history(model_run)


def _session_trainer(pipeline_run):
  """(the session Trainer's Model artifact folder, its settings, its
  history)."""
  out = pipeline_run["output_dir"]
  history = _history(_newest(out, "Trainer", "model_run"))
  settings = config_lib.TrainerSettings.from_dict(history["config"])
  return _newest(out, "Trainer", "model"), settings, history


@pytest.mark.slow
def test_the_weights_stay_in_the_artifact_and_out_of_the_server(pipeline_run):
  model_uri, settings, history = _session_trainer(pipeline_run)
  assert os.path.isfile(warm_start.weights_path(model_uri))
  assert history["warm_start"] == {
      "requested": False, "from": None, "loaded": False,
      "reason": "train.warm_start is off"}
  # The Pusher copies Format-Serving only: the model server's folder holds
  # the SavedModel, not the Keras weights.
  versions = glob.glob(os.path.join(pipeline_run["output_dir"], "serving",
                                    "*"))
  assert versions
  for version in versions:
    names = {name for _, _, files in os.walk(version) for name in files}
    assert "saved_model.pb" in names
    assert warm_start.WEIGHTS_FILE not in names
    assert not os.path.exists(os.path.join(version, warm_start.KERAS_DIR))
  # And the weights are the exported model's: they load into a model
  # built from the same settings.
  model = model_lib.build_model(settings)
  record = warm_start.load_base_weights(
      model, dataclasses.replace(settings, train=dataclasses.replace(
          settings.train, warm_start=True)),
      os.path.join(model_uri, "Format-Serving"))
  assert record["loaded"] is True, record


@pytest.mark.slow
def test_a_warm_start_begins_with_a_lower_loss(pipeline_run, tmp_path):
  """Same data, same seed, same settings and the same first-epoch
  learning rate as the session Trainer's cold run: only the starting
  weights differ."""
  model_uri, settings, cold = _session_trainer(pipeline_run)
  warm_settings = dataclasses.replace(settings, train=dataclasses.replace(
      settings.train, warm_start=True, epochs=1))
  warm = _run_fn(pipeline_run, str(tmp_path), warm_settings,
                 os.path.join(model_uri, "Format-Serving"))
  assert warm["warm_start"] == {
      "requested": True, "from": model_uri, "loaded": True, "reason": ""}
  assert warm["epochs"][0]["loss"] < cold["epochs"][0]["loss"], (
      warm["epochs"][0], cold["epochs"][0])
  # Its own weights are saved for the run after it.
  assert os.path.isfile(warm_start.weights_path(str(tmp_path / "model")))
  # The warm-started model serves in a TF1 session as a cold one does.
  files = glob.glob(os.path.join(_newest(
      pipeline_run["output_dir"], "ImportExampleGen", "examples"),
      "Split-eval", "*"))
  examples = [r.numpy() for r in tf.data.TFRecordDataset(
      files, compression_type=features.record_compression(files)).take(4)]
  images = [tf.train.Example.FromString(e).features.feature[
      features.IMAGE_KEY].bytes_list.value[0] for e in examples]
  serving_consumers.assert_serves_in_a_tf1_session(
      str(tmp_path / "model" / "Format-Serving"), examples, images)


@pytest.mark.slow
def test_a_base_model_of_other_classes_is_a_named_cold_start(pipeline_run,
                                                             tmp_path):
  _, settings, _ = _session_trainer(pipeline_run)
  other = dataclasses.replace(settings,
                              class_names=tuple(settings.class_names[:5]))
  base_serving = str(tmp_path / "base" / "Format-Serving")
  warm_start.save_weights(model_lib.build_model(other), other, base_serving)
  warm_settings = dataclasses.replace(settings, train=dataclasses.replace(
      settings.train, warm_start=True, epochs=1))
  history = _run_fn(pipeline_run, str(tmp_path / "run"), warm_settings,
                    base_serving)
  record = history["warm_start"]
  assert record["loaded"] is False and record["from"] == str(tmp_path /
                                                             "base")
  assert (f"the base model has 5 classes, this model has "
          f"{settings.num_classes}") in record["reason"]
  # Training went on from scratch and exported a model.
  assert len(history["epochs"]) == 1
  assert os.path.isfile(tmp_path / "run" / "model" / "Format-Serving" /
                        "saved_model.pb")
