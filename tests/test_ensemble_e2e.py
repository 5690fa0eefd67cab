"""End to end: two ensemble members, the Ensemble, the gate and the push.

Two real `local_runner.py` runs into one output directory on tiny generated
64x64 data, one epoch, members at 32 and 24 pixels (so one shares the
pipeline's Transform and one has its own):
  1. `--ensemble simple_cnn,simple_cnn:24`;
  2. the same plus a third member, `simple_cnn:32:2`.
The checks read what the runs wrote (the pushed model, its ledger and push
record, the Evaluator's output, ML Metadata) and recompute it independently.
"""

import glob
import json
import os

import numpy as np
import pytest
from sklearn import metrics as sklearn_metrics

from conftest import run_local_pipeline
import serving_consumers
from test_run_cache import _runs
from tools import make_sample_data

pytestmark = pytest.mark.slow

SMALL = dict(image_size=64, num_classes=104, head_classes=4, head_count=12,
             tail_count=3, test_count=5, val_fraction=0.67, seed=11)
# The default change gate: one-epoch members are near chance, so a new
# ensemble's change is far inside the tolerated drop, and each run must be
# blessed (the second is compared with the first's ensemble).
COMMON = ("--epochs", "1", "--input-size", "32", "--min-macro-f1", "0.0",
          "--set", "ensemble.fit_percent=20")
MEMBERS = "simple_cnn,simple_cnn:24"
THIRD = "simple_cnn:32:2"


def _run(data_root, output_dir, *flags):
  process = run_local_pipeline(data_root, output_dir, *COMMON, *flags)
  assert process.returncode == 0, (process.stdout[-5000:] +
                                   process.stderr[-8000:])
  assert "  verdict            BLESSED" in process.stdout, (
      process.stdout[-3000:])
  return process.stdout


def _pushed(output_dir):
  """(version folder, push record) of each pushed version, oldest first."""
  versions = sorted(glob.glob(os.path.join(output_dir, "serving", "*",
                                           "push_record.json")),
                    key=lambda path: int(path.split(os.sep)[-2]))
  result = []
  for path in versions:
    with open(path, encoding="utf-8") as f:
      result.append((os.path.dirname(path), json.load(f)))
  return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  data_root = str(tmp_path_factory.mktemp("data"))
  make_sample_data.make_sample_data(data_root, **SMALL)
  output_dir = str(tmp_path_factory.mktemp("runs"))
  _run(data_root, output_dir, "--ensemble", MEMBERS)
  first_states = _runs(output_dir)
  first_pushed = _pushed(output_dir)
  _run(data_root, output_dir, "--ensemble", f"{MEMBERS},{THIRD}")
  return dict(output_dir=output_dir, first_pushed=first_pushed,
              first_states=first_states, states=_runs(output_dir),
              pushed=_pushed(output_dir))


def _split_files(output_dir, split):
  files = glob.glob(os.path.join(
      output_dir, "pipeline_root", "**", "ImportExampleGen", "examples",
      "*", f"Split-{split}", "*"), recursive=True)
  assert files, f"no {split} split files under {output_dir}"
  return sorted(files)


def _predict(model_dir, files):
  # Imported here: TensorFlow loads only once the runs are done.
  from pipeline.components.util import serving_model  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import batch_predict  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  result, skipped = batch_predict.predict_files(
      serving_model.load_serving_model(model_dir), files,
      config_lib.PredictConfig.batch_size)
  assert not skipped
  return result


def _ledger(model_dir):
  with open(os.path.join(model_dir, "assets.extra", "ensemble.json"),
            encoding="utf-8") as f:
    return json.load(f)


def test_the_push_record_names_the_members_and_their_weights(runs):
  (_, record), = runs["first_pushed"]
  members = record["ensemble"]["members"]
  assert [m["backbone"] for m in members] == ["simple_cnn", "simple_cnn"]
  assert [m["name"] for m in members] == ["simple_cnn", "simple_cnn_24"]
  assert abs(sum(m["weight"] for m in members) - 1.0) < 1e-6
  for member in members:
    assert 0.0 <= member["weight"] <= 1.0
    assert 0.0 <= member["macro_f1"] <= 1.0
    assert os.path.isdir(os.path.join(member["uri"], "Format-Serving"))
  assert record["blessing"]


@pytest.mark.parametrize("version", [0, 1], ids=["two", "three"])
def test_pushed_probabilities_are_the_members_weighted_average(runs, version):
  version_dir, record = runs["pushed"][version]
  eval_files = _split_files(runs["output_dir"], "eval")
  ensemble = _predict(version_dir, eval_files)
  members = [(_predict(os.path.join(m["uri"], "Format-Serving"), eval_files),
              m["weight"]) for m in record["ensemble"]["members"]]
  expected = sum(weight * p.probabilities for p, weight in members)
  for p, _ in members:
    np.testing.assert_array_equal(p.ids, ensemble.ids)
  np.testing.assert_allclose(ensemble.probabilities, expected, atol=1e-5)
  # The gate's macro F1 is scikit-learn's on those probabilities.
  from pipeline.components.util import evaluation_reader as evaluation  # pylint: disable=g-import-not-at-top
  result = evaluation.load_evaluation(record["evaluation"])
  gated = result.metrics[evaluation.CANDIDATE]["macro_f1"]
  assert gated == pytest.approx(sklearn_metrics.f1_score(
      ensemble.labels, expected.argmax(axis=1), average="macro"), abs=1e-6)


def test_the_ensemble_serves_in_a_tf1_session(runs):
  version_dir, _ = runs["first_pushed"][0]
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  files = _split_files(runs["output_dir"], "eval")[:1]
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      files, compression_type=features.record_compression(files)).take(4)]
  images = [tf.train.Example.FromString(r).features.feature[
      "image"].bytes_list.value[0] for r in records]
  serving_consumers.assert_serves_in_a_tf1_session(version_dir, records,
                                                   images)


def test_the_fit_slice_is_in_no_eval_and_no_training_data(runs):
  from modules import dataset  # pylint: disable=g-import-not-at-top
  from modules import fit_slice  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  version_dir, record = runs["first_pushed"][0]
  ledger = _ledger(version_dir)
  fit_ids = set(ledger["fit_slice"]["ids"])
  assert len(fit_ids) == ledger["fit_slice"]["records"] > 0
  output_dir = runs["output_dir"]
  eval_ids = set(_predict(version_dir, _split_files(output_dir, "eval")).ids)
  train_ids = set(_predict(version_dir,
                           _split_files(output_dir, "train")).ids)
  assert fit_ids <= train_ids
  assert not fit_ids & eval_ids
  for member in record["ensemble"]["members"]:
    # The settings that member's Trainer trained with, read back from its
    # training record, and the stream its run_fn reads with them: one epoch
    # of it (shuffled before it repeats) is exactly train less the slice.
    trainer_id = "Trainer-" + member["name"].replace("_", "-")
    histories = glob.glob(os.path.join(
        output_dir, "pipeline_root", "**", trainer_id, "model_run", "*",
        features.TRAINING_HISTORY_FILE), recursive=True)
    assert len(histories) == 1, histories
    with open(histories[0], encoding="utf-8") as f:
      settings = config_lib.TrainerSettings.from_dict(
          json.load(f)["config"])
    assert settings.fit_slice_percent == ledger["fit_slice"]["percent"]
    stream = dataset.read_records(_split_files(output_dir, "train"),
                                  settings, batch_size=1, training=True)
    seen = [str(ids.numpy()[0], "utf-8") for ids in stream.take(
        len(train_ids - fit_ids)).map(fit_slice.record_ids)]
    assert set(seen) == train_ids - fit_ids


def test_adding_a_member_retrains_only_that_member(runs):
  first, second = list(runs["states"].values())
  trainers = {node for node in second if node.startswith("Trainer")}
  assert trainers == {"Trainer-simple-cnn", "Trainer-simple-cnn-24",
                      "Trainer-simple-cnn-32-e2"}
  assert second["Trainer-simple-cnn-32-e2"] == "COMPLETE"
  for node in ("Trainer-simple-cnn", "Trainer-simple-cnn-24", "Transform",
               "Transform-24", "ImportExampleGen", "StatisticsGen"):
    assert first[node] == "COMPLETE", node
    assert second[node] == "CACHED", node
  assert second["Ensemble"] == "COMPLETE"
  (_, record), = [p for p in runs["pushed"] if p not in runs["first_pushed"]]
  assert [m["name"] for m in record["ensemble"]["members"]] == [
      "simple_cnn", "simple_cnn_24", "simple_cnn_32_e2"]
  # Gated against the served model of the class list: the first run's
  # ensemble, with the change measured.
  from pipeline.components.util import evaluation_reader as evaluation  # pylint: disable=g-import-not-at-top
  second = evaluation.load_evaluation(record["evaluation"])
  assert second.has_baseline
  first_model = runs["first_pushed"][0][1]["model"]["uri"]
  assert first_model in second.model_locations[evaluation.BASELINE]
  assert [check["name"] for check in second.gate.checks] == [
      "absolute", "change"]


def test_the_model_card_and_the_report_show_the_members(runs):
  version_dir, record = runs["first_pushed"][0]
  with open(os.path.join(version_dir, "model_card.md"),
            encoding="utf-8") as f:
    card = f.read()
  assert "## Ensemble members" in card
  weights = [f"{m['weight']:.4f}" for m in record["ensemble"]["members"]]
  assert f"| weight | {weights[0]} | {weights[1]} | 1 |" in card
  reports = glob.glob(os.path.join(runs["output_dir"], "pipeline_root", "**",
                                   "Report", "report", "*", "report.html"),
                      recursive=True)
  assert reports
  with open(min(reports, key=os.path.getmtime), encoding="utf-8") as f:
    page = f.read()
  assert 'id="ensemble"' in page and "simple_cnn_24" in page
