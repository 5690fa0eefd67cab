"""Sections memory and memory 512 input: peak RSS of whole pipeline runs.

memory: the e2e run's process tree (`bench/procmon.py`; target <
MAX_RSS_SAMPLE_GIB), plain Keras's, and a run on the generated 512x512 set
(the same images at 512x512; target < MAX_RSS_512_GIB). memory 512 input: a
run on the 512x512 set that trains at 512x512 input (< MAX_RSS_512_GIB).
"""

import os
import shutil
from typing import Any, Dict, List

from bench import steps
from bench.report import Figure, Target
from bench.sections.e2e import E2eRuns
from bench.sizes import Sizes

MAX_RSS_SAMPLE_GIB = 8.0
MAX_RSS_512_GIB = 16.0
# Section "memory 512 input": the model trained at the data's 512 px, the
# size the Kaggle notebooks train at, where the 512 run above trains at the
# default 64 px input. A small backbone with random weights keeps one epoch
# within minutes on 2 CPU cores (simple_cnn convolves the full 512x512
# image with 32 filters, about 8x MobileNetV3-Small's FLOPs there).
BACKBONE_512_INPUT = "mobilenet_v3_small"
EPOCHS_512_INPUT = 1


def run(sizes: Sizes, data_512: str, e2e: E2eRuns, work_dir: str,
        figures: List[Figure], details: Dict[str, Any]) -> str:
  """Runs the pipeline on the 512x512 set; the memory figures.

  Returns:
    The 512 run's output directory (the input section reads its Examples).
  """
  counts = sizes.split_counts()
  images = counts["train"] + counts["val"]
  out_512 = os.path.join(work_dir, "runs", "pipeline-512")
  shutil.rmtree(out_512, ignore_errors=True)
  run_512 = steps.run_step(
      "pipeline_512",
      steps.local_runner_command(data_512, out_512, 512, sizes.epochs_512),
      os.path.join(work_dir, "logs", "pipeline_512.log"), details)
  if run_512:
    details["pipeline_512"]["components"] = steps.component_times(out_512)
  counts_512 = images  # the same generator arguments at 512x512
  first, plain = e2e.first, e2e.plain
  figures.append(Figure(
      "memory", f"peak RSS, pipeline on the 192x192 set ({images} images)",
      first.peak_tree_rss_bytes / steps.GIB if first else None, "GiB",
      Target("<", MAX_RSS_SAMPLE_GIB),
      note="summed RSS of the runner and all its children (Beam workers), "
      "sampled every 0.25 s; shared pages count once per process, so this "
      "is an upper bound"))
  figures.append(Figure(
      "memory", f"peak RSS, pipeline on the 512x512 set ({counts_512} "
      f"images, {sizes.epochs_512} epochs)",
      run_512.peak_tree_rss_bytes / steps.GIB if run_512 else None, "GiB",
      Target("<", MAX_RSS_512_GIB)))
  figures.append(Figure(
      "memory", "peak RSS, plain Keras (192x192 set)",
      plain.peak_tree_rss_bytes / steps.GIB if plain else None, "GiB"))
  figures.append(Figure("memory", "pipeline wall time on the 512x512 set",
                        run_512.wall_seconds if run_512 else None, "s"))
  return out_512


def run_512_input(data_512: str, work_dir: str, figures: List[Figure],
                  details: Dict[str, Any]) -> None:
  """Peak RSS of a whole pipeline run that trains at 512 px input."""
  output_dir = os.path.join(work_dir, "runs", "pipeline-512-input")
  shutil.rmtree(output_dir, ignore_errors=True)
  command = steps.local_runner_command(data_512, output_dir, 512,
                                       EPOCHS_512_INPUT)
  command += ["--input-size", "512", "--backbone", BACKBONE_512_INPUT]
  run = steps.run_step(
      "pipeline_512_input", command,
      os.path.join(work_dir, "logs", "pipeline_512_input.log"), details)
  if run:
    details["pipeline_512_input"]["components"] = steps.component_times(
        output_dir)
  what = (f"{BACKBONE_512_INPUT}, random weights, {EPOCHS_512_INPUT} epoch")
  figures.append(Figure(
      "memory 512 input", f"peak RSS, pipeline trained at 512x512 input "
      f"({what})", run.peak_tree_rss_bytes / steps.GIB if run else None,
      "GiB", Target("<", MAX_RSS_512_GIB),
      note="the whole process tree (runner, Beam workers), as above"))
  figures.append(Figure(
      "memory 512 input", "largest single process RSS, same run",
      run.peak_process_rss_bytes / steps.GIB if run else None, "GiB"))
  trainer_seconds = (details["pipeline_512_input"].get("components", {})
                     .get("seconds", {}).get("Trainer") if run else None)
  figures.append(Figure("memory 512 input", "Trainer component time, same "
                        "run", trainer_seconds, "s"))
  figures.append(Figure("memory 512 input", "pipeline wall time, same run",
                        run.wall_seconds if run else None, "s"))
