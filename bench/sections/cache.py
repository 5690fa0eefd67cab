"""Section cache: the e2e pipeline command again, unchanged and gate-only.

An unchanged re-run into the same output directory (everything cached: the
Evaluator's baseline leaves the candidate out,
pipeline/components/baseline/), then a gate-only change (`--min-macro-f1`:
the Evaluator and what follows it run again). Targets: the unchanged
re-run takes <= MAX_CACHED_RERUN_PERCENT of the first run, the gate-only
one <= MAX_GATE_RERUN_PERCENT.
"""

import os
from typing import Any, Dict, List

from bench import reasons
from bench import steps
from bench.report import Figure, Target
from bench.sections.e2e import E2eRuns

MAX_CACHED_RERUN_PERCENT = 10.0
MAX_GATE_RERUN_PERCENT = 30.0
# The gate the gate-only re-run sets instead of steps.OPEN_GATE: the
# Evaluator's threshold alone changes.
CHANGED_GATE = "0.001"


def gate_changed(command: List[str]) -> List[str]:
  """`command` (local_runner_command's) with only the quality gate changed."""
  index = command.index("--min-macro-f1") + 1
  assert command[index] == steps.OPEN_GATE, command
  return command[:index] + [CHANGED_GATE] + command[index + 1:]


def run(e2e: E2eRuns, work_dir: str, figures: List[Figure],
        details: Dict[str, Any]) -> None:
  """Re-runs the e2e pipeline run twice; the cache figures."""
  logs = os.path.join(work_dir, "logs")
  first = e2e.first
  cached = steps.run_step(
      "pipeline_192_rerun", e2e.command,
      os.path.join(logs, "pipeline_192_rerun.log"), details) \
      if first else None
  if cached:
    details["pipeline_192_rerun"]["components"] = steps.component_times(
        e2e.output_dir)
  gate_only = steps.run_step(
      "pipeline_192_gate", gate_changed(e2e.command),
      os.path.join(logs, "pipeline_192_gate.log"), details) \
      if cached else None
  if gate_only:
    details["pipeline_192_gate"]["components"] = steps.component_times(
        e2e.output_dir)

  def executed_again(step):
    states = details.get(step, {}).get("components", {}).get("states", {})
    return sorted(node for node, state in states.items()
                  if state != "CACHED")

  def rerun_note(step):
    executed = executed_again(step)
    return "executed again: " + ", ".join(executed) if executed else ""

  wall_p = first.wall_seconds if first else None
  cache_ratio = 100 * cached.wall_seconds / wall_p if cached and first \
      else None
  figures.append(Figure("cache", "unchanged re-run wall time",
                        cached.wall_seconds if cached else None, "s",
                        note=rerun_note("pipeline_192_rerun")))
  def reason(run_, step, limit):
    return reasons.rerun_reason(
        run_.wall_seconds,
        details[step].get("components", {}).get("seconds", {}),
        executed_again(step), wall_p, limit,
        imports=steps.import_profile(work_dir, details))

  figures.append(Figure(
      "cache", "unchanged re-run / first run", cache_ratio, "%",
      Target("<=", MAX_CACHED_RERUN_PERCENT),
      note="" if cache_ratio is None or (
          cache_ratio <= MAX_CACHED_RERUN_PERCENT) else
      reason(cached, "pipeline_192_rerun", MAX_CACHED_RERUN_PERCENT)))
  gate_ratio = (100 * gate_only.wall_seconds / wall_p
                if gate_only and first else None)
  figures.append(Figure(
      "cache", "gate-only change re-run (--min-macro-f1) / first run",
      gate_ratio, "%", Target("<=", MAX_GATE_RERUN_PERCENT),
      note=rerun_note("pipeline_192_gate") if gate_ratio is None or (
          gate_ratio <= MAX_GATE_RERUN_PERCENT) else
      reason(gate_only, "pipeline_192_gate", MAX_GATE_RERUN_PERCENT)))
