"""TFX's cache re-runs only what a settings change touches, and the summary
reports the run that just finished.

Four real `local_runner.py` runs into one output directory, on tiny 64x64
data, one epoch each, and the execution states that ML Metadata records for
each run (its `pipeline_run` context):
  1. a first run;
  2. only the gate changed: Transform and the Trainer are CACHED, the
     Evaluator and the Pusher run again;
  3. only an augmentation setting changed: Transform is CACHED, the Trainer
     runs again;
  4. other data: the summary names this run's model and metrics, not those
     of the runs before;
  5. the fourth run again, unchanged: every node CACHED, the baseline
     tasks, the Evaluator and the Pusher too, since the gate's baseline
     (BaselineModel) is the newest served model other than the candidate
     and the drift baseline (PreviousModel) the newest not trained on these
     Examples (pipeline/components/baseline/): the same inputs give the
     same baselines.

Every run keeps the default change gate; each is blessed, as expected of
one-epoch models whose macro F1 is near zero (any change is far inside the
tolerated drop), and each evaluation's baseline is the served model of
that moment.
"""

import os
import re

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from conftest import run_local_pipeline
from settings import records
from tools import make_sample_data

pytestmark = pytest.mark.slow

SMALL = dict(image_size=64, num_classes=104, head_classes=4, head_count=12,
             tail_count=3, test_count=5)
# One epoch, the default change gate.
COMMON = ("--epochs", "1")


def _store(output_dir):
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.join(output_dir,
                                                "metadata.sqlite")
  connection.sqlite.connection_mode = 1  # READONLY
  return metadata_store.MetadataStore(connection)


def _node_executions(store):
  """(run id, node id, execution) of every run, oldest run first."""
  node_type = store.get_context_type("node").id
  for run in sorted(store.get_contexts_by_type("pipeline_run"),
                    key=lambda context: context.id):
    for execution in store.get_executions_by_context(run.id):
      node = [context.name.split(".", 1)[1] for context in
              store.get_contexts_by_execution(execution.id)
              if context.type_id == node_type][0]
      yield run.name, node, execution


def _runs(output_dir):
  """Run id -> {node id: execution state}, straight from ML Metadata."""
  runs = {}
  for run, node, execution in _node_executions(_store(output_dir)):
    runs.setdefault(run, {})[node] = (
        metadata_store_pb2.Execution.State.Name(execution.last_known_state))
  return runs


def _evaluator_inputs(output_dir):
  """Run id -> {input key: [artifact URIs]} of the Evaluator's execution; a
  baseline that stands for no model (the baseline task found none) is
  left out."""
  store = _store(output_dir)
  inputs = {}
  for run, node, execution in _node_executions(store):
    if node != "Evaluator":
      continue
    by_key = {}
    for event in store.get_events_by_execution_ids([execution.id]):
      if event.type == metadata_store_pb2.Event.INPUT:
        [artifact] = store.get_artifacts_by_id([event.artifact_id])
        if records.no_baseline_reason(artifact.uri) is None:
          by_key.setdefault(event.path.steps[0].key, []).append(
              artifact.uri)
    inputs[run] = by_key
  return inputs


def _blessed_model_uris(output_dir):
  """URIs of the models the Evaluator blessed, in ML Metadata."""
  store = _store(output_dir)
  return {blessing.custom_properties["current_model"].string_value
          for blessing in store.get_artifacts_by_type("ModelBlessing")
          if blessing.custom_properties["blessed"].int_value == 1}


def _summary_value(stdout, name):
  match = re.search(rf"^  {name} +(\S+)", stdout, re.MULTILINE)
  assert match, f"no {name} line in the summary:\n{stdout}"
  return match.group(1)


def _run(data_root, output_dir, *flags):
  process = run_local_pipeline(data_root, output_dir, *COMMON, *flags)
  assert process.returncode == 0, (process.stdout[-5000:] +
                                   process.stderr[-5000:])
  return process.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  first = str(tmp_path_factory.mktemp("data-a"))
  second = str(tmp_path_factory.mktemp("data-b"))
  counts = {
      "a": make_sample_data.make_sample_data(first, val_fraction=0.67,
                                             seed=11, **SMALL),
      "b": make_sample_data.make_sample_data(second, val_fraction=0.34,
                                             seed=12, **SMALL)}
  assert counts["a"]["val"] != counts["b"]["val"]
  output_dir = str(tmp_path_factory.mktemp("runs"))
  stdouts = [
      _run(first, output_dir, "--min-macro-f1", "0.0"),
      _run(first, output_dir, "--min-macro-f1", "0.001"),
      _run(first, output_dir, "--min-macro-f1", "0.001",
           "--set", "augment.rotation=0.05"),
      _run(second, output_dir, "--min-macro-f1", "0.001",
           "--set", "augment.rotation=0.05"),
      _run(second, output_dir, "--min-macro-f1", "0.001",
           "--set", "augment.rotation=0.05"),
  ]
  return dict(output_dir=output_dir, stdouts=stdouts, counts=counts,
              states=_runs(output_dir),
              evaluator_inputs=_evaluator_inputs(output_dir),
              blessed=_blessed_model_uris(output_dir))


def test_each_run_is_a_pipeline_run_and_the_summary_names_it(runs):
  assert len(runs["states"]) == 5
  run_ids = [_summary_value(stdout, "run") for stdout in runs["stdouts"]]
  assert run_ids == list(runs["states"])
  # The default change gate blessed every one of these near-chance models.
  assert [_summary_value(stdout, "verdict") for stdout in runs["stdouts"]
          ] == ["BLESSED"] * 5


def test_changing_the_gate_caches_transform_and_the_trainer(runs):
  first, second = list(runs["states"].values())[:2]
  assert all(first[node] == "COMPLETE" for node in
             ("Transform", "Trainer", "Evaluator", "Pusher"))
  assert second["Transform"] == "CACHED"
  assert second["Trainer"] == "CACHED"
  assert second["Evaluator"] == "COMPLETE"
  assert second["Pusher"] == "COMPLETE"
  # The cached run's summary names the model it reused, and its own
  # evaluation.
  first_out, second_out = runs["stdouts"][:2]
  assert (_summary_value(second_out, "model") ==
          _summary_value(first_out, "model"))
  assert (_summary_value(second_out, "evaluation") !=
          _summary_value(first_out, "evaluation"))


def test_changing_augmentation_retrains_without_transform(runs):
  third = list(runs["states"].values())[2]
  assert third["Transform"] == "CACHED"
  assert third["Trainer"] == "COMPLETE"
  assert third["Evaluator"] == "COMPLETE"


def test_the_summary_reports_this_run_not_the_newest_artifacts(runs):
  """The fourth run (other data) names its own model and metrics."""
  third_out, fourth_out = runs["stdouts"][2:4]
  fourth = list(runs["states"].values())[3]
  assert fourth["ImportExampleGen"] == "COMPLETE"
  assert fourth["Trainer"] == "COMPLETE"
  model = _summary_value(fourth_out, "model")
  assert model != _summary_value(third_out, "model")
  assert os.path.isdir(model)
  assert int(_summary_value(fourth_out, "example_count")) == (
      runs["counts"]["b"]["val"])
  assert int(_summary_value(third_out, "example_count")) == (
      runs["counts"]["a"]["val"])
  # And reading the store again gives each run's own model.
  from pipeline.runner import summary  # pylint: disable=g-import-not-at-top
  metadata = os.path.join(runs["output_dir"], "metadata.sqlite")
  run_ids = list(runs["states"])
  assert summary.read_summary(metadata, run_ids[2]).model_dir == (
      _summary_value(third_out, "model"))
  assert summary.read_summary(metadata, run_ids[3]).model_dir == model
  assert summary.read_summary(metadata).run_id == run_ids[-1]


def test_an_unchanged_rerun_caches_the_evaluator_and_the_pusher(runs):
  fourth, fifth = list(runs["states"].values())[3:]
  assert fourth["Evaluator"] == "COMPLETE"
  # The baseline tasks too: the same inputs, the same served models.
  assert all(state == "CACHED" for state in fifth.values()), fifth
  assert fifth["Evaluator"] == "CACHED" and fifth["Pusher"] == "CACHED"


def test_the_baseline_is_the_served_model_but_never_the_candidate(runs):
  # Each evaluation compares its candidate with the newest model pushed
  # (blessed) before it, other than the candidate itself.
  evaluations = runs["evaluator_inputs"]
  blessed = runs["blessed"]
  # The fifth is the fourth's, reused (CACHED) with the same inputs.
  assert len(evaluations) == 5
  earlier_blessed = []
  for inputs in evaluations.values():
    (candidate,) = inputs["model"]
    baseline = inputs.get("baseline_model", [])
    others = [m for m in earlier_blessed if m != candidate]
    assert baseline == others[-1:], (inputs, earlier_blessed)
    if candidate in blessed and candidate not in earlier_blessed:
      earlier_blessed.append(candidate)
  # The gate-only run re-evaluated the first run's model: no baseline (it
  # was the only blessed model), not itself.
  first, second = list(evaluations.values())[:2]
  assert second["model"] == first["model"]
  assert not second.get("baseline_model")
  fourth, fifth = list(evaluations.values())[3:]
  assert fifth == fourth
  # The third run's new model had the first (blessed) one as baseline.
  assert first["model"][0] in blessed
  assert list(evaluations.values())[2]["baseline_model"] == first["model"]


def test_the_drift_baseline_is_the_served_model_of_other_data(runs):
  from pipeline.runner import summary  # pylint: disable=g-import-not-at-top
  metadata = os.path.join(runs["output_dir"], "metadata.sqlite")
  drifts = [summary.read_summary(metadata, run_id).validation.drift
            for run_id in runs["states"]]
  # The same Examples as the first run's model: no baseline, so the
  # gate-only and augmentation runs reuse the validator.
  assert [d["baseline"] for d in drifts[:3]] == [None] * 3
  second = list(runs["states"].values())[1]
  assert second["ExampleValidator"] == "CACHED"
  assert second["ImageValidator"] == "CACHED"
  # Other data: the latest blessed model (the third run's, or the first's
  # if the third was not blessed), trained on the first data, whose
  # profile it carries; the same class balance.
  latest_blessed = [_summary_value(stdout, "model")
                    for stdout in runs["stdouts"][:3]
                    if _summary_value(stdout, "verdict") == "BLESSED"][-1]
  assert drifts[3]["baseline"] == latest_blessed
  assert drifts[3]["distances"]["class"]["value"] == 0
  assert drifts[4] == drifts[3]
