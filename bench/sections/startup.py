"""Section startup: each Beam component's fixed start-up cost apart from its
work.

The same pipeline runs on a small set (every class once in each split); a
component's time is modelled as start-up + examples x time per example, and
that run and the e2e run give both (`mlmd_times.split_startup`;
docs/benchmarks.md). Which examples each component reads: ExampleGen and
StatisticsGen both splits, Transform's analysis the training split, the
Evaluator the val split.
"""

import dataclasses
import os
import shutil
from typing import Any, Dict, List

from bench import mlmd_times
from bench import steps
from bench.report import Figure
from bench.sizes import Sizes

STARTUP_SIZES = Sizes(head_count=1, tail_count=1, epochs=1, epochs_512=1,
                      input_rounds=1, input_seconds=1.0,
                      test_count=4)
BEAM_COMPONENT_SPLITS = {
    "ImportExampleGen": ("train", "val"),
    "StatisticsGen": ("train", "val"),
    "Transform": ("train",),
    "Evaluator": ("val",),
}


def run(sizes: Sizes, e2e_seconds: Dict[str, float], work_dir: str,
        figures: List[Figure], details: Dict[str, Any]) -> None:
  """Section startup: Beam components' start-up and work, from two sizes."""
  data_root = steps.make_data(work_dir, 192, STARTUP_SIZES)
  output_dir = os.path.join(work_dir, "runs", "pipeline-small")
  shutil.rmtree(output_dir, ignore_errors=True)
  run = steps.run_step(
      "pipeline_small",
      steps.local_runner_command(data_root, output_dir, 192,
                                 STARTUP_SIZES.epochs),
      os.path.join(work_dir, "logs", "pipeline_small.log"), details)
  small_seconds = steps.component_times(output_dir)["seconds"] if run else {}
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
