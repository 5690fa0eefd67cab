"""`make bench`: the pipeline against the notebook approach, on this machine.

    python bench/run.py            # the full bench (13-25 minutes on 2 cores)
    python bench/run.py --quick    # smaller sizes, to check it works (8-12)
    python bench/run.py --tiny     # the least that measures every section

Most of either is fixed cost (process and Beam worker start-up, four
pipeline runs), so the times depend more on the machine's load than on the
sizes.

Prints a table of figures, each with its target and MET / MISSED, and writes
the record (commit, machine, settings, every figure, the raw details) to
`bench/results/<timestamp>.json`. Sections, in the order they run:

1. e2e: `local_runner.py` (2 DirectRunner workers) on a generated 192x192
   set (full: 1,640 train + 584 val = 2,224 images, 10 epochs) against
   `bench/plain_keras.py` (the notebooks' tf.data + Keras, the same model
   and epochs) on the same TFRecords, and the time of each component from
   the run's ML Metadata store. Target: pipeline / plain <= 1.5.
2. cache: the same `local_runner.py` command again, twice, into the same
   output directory. Target: the first re-run takes <= 10% of the first run.
3. memory: peak RSS of the process tree (`bench/procmon.py`) of the e2e run
   (target < 8 GiB) and of a run on a generated 512x512 set (the same 2,224
   images at 512x512, 2 epochs; target < 16 GiB).
   memory 512 input: peak RSS of a run on the 512x512 set that trains at
   512x512 input (MobileNetV3-Small, random weights, 1 epoch; < 16 GiB).
4. startup: each Beam component's start-up apart from its work, from a run
   of the same pipeline on a small set (one image per class and split) and
   the e2e run (`mlmd_times.split_startup`; docs/benchmarks.md).
5. beam: StatisticsGen and Transform throughput (examples/s from the
   component times) with 2 DirectRunner workers (the e2e run) and with 1 (a
   partial run of the same pipeline up to them, `bench/beam_components.py`).
6. input: images/s of the Trainer's training input (`make_dataset`,
   augmented), the same without augmentation, and the notebooks' tf.data,
   on the ExampleGen output of the 192 and 512 runs, at the pipeline's model
   input size (64) and at the data's own size (`bench/input_path.py`).
   Target: augmentation adds at most 25% to the decode-only time, judged on
   CPU time per image: on a shared 2-core machine wall-clock images/s of
   one round varied up to 2x, CPU time per image by a few percent (both
   are recorded).

On by default (`--no-engines` leaves it out; `--engines-only` runs it alone):

6. engines: StatisticsGen and Transform throughput on Flink's embedded
   mini-cluster, parallelism 1 and 2, against the DirectRunner with 2
   workers: the same partial run as section 4, on one Flink job server
   (`make beam-jobs` fetches it; docs/beam-engines.md) with the SDK harness
   in LOOPBACK. The job server's start-up and the fixed cost of a job (a
   one-element job: Flink's mini-cluster and the harness starting) are
   figures of their own, and "work only" throughput takes that fixed cost
   out of each component's time.

Ratios come from runs made one after the other in the same bench run. The
machine may be shared: the record keeps the load average before and after
each section, and the input figures use the median of interleaved rounds.
"""

import argparse
import dataclasses
import datetime
import glob
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from bench import mlmd_times  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import procmon  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.report import Figure, Target  # pylint: disable=g-import-not-at-top,wrong-import-position

GIB = 2**30
# Targets (docs/benchmarks.md).
MAX_AUGMENTATION_OVERHEAD_PERCENT = 25.0
MAX_PIPELINE_TO_PLAIN = 1.3
MAX_FIXED_SECONDS = 40.0  # The pipeline's time outside training epochs.
MAX_CACHED_RERUN_PERCENT = 10.0
MAX_GATE_RERUN_PERCENT = 30.0
# The gate the bench's runs open (every run pushes), and the one the
# gate-only re-run sets instead: the Evaluator's threshold alone changes.
OPEN_GATE = "0"
CHANGED_GATE = "0.001"
MAX_RSS_SAMPLE_GIB = 8.0
MAX_RSS_512_GIB = 16.0
# The sections before the optional engines one, in the order they run
# (report.section_of names each figure's).
PIPELINE_SECTIONS = ("e2e", "cache", "memory", "beam", "startup", "input")
# DirectRunner workers of the pipeline runs; the Beam section compares them
# with a 1-worker run.
BEAM_WORKERS = 2
# Flink parallelisms of the optional engine section.
ENGINE_PARALLELISMS = (1, 2)


@dataclasses.dataclass(frozen=True)
class Sizes:
  """How big each run is. `make_sample_data.py` arguments and epochs."""
  head_count: int
  tail_count: int
  epochs: int
  epochs_512: int
  input_rounds: int
  input_seconds: float
  val_fraction: float = 0.35
  # Unlabelled images of the `test` folder: the runs predict it
  # (TestExampleGen, BatchPrediction), as a user's run with a test folder.
  test_count: int = 150
  head_classes: int = 4
  num_classes: int = 104

  def split_counts(self) -> Dict[str, int]:
    """Train and val examples the generator writes for these sizes."""
    from tools import make_sample_data  # pylint: disable=g-import-not-at-top
    counts = {}
    for split, fraction in (("train", 1.0), ("val", self.val_fraction)):
      counts[split] = len(make_sample_data.split_labels(
          self.num_classes, self.head_classes, self.head_count,
          self.tail_count, fraction))
    return counts


# Full: at least 2,000 images in both sets (1,640 train + 584 val), epochs
# kept low so that the whole bench fits in 30 minutes on 2 cores. Quick: the
# end-to-end tests' size.
FULL = Sizes(head_count=60, tail_count=14, epochs=10, epochs_512=2,
             input_rounds=3, input_seconds=3.0)
QUICK = Sizes(head_count=12, tail_count=3, epochs=2, epochs_512=1,
              input_rounds=1, input_seconds=1.5, test_count=20)
# Tiny: the least that still measures every section (tests/test_bench.py
# runs it): one epoch, and just enough head-class images that each split
# has more examples than the startup section's small run (its line fit
# needs two sizes).
TINY = Sizes(head_count=6, tail_count=2, epochs=1, epochs_512=1,
             input_rounds=1, input_seconds=0.5, test_count=4)


def python_env() -> Dict[str, str]:
  return dict(os.environ, PYTHONPATH=REPO_ROOT)


def log(message: str) -> None:
  print(f"[bench {datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def load_average() -> List[float]:
  return [round(x, 2) for x in os.getloadavg()]


def make_data(work_dir: str, image_size: int, sizes: Sizes) -> str:
  """Generates (or reuses) a sample-style data set; returns its data root."""
  key = (f"{image_size}px-h{sizes.head_count}-t{sizes.tail_count}"
         f"-test{sizes.test_count}")
  data_root = os.path.join(work_dir, "data", key)
  marker = os.path.join(data_root, ".complete")
  if os.path.exists(marker):
    log(f"reusing {data_root}")
    return data_root
  shutil.rmtree(data_root, ignore_errors=True)
  log(f"generating {image_size}x{image_size} data in {data_root}")
  command = [sys.executable, os.path.join(REPO_ROOT, "tools",
                                          "make_sample_data.py"),
             "--output", data_root, "--image-size", str(image_size),
             "--head-count", str(sizes.head_count),
             "--tail-count", str(sizes.tail_count),
             "--val-fraction", str(sizes.val_fraction),
             "--test-count", str(sizes.test_count)]
  run = procmon.run_monitored(command, data_root + ".log", env=python_env(),
                              cwd=REPO_ROOT)
  if not run.ok:
    raise RuntimeError(f"make_sample_data.py failed; see {run.log_path}")
  open(marker, "w", encoding="utf-8").close()
  return data_root


def tail(path: str, lines: int = 15) -> str:
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return "".join(f.readlines()[-lines:])
  except OSError:
    return ""


def run_step(name: str, command: List[str], log_path: str,
             details: Dict[str, Any]) -> Optional[procmon.MonitoredRun]:
  """Runs one measured command; records it; None if it failed."""
  shown = [os.path.relpath(arg, REPO_ROOT) if arg.startswith(REPO_ROOT)
           else arg for arg in command[1:]]
  log(f"{name}: {' '.join(shown)}")
  load_before = load_average()
  run = procmon.run_monitored(command, log_path, env=python_env(),
                              cwd=REPO_ROOT)
  details[name] = {
      "command": command,
      "returncode": run.returncode,
      "wall_seconds": round(run.wall_seconds, 2),
      "peak_tree_rss_gib": round(run.peak_tree_rss_bytes / GIB, 3),
      "peak_process_rss_gib": round(run.peak_process_rss_bytes / GIB, 3),
      "rss_samples": run.samples,
      "beam_workers_started": run.beam_workers_started,
      "log": log_path,
      "load_average_before": load_before,
      "load_average_after": load_average(),
  }
  if not run.ok:
    details[name]["error"] = tail(log_path)
    log(f"{name} FAILED (exit {run.returncode}); log: {log_path}")
    print(details[name]["error"], flush=True)
    return None
  log(f"{name}: {run.wall_seconds:.0f} s, peak RSS "
      f"{run.peak_tree_rss_bytes / GIB:.2f} GiB")
  return run


def local_runner_command(data_root: str, output_dir: str, image_size: int,
                         epochs: int) -> List[str]:
  # The gate is opened (--min-macro-f1 0) so that every run pushes, as a
  # notebook always saves its model: the work is the same whatever the
  # small model learned in few epochs. Beam runs as the runner chooses by
  # default (pipeline/beam.py `resolve_local_profile`: in-process on a
  # 2-core machine); the Beam section compares worker processes with it.
  return [sys.executable, os.path.join(REPO_ROOT, "local_runner.py"),
          "--data-root", data_root, "--output-dir", output_dir,
          "--image-size", str(image_size), "--epochs", str(epochs),
          "--min-macro-f1", OPEN_GATE]


def gate_changed(command: List[str]) -> List[str]:
  """`command` (local_runner_command's) with only the quality gate changed."""
  index = command.index("--min-macro-f1") + 1
  assert command[index] == OPEN_GATE, command
  return command[:index] + [CHANGED_GATE] + command[index + 1:]


def latest_dir(pattern: str) -> Optional[str]:
  """The artifact folder with the highest id among those `pattern` matches."""
  paths = [p for p in glob.glob(pattern) if os.path.basename(p).isdigit()]
  return max(paths, key=lambda p: int(os.path.basename(p)), default=None)


def pipeline_macro_f1(log_path: str) -> Optional[float]:
  match = re.search(r"^\s+macro_f1\s+([0-9.]+)\s*$", tail(log_path, 200),
                    re.MULTILINE)
  return float(match.group(1)) if match else None


def beam_choice(log_path: str) -> str:
  """How the runner ran Beam, from its "beam: ..." line ("" if none)."""
  if not os.path.exists(log_path):
    return ""
  with open(log_path, encoding="utf-8", errors="replace") as f:
    for line in f:
      if line.startswith("beam: "):
        return line[len("beam: "):].split(":")[0].strip()
  return ""


def trainer_epoch_seconds(output_dir: str) -> List[float]:
  paths = glob.glob(os.path.join(output_dir, "pipeline_root", "Trainer",
                                 "model_run", "*", "training_history.json"))
  if not paths:
    return []
  with open(max(paths, key=os.path.getmtime), encoding="utf-8") as f:
    return [epoch["seconds"] for epoch in json.load(f).get("epochs", [])]


def component_times(output_dir: str) -> Dict[str, Any]:
  runs = mlmd_times.read_latest_times(os.path.join(output_dir,
                                                   "metadata.sqlite"))
  return {
      "seconds": mlmd_times.component_seconds(runs),
      "states": {run.node_id: run.state for run in runs},
  }


# ---------------------------------------------------------------------------
# Sections. Each appends its figures; a failed step leaves its figures None.

def bench_e2e_cache_memory(sizes: Sizes, data_192: str, data_512: str,
                           work_dir: str, figures: List[Figure],
                           details: Dict[str, Any]) -> Dict[str, str]:
  """Sections e2e, cache and memory; returns the pipeline output dirs."""
  counts = sizes.split_counts()
  images = counts["train"] + counts["val"]
  out_192 = os.path.join(work_dir, "runs", "pipeline-192")
  out_512 = os.path.join(work_dir, "runs", "pipeline-512")
  out_plain = os.path.join(work_dir, "runs", "plain-keras")
  for path in (out_192, out_512, out_plain):
    shutil.rmtree(path, ignore_errors=True)
  logs = os.path.join(work_dir, "logs")

  command = local_runner_command(data_192, out_192, 192, sizes.epochs)
  first = run_step("pipeline_192", command,
                   os.path.join(logs, "pipeline_192.log"), details)
  times = component_times(out_192) if first else {"seconds": {}}
  details["pipeline_192"]["components"] = times
  # An unchanged re-run (everything cached: the Evaluator's baseline
  # leaves the candidate out, pipeline/baseline.py), then a gate-only
  # change (the Evaluator and what follows it run again).
  cached = run_step("pipeline_192_rerun", command,
                    os.path.join(logs, "pipeline_192_rerun.log"), details) \
      if first else None
  if cached:
    details["pipeline_192_rerun"]["components"] = component_times(out_192)
  gate_only = run_step(
      "pipeline_192_gate", gate_changed(command),
      os.path.join(logs, "pipeline_192_gate.log"), details) \
      if cached else None
  if gate_only:
    details["pipeline_192_gate"]["components"] = component_times(out_192)
  # The plain script runs twice and the faster run counts: its wall time
  # varies more than the pipeline's (Keras's iterator teardown at the end of
  # fit sometimes stalls), and the faster baseline is the stricter one for
  # the pipeline / plain target.
  plain_runs = []
  for attempt in (1, 2):
    name = f"plain_keras_{attempt}"
    run = run_step(
        name,
        [sys.executable, os.path.join(REPO_ROOT, "bench", "plain_keras.py"),
         "--data-root", data_192, "--output-dir", out_plain,
         "--image-size", "192", "--epochs", str(sizes.epochs)],
        os.path.join(logs, name + ".log"), details)
    if run:
      with open(os.path.join(out_plain, "plain_keras.json"),
                encoding="utf-8") as f:
        details[name]["result"] = json.load(f)
      plain_runs.append((run, details[name]["result"]))
  plain, plain_result = min(plain_runs, key=lambda r: r[0].wall_seconds,
                            default=(None, {}))

  wall_p = first.wall_seconds if first else None
  wall_k = plain.wall_seconds if plain else None
  what = f"{images} images, {sizes.epochs} epochs"
  figures.append(Figure("e2e", f"pipeline wall time ({what})", wall_p, "s"))
  figures.append(Figure(
      "e2e", "plain Keras wall time (same data and epochs, faster of 2)",
      wall_k, "s",
      note="runs: " + ", ".join(
          f"{run.wall_seconds:.0f} s (Keras teardown after the last epoch "
          f"{result.get('fit_teardown_seconds') or 0:.0f} s)"
          for run, result in plain_runs)))
  overhead = (wall_p - sum(times["seconds"].values())) if first else None
  ratio = wall_p / wall_k if first and plain else None
  epoch_p = trainer_epoch_seconds(out_192)
  epoch_k = plain_result.get("epoch_seconds", [])
  break_even = None
  if first and plain and epoch_p and epoch_k:
    break_even = report.epochs_for_ratio(
        MAX_PIPELINE_TO_PLAIN, wall_p, wall_k, sizes.epochs,
        statistics.median(epoch_p), statistics.median(epoch_k))
  details["e2e"] = {"trainer_epoch_seconds": epoch_p,
                    "plain_epoch_seconds": epoch_k,
                    "epochs_for_target_ratio": break_even}
  fixed_p = fixed_k = None
  if first and epoch_p:
    fixed_p = wall_p - sizes.epochs * statistics.median(epoch_p)
  if plain and epoch_k:
    fixed_k = wall_k - sizes.epochs * statistics.median(epoch_k)
  why = ""
  if ratio is not None and ratio > MAX_PIPELINE_TO_PLAIN and fixed_p:
    why = (f"the pipeline spends about {fixed_p:.0f} s outside its training "
           "epochs (process start-up, ExampleGen, StatisticsGen, data "
           "validation, Transform, Evaluator; each one's start-up and work "
           "in the startup section), plain Keras about "
           f"{fixed_k or 0:.0f} s; that cost does not grow with epochs.")
    if epoch_k and epoch_p:
      why += (f" Median epoch: Trainer {statistics.median(epoch_p):.1f} s, "
              f"plain Keras {statistics.median(epoch_k):.1f} s.")
  figures.append(Figure(
      "e2e", "pipeline / plain wall time", ratio, "x",
      Target("<=", MAX_PIPELINE_TO_PLAIN), note=why))
  figures.append(Figure(
      "e2e", "time outside training epochs, pipeline", fixed_p, "s",
      Target("<=", MAX_FIXED_SECONDS),
      note=(f"plain Keras: {fixed_k:.0f} s" if fixed_k is not None else "")
      + ("; the components' start-up and work are in the startup section"
         if fixed_p is not None and fixed_p > MAX_FIXED_SECONDS else "")))
  for node, seconds in times["seconds"].items():
    figures.append(Figure("e2e", f"component {node}", seconds, "s"))
  figures.append(Figure("e2e", "start-up and orchestration (wall - "
                        "components)", overhead, "s"))
  trainer_seconds = times["seconds"].get("Trainer")
  figures.append(Figure(
      "e2e", "Trainer component / plain Keras wall time",
      trainer_seconds / wall_k if trainer_seconds and wall_k else None, "x"))
  figures.append(Figure("e2e", "macro F1 on val, pipeline",
                        pipeline_macro_f1(os.path.join(logs,
                                                       "pipeline_192.log"))
                        if first else None, ""))
  figures.append(Figure("e2e", "macro F1 on val, plain Keras",
                        plain_result.get("macro_f1"), ""))
  figures.append(Figure(
      "e2e", f"epochs at which pipeline / plain <= {MAX_PIPELINE_TO_PLAIN:g} "
      "(estimate)", break_even if break_even != float("inf") else None,
      "epochs",
      note="extrapolated from this run (each: time outside epochs + epochs "
      "x median epoch time)" + (
          "; never, as the Trainer's epochs take more than "
          f"{MAX_PIPELINE_TO_PLAIN:g}x plain Keras's"
          if break_even == float("inf") else "")))

  def executed_again(step):
    states = details.get(step, {}).get("components", {}).get("states", {})
    return sorted(node for node, state in states.items()
                  if state != "CACHED")

  def rerun_note(step):
    executed = executed_again(step)
    return "executed again: " + ", ".join(executed) if executed else ""

  cache_ratio = 100 * cached.wall_seconds / wall_p if cached and first \
      else None
  figures.append(Figure("cache", "unchanged re-run wall time",
                        cached.wall_seconds if cached else None, "s",
                        note=rerun_note("pipeline_192_rerun")))
  reason = ("a cached run still starts Python, imports TensorFlow/TFX, "
            "resolves every component in ML Metadata and reads the "
            "evaluation for the summary: a fixed cost")
  if "Evaluator" in executed_again("pipeline_192_rerun"):
    reason = ("the Evaluator ran again (" +
              rerun_note("pipeline_192_rerun") + "). Besides, " + reason)
  figures.append(Figure(
      "cache", "unchanged re-run / first run", cache_ratio, "%",
      Target("<=", MAX_CACHED_RERUN_PERCENT),
      note="" if cache_ratio is None or (
          cache_ratio <= MAX_CACHED_RERUN_PERCENT) else reason))
  gate_ratio = (100 * gate_only.wall_seconds / wall_p
                if gate_only and first else None)
  gate_executed = rerun_note("pipeline_192_gate")
  figures.append(Figure(
      "cache", "gate-only change re-run (--min-macro-f1) / first run",
      gate_ratio, "%", Target("<=", MAX_GATE_RERUN_PERCENT),
      note=gate_executed + ("" if gate_ratio is None or (
          gate_ratio <= MAX_GATE_RERUN_PERCENT) else
                            "; the Evaluator's TFMA run (a Beam job over "
                            "the eval split) and the fixed cost of a run")))

  run_512 = run_step(
      "pipeline_512",
      local_runner_command(data_512, out_512, 512, sizes.epochs_512),
      os.path.join(logs, "pipeline_512.log"), details)
  if run_512:
    details["pipeline_512"]["components"] = component_times(out_512)
  counts_512 = images  # the same generator arguments at 512x512
  figures.append(Figure(
      "memory", f"peak RSS, pipeline on the 192x192 set ({images} images)",
      first.peak_tree_rss_bytes / GIB if first else None, "GiB",
      Target("<", MAX_RSS_SAMPLE_GIB),
      note="summed RSS of the runner and all its children (Beam workers), "
      "sampled every 0.25 s; shared pages count once per process, so this "
      "is an upper bound"))
  figures.append(Figure(
      "memory", f"peak RSS, pipeline on the 512x512 set ({counts_512} "
      f"images, {sizes.epochs_512} epochs)",
      run_512.peak_tree_rss_bytes / GIB if run_512 else None, "GiB",
      Target("<", MAX_RSS_512_GIB)))
  figures.append(Figure(
      "memory", "peak RSS, plain Keras (192x192 set)",
      plain.peak_tree_rss_bytes / GIB if plain else None, "GiB"))
  figures.append(Figure("memory", "pipeline wall time on the 512x512 set",
                        run_512.wall_seconds if run_512 else None, "s"))
  return {"192": out_192, "512": out_512}


def plain_keras_stall_figures(figures: List[Figure],
                              details: Dict[str, Any]) -> None:
  """The plain Keras baseline with and without its end-of-fit stall.

  Some plain runs wait 30-35 s between Keras's last callback and `fit`
  returning (`fit_teardown_seconds`; docs/benchmarks.md, "The end-of-fit
  stall"), in TensorFlow's tf.data rather than in the training. Both
  figures are given, so the pipeline / plain ratio can be read either way.
  """
  runs = [details[name] for name in ("plain_keras_1", "plain_keras_2")
          if "result" in details.get(name, {})]
  without = [run["wall_seconds"] - (run["result"].get(
      "fit_teardown_seconds") or 0) for run in runs]
  best_without = min(without, default=None)
  pipeline = details.get("pipeline_192", {})
  wall_p = pipeline.get("wall_seconds") if pipeline.get(
      "returncode") == 0 else None
  figures.append(Figure(
      "e2e", "plain Keras wall time without the end-of-fit stall (faster "
      "of 2)", best_without, "s",
      note="each run's wall time minus the time between Keras's last "
      "callback and fit returning: " + ", ".join(
          f"{run['result'].get('fit_teardown_seconds') or 0:.1f} s"
          for run in runs)))
  figures.append(Figure(
      "e2e", "pipeline / plain wall time, plain without the stall",
      wall_p / best_without if wall_p and best_without else None, "x"))


# Section "memory 512 input": the model trained at the data's 512 px, the
# size the Kaggle notebooks train at, where the 512 run above trains at the
# default 64 px input. A small backbone with random weights keeps one epoch
# within minutes on 2 CPU cores (simple_cnn convolves the full 512x512
# image with 32 filters, about 8x MobileNetV3-Small's FLOPs there).
BACKBONE_512_INPUT = "mobilenet_v3_small"
EPOCHS_512_INPUT = 1


def bench_memory_512_input(data_512: str, work_dir: str,
                           figures: List[Figure],
                           details: Dict[str, Any]) -> None:
  """Peak RSS of a whole pipeline run that trains at 512 px input."""
  output_dir = os.path.join(work_dir, "runs", "pipeline-512-input")
  shutil.rmtree(output_dir, ignore_errors=True)
  command = local_runner_command(data_512, output_dir, 512, EPOCHS_512_INPUT)
  command += ["--input-size", "512", "--backbone", BACKBONE_512_INPUT]
  run = run_step("pipeline_512_input", command,
                 os.path.join(work_dir, "logs", "pipeline_512_input.log"),
                 details)
  if run:
    details["pipeline_512_input"]["components"] = component_times(output_dir)
  what = (f"{BACKBONE_512_INPUT}, random weights, {EPOCHS_512_INPUT} epoch")
  figures.append(Figure(
      "memory 512 input", f"peak RSS, pipeline trained at 512x512 input "
      f"({what})", run.peak_tree_rss_bytes / GIB if run else None, "GiB",
      Target("<", MAX_RSS_512_GIB),
      note="the whole process tree (runner, Beam workers), as above"))
  figures.append(Figure(
      "memory 512 input", "largest single process RSS, same run",
      run.peak_process_rss_bytes / GIB if run else None, "GiB"))
  trainer_seconds = (details["pipeline_512_input"].get("components", {})
                     .get("seconds", {}).get("Trainer") if run else None)
  figures.append(Figure("memory 512 input", "Trainer component time, same "
                        "run", trainer_seconds, "s"))
  figures.append(Figure("memory 512 input", "pipeline wall time, same run",
                        run.wall_seconds if run else None, "s"))


# Section "startup": each Beam component's fixed start-up cost apart from
# its work. The same pipeline runs on a small set (every class once in each
# split); a component's time is modelled as start-up + examples x time per
# example, and the two runs give both (`mlmd_times.split_startup`). Which
# examples each component reads: ExampleGen and StatisticsGen both splits,
# Transform's analysis the training split, the Evaluator the val split.
STARTUP_SIZES = Sizes(head_count=1, tail_count=1, epochs=1, epochs_512=1,
                      input_rounds=1, input_seconds=1.0,
                      test_count=4)
BEAM_COMPONENT_SPLITS = {
    "ImportExampleGen": ("train", "val"),
    "StatisticsGen": ("train", "val"),
    "Transform": ("train",),
    "Evaluator": ("val",),
}


def bench_startup(sizes: Sizes, e2e_seconds: Dict[str, float],
                  work_dir: str, figures: List[Figure],
                  details: Dict[str, Any]) -> None:
  """Section startup: Beam components' start-up and work, from two sizes."""
  data_root = make_data(work_dir, 192, STARTUP_SIZES)
  output_dir = os.path.join(work_dir, "runs", "pipeline-small")
  shutil.rmtree(output_dir, ignore_errors=True)
  run = run_step(
      "pipeline_small",
      local_runner_command(data_root, output_dir, 192, STARTUP_SIZES.epochs),
      os.path.join(work_dir, "logs", "pipeline_small.log"), details)
  small_seconds = component_times(output_dir)["seconds"] if run else {}
  if run:
    details["pipeline_small"]["component_seconds"] = small_seconds
  counts = sizes.split_counts()
  small_counts = STARTUP_SIZES.split_counts()
  splits = {}
  for node, split_names in BEAM_COMPONENT_SPLITS.items():
    examples = sum(counts[name] for name in split_names)
    small_examples = sum(small_counts[name] for name in split_names)
    seconds, small = e2e_seconds.get(node), small_seconds.get(node)
    split = (mlmd_times.split_startup(seconds, examples, small,
                                      small_examples)
             if seconds is not None and small is not None else None)
    if split:
      splits[node] = dataclasses.asdict(split)
    how = (f"line through {small_examples} examples in {small:.1f} s (small "
           f"run) and {examples} in {seconds:.1f} s (e2e run)"
           if split else "")
    figures.append(Figure(
        "startup", f"{node} start-up (time at 0 examples)",
        split.startup_seconds if split else None, "s", note=how))
    figures.append(Figure(
        "startup", f"{node} work ({examples} examples)",
        split.work_seconds if split else None, "s"))
  details["startup_split"] = splits
  for step, what in (("pipeline_192", "e2e run"),
                     ("pipeline_small", "small run")):
    figures.append(Figure(
        "startup", f"Beam worker processes started ({what})",
        details.get(step, {}).get("beam_workers_started"), "processes",
        note="each starts Python and imports TensorFlow" if step ==
        "pipeline_192" else ""))
  if len(splits) == len(BEAM_COMPONENT_SPLITS):
    figures.append(Figure(
        "startup", "Beam components' start-up, summed",
        sum(s["startup_seconds"] for s in splits.values()), "s",
        note="what the pipeline pays before and after the data work of "
        "ExampleGen, StatisticsGen, Transform and the Evaluator, whatever "
        "the data size"))


def beam_examples(sizes: Sizes) -> Dict[str, int]:
  """Examples each Beam component reads on the generated set."""
  counts = sizes.split_counts()
  # StatisticsGen both splits, Transform's analysis the training split only
  # (it does not materialize).
  return {"ImportExampleGen": counts["train"] + counts["val"],
          "StatisticsGen": counts["train"] + counts["val"],
          "Transform": counts["train"]}


def bench_beam(sizes: Sizes, data_192: str, e2e_seconds: Dict[str, float],
               e2e_beam_mode: str, work_dir: str, figures: List[Figure],
               details: Dict[str, Any]) -> None:
  """Section beam: data components as the runner ran them (the e2e run)
  and with BEAM_WORKERS DirectRunner worker processes.

  The e2e run's times are the runner's default choice (`e2e_beam_mode`,
  the line it printed); the worker-process times come from a partial run
  of the pipeline up to StatisticsGen and Transform, which saves running
  the Trainer and the Evaluator again.
  """
  examples = beam_examples(sizes)
  output_dir = os.path.join(work_dir, "runs", "beam-workers")
  shutil.rmtree(output_dir, ignore_errors=True)
  run = run_step(
      "beam_workers",
      [sys.executable, "-m", "bench.beam_components", "--data-root",
       data_192, "--output-dir", output_dir, "--beam-workers",
       str(BEAM_WORKERS)],
      os.path.join(work_dir, "logs", "beam_workers.log"), details)
  workers_label = f"{BEAM_WORKERS} worker processes"
  seconds = {"default": e2e_seconds,
             "workers": component_times(output_dir)["seconds"] if run else {}}
  details["beam_workers"]["component_seconds"] = seconds["workers"]
  details["beam_workers"]["e2e_beam_mode"] = e2e_beam_mode
  labels = {"default": f"the runner's choice ({e2e_beam_mode or '?'})",
            "workers": workers_label}
  for node in ("StatisticsGen", "Transform", "ImportExampleGen"):
    throughput = {}
    for key in ("default", "workers"):
      node_seconds = seconds[key].get(node)
      throughput[key] = (examples[node] / node_seconds
                         if node_seconds else None)
      figures.append(Figure(
          "beam", f"{node}, {labels[key]} ({examples[node]} examples)",
          throughput[key], "examples/s"))
    chosen, workers = throughput["default"], throughput["workers"]
    figures.append(Figure(
        "beam", f"{node}: the runner's choice / {workers_label}",
        chosen / workers if chosen and workers else None, "x",
        note=("the runner's choice is slower: worker processes would pay "
              "here" if chosen and workers and chosen < workers else "")))


def start_flink_job_server(jar: str, log_path: str):
  """Beam's Flink job server on [local]; (process, port, start-up seconds).

  The seconds run from `java -jar` to the job service accepting
  connections; None for the process if it did not come up in 3 minutes.
  """
  import socket  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  with socket.socket() as probe:
    probe.bind(("localhost", 0))
    port = probe.getsockname()[1]
  started = time.perf_counter()
  with open(log_path, "w", encoding="utf-8") as log_file:
    process = subprocess.Popen(
        ["java", "-jar", jar, "--flink-master", "[local]", "--job-port",
         str(port), "--artifact-port", "0", "--expansion-port", "0"],
        stdout=log_file, stderr=subprocess.STDOUT)
  while time.perf_counter() - started < 180 and process.poll() is None:
    try:
      socket.create_connection(("localhost", port), timeout=1).close()
      return process, port, time.perf_counter() - started
    except OSError:
      time.sleep(0.2)
  process.kill()
  process.wait()
  return None, port, None


def bench_engines(sizes: Sizes, data_192: str, work_dir: str,
                  figures: List[Figure], details: Dict[str, Any]) -> None:
  """Section engines: the Beam data components on Flink against Direct."""
  import subprocess  # pylint: disable=g-import-not-at-top
  from tools import beam_jobs  # pylint: disable=g-import-not-at-top
  examples = beam_examples(sizes)
  logs = os.path.join(work_dir, "logs")
  fetch = subprocess.run(["make", "--no-print-directory", "beam-jobs"],
                         cwd=REPO_ROOT, capture_output=True, text=True,
                         check=False)
  details["engines_fetch"] = {"returncode": fetch.returncode,
                              "output": (fetch.stdout + fetch.stderr)[-2000:]}
  runs = {"DirectRunner, 2 workers": ["--beam-workers", str(BEAM_WORKERS)]}
  seconds: Dict[str, Dict[str, float]] = {}
  empty_job: Dict[int, Optional[float]] = {}
  server, port, startup = None, None, None
  if fetch.returncode == 0:
    server, port, startup = start_flink_job_server(
        beam_jobs.jar_path("flink"), os.path.join(logs, "flink_job_server.log"))
  else:
    log(f"engines: make beam-jobs failed:\n{fetch.stdout}{fetch.stderr}")
  figures.append(Figure("engines", "Flink job server start-up (JVM to job "
                        "service up)", startup, "s"))
  try:
    if server:
      endpoint = f"localhost:{port}"
      for parallelism in ENGINE_PARALLELISMS:
        name = f"engines_empty_job_p{parallelism}"
        run = run_step(
            name, [sys.executable, "-m", "bench.beam_components",
                   "--job-endpoint", endpoint, "--parallelism",
                   str(parallelism), "--empty-job"],
            os.path.join(logs, name + ".log"), details)
        found = re.findall(r'^\{"seconds": ([0-9.]+)\}$',
                           tail(os.path.join(logs, name + ".log"), 200),
                           re.MULTILINE)
        empty_job[parallelism] = float(found[-1]) if run and found else None
        runs[f"Flink [local], parallelism {parallelism}"] = [
            "--job-endpoint", endpoint, "--parallelism", str(parallelism)]
    for label, runner_args in runs.items():
      name = "engines_" + re.sub(r"\W+", "_", label).strip("_").lower()
      output_dir = os.path.join(work_dir, "runs", name)
      shutil.rmtree(output_dir, ignore_errors=True)
      run = run_step(name, [sys.executable, "-m", "bench.beam_components",
                            "--data-root", data_192, "--output-dir",
                            output_dir, *runner_args],
                     os.path.join(logs, name + ".log"), details)
      seconds[label] = component_times(output_dir)["seconds"] if run else {}
      details[name]["component_seconds"] = seconds[label]
  finally:
    if server:
      server.terminate()
      server.wait()
  for parallelism in ENGINE_PARALLELISMS:
    figures.append(Figure(
        "engines", f"Flink one-element job (mini-cluster and harness "
        f"start-up), parallelism {parallelism}", empty_job.get(parallelism),
        "s"))
  direct_label = next(iter(runs))
  flink_parallelism = {f"Flink [local], parallelism {p}": p
                       for p in ENGINE_PARALLELISMS}
  for node in ("StatisticsGen", "Transform"):
    throughput = {}
    for label in [direct_label, *flink_parallelism]:
      node_seconds = seconds.get(label, {}).get(node)
      throughput[label] = (examples[node] / node_seconds if node_seconds
                           else None)
      figures.append(Figure("engines", f"{node}, {label} "
                            f"({examples[node]} examples)",
                            throughput[label], "examples/s"))
      parallelism = flink_parallelism.get(label)
      fixed = empty_job.get(parallelism)
      if parallelism and node_seconds and fixed is not None:
        work = node_seconds - fixed
        figures.append(Figure(
            "engines", f"{node}, {label}, work only (less the "
            "one-element job)", examples[node] / work if work > 0 else None,
            "examples/s"))
    direct = throughput[direct_label]
    for label, parallelism in flink_parallelism.items():
      flink = throughput[label]
      figures.append(Figure(
          "engines", f"{node}, Flink parallelism {parallelism} / "
          f"{direct_label}", flink / direct if flink and direct else None,
          "x"))


def bench_input(sizes: Sizes, data_roots: Dict[str, str],
                outputs: Dict[str, str], work_dir: str,
                figures: List[Figure], details: Dict[str, Any]) -> None:
  """Section input: Trainer input pipeline against the notebooks'."""
  from settings import features  # pylint: disable=g-import-not-at-top
  for size in ("192", "512"):
    root = os.path.join(outputs[size], "pipeline_root")
    examples = latest_dir(os.path.join(root, "ImportExampleGen", "examples",
                                       "*"))
    graph = latest_dir(os.path.join(root, "Transform", "transform_graph",
                                    "*"))
    name = f"input_{size}"
    result = None
    if examples and graph:
      result_path = os.path.join(work_dir, "logs", name + ".json")
      run = run_step(
          name,
          [sys.executable, "-m", "bench.input_path", "--examples-dir",
           examples, "--raw-dir",
           os.path.join(data_roots[size], features.image_dir_name(int(size))),
           "--image-size", size, "--transform-dir", graph,
           "--input-sizes", "64,0", "--rounds", str(sizes.input_rounds),
           "--seconds", str(sizes.input_seconds), "--work-dir", work_dir,
           "--output", result_path],
          os.path.join(work_dir, "logs", name + ".log"), details)
      if run:
        with open(result_path, encoding="utf-8") as f:
          result = json.load(f)
        details[name]["result"] = result
    else:
      details[name] = {"error": f"no pipeline output under {root}"}
    for input_size in ("64", size):
      by_size = (result or {}).get("by_input_size", {}).get(input_size, {})
      ips = by_size.get("images_per_second", {})
      section = f"input {size}->{input_size}"
      layers = ", ".join(by_size.get("augmentation", [])) or "none"
      in_model = ", ".join(by_size.get("model_augmentation", [])) or "none"
      figures.append(Figure(
          section, f"Trainer input, augmented (input pipeline: {layers}; "
          f"in the model: {in_model})", ips.get("augmented"), "images/s"))
      figures.append(Figure(section, "Trainer input, decode only",
                            ips.get("decode_only"), "images/s"))
      figures.append(Figure(section, "notebook tf.data (raw .tfrec)",
                            ips.get("notebook"), "images/s"))
      overhead_wall = by_size.get("augmentation_overhead")
      overhead = by_size.get("augmentation_overhead_cpu")
      notes = []
      if overhead_wall is not None:
        notes.append(f"from wall-clock images/s: {100 * overhead_wall:.0f}%.")
      if overhead is not None and (
          100 * overhead > MAX_AUGMENTATION_OVERHEAD_PERCENT):
        notes.append(
            f"the input pipeline's augmentation ({layers}) runs on float32 "
            "batches at the model's input size (TFT's outputs cannot be "
            "uint8): each layer copies every batch at least once, about as "
            "costly as decoding a JPEG that needs no resize.")
      figures.append(Figure(
          section, f"augmentation time over decode-only, CPU time per "
          f"image ({size}px data, {input_size}px input)",
          None if overhead is None else 100 * overhead, "%",
          Target("<=", MAX_AUGMENTATION_OVERHEAD_PERCENT),
          note=" ".join(notes)))
      on_host = by_size.get("model_flip_on_host_overhead_cpu")
      figures.append(Figure(
          section, "the model's flip run on this CPU, over decode-only, "
          "CPU time per image", None if on_host is None else 100 * on_host,
          "%", note=("what a CPU-only host pays for the flip in its "
                     "training step; on an accelerator it runs there")))
      decode, notebook = ips.get("decode_only"), ips.get("notebook")
      gap = notebook / decode if decode and notebook else None
      cpu = by_size.get("cpu_ms_per_image", {})
      cpu_gap = (cpu["decode_only"] / cpu["notebook"]
                 if cpu.get("decode_only") and cpu.get("notebook") else None)
      figures.append(Figure(
          section, "notebook / Trainer decode-only throughput", gap, "x",
          Target("<=", 1.0),
          note=("" if cpu_gap is None else
                f"from CPU time per image: {cpu_gap:.2f}x. ") + (
                    "the Trainer reads GZIP records and decodes the images "
                    "of a batch in tf.map_fn (TFT's graph is batched), "
                    "fixed costs per batch that weigh most where a JPEG "
                    "decodes fast; the notebooks decode one record at a "
                    "time"
                    if gap and gap > 1.0 else "")))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="small data and few epochs: checks that the "
                      "bench works, figures are not representative")
  parser.add_argument("--tiny", action="store_true",
                      help="the smallest data that measures every section "
                      "(tests/test_bench.py): checks that nothing rotted")
  parser.add_argument("--work-dir",
                      default=os.path.join(tempfile.gettempdir(),
                                           "flowers-bench"),
                      help="generated data (kept and reused), pipeline "
                      "outputs and logs (replaced every run) "
                      "(default: %(default)s)")
  parser.add_argument("--engines", action=argparse.BooleanOptionalAction,
                      default=True,
                      help="the engine section: StatisticsGen and "
                      "Transform on Flink (fetches the job server with "
                      "`make beam-jobs`: needs Maven and a JDK) "
                      "(default: on)")
  parser.add_argument("--engines-only", action="store_true",
                      help="run the engine section alone")
  parser.add_argument("--results-dir",
                      default=os.path.join(REPO_ROOT, "bench", "results"),
                      help="where the JSON record is written "
                      "(default: bench/results)")
  args = parser.parse_args(argv)

  started = datetime.datetime.now()
  wall_start = time.perf_counter()
  mode = "tiny" if args.tiny else "quick" if args.quick else "full"
  sizes = {"tiny": TINY, "quick": QUICK, "full": FULL}[mode]
  work_dir = os.path.abspath(args.work_dir)
  os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
  figures: List[Figure] = []
  details: Dict[str, Any] = {"load_average_start": load_average()}
  log(f"{mode} bench; work dir {work_dir}")

  data_roots = {"192": make_data(work_dir, 192, sizes)}
  sections = []
  if not args.engines_only:
    sections += PIPELINE_SECTIONS
    data_roots["512"] = make_data(work_dir, 512, sizes)
    outputs = bench_e2e_cache_memory(sizes, data_roots["192"],
                                     data_roots["512"], work_dir, figures,
                                     details)
    plain_keras_stall_figures(figures, details)
    bench_memory_512_input(data_roots["512"], work_dir, figures, details)
    bench_beam(sizes, data_roots["192"],
               details["pipeline_192"].get("components", {}).get("seconds",
                                                                 {}),
               beam_choice(os.path.join(work_dir, "logs",
                                        "pipeline_192.log")),
               work_dir, figures, details)
    bench_startup(sizes,
                  details["pipeline_192"].get("components", {}).get(
                      "seconds", {}), work_dir, figures, details)
    bench_input(sizes, data_roots, outputs, work_dir, figures, details)
  if args.engines or args.engines_only:
    sections.append("engines")
    bench_engines(sizes, data_roots["192"], work_dir, figures, details)
  details["load_average_end"] = load_average()
  details["bench_wall_seconds"] = round(time.perf_counter() - wall_start, 1)

  settings = dict(dataclasses.asdict(sizes), mode=mode,
                  split_counts=sizes.split_counts(),
                  work_dir=work_dir, data_roots=data_roots)
  record = report.make_record(
      figures, settings, details, report.git_state(REPO_ROOT),
      report.machine_info(), started, sys.argv)
  path = report.write_record(record, args.results_dir, started)
  print()
  print(report.format_table(figures))
  print()
  print(f"Targets: {record['summary']}")
  git = record["git"]
  print(f"Commit {git['short_commit']}"
        f"{' (with uncommitted changes)' if git['uncommitted_changes'] else ''}"
        f"; bench took {details['bench_wall_seconds'] / 60:.1f} min; "
        f"record: {path}")
  # Missed targets are results, not failures; a step that failed, or a
  # section that measured nothing, is.
  failed = report.failures(figures, details, sections)
  for line in failed:
    print(f"FAILED: {line}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
