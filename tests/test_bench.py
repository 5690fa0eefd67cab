"""The bench's pure helpers: targets, tables, records, MLMD component times.

No timing assertions here: the figures themselves come from `make bench`.
"""

import json
import os
import sys

import pytest

from bench import input_path
from bench import mlmd_times
from bench import plain_keras
from bench import procmon
from bench import report
from bench import run as bench_run
from bench.report import Figure, Target


def test_targets_are_judged_met_missed_or_not_measured():
  assert Figure("e2e", "ratio", 1.2, "x", Target("<=", 1.5)).status == "MET"
  assert Figure("e2e", "ratio", 1.5, "x", Target("<=", 1.5)).status == "MET"
  assert Figure("e2e", "ratio", 1.51, "x",
                Target("<=", 1.5)).status == "MISSED"
  assert Figure("mem", "rss", 8.0, "GiB", Target("<", 8)).status == "MISSED"
  assert Figure("mem", "rss", None, "GiB",
                Target("<", 8)).status == "NOT MEASURED"
  assert Figure("input", "images/s", 900.0, "images/s").status == ""
  with pytest.raises(ValueError, match="operator"):
    Target("=<", 1.0)


def _figures():
  return [
      Figure("e2e", "pipeline / plain wall time", 2.25, "x",
             Target("<=", 1.5), note="fixed start-up cost"),
      Figure("memory", "peak RSS", 3.5, "GiB", Target("<", 8.0)),
      Figure("input 192->64", "notebook tf.data", 2692.5, "images/s"),
      Figure("cache", "re-run / first run", None, "%", Target("<=", 10.0)),
  ]


def test_table_shows_value_target_and_status_on_each_row():
  lines = report.format_table(_figures()).splitlines()
  assert lines[0].split() == ["Section", "Figure", "Value", "Target",
                              "Status"]
  ratio_row = next(line for line in lines if "pipeline / plain" in line)
  assert "2.25x" in ratio_row and "<= 1.50x" in ratio_row
  assert ratio_row.rstrip().endswith("MISSED")
  assert next(l for l in lines if "peak RSS" in l).rstrip().endswith("MET")
  assert "2,692 images/s" in next(l for l in lines if "notebook" in l)
  assert "NOT MEASURED" in next(l for l in lines if "re-run" in l)
  # Columns line up: every row starts its Value column at the same place.
  value_column = lines[0].index("Value")
  for line in lines[2:6]:
    assert line[value_column - 2:value_column] == "  "
  assert "* e2e / pipeline / plain wall time: fixed start-up cost" in lines


def test_markdown_table_and_summary():
  markdown = report.format_markdown(_figures()).splitlines()
  assert markdown[0].startswith("| Section | Figure |")
  assert len(markdown) == 2 + len(_figures())
  assert "**MISSED**" in markdown[2] and "**MET**" in markdown[3]
  assert report.target_summary(_figures()) == (
      "1 of 3 targets MET; MISSED: pipeline / plain wall time; re-run / "
      "first run")


def test_record_is_written_as_json_with_provenance(tmp_path):
  import datetime
  started = datetime.datetime(2026, 1, 2, 3, 4, 5)
  record = report.make_record(
      _figures(), {"epochs": 10}, {"pipeline_192": {"wall_seconds": 1.0}},
      {"commit": "abc", "short_commit": "abc", "uncommitted_changes": False},
      {"logical_cores": 2}, started, ["bench/run.py", "--quick"])
  path = report.write_record(record, str(tmp_path / "results"), started)
  assert os.path.basename(path) == "20260102-030405.json"
  loaded = json.load(open(path))
  assert loaded["git"]["commit"] == "abc"
  assert loaded["settings"] == {"epochs": 10}
  assert loaded["command"] == ["bench/run.py", "--quick"]
  statuses = {f["name"]: (f["status"], f["target"]) for f in
              loaded["figures"]}
  assert statuses["pipeline / plain wall time"] == ("MISSED", "<= 1.5")
  assert statuses["notebook tf.data"] == ("", None)


def test_record_figures_print_back_as_the_markdown_table(tmp_path, capsys):
  import datetime
  started = datetime.datetime(2026, 1, 2, 3, 4, 5)
  record = report.make_record(_figures(), {}, {}, {}, {}, started, [])
  path = report.write_record(record, str(tmp_path), started)
  restored = [Figure.from_dict(f) for f in json.load(open(path))["figures"]]
  assert restored == _figures()
  assert report.main([path]) == 0
  printed = capsys.readouterr().out
  assert report.format_markdown(_figures()) in printed
  assert "1 of 3 targets MET" in printed


def test_machine_info_names_cores_memory_and_cpu():
  info = report.machine_info()
  assert info["logical_cores"] >= 1
  assert info["memory_gib"] > 0
  assert info["cpu_model"]


def test_epochs_for_ratio():
  # A: 200 s fixed + 10 s/epoch; B: 30 s fixed + 9 s/epoch.
  assert report.epochs_for_ratio(1.5, 300, 120, 10, 10, 9) == 45
  # Already within the bound at any number of epochs.
  assert report.epochs_for_ratio(1.5, 100, 100, 10, 5, 5) == 0
  # A's epochs are too slow for the ratio ever to be reached.
  assert report.epochs_for_ratio(1.5, 300, 120, 10, 20, 9) == float("inf")


def test_augmentation_overhead_is_extra_time_per_image():
  assert input_path.augmentation_overhead(800.0, 1000.0) == pytest.approx(
      0.25)
  assert input_path.augmentation_overhead(1000.0, 1000.0) == 0.0


def test_notebook_counts_examples_from_kaggle_file_names():
  assert plain_keras.count_data_items(
      ["/d/train/00-192x192-798.tfrec", "01-192x192-12.tfrec"]) == 810


def test_full_bench_runs_on_at_least_2000_images():
  counts = bench_run.FULL.split_counts()
  assert counts["train"] + counts["val"] >= 2000
  assert bench_run.QUICK.split_counts()["train"] < counts["train"]


# ---------------------------------------------------------------------------
# ML Metadata.

def _run(node, state, run_id, start, end):
  return mlmd_times.ComponentRun(node, state, run_id, start, end)


def test_latest_pipeline_run_and_component_seconds():
  runs = [
      _run("ImportExampleGen", "COMPLETE", "run1", 1_000, 31_000),
      _run("Transform", "COMPLETE", "run1", 31_500, 61_500),
      _run("ImportExampleGen", "CACHED", "run2", 100_000, 100_250),
      _run("Transform", "CACHED", "run2", 100_300, 100_400),
  ]
  latest = mlmd_times.latest_pipeline_run(runs)
  assert {run.pipeline_run for run in latest} == {"run2"}
  assert mlmd_times.component_seconds(runs[:2]) == {
      "ImportExampleGen": 30.0, "Transform": 30.0}
  assert list(mlmd_times.component_seconds(reversed(latest))) == [
      "ImportExampleGen", "Transform"]
  assert mlmd_times.latest_pipeline_run([]) == []


def test_component_runs_are_read_from_an_mlmd_store():
  from ml_metadata.metadata_store import metadata_store
  from ml_metadata.proto import metadata_store_pb2 as pb

  connection = pb.ConnectionConfig()
  connection.fake_database.SetInParent()
  store = metadata_store.MetadataStore(connection)
  type_ids = {name: store.put_context_type(pb.ContextType(name=name))
              for name in ("pipeline", "pipeline_run", "node")}
  execution_type = store.put_execution_type(
      pb.ExecutionType(name="tfx.components.transform.component.Transform"))

  def context(kind, name):
    context_id = store.put_contexts(
        [pb.Context(type_id=type_ids[kind], name=name)])[0]
    return store.get_contexts_by_id([context_id])[0]

  pipeline = context("pipeline", "flowers")
  for run_id, state in (("2026-01-01T10:00", pb.Execution.COMPLETE),
                        ("2026-01-01T11:00", pb.Execution.CACHED)):
    run_context = context("pipeline_run", run_id)
    for node in ("ImportExampleGen", "Transform"):
      node_name = f"flowers.{node}"
      existing = store.get_context_by_type_and_name("node", node_name)
      node_context = existing or context("node", node_name)
      store.put_execution(
          pb.Execution(type_id=execution_type, last_known_state=state),
          artifact_and_events=[],
          contexts=[pipeline, run_context, node_context])
  # An execution outside any pipeline node is ignored.
  store.put_executions([pb.Execution(type_id=execution_type)])

  runs = mlmd_times.read_component_runs(store)
  assert sorted((r.pipeline_run, r.node_id, r.state) for r in runs) == [
      ("2026-01-01T10:00", "ImportExampleGen", "COMPLETE"),
      ("2026-01-01T10:00", "Transform", "COMPLETE"),
      ("2026-01-01T11:00", "ImportExampleGen", "CACHED"),
      ("2026-01-01T11:00", "Transform", "CACHED"),
  ]
  assert all(run.seconds >= 0 for run in runs)


# ---------------------------------------------------------------------------
# Process-tree memory.

_CHILD_ALLOCATES = """
import subprocess, sys
grandchild = ("import time; block = bytearray(150 * 2**20); "
              "block[::4096] = b'x' * len(block[::4096]); time.sleep(1.5)")
subprocess.run([sys.executable, "-c", grandchild], check=True)
print("done")
"""


def test_peak_rss_counts_grandchildren(tmp_path):
  log_path = str(tmp_path / "child.log")
  result = procmon.run_monitored([sys.executable, "-c", _CHILD_ALLOCATES],
                                 log_path, interval=0.1)
  assert result.ok
  assert result.peak_process_rss_bytes >= 150 * 2**20
  assert result.peak_tree_rss_bytes >= result.peak_process_rss_bytes
  assert open(log_path).read().strip() == "done"


_CHILD_HANGS = """
import subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c",
                               "import time; time.sleep(120)"])
print(grandchild.pid, flush=True)
grandchild.wait()
"""


def test_timeout_kills_the_whole_tree(tmp_path):
  import psutil
  log_path = str(tmp_path / "child.log")
  result = procmon.run_monitored([sys.executable, "-c", _CHILD_HANGS],
                                 log_path, timeout=2.0)
  assert not result.ok
  grandchild = int(open(log_path).read().split()[0])
  try:
    psutil.Process(grandchild).wait(timeout=10)
  except psutil.NoSuchProcess:
    pass  # already gone
  assert not psutil.pid_exists(grandchild) or (
      psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE)
