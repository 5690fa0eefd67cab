"""The bench's pure helpers: targets, tables, records, MLMD component times.

No timing assertions here: the figures themselves come from `make bench`.
"""

import json
import os
import re
import sys

import pytest

from bench import input_path
from bench import mlmd_times
from bench import plain_keras
from bench import procmon
from bench import reasons
from bench import report
from bench import run as bench_run
from bench import sizes as bench_sizes
from bench.report import Figure, Target
from bench.sections import e2e


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
  # Each missed target's reason follows, as docs/benchmarks.md quotes it.
  assert printed.rstrip().endswith(
      "- **e2e / pipeline / plain wall time**: fixed start-up cost")


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
  counts = bench_sizes.FULL.split_counts()
  assert counts["train"] + counts["val"] >= 2000
  assert bench_sizes.QUICK.split_counts()["train"] < counts["train"]


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


# ---------------------------------------------------------------------------
# GPU check (bench/gpu_check.py), run here on CPU with a tiny model.

def test_peak_table_matches_nvidia_smi_names():
  from bench import gpu_peak
  h200 = gpu_peak.peak_tflops("NVIDIA H200", "mixed_float16")
  assert h200["tflops"] == 989.5 and "H200" in h200["source"]
  assert gpu_peak.peak_tflops("NVIDIA H100 PCIe", "mixed_float16")[
      "tflops"] == 756.5
  assert gpu_peak.peak_tflops("NVIDIA H100 80GB HBM3", "float32")[
      "tflops"] == 494.5
  assert gpu_peak.peak_tflops("Tesla T4", "float32")["tflops"] == 8.1
  # L40S is not an L4; an unknown chip has no peak, and says why.
  unknown = gpu_peak.peak_tflops("NVIDIA L40S", "mixed_float16")
  assert unknown["tflops"] is None and "L40S" in unknown["source"]
  assert gpu_peak.peak_tflops(None, "float32")["tflops"] is None


def test_input_bound_share():
  from bench import gpu_check
  assert gpu_check.input_bound_share(600.0, 1000.0) == pytest.approx(0.4)
  assert gpu_check.input_bound_share(1100.0, 1000.0) == 0.0  # keeps up
  assert gpu_check.input_bound_share(None, 1000.0) is None


# Convolutions and the dense layer of modules/model.py's simple_cnn at 64 px
# (2 FLOPs a multiply-add): what the profiler's count must be close to.
_SIMPLE_CNN_64_FLOPS = (2 * 9 * (64 * 64 * 3 * 32 + 32 * 32 * 32 * 64 +
                                 16 * 16 * 64 * 128) + 2 * 128 * 104)

# Every run in a gpu-check record carries these (bench/gpu_runs.py).
_GPU_CHECK_RUN_FIELDS = {
    "backbone", "feed", "jit_compile", "dtype_policy", "status",
    "global_batch_size",
    "steps_per_epoch", "warmup_epoch_seconds", "epoch_seconds",
    "images_per_second", "train_tflops_per_second", "fraction_of_peak",
    "peak_device_memory_gib"}


def _run_gpu_check(root, *extra):
  """bench/gpu_check.py with tiny sizes; the finished process."""
  import subprocess
  command = [sys.executable, os.path.join(bench_run.REPO_ROOT, "bench",
                                          "gpu_check.py"),
             "--backbones", "simple_cnn", "--image-size", "64", "--steps",
             "2", "--epochs", "1", "--examples", "16", "--shards", "2",
             "--batch-size", "4", "--input-seconds", "0.5",
             "--work-dir", str(root / "work"),
             "--results-dir", str(root / "results"), *extra]
  return subprocess.run(command, capture_output=True, text=True,
                        timeout=900, check=False,
                        env=dict(os.environ, PYTHONPATH=bench_run.REPO_ROOT))


@pytest.fixture(scope="module")
def gpu_check_cpu_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("gpu-check")
  # mixed_float16, as a GPU gets it: each model must train under it (Keras's
  # clear_session between runs resets the policy).
  process = _run_gpu_check(root, "--allow-cpu", "--precision",
                           "mixed_float16")
  assert process.returncode == 0, process.stdout[-3000:] + process.stderr[
      -5000:]
  records = list((root / "results").glob("gpu-check-*.json"))
  assert len(records) == 1
  return dict(stdout=process.stdout,
              record=json.loads(records[0].read_text()))


def test_gpu_check_on_cpu_records_every_field(gpu_check_cpu_run):
  record = gpu_check_cpu_run["record"]
  details = record["details"]
  assert "NOT A GPU RUN" in gpu_check_cpu_run["stdout"]
  assert details["device"]["on_gpu"] is False
  # The Trainer's own choice of strategy on this machine.
  assert details["strategy"] == "_DefaultDistributionStrategy"
  assert details["replicas"] == 1
  assert details["precision_policy"] == "mixed_float16"
  assert details["peak"]["precision"] == "float16"
  assert details["keras_auto_jit_compile"] == {"simple_cnn": False}
  assert details["peak"]["tflops"] is None and details["peak"]["source"]
  flops = details["forward_flops_per_image"]["simple_cnn"]
  assert 1.0 <= flops / _SIMPLE_CNN_64_FLOPS < 1.05
  assert details["train_flops_per_image"]["simple_cnn"] == 3 * flops
  assert details["input_pipeline_images_per_second"] > 0
  runs = details["runs"]
  assert {(r["feed"], r["jit_compile"]) for r in runs} == {
      ("tfrecord", False), ("tfrecord", True), ("synthetic", False),
      ("synthetic", True)}
  for run in runs:
    assert set(run) == _GPU_CHECK_RUN_FIELDS
    assert run["status"] == "measured"
    # The policy the check chose is the one each model trained under.
    assert run["dtype_policy"] == details["precision_policy"]
    assert run["images_per_second"] > 0 and len(run["epoch_seconds"]) == 1
    assert run["global_batch_size"] == 4 and run["steps_per_epoch"] == 2
    assert run["fraction_of_peak"] is None  # no peak known for a CPU
    assert run["train_tflops_per_second"] > 0
  names = {f["name"]: f for f in record["figures"]}
  for name in ("training, tfrecord, XLA [CPU, not a GPU figure]",
               "training, synthetic, no XLA [CPU, not a GPU figure]",
               "input-bound share of the TFRecord run, XLA",
               "fraction of peak FLOP/s, synthetic feed, no XLA",
               "forward pass per image (TF profiler)",
               "input pipeline alone (make_dataset, no model) [CPU, not a "
               "GPU figure]"):
    assert name in names, sorted(names)
  assert names["gpu check wall time"]["target"] == "< 480"
  assert record["settings"]["image_size"] == 64
  assert record["git"]["commit"]


def test_gpu_check_refuses_a_cpu_unless_asked(tmp_path):
  process = _run_gpu_check(tmp_path)
  assert process.returncode == 2
  assert "TensorFlow sees no GPU" in process.stderr
  assert not (tmp_path / "results").exists()


def test_split_startup_from_two_sizes():
  # 10 s start-up + 0.01 s per example, measured at 2,000 and 200 examples.
  split = mlmd_times.split_startup(30.0, 2000, 12.0, 200)
  assert split.startup_seconds == pytest.approx(10.0)
  assert split.work_seconds == pytest.approx(20.0)
  assert split.seconds_per_example == pytest.approx(0.01)
  # Noise can make the start-up negative; it is reported, not hidden.
  assert mlmd_times.split_startup(10.0, 2000, 0.5, 200).startup_seconds < 0
  with pytest.raises(ValueError, match="more examples"):
    mlmd_times.split_startup(10.0, 100, 5.0, 100)


def test_beam_worker_processes_are_counted(tmp_path):
  # A grandchild whose command line names Beam's worker module, as the
  # DirectRunner starts its workers, and one that does not.
  script = (
      "import subprocess, sys\n"
      "sleep = ['-c', 'import time; time.sleep(1.5)']\n"
      "workers = [subprocess.Popen([sys.executable, *sleep, '-m', "
      f"{procmon.BEAM_WORKER_MODULE!r}]) for _ in range(2)]\n"
      "other = subprocess.Popen([sys.executable, *sleep])\n"
      "[p.wait() for p in workers + [other]]\n")
  result = procmon.run_monitored([sys.executable, "-c", script],
                                 str(tmp_path / "log"), interval=0.1)
  assert result.ok
  assert result.beam_workers_started == 2


def test_plain_keras_figures_without_the_end_of_fit_stall():
  details = {
      "pipeline_192": {"returncode": 0, "wall_seconds": 120.0},
      "plain_keras_1": {"wall_seconds": 88.0,
                        "result": {"fit_teardown_seconds": 35.0}},
      "plain_keras_2": {"wall_seconds": 60.0,
                        "result": {"fit_teardown_seconds": 0.01}},
  }
  figures = []
  e2e.plain_keras_stall_figures(figures, details)
  by_name = {f.name: f for f in figures}
  without = by_name["plain Keras wall time without the end-of-fit stall "
                    "(faster of 2)"]
  assert without.value == pytest.approx(53.0)
  assert "35.0 s, 0.0 s" in without.note
  assert by_name["pipeline / plain wall time, plain without the "
                 "stall"].value == pytest.approx(120.0 / 53.0)
  # Without Trainer phases the pipeline's own stall is not known.
  assert by_name["pipeline / plain wall time, both without the "
                 "stall"].value is None
  # The Trainer's fit returned 30 s after its epochs ended (50 s of 80 s).
  figures = []
  e2e.plain_keras_stall_figures(figures, dict(details, e2e={
      "trainer_phase_seconds": {"set_up": 1.0, "fit": 80.0, "export": 1.0},
      "trainer_epoch_seconds": [25.0, 25.0]}))
  both = {f.name: f for f in figures}[
      "pipeline / plain wall time, both without the stall"]
  assert both.value == pytest.approx((120.0 - 30.0) / 53.0)
  assert "30.0 s" in both.note
  # A failed pipeline run leaves the ratio unmeasured.
  figures = []
  e2e.plain_keras_stall_figures(
      figures, dict(details, pipeline_192={"returncode": 1}))
  assert figures[1].value is None


def test_teardown_watchdog_records_stacks_only_when_fit_stalls(
    tmp_path, monkeypatch):
  monkeypatch.setattr(plain_keras, "STALL_SECONDS", 0.2)
  monkeypatch.setattr(plain_keras.shutil, "which", lambda name: None)
  stalled = plain_keras.TeardownWatchdog(str(tmp_path / "stalled.txt"))
  stalled.arm().join(timeout=30)
  assert stalled.dumped
  stacks = (tmp_path / "stalled.txt").read_text()
  assert "Python threads" in stacks
  # The main thread was here, waiting: its stack names this test.
  assert "test_teardown_watchdog_records_stacks_only_when" in stacks
  returned = plain_keras.TeardownWatchdog(str(tmp_path / "returned.txt"))
  thread = returned.arm()
  returned.returned.set()
  thread.join(timeout=30)
  assert not returned.dumped and not (tmp_path / "returned.txt").exists()


def test_beam_components_empty_job_needs_no_data(capsys):
  """The engine section times a one-element job without any data folder;
  the DirectRunner stands in for the job server here."""
  from bench import beam_components  # pylint: disable=g-import-not-at-top
  assert beam_components.main(["--beam-workers", "1", "--empty-job"]) == 0
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert printed["seconds"] > 0


def test_beam_components_needs_data_for_the_components(capsys):
  from bench import beam_components  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit) as exit_info:
    beam_components.main(["--beam-workers", "1"])
  assert exit_info.value.code == 2
  assert "--data-root and --output-dir are needed" in capsys.readouterr().err


def test_input_path_measures_every_variant(tiny_data_root, tmp_path):
  # bench/input_path.py end to end on the tiny set, briefly: every variant
  # gives a figure, the flip is counted where it runs (the model).
  import glob  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  data_root, _ = tiny_data_root
  raw_dir = os.path.join(data_root, features.image_dir_name(192))
  examples = tmp_path / "examples" / "Split-train"
  examples.mkdir(parents=True)
  # As ImportExampleGen writes them: the same records, GZIP.
  with tf.io.TFRecordWriter(str(examples / "data_tfrecord-00000.gz"),
                            "GZIP") as writer:
    for record in tf.data.TFRecordDataset(
        sorted(glob.glob(os.path.join(raw_dir, "train", "*.tfrec")))):
      writer.write(record.numpy())
  result = input_path.run(
      str(tmp_path / "examples"), raw_dir, 192, "", [64, 192], rounds=1,
      seconds=0.2, warmup_seconds=0.1, work_dir=str(tmp_path),
      schema_file=os.path.join(bench_run.REPO_ROOT, "schema",
                               "schema.pbtxt"))
  for size in ("64", "192"):
    by_size = result["by_input_size"][size]
    assert set(by_size["images_per_second"]) == set(input_path.VARIANTS)
    assert all(v > 0 for v in by_size["images_per_second"].values())
    assert by_size["augmentation"] == []
    assert by_size["model_augmentation"] == ["flip"]
    assert by_size["model_flip_on_host_overhead_cpu"] is not None


def test_a_failed_step_or_a_section_without_figures_fails_the_bench():
  figures = [Figure("e2e", "pipeline", 3.0, "s"),
             Figure("input 192->64", "decode only", None, "images/s"),
             Figure("input 512->64", "decode only", 9.0, "images/s"),
             Figure("beam", "StatisticsGen", None, "examples/s")]
  details = {"pipeline_192": {"returncode": 0}, "load_average_start": [1.0]}
  assert report.failures(figures, details, ["e2e", "input"]) == []
  assert report.failures(figures, details, ["e2e", "beam", "engines"]) == [
      "section beam measured nothing", "section engines measured nothing"]
  details["beam_workers"] = {"returncode": 2, "log": "b.log"}
  figures.append(Figure("cache", "re-run", None, "%", Target("<=", 10.0)))
  assert report.failures(figures, details, ["e2e"]) == [
      "step beam_workers failed (exit 2; log: b.log)",
      "not measured: cache: re-run"]
  # A step that is meant to stop with an error code (the import profile's
  # runner, on a missing folder) fails only on another code.
  del details["beam_workers"]
  figures.pop()
  details["import_profile"] = {"returncode": 1, "expected_returncode": 1}
  assert report.failures(figures, details, ["e2e"]) == []
  details["import_profile"]["returncode"] = 0
  assert report.failures(figures, details, ["e2e"]) == [
      "step import_profile failed (exit 0; log: None)"]


@pytest.mark.slow
@pytest.mark.engines  # Its engines section runs Flink (`make beam-jobs`).
def test_every_section_of_the_bench_measures_on_tiny_data(tmp_path):
  # The bench's own run, end to end, so that it cannot rot unseen: every
  # section runs and must measure. Its 13 minutes (2 shared cores) are the
  # fixed cost of 19 measured steps, each starting TensorFlow and TFX
  # (docs/benchmarks.md), not the data. Figures are not judged: a missed
  # target is a result.
  import subprocess  # pylint: disable=g-import-not-at-top
  process = subprocess.run(
      [sys.executable, os.path.join(bench_run.REPO_ROOT, "bench", "run.py"),
       "--tiny", "--work-dir", str(tmp_path / "work"), "--results-dir",
       str(tmp_path / "results")],
      cwd=bench_run.REPO_ROOT, capture_output=True, text=True, timeout=1800,
      check=False, env=dict(os.environ, PYTHONPATH=bench_run.REPO_ROOT))
  assert process.returncode == 0, (process.stdout[-6000:] +
                                   process.stderr[-3000:])
  (path,) = (tmp_path / "results").glob("*.json")
  record = json.loads(path.read_text())
  figures = [Figure.from_dict(f) for f in record["figures"]]
  sections = list(bench_run.SECTIONS)
  assert {"scale", "engines"} <= set(sections)
  assert report.failures(figures, record["details"], sections) == []
  assert record["settings"]["mode"] == "tiny"
  # Issue 25's targets: each one missed says where its time went and in
  # which code (tiny runs miss most of them: their fixed costs dominate).
  missed = [f for f in figures if f.status == report.MISSED and
            report.section_of(f.section) in ("e2e", "cache", "scale")]
  assert missed
  for figure in missed:
    assert reasons.files_named(figure.note), (figure.name, figure.note)
  # The Trainer's time outside its epochs, part by part, in each run (from
  # the phases its run_fn records in the training history).
  for section in ["e2e"] + [f"scale {fraction:g}" for fraction in
                            record["settings"]["scale_fractions"]]:
    parts = {f.name: f.value for f in figures if f.section == section and
             f.name in reasons.TRAINER_PARTS}
    assert set(parts) == set(reasons.TRAINER_PARTS), (section, parts)
    assert parts["Trainer set-up"] > 0 and parts["Trainer export"] > 0


def test_scale_section_full_size_is_the_kaggle_set_and_fractions_shrink_it():
  from bench.sections import scale
  from bench import sizes as sizes_lib
  from tools import make_sample_data
  full = sizes_lib.FULL
  def counts(fraction):
    args = scale.scaled_args(full, fraction)
    return [len(make_sample_data.split_labels(
        full.num_classes, args["head_classes"], args["head_count"],
        args["tail_count"], share)) for share in (1.0, args["val_fraction"])
            ] + [args["test_count"]]
  # The Kaggle set: 12,753 train, 3,712 val, 7,382 test images.
  for got, kaggle in zip(counts(1.0), (12753, 3712, 7382)):
    assert abs(got - kaggle) / kaggle < 0.02, (got, kaggle)
  eighth = counts(0.125)
  assert all(abs(e * 8 - f) / f < 0.1 for e, f in zip(eighth, counts(1.0)))


def test_scale_section_growth_is_the_least_squares_slope():
  from bench.sections import scale
  assert scale.slope_per_thousand([(1000, 30.0), (3000, 50.0),
                                   (5000, 70.0)]) == pytest.approx(10.0)
  assert scale.slope_per_thousand([(1000, 30.0)]) is None
  # 20 s at no images, 10 s per 1,000 (points off the line by +-1 s).
  fixed, per_image = scale.line_fit([(1000, 31.0), (3000, 49.0),
                                     (5000, 71.0)])
  assert fixed == pytest.approx(20.0, abs=0.7)
  assert per_image * 1000 == pytest.approx(10.0, abs=0.3)
  assert scale.outside_epochs(100.0, [20.0, 30.0]) == 50.0
  assert scale.outside_epochs(None, [20.0]) is None


def test_chosen_sections_bring_the_runs_they_need():
  assert bench_run.with_needs(["input"]) == ["e2e", "memory", "input"]
  assert bench_run.with_needs(["scale"]) == ["scale"]
  assert bench_run.with_needs(["cache", "e2e"]) == ["e2e", "cache"]


def test_every_file_a_missed_target_names_exists():
  # A reason that names code that is not there (a renamed module, a library
  # upgrade) would send the reader nowhere.
  import sysconfig  # pylint: disable=g-import-not-at-top
  texts = ([reasons.RUNNER] + list(reasons.TRAINER_PARTS.values()) +
           [part for pair in reasons.CODE.values() for part in pair])
  named = {path for text in texts for path in reasons.files_named(text)}
  assert len(named) >= 12
  roots = (bench_run.REPO_ROOT, sysconfig.get_paths()["purelib"])
  missing = [path for path in named
             if not any(os.path.isfile(os.path.join(root, path))
                        for root in roots)]
  assert not missing


def test_import_profile_splits_the_time_between_libraries(tmp_path):
  # Two packages that sleep while imported, one importing the other: each
  # library's own time, not the importer's time including its imports.
  import subprocess  # pylint: disable=g-import-not-at-top
  (tmp_path / "alpha").mkdir()
  (tmp_path / "alpha" / "__init__.py").write_text(
      "import time\nimport beta\nfrom alpha import inner\n")
  (tmp_path / "alpha" / "inner.py").write_text(
      "import time\ntime.sleep(0.3)\n")
  (tmp_path / "beta.py").write_text("import time\ntime.sleep(0.6)\n")
  process = subprocess.run(
      [sys.executable, "-X", "importtime", "-c", "import alpha"],
      cwd=tmp_path, capture_output=True, text=True, check=True)
  seconds = reasons.import_seconds(process.stderr)
  assert list(seconds)[:2] == ["beta", "alpha"]
  assert 0.6 <= seconds["beta"] < 0.9
  assert 0.3 <= seconds["alpha"] < 0.55
  line = reasons.describe_imports(seconds, 1.2)
  assert "local_runner.py` up to its data plan took 1.2 s" in line
  assert "beta 0.6" in line


def test_a_missed_pass_is_split_into_fixed_and_per_image_time():
  # 1,000 images against a limit of 1,000 images/s: half of it allows 2 s.
  # 3 s at 0 images is over that alone; 2 ms per image is twice the
  # limit's 1 ms.
  line = reasons.pass_reason("Transform", 1000, 5.0, 1000.0, 0.5,
                             (3.0, 0.002))
  assert "5.0 s for 1000 images where 0.5x of the limit allows 2.0 s" in line
  assert "3.0 s of it at 0 images (alone over the allowance)" in line
  assert "2.0x the limit's time per image" in line
  assert "tensorflow_transform/beam/impl.py" in line
  under = reasons.pass_reason("EvalInference", 1000, 2.5, 1000.0, 0.5,
                              (0.5, 0.002))
  assert "alone over" not in under
  assert "at 0 images" not in reasons.pass_reason(
      "Evaluator", 1000, 2.5, 1000.0, 0.5)
  # Sizes whose times differ by less than their noise: no negative cost.
  noisy = reasons.pass_reason("StatisticsGen", 1000, 3.1, 1000.0, 0.5,
                              (3.2, -0.0001))
  assert "puts all of it at 0 images" in noisy
  assert not re.search(r"-\d", noisy), noisy


def test_time_outside_the_epochs_is_split_into_its_parts():
  items = reasons.outside_items(100.0, {"Transform": 10.0, "Trainer": 50.0,
                                        "Pusher": 0.5}, [30.0])
  assert items == [(reasons.RUNNER_NAME, 39.5), (reasons.TRAINER_NAME, 20.0),
                   ("Transform", 10.0), ("Pusher", 0.5)]
  line = reasons.outside_reason(100.0, {"Transform": 10.0, "Trainer": 50.0,
                                        "Pusher": 0.5}, [30.0], 40,
                                imports="importing tfx.v1 took 9.0 s",
                                top=2, fit=(50.0, 0.01), images=1000)
  assert line.startswith("over 40 s; its largest parts: runner start-up")
  assert "local_runner.py; importing tfx.v1 took 9.0 s" in line
  assert "modules/trainer.py" in line and "the other 2 parts 10.5 s" in line
  assert "50.0 s at 0 images (what no data size removes, alone over" in line
  assert "10.00 s per 1,000 images (10 s for these 1000)" in line


def test_the_trainers_time_outside_its_epochs_is_split_by_its_phases():
  # A 50 s Trainer: 30 s of epochs inside a 31 s fit, 6 s of set-up and
  # 4 s of export in run_fn; the other 9 s are TFX's around run_fn.
  phases = {"set_up": 6.0, "fit": 31.0, "export": 4.0}
  items = dict(reasons.outside_items(100.0, {"Trainer": 50.0}, [10.0, 20.0],
                                     phases))
  assert items == {reasons.RUNNER_NAME: 50.0, "Trainer around run_fn": 9.0,
                   "Trainer set-up": 6.0,
                   "Trainer fit outside its epochs": 1.0,
                   "Trainer export": 4.0}
  # Each part names the code that spends it, and the parts add up to the
  # Trainer's time outside its epochs.
  assert sum(seconds for name, seconds in items.items()
             if name != reasons.RUNNER_NAME) == 50.0 - 30.0
  for name in reasons.TRAINER_PARTS:
    assert reasons.files_of(name), name
  assert "modules/serving.py" in reasons.outside_reason(
      100.0, {"Trainer": 50.0}, [10.0, 20.0], 20, trainer_phases=phases)
  # An older history without phases: one part, as before.
  assert reasons.outside_items(100.0, {"Trainer": 50.0}, [30.0], {}) == [
      (reasons.RUNNER_NAME, 50.0), (reasons.TRAINER_NAME, 20.0)]


def test_a_missed_rerun_is_split_into_its_own_time_and_the_components():
  # 20 s against a 100 s first run: 10% allows 10 s. The runner's own time
  # is the wall minus the components; the Evaluator executed again.
  line = reasons.rerun_reason(
      20.0, {"Trainer": 0.5, "Transform": 0.5, "Evaluator": 6.0},
      ["Evaluator"], 100.0, 10, imports="importing tfx.v1 took 9.0 s")
  assert line.startswith("20.0 s where 10% of the first run's 100.0 s "
                         "allows 10.0 s: 13.0 s of it outside the "
                         "components' executions")
  assert ("importing tfx.v1 took 9.0 s), 1.0 s inside the cached "
          "components' executions") in line
  assert "tfx/orchestration/portable/cache_utils.py" in line
  assert line.endswith("executed again: Evaluator 6.0 s (" +
                       reasons.files_of("Evaluator") + ")")
