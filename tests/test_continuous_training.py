"""New data arrives: two spans, two runs, as a user runs them (issue 16).

Span 1 has two head classes (a, b); span 2, written after the first run,
has two others (f, g): a strong change of class balance. The runs are
`local_runner.py` in a subprocess, with warm start on, into one output
folder, as docs/continuous-training.md's "New data arrives" shows.
Checked:

* the second run reads span 2, and its push record names it;
* its data validation warns of label drift against span 1 (the data of the
  latest blessed model), naming the shifted classes;
* its Trainer warm-starts from the first run's model, and its first-epoch
  loss is below a cold start's on the same data (a third run, warm start
  off: ExampleGen and Transform cached, the Trainer trains from scratch);
* the Evaluator's baseline of the second run is the first run's model,
  and the default change gate blesses the warm-started model;
* the cold third run is compared with the second run's model, the one then
  served;
* a fourth run, the second's flags again, reuses its Trainer (cached).
"""

import json
import os

import pytest

from conftest import run_local_pipeline
from pipeline.components.util import evaluation_reader as evaluation_lib
from settings import features
from pipeline.runner import summary as summary_lib
from tools import make_sample_data

SIZE = 64
CLASS_NAMES = ("a", "b", "c", "d", "e", "f", "g", "h")
EPOCHS = 3


def _write_span(data_root: str, span: int, head_first: int):
  make_sample_data.make_sample_data(
      data_root, image_size=SIZE, num_classes=len(CLASS_NAMES),
      head_classes=2, head_count=30, tail_count=6, val_fraction=0.34,
      test_count=8, seed=30 + span, head_first=head_first, span=span)


def _run(data_root, output_dir, classes_file, *extra):
  process = run_local_pipeline(
      data_root, output_dir, "--classes", classes_file, "--epochs",
      str(EPOCHS), "--min-macro-f1", "0", *extra)
  assert process.returncode == 0, (process.stdout[-5000:] +
                                   process.stderr[-10000:])
  result = summary_lib.read_summary(os.path.join(output_dir,
                                                 "metadata.sqlite"))
  return process.stdout, result


def _history(result):
  """The training history of the run's model (its model_run sibling)."""
  model_run = os.path.join(os.path.dirname(os.path.dirname(
      result.model_dir)), "model_run", os.path.basename(result.model_dir))
  with open(os.path.join(model_run, features.TRAINING_HISTORY_FILE)) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def two_spans(tmp_path_factory):
  """Run 1 on span 1, run 2 after span 2 arrives, run 3 cold on span 2,
  run 4 as run 2 again."""
  base = tmp_path_factory.mktemp("spans")
  data_root, output_dir = str(base / "data"), str(base / "out")
  classes_file = str(base / "classes.txt")
  with open(classes_file, "w") as f:
    f.write("\n".join(CLASS_NAMES) + "\n")
  _write_span(data_root, 1, head_first=0)
  first = _run(data_root, output_dir, classes_file, "--warm-start")
  _write_span(data_root, 2, head_first=5)
  second = _run(data_root, output_dir, classes_file, "--warm-start")
  cold = _run(data_root, output_dir, classes_file, "--no-warm-start")
  again = _run(data_root, output_dir, classes_file, "--warm-start")
  return dict(first=first, second=second, cold=cold, again=again)


@pytest.mark.slow
def test_second_run_reads_span_2_and_pushes_it(two_spans):
  stdout, first = two_spans["first"]
  assert first.blessed and first.pushed
  assert "data spans         span 1" in stdout
  stdout, second = two_spans["second"]
  assert "data spans         span 2" in stdout
  assert second.blessed and second.pushed
  with open(os.path.join(second.pushed_model_dir, "push_record.json")) as f:
    record = json.load(f)
  assert record["data"]["spans"] == "span 2"
  assert record["data"]["span"] == 2
  with open(second.report_path, encoding="utf-8") as f:
    report = f.read()
  assert "Data: span 2<br>" in report
  assert '<h2 id="drift">Data drift</h2>' in report


@pytest.mark.slow
def test_drift_warning_names_the_shifted_classes(two_spans):
  _, first = two_spans["first"]
  assert not first.validation.drift.get("baseline")
  stdout, second = two_spans["second"]
  drift = second.validation.drift
  assert drift["baseline"] == first.model_dir
  shifted = {entry["class"] for entry in drift["shifted_classes"]}
  assert shifted == {0, 1, 5, 6}
  warnings = [w for w in second.validation.warnings if "drift" in w]
  assert warnings, second.validation.warnings
  for name in ("'a'", "'b'", "'f'", "'g'"):
    assert name in warnings[0], warnings[0]
  assert "drift" in stdout


@pytest.mark.slow
def test_warm_start_from_the_first_model_beats_a_cold_start(two_spans):
  _, first = two_spans["first"]
  _, second = two_spans["second"]
  _, cold = two_spans["cold"]
  assert _history(first)["warm_start"]["loaded"] is False
  warm = _history(second)
  assert warm["warm_start"]["loaded"] is True
  assert warm["warm_start"]["from"].startswith(first.model_dir)
  cold_history = _history(cold)
  assert cold_history["warm_start"]["requested"] is False
  # The same data, seed and settings but the start.
  assert cold_history["train_examples"] == warm["train_examples"]
  assert warm["epochs"][0]["loss"] < cold_history["epochs"][0]["loss"]


@pytest.mark.slow
def test_the_evaluator_compares_with_span_1s_model(two_spans):
  _, first = two_spans["first"]
  _, second = two_spans["second"]
  evaluation = evaluation_lib.load_evaluation(second.evaluation_dir)
  assert evaluation.model_locations[evaluation_lib.BASELINE].startswith(
      first.model_dir)
  assert evaluation.model_locations[evaluation_lib.CANDIDATE].startswith(
      second.model_dir)
  # Warm-started on new data, it is not worse than span 1's model by more
  # than the noise: the default change gate measured and blessed it.
  assert [check["name"] for check in evaluation.gate.checks] == [
      "absolute", "change"]
  assert second.blessed and evaluation.validation_ok


@pytest.mark.slow
def test_the_cold_run_is_compared_with_the_served_model(two_spans):
  _, second = two_spans["second"]
  _, cold = two_spans["cold"]
  evaluation = evaluation_lib.load_evaluation(cold.evaluation_dir)
  assert evaluation.model_locations[evaluation_lib.BASELINE].startswith(
      second.model_dir)


@pytest.mark.slow
def test_an_unchanged_warm_start_rerun_is_cached(two_spans):
  """Run 4 repeats run 2: its warm start resolves the same base model (the
  latest blessed one not trained on span 2, though runs 2 and 3 were blessed
  since), so the Trainer is cached, not fine-tuned again."""
  _, second = two_spans["second"]
  _, again = two_spans["again"]
  assert again.executions["Trainer"] == "CACHED", again.executions
  assert again.model_dir == second.model_dir
