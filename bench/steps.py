"""The bench's steps: generated data, one measured command and its record,
and what a pipeline run leaves behind (its component times, its log lines).

Every section (bench/sections/) runs its commands through `run_step`, which
records each one in the details (command, exit status, wall time, peak RSS
of its process tree, load average before and after); a failed step leaves
its figures None and fails the bench (`report.failures`).
"""

import datetime
import glob
import os
import re
import shutil
import sys
from typing import Any, Dict, List, Optional

from bench import mlmd_times
from bench import procmon
from bench import reasons
from bench.sizes import Sizes
from pipeline.runner import console
from settings import records

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2**30
# The gate the bench's runs open (every run pushes); the cache section's
# gate-only re-run changes it (bench/sections/cache.py).
OPEN_GATE = "0"


def python_env() -> Dict[str, str]:
  return dict(os.environ, PYTHONPATH=REPO_ROOT)


def log(message: str) -> None:
  print(f"[bench {datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def load_average() -> List[float]:
  return [round(x, 2) for x in os.getloadavg()]


def make_data(work_dir: str, image_size: int, sizes: Sizes) -> str:
  """Generates (or reuses) a sample-style data set; returns its data root."""
  return generate_data(
      work_dir, f"{image_size}px-h{sizes.head_count}-t{sizes.tail_count}"
      f"-test{sizes.test_count}", image_size,
      {"head_count": sizes.head_count, "tail_count": sizes.tail_count,
       "val_fraction": sizes.val_fraction, "test_count": sizes.test_count})


def generate_data(work_dir: str, key: str, image_size: int,
                  args: Dict[str, Any]) -> str:
  """`tools/make_sample_data.py` with `args` (its flags, as keyword names)
  into `<work_dir>/data/<key>`, or that folder again if a complete run
  wrote it before; returns the data root."""
  data_root = os.path.join(work_dir, "data", key)
  marker = os.path.join(data_root, ".complete")
  if os.path.exists(marker):
    log(f"reusing {data_root}")
    return data_root
  shutil.rmtree(data_root, ignore_errors=True)
  log(f"generating {image_size}x{image_size} data in {data_root} (once; "
      "later runs reuse it)")
  command = [sys.executable, os.path.join(REPO_ROOT, "tools",
                                          "make_sample_data.py"),
             "--output", data_root, "--image-size", str(image_size)]
  for name, value in args.items():
    command += [f"--{name.replace('_', '-')}", str(value)]
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
             details: Dict[str, Any], expected_returncode: int = 0
             ) -> Optional[procmon.MonitoredRun]:
  """Runs one measured command; records it; None if it failed (exited
  with another code than `expected_returncode`)."""
  shown = [os.path.relpath(arg, REPO_ROOT) if arg.startswith(REPO_ROOT)
           else arg for arg in command[1:]]
  log(f"{name}: {' '.join(shown)}")
  load_before = load_average()
  run = procmon.run_monitored(command, log_path, env=python_env(),
                              cwd=REPO_ROOT)
  details[name] = {
      "command": command,
      "returncode": run.returncode,
      "expected_returncode": expected_returncode,
      "wall_seconds": round(run.wall_seconds, 2),
      "peak_tree_rss_gib": round(run.peak_tree_rss_bytes / GIB, 3),
      "peak_process_rss_gib": round(run.peak_process_rss_bytes / GIB, 3),
      "rss_samples": run.samples,
      "beam_workers_started": run.beam_workers_started,
      "log": log_path,
      "load_average_before": load_before,
      "load_average_after": load_average(),
  }
  if run.returncode != expected_returncode:
    details[name]["error"] = tail(log_path)
    log(f"{name} FAILED (exit {run.returncode}); log: {log_path}")
    print(details[name]["error"], flush=True)
    return None
  log(f"{name}: {run.wall_seconds:.0f} s, peak RSS "
      f"{run.peak_tree_rss_bytes / GIB:.2f} GiB")
  return run


IMPORT_STEP = "import_profile"


def import_profile(work_dir: str, details: Dict[str, Any]) -> str:
  """How long the runner's start-up imports take, and which libraries take
  it (`python -X importtime`), once per bench run; the sentence the
  missed-target reasons quote ("" if it failed). The runner is started on
  a data folder that does not exist: it imports what a run imports, then
  stops at the data plan with its usage-error code, before any work."""
  if IMPORT_STEP not in details:
    log_path = os.path.join(work_dir, "logs", IMPORT_STEP + ".log")
    scratch = os.path.join(work_dir, "runs", IMPORT_STEP)
    run = run_step(IMPORT_STEP, [
        sys.executable, "-X", "importtime",
        os.path.join(REPO_ROOT, "local_runner.py"),
        "--data-root", os.path.join(scratch, "no-data"),
        "--output-dir", os.path.join(scratch, "out")], log_path, details,
                   expected_returncode=console.EXIT_ERROR)
    if run:
      with open(log_path, encoding="utf-8", errors="replace") as f:
        seconds = reasons.import_seconds(f.read())
      details[IMPORT_STEP]["library_seconds"] = {
          name: round(value, 3) for name, value in seconds.items()}
      details[IMPORT_STEP]["described"] = reasons.describe_imports(
          seconds, run.wall_seconds)
  return details[IMPORT_STEP].get("described", "")


def local_runner_command(data_root: str, output_dir: str, image_size: int,
                         epochs: int) -> List[str]:
  # The gate is opened (--min-macro-f1 0) so that every run pushes, as a
  # notebook always saves its model: the work is the same whatever the
  # small model learned in few epochs. Beam runs as the runner chooses by
  # default (pipeline/runner/beam.py `resolve_local_profile`: in-process on a
  # 2-core machine); the Beam section compares worker processes with it.
  return [sys.executable, os.path.join(REPO_ROOT, "local_runner.py"),
          "--data-root", data_root, "--output-dir", output_dir,
          "--image-size", str(image_size), "--epochs", str(epochs),
          "--min-macro-f1", OPEN_GATE]


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


def _newest_training_history(output_dir: str
                             ) -> Optional[records.TrainingHistory]:
  paths = glob.glob(os.path.join(output_dir, "pipeline_root", "Trainer",
                                 "model_run", "*",
                                 records.TrainingHistory.FILE_NAME))
  if not paths:
    return None
  return records.TrainingHistory.read_file(max(paths, key=os.path.getmtime))


def trainer_epoch_seconds(output_dir: str) -> List[float]:
  """The newest Trainer run's epoch times, from its training history."""
  history = _newest_training_history(output_dir)
  return [epoch["seconds"] for epoch in history.epochs] if history else []


def trainer_phase_seconds(output_dir: str) -> Dict[str, float]:
  """The newest Trainer run's `run_fn` phases (set_up, fit, export), from
  its training history; empty when the run has none."""
  history = _newest_training_history(output_dir)
  return dict(history.phase_seconds or {}) if history else {}


def component_times(output_dir: str) -> Dict[str, Any]:
  runs = mlmd_times.read_latest_times(os.path.join(output_dir,
                                                   "metadata.sqlite"))
  return {
      "seconds": mlmd_times.component_seconds(runs),
      "states": {run.node_id: run.state for run in runs},
  }
