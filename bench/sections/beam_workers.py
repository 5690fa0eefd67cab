"""Section beam: the data components as the runner ran them (in-process on
a 2-core machine, pipeline/runner/beam.py `resolve_local_profile`) against
BEAM_WORKERS DirectRunner worker processes.

StatisticsGen, Transform and ImportExampleGen throughput (examples/s from
the component times): the e2e run's, and a partial run of the same
pipeline up to them with worker processes (`bench/beam_components.py`).
"""

import os
import shutil
import sys
from typing import Any, Dict, List

from bench import steps
from bench.report import Figure
from bench.sizes import Sizes

# DirectRunner worker processes of the partial run (and of the engines
# section's DirectRunner baseline).
BEAM_WORKERS = 2


def beam_examples(sizes: Sizes) -> Dict[str, int]:
  """Examples each Beam component reads on the generated set."""
  counts = sizes.split_counts()
  # StatisticsGen both splits, Transform's analysis the training split only
  # (it does not materialize).
  return {"ImportExampleGen": counts["train"] + counts["val"],
          "StatisticsGen": counts["train"] + counts["val"],
          "Transform": counts["train"]}


def run(sizes: Sizes, data_192: str, e2e_seconds: Dict[str, float],
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
  run = steps.run_step(
      "beam_workers",
      [sys.executable, "-m", "bench.beam_components", "--data-root",
       data_192, "--output-dir", output_dir, "--beam-workers",
       str(BEAM_WORKERS)],
      os.path.join(work_dir, "logs", "beam_workers.log"), details)
  workers_label = f"{BEAM_WORKERS} worker processes"
  seconds = {"default": e2e_seconds,
             "workers": (steps.component_times(output_dir)["seconds"]
                         if run else {})}
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
