"""Tuning: TFX's Tuner with KerasTuner (modules/tuner.py), off by default.

Fast tests check the search space and how a trial's values reach the
Trainer's settings; the slow one runs the pipeline once with a tiny budget
(2 trials of 1 epoch) and checks that the pushed model was trained with the
best trial's values and that the report shows the trials.
"""

import glob
import json
import os

import pytest
import tensorflow as tf

from conftest import run_local_pipeline
from modules import hyperparameters
from pipeline.runner import overrides
from settings import config as config_lib
from settings import features
from pipeline.components.report import render
import serving_consumers


def _settings(**changes):
  config = config_lib.PipelineConfig().replace(**changes)
  return config_lib.TrainerSettings.from_dict(config.trainer_settings())


def test_a_trials_values_set_their_fields_and_are_checked():
  settings = _settings()
  tuned = hyperparameters.apply_hyperparameters(settings, {
      "train.learning_rate": 0.01, "model.dropout": 0.3,
      "augment.strength": 0.2, "model.backbone": "mobilenet_v3_small"})
  assert tuned.train.learning_rate == 0.01
  assert tuned.model.dropout == 0.3
  assert (tuned.augment.rotation, tuned.augment.zoom,
          tuned.augment.shift) == (0.2, 0.2, 0.2)
  assert tuned.model.backbone == "mobilenet_v3_small"
  assert tuned.train.epochs == settings.train.epochs  # Untouched.
  assert hyperparameters.apply_hyperparameters(settings, None) is settings
  with pytest.raises(ValueError, match="unknown hyperparameters"):
    hyperparameters.apply_hyperparameters(settings, {"train.momentum": 0.9})
  with pytest.raises(ValueError, match="model.dropout"):
    hyperparameters.apply_hyperparameters(settings, {"model.dropout": 1.5})


def test_search_space_has_the_configured_choices():
  from modules import tuner  # pylint: disable=g-import-not-at-top
  tune = config_lib.TuneConfig(learning_rates=(0.001, 0.01),
                               backbones=("simple_cnn",))
  space = {hp.name: hp.values for hp in tuner.search_space(tune).space}
  assert space == {"train.learning_rate": [0.001, 0.01],
                   "model.dropout": [0.1, 0.3],
                   "augment.strength": [0.0, 0.1],
                   "model.backbone": ["simple_cnn"]}
  assert set(space) == set(hyperparameters.HP_FIELDS)


def test_tuning_is_off_by_default_and_checked():
  assert not config_lib.PipelineConfig().tune.enabled
  config = overrides.apply_overrides(config_lib.PipelineConfig(),
      ["tune.enabled=true", "tune.learning_rates=0.001,0.01"])
  assert config.tune.learning_rates == (0.001, 0.01)
  with pytest.raises(ValueError, match="tune.backbones"):
    overrides.apply_overrides(config_lib.PipelineConfig(), ["tune.backbones=resnet9000"])
  with pytest.raises(ValueError, match="tune.trials"):
    overrides.apply_overrides(config_lib.PipelineConfig(), ["tune.trials=0"])


@pytest.mark.slow
def test_tuned_run_pushes_a_model_trained_with_the_best_trial(
    tiny_data_root, tmp_path):
  data_root, _ = tiny_data_root
  output_dir = str(tmp_path / "run")
  process = run_local_pipeline(
      data_root, output_dir, "--tune", "--epochs", "1", "--min-macro-f1",
      "0", "--set", "tune.trials=2", "--set", "tune.epochs_per_trial=1",
      "--set", "tune.backbones=simple_cnn",
      "--set", "tune.learning_rates=0.0001,0.003",
      "--set", "predict.test_split=off")
  assert process.returncode == 0, (process.stdout[-3000:] +
                                   process.stderr[-5000:])
  assert "verdict            BLESSED" in process.stdout
  root = os.path.join(output_dir, "pipeline_root")
  [results] = glob.glob(os.path.join(root, "Tuner", "tuner_results", "*",
                                     "tuner_results.json"))
  trials = json.load(open(results))
  assert len(trials) == 2
  assert trials[0]["score"] >= trials[1]["score"]
  [best_file] = glob.glob(os.path.join(root, "Tuner", "best_hyperparameters",
                                       "*", "best_hyperparameters.txt"))
  best = json.load(open(best_file))["values"]
  assert best == {key: value for key, value in trials[0].items()
                  if key not in ("trial_id", "score")}
  [history_file] = glob.glob(os.path.join(root, "Trainer", "model_run", "*",
                                          "training_history.json"))
  history = json.load(open(history_file))
  assert history["hyperparameters"] == best
  assert history["config"]["train"]["learning_rate"] == best[
      "train.learning_rate"]
  assert history["config"]["model"]["dropout"] == best["model.dropout"]
  assert history["config"]["augment"]["rotation"] == best["augment.strength"]
  pushed = glob.glob(os.path.join(output_dir, "serving", "*",
                                  "saved_model.pb"))
  assert len(pushed) == 1
  # The best trial's retrained model serves in a TF1 session too.
  val_files = glob.glob(os.path.join(
      data_root, features.image_dir_name(features.DEFAULT_IMAGE_SIZE),
      features.VAL_SPLIT_DIR, features.TFRECORD_PATTERN))
  examples = [r.numpy() for r in tf.data.TFRecordDataset(val_files).take(4)]
  images = [tf.train.Example.FromString(e).features.feature[
      features.IMAGE_KEY].bytes_list.value[0] for e in examples]
  serving_consumers.assert_serves_in_a_tf1_session(
      os.path.dirname(pushed[0]), examples, images)
  [report_dir] = glob.glob(os.path.join(root, "Report", "report", "*"))
  record = json.load(open(os.path.join(report_dir, render.METRICS_FILE)))
  assert record["tuner_trials"] == trials
  page = open(os.path.join(report_dir, render.REPORT_FILE)).read()
  assert 'id="tuning"' in page and page.count("<tr><td>") >= 2
