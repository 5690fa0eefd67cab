"""Ensembles: the settings, the weight fit, the DAG's members and the
compiled Kubeflow spec (the end-to-end runs are tests/test_ensemble_e2e.py).
"""

import json

import numpy as np
import pytest
from sklearn import metrics as sklearn_metrics

import kubeflow_runner
from settings import config as config_lib
from settings import ensemble as ensemble_settings
from pipeline import data_plan
from pipeline import pipeline as pipeline_lib
from pipeline.components.ensemble import weights as weights_lib
from test_kubeflow_runner import COMMON

CLASSES = ("a", "b", "c")
MEMBERS = ("simple_cnn", "simple_cnn:24", "mobilenet_v3_small:32:3")


def _config(members=MEMBERS):
  return config_lib.PipelineConfig(
      image_size=64, class_names=CLASSES).replace(
          model__input_size=32, train__epochs=2,
          ensemble__members=tuple(members))


def test_members_parse_with_their_own_size_and_epochs():
  parsed = ensemble_settings.parse_members(MEMBERS)
  assert [(m.backbone, m.input_size, m.epochs) for m in parsed] == [
      ("simple_cnn", 0, 0), ("simple_cnn", 24, 0),
      ("mobilenet_v3_small", 32, 3)]
  assert [m.trainer_id for m in parsed] == [
      "Trainer-simple-cnn", "Trainer-simple-cnn-24",
      "Trainer-mobilenet-v3-small-32-e3"]
  config = _config()
  member = ensemble_settings.member_config(config, parsed[2])
  assert (member.model.backbone, member.input_size, member.train.epochs) == (
      "mobilenet_v3_small", 32, 3)
  assert ensemble_settings.member_config(config, parsed[0]).input_size == 32


@pytest.mark.parametrize("members, message", [
    (("simple_cnn",), "2 to 8 members"),
    (("simple_cnn", "resnet9"), "unknown backbone 'resnet9'"),
    (("simple_cnn", "simple_cnn"), "given twice"),
    (("simple_cnn", "simple_cnn:x"), "expected BACKBONE"),
])
def test_bad_members_are_named(members, message):
  with pytest.raises(ValueError, match=message):
    _config(members)


def test_flag_and_set_give_the_same_members():
  from pipeline.runner import flags  # pylint: disable=g-import-not-at-top
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser()
  flags.add_logical_flags(parser)
  by_flag = flags.config_from_args(parser.parse_args(
      ["--image-size", "64", "--ensemble", "simple_cnn, simple_cnn:24"]))
  by_set = flags.config_from_args(parser.parse_args(
      ["--image-size", "64", "--set",
       "ensemble.members=simple_cnn,simple_cnn:24"]))
  assert by_flag.ensemble.members == by_set.ensemble.members == (
      "simple_cnn", "simple_cnn:24")


def test_a_single_models_trainer_settings_are_what_they_were():
  settings = config_lib.PipelineConfig(image_size=64,
                                       class_names=CLASSES).trainer_settings()
  assert sorted(settings) == ["augment", "class_names", "image_size",
                              "model", "train"]
  member = config_lib.PipelineConfig(
      image_size=64, class_names=CLASSES).trainer_settings(
          fit_slice_percent=10)
  assert member["fit_slice_percent"] == 10
  assert config_lib.TrainerSettings.from_dict(member).fit_slice_percent == 10


def test_fitted_weights_favour_the_better_member_and_lie_on_the_simplex():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, size=300)
  good = np.full((300, 3), 0.1)
  good[np.arange(300), labels] = 0.8
  noise = rng.dirichlet(np.ones(3), size=300)
  weights = weights_lib.fit_weights([noise, good], labels)
  assert sum(weights) == pytest.approx(1.0)
  assert all(0.0 <= w <= 1.0 for w in weights)
  assert weights[1] > 0.9
  # No other point of the simplex has a lower log loss.
  def log_loss(w):
    return sklearn_metrics.log_loss(
        labels, weights_lib.average([noise, good], [w, 1 - w]),
        labels=[0, 1, 2])
  best = log_loss(weights[0])
  assert all(best <= log_loss(w) + 1e-9 for w in np.linspace(0, 1, 101))


def test_scores_are_scikit_learns():
  labels = np.array([0, 1, 2, 2, 1])
  probabilities = np.eye(3)[[0, 2, 2, 1, 1]]
  scores = weights_lib.scores(labels, probabilities)
  assert scores["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(
      labels, [0, 2, 2, 1, 1], average="macro"))
  assert scores["class_f1"]["0"] == 1.0


def test_members_are_trainers_that_share_transform_by_input_size(tmp_path):
  config = _config()
  dag = pipeline_lib.create_pipeline(
      "p", str(tmp_path / "root"), data_plan.make_plan(str(tmp_path), config),
      str(tmp_path / "serving"), config)
  nodes = {node.id: node for node in dag.components}
  assert "Trainer" not in nodes
  upstream = {node_id: {n.id for n in node.upstream_nodes}
              for node_id, node in nodes.items()}
  assert "Transform" in upstream["Trainer-simple-cnn"]
  assert "Transform" in upstream["Trainer-mobilenet-v3-small-32-e3"]
  assert "Transform-24" in upstream["Trainer-simple-cnn-24"]
  assert [n for n in nodes if n.startswith("Transform")] == [
      "Transform", "Transform-24"]
  assert {"Trainer-simple-cnn", "Trainer-simple-cnn-24",
          "Trainer-mobilenet-v3-small-32-e3"} <= upstream["Ensemble"]
  for consumer in ("Evaluator", "EvalInference", "Pusher"):
    assert "Ensemble" in upstream[consumer], consumer
  # Each member's own settings, and the fit slice it leaves out.
  settings = json.loads(
      nodes["Trainer-mobilenet-v3-small-32-e3"].exec_properties[
          "custom_config"])
  assert settings["model"]["backbone"] == "mobilenet_v3_small"
  assert settings["train"]["epochs"] == 3
  assert settings["fit_slice_percent"] == 10
  assert json.loads(nodes["Transform-24"].exec_properties[
      "custom_config"]) == {"input_size": 24}
  ensemble = json.loads(nodes["Ensemble"].exec_properties["custom_config"])
  assert ensemble["fit_percent"] == 10
  assert [(m["name"], m["input_size"], m["epochs"])
          for m in ensemble["members"]] == [
              ("simple_cnn", 32, 2), ("simple_cnn_24", 24, 2),
              ("mobilenet_v3_small_32_e3", 32, 3)]


def test_no_transform_is_built_that_no_member_reads(tmp_path):
  """Members all of another input size than the config's: the DAG holds
  their Transform only, not the config's own (built and then discarded
  before)."""
  config = _config(members=("simple_cnn:24", "mobilenet_v3_small:24"))
  dag = pipeline_lib.create_pipeline(
      "p", str(tmp_path / "root"), data_plan.make_plan(str(tmp_path), config),
      str(tmp_path / "serving"), config)
  nodes = {node.id: node for node in dag.components}
  assert [n for n in nodes if n.startswith("Transform")] == ["Transform-24"]
  assert all(node.downstream_nodes for node_id, node in nodes.items()
             if node_id not in ("Pusher", "Report", "LiteRTPusher",
                                "BatchPrediction")), {
                                    node_id for node_id, node in nodes.items()
                                    if not node.downstream_nodes}


def test_adding_a_member_leaves_the_others_settings_as_they_were(tmp_path):
  def properties(members):
    config = _config(members)
    dag = pipeline_lib.create_pipeline(
        "p", str(tmp_path / "root"),
        data_plan.make_plan(str(tmp_path), config),
        str(tmp_path / "serving"), config)
    return {node.id: node.exec_properties.get("custom_config")
            for node in dag.components if node.id.startswith(
                ("Trainer", "Transform"))}
  two, three = properties(MEMBERS[:2]), properties(MEMBERS)
  assert {k: three[k] for k in two} == two
  assert set(three) - set(two) == {"Trainer-mobilenet-v3-small-32-e3"}


def test_kubeflow_runs_the_members_as_parallel_tasks(tmp_path):
  args = kubeflow_runner.parse_args(
      COMMON + ["--ensemble", ",".join(MEMBERS),
                "--input-size", "32",
                "--output", str(tmp_path / "spec.json")])
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    parsed = json.load(f)
  tasks = parsed["pipelineSpec"]["root"]["dag"]["tasks"]
  members = [m.trainer_id for m in ensemble_settings.parse_members(MEMBERS)]
  for member in members:
    assert member in tasks
    dependencies = set(tasks[member].get("dependentTasks", []))
    assert not dependencies & set(members), (member, dependencies)
  assert set(members) <= set(tasks["Ensemble"]["dependentTasks"])
  assert "Ensemble" in tasks["Evaluator"]["dependentTasks"]


def _ledger():
  return {
      "members": [
          {"model": "/m/a/Format-Serving", "uri": "/m/a", "name": "a",
           "backbone": "simple_cnn", "weight": 0.75, "macro_f1": 0.5,
           "class_f1": {"0": 0.5, "2": 0.25}},
          {"model": "/m/b/Format-Serving", "uri": "/m/b", "name": "b_32",
           "backbone": "simple_cnn", "weight": 0.25, "macro_f1": 0.4,
           "class_f1": {"0": 0.4}}],
      "ensemble": {"macro_f1": 0.6, "class_f1": {"0": 0.7, "2": 0.5}},
      "fit_slice": {"percent": 10, "records": 12, "ids": ["x"]},
      "weights_fitted_by": "scipy SLSQP, log loss on the simplex",
  }


def test_the_card_and_the_push_record_read_the_ledger(tmp_path):
  from pipeline.components.util import ensemble_servable  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import ensemble_section  # pylint: disable=g-import-not-at-top
  ensemble_servable.write_ledger(str(tmp_path), _ledger())
  entry = ensemble_servable.push_record_entry(str(tmp_path))
  assert entry["members"] == [
      {"uri": "/m/a", "name": "a", "backbone": "simple_cnn", "weight": 0.75,
       "macro_f1": 0.5},
      {"uri": "/m/b", "name": "b_32", "backbone": "simple_cnn",
       "weight": 0.25, "macro_f1": 0.4}]
  header, *rows = ensemble_section.table(_ledger(), CLASSES)
  assert header == ["fit slice", "a", "b_32", "ensemble"]
  assert rows == [["weight", "0.7500", "0.2500", "1"],
                  ["macro F1", "0.5000", "0.4000", "0.6000"],
                  ["F1 0 a", "0.5000", "0.4000", "0.7000"],
                  ["F1 2 c", "0.2500", "-", "0.5000"]]
  # A hand-made ensemble (tools/ensemble.py) or a single model: no entry.
  assert ensemble_servable.push_record_entry(str(tmp_path / "none")) is None
