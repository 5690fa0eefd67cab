"""Section e2e: the pipeline against the notebooks' plain Keras, end to end.

`local_runner.py` on the generated 192x192 set against `bench/plain_keras.py`
(the notebooks' tf.data + Keras, the same model and epochs) on the same
TFRecords, and the time of each component from the run's ML Metadata store.
Target: pipeline / plain wall time <= MAX_PIPELINE_TO_PLAIN, and the
pipeline's time outside its training epochs <= MAX_FIXED_SECONDS. The
run's device models are measured too: size and latency per image of each
LiteRT variant beside the SavedModel's size (`device_figures`).
"""

import dataclasses
import json
import os
import shutil
import statistics
import sys
from typing import Any, Dict, List, Optional

from bench import procmon
from bench import reasons
from bench import report
from bench import steps
from bench.report import Figure, Target
from bench.sizes import Sizes
from settings import records

MAX_PIPELINE_TO_PLAIN = 1.3
MAX_FIXED_SECONDS = 20.0  # The pipeline's time outside training epochs.
PIPELINE_STEP = "pipeline_192"
PLAIN_STEPS = ("plain_keras_1", "plain_keras_2")


@dataclasses.dataclass(frozen=True)
class E2eRuns:
  """What the later sections take from this one.

  Attributes:
    command: the pipeline run's `local_runner.py` command (the cache
      section runs it again).
    output_dir: the pipeline run's output directory.
    first: the pipeline run; None if it failed.
    plain: the faster plain Keras run; None if both failed.
  """
  command: List[str]
  output_dir: str
  first: Optional[procmon.MonitoredRun]
  plain: Optional[procmon.MonitoredRun]


def run(sizes: Sizes, data_192: str, work_dir: str, figures: List[Figure],
        details: Dict[str, Any]) -> E2eRuns:
  """Runs the pipeline once and plain Keras twice; the e2e figures."""
  counts = sizes.split_counts()
  images = counts["train"] + counts["val"]
  out_192 = os.path.join(work_dir, "runs", "pipeline-192")
  out_plain = os.path.join(work_dir, "runs", "plain-keras")
  for path in (out_192, out_plain):
    shutil.rmtree(path, ignore_errors=True)
  logs = os.path.join(work_dir, "logs")

  command = steps.local_runner_command(data_192, out_192, 192, sizes.epochs)
  first = steps.run_step(PIPELINE_STEP, command,
                         os.path.join(logs, PIPELINE_STEP + ".log"), details)
  times = steps.component_times(out_192) if first else {"seconds": {}}
  details[PIPELINE_STEP]["components"] = times
  # The plain script runs twice and the faster run counts: its wall time
  # varies more than the pipeline's (Keras's iterator teardown at the end of
  # fit sometimes stalls), and the faster baseline is the stricter one for
  # the pipeline / plain target.
  plain_runs = []
  for name in PLAIN_STEPS:
    plain_run = steps.run_step(
        name,
        [sys.executable, os.path.join(steps.REPO_ROOT, "bench",
                                      "plain_keras.py"),
         "--data-root", data_192, "--output-dir", out_plain,
         "--image-size", "192", "--epochs", str(sizes.epochs)],
        os.path.join(logs, name + ".log"), details)
    if plain_run:
      with open(os.path.join(out_plain, "plain_keras.json"),
                encoding="utf-8") as f:
        details[name]["result"] = json.load(f)
      plain_runs.append((plain_run, details[name]["result"]))
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
          f"{plain_run.wall_seconds:.0f} s (Keras teardown after the last "
          f"epoch {result.get('fit_teardown_seconds') or 0:.0f} s)"
          for plain_run, result in plain_runs)))
  overhead = (wall_p - sum(times["seconds"].values())) if first else None
  ratio = wall_p / wall_k if first and plain else None
  epoch_p = steps.trainer_epoch_seconds(out_192)
  phases_p = steps.trainer_phase_seconds(out_192)
  epoch_k = plain_result.get("epoch_seconds", [])
  break_even = None
  if first and plain and epoch_p and epoch_k:
    break_even = report.epochs_for_ratio(
        MAX_PIPELINE_TO_PLAIN, wall_p, wall_k, sizes.epochs,
        statistics.median(epoch_p), statistics.median(epoch_k))
  details["e2e"] = {"trainer_epoch_seconds": epoch_p,
                    "trainer_phase_seconds": phases_p,
                    "plain_epoch_seconds": epoch_k,
                    "epochs_for_target_ratio": break_even}
  fixed_p = fixed_k = None
  if first and epoch_p:
    fixed_p = wall_p - sizes.epochs * statistics.median(epoch_p)
  if plain and epoch_k:
    fixed_k = wall_k - sizes.epochs * statistics.median(epoch_k)
  why = ""
  if ratio is not None and ratio > MAX_PIPELINE_TO_PLAIN and fixed_p:
    largest = reasons.outside_items(wall_p, times["seconds"], epoch_p,
                                    phases_p)[:3]
    imports = (steps.import_profile(work_dir, details)
               if reasons.RUNNER_NAME in dict(largest) else "")
    why = (f"the pipeline spends about {fixed_p:.0f} s outside its training "
           f"epochs, plain Keras about {fixed_k or 0:.0f} s; that cost does "
           "not grow with epochs; its largest parts: " + "; ".join(
               reasons.describe_parts(largest, imports, digits=0)) + ".")
    if epoch_k and epoch_p:
      why += (f" Median epoch: Trainer {statistics.median(epoch_p):.1f} s, "
              f"plain Keras {statistics.median(epoch_k):.1f} s.")
  figures.append(Figure(
      "e2e", "pipeline / plain wall time", ratio, "x",
      Target("<=", MAX_PIPELINE_TO_PLAIN), note=why))
  outside_notes = [f"plain Keras: {fixed_k:.0f} s"] if fixed_k is not None \
      else []
  if fixed_p is not None and fixed_p > MAX_FIXED_SECONDS:
    outside_notes.append(reasons.outside_reason(
        wall_p, times["seconds"], epoch_p, MAX_FIXED_SECONDS,
        imports=steps.import_profile(work_dir, details),
        trainer_phases=phases_p))
  figures.append(Figure(
      "e2e", "time outside training epochs, pipeline", fixed_p, "s",
      Target("<=", MAX_FIXED_SECONDS), note="; ".join(outside_notes)))
  for node, seconds in times["seconds"].items():
    figures.append(Figure("e2e", f"component {node}", seconds, "s"))
  figures.append(Figure("e2e", "start-up and orchestration (wall - "
                        "components)", overhead, "s"))
  trainer_seconds = times["seconds"].get("Trainer")
  trainer_part_figures(figures, "e2e", trainer_seconds, epoch_p, phases_p)
  figures.append(Figure(
      "e2e", "Trainer component / plain Keras wall time",
      trainer_seconds / wall_k if trainer_seconds and wall_k else None, "x"))
  figures.append(Figure("e2e", "macro F1 on val, pipeline",
                        steps.pipeline_macro_f1(
                            os.path.join(logs, PIPELINE_STEP + ".log"))
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
  plain_keras_stall_figures(figures, details)
  device_figures(figures, details, out_192 if first else None)
  return E2eRuns(command=command, output_dir=out_192, first=first,
                 plain=plain)


def trainer_part_figures(figures: List[Figure], section: str,
                         trainer_seconds: Optional[float],
                         epoch_seconds: List[float],
                         phases: Dict[str, float]) -> None:
  """The Trainer's time outside its epochs, part by part (TFX around
  run_fn, set-up, fit outside the epochs, export), each with the code that
  spends it; nothing when the run failed or its history has no phases."""
  if trainer_seconds is None or not epoch_seconds or not phases:
    return
  for name, seconds in reasons.trainer_parts(trainer_seconds, epoch_seconds,
                                             phases):
    figures.append(Figure(section, name, seconds, "s",
                          note=reasons.files_of(name)))


def device_figures(figures: List[Figure], details: Dict[str, Any],
                   output_dir: Optional[str]) -> None:
  """Size of the SavedModel and of each LiteRT variant, and each variant's
  latency per image (the LiteRT interpreter, batch 1, 1 thread) and macro
  F1 drop, from the run's LiteRTExport record (pipeline/components/litert/;
  None when the run failed)."""
  folder = output_dir and steps.latest_dir(os.path.join(
      output_dir, "pipeline_root", "LiteRTExport", "lite_model", "*"))
  evaluation = records.LiteEvaluation.read(folder)
  saved = evaluation.saved_model if evaluation else {}
  variants = {v["variant"]: v for v in (evaluation.variants
                                        if evaluation else [])}
  details.setdefault("e2e", {})["lite"] = (
      {"saved_model": saved, "variants": list(variants.values()),
       "interpreter": evaluation.interpreter} if evaluation else None)

  def mib(size_bytes):
    return size_bytes / 2**20 if size_bytes is not None else None

  figures.append(Figure("e2e", "SavedModel size (serving folder)",
                        mib(saved.get("size_bytes")), "MiB"))
  for name in ("float32", "int8"):
    variant = variants.get(name, {})
    figures.append(Figure("e2e", f"LiteRT {name} size",
                          mib(variant.get("size_bytes")), "MiB"))
    figures.append(Figure(
        "e2e", f"LiteRT {name} latency per image", variant.get("latency_ms"),
        "ms", note="ai_edge_litert interpreter, batch 1, 1 thread, median"))
    figures.append(Figure(
        "e2e", f"LiteRT {name} macro F1 drop against the SavedModel",
        variant.get("macro_f1_drop"), "",
        note="on the eval records; the device gate allows "
        f"{variant.get('tolerance')}" if variant else ""))


def plain_keras_stall_figures(figures: List[Figure],
                              details: Dict[str, Any]) -> None:
  """The plain Keras baseline with and without its end-of-fit stall.

  Some plain runs wait 30-35 s between Keras's last callback and `fit`
  returning (`fit_teardown_seconds`; docs/benchmarks.md, "The end-of-fit
  stall"), in TensorFlow's tf.data rather than in the training. Both
  figures are given, so the pipeline / plain ratio can be read either way.
  """
  runs = [details[name] for name in PLAIN_STEPS
          if "result" in details.get(name, {})]
  without = [run["wall_seconds"] - (run["result"].get(
      "fit_teardown_seconds") or 0) for run in runs]
  best_without = min(without, default=None)
  pipeline = details.get(PIPELINE_STEP, {})
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
  # The Trainer trains with the same kind of iterator and can meet the same
  # stall: its fit's time outside the epochs (modules/trainer.py phases).
  e2e = details.get("e2e", {})
  stall_p = reasons.fit_outside_epochs(e2e.get("trainer_phase_seconds"),
                                       e2e.get("trainer_epoch_seconds") or [])
  figures.append(Figure(
      "e2e", "pipeline / plain wall time, both without the stall",
      (wall_p - stall_p) / best_without
      if wall_p and best_without and stall_p is not None else None, "x",
      note=(f"the Trainer's fit outside its epochs: {stall_p:.1f} s"
            if stall_p is not None else "")))
