"""Section gate: does the Evaluator's change gate tell noise from a worse
model?

On the e2e run's ExampleGen output and Transform graph, `bench/gate_runs.py`
retrains models the Trainer's way:

* `gate_seeds` plain models that differ only in `train.seed` (the e2e
  run's epochs): equivalent models;
* worse models of each kind in `gate_worse` (fewer epochs; part of the
  training labels corrupted), `gate_worse_seeds` of each.

The gate (pipeline/components/evaluator/gate.py, default settings) judges
every ordered pair of plain models, and every worse model against every
plain model. A kind's true drop is the plain models' mean macro F1 minus
its models' mean, estimated from the runs; its rejection share is over its
pairs. Figures:

* equivalent retrains rejected: target <= MAX_EQUIVALENT_REJECTED_PERCENT;
* rejected at a true drop of 0.10 (a straight line through the kinds'
  (drop, share) points, and (0, the equivalent share)): target >=
  MIN_REJECTED_AT_0_10_PERCENT; the same at 0.05 and 0.03, reported;
* the seed spread of macro F1, each kind's drop and share, and the point
  rule's rates beside the interval rule's.
"""

import json
import os
import statistics
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bench import steps
from bench.report import Figure, Target
from bench.sizes import Sizes
from settings import config as config_lib

MAX_EQUIVALENT_REJECTED_PERCENT = 10.0
MIN_REJECTED_AT_0_10_PERCENT = 90.0
DROPS = (0.10, 0.05, 0.03)
STEP = "gate_retrains"
# The pipeline's seed first: the first retrain is the default run.
FIRST_SEED = config_lib.TrainConfig.seed


def plan_runs(sizes: Sizes) -> List[Dict[str, Any]]:
  """The models to train: the plain seeds, then each worse kind's."""
  runs = [dict(name=f"seed-{seed}", kind="seed", seed=seed,
               epochs=sizes.epochs)
          for seed in range(FIRST_SEED, FIRST_SEED + sizes.gate_seeds)]
  for kind, value in sizes.gate_worse:
    for index in range(sizes.gate_worse_seeds):
      seed = FIRST_SEED + index
      if kind == "epochs":
        runs.append(dict(name=f"epochs-{value}-seed-{seed}",
                         kind=f"{value} epoch(s)", seed=seed, epochs=value))
      else:
        runs.append(dict(name=f"corrupt-{value}-seed-{seed}",
                         kind=f"{value}% labels corrupted", seed=seed,
                         epochs=sizes.epochs, corrupt_percent=value))
  return runs


def _share(pairs: Sequence[Dict[str, Any]], rule: str) -> Optional[float]:
  if not pairs:
    return None
  return 100 * sum(not pair[rule] for pair in pairs) / len(pairs)


def kinds_table(result: Dict[str, Any], rule: str
                ) -> List[Tuple[str, float, float, int]]:
  """(kind, true drop, percent of its pairs rejected, pairs) of each worse
  kind, smallest drop first."""
  models = result["models"]
  plain_f1 = [m["macro_f1"] for m in models.values() if m["kind"] == "seed"]
  rows = []
  for kind in sorted({m["kind"] for m in models.values()} - {"seed"}):
    names = {name for name, m in models.items() if m["kind"] == kind}
    drop = statistics.mean(plain_f1) - statistics.mean(
        models[name]["macro_f1"] for name in names)
    pairs = [p for p in result["pairs"] if p["candidate"] in names]
    rows.append((kind, drop, _share(pairs, rule), len(pairs)))
  return sorted(rows, key=lambda row: row[1])


def share_at(drop: float, equivalent_share: float,
             kinds: Sequence[Tuple[str, float, float, int]]
             ) -> Optional[float]:
  """The rejected share at `drop`, on the straight line between the two
  measured points around it ((0, equivalent_share) and each kind's); None
  when no kind dropped that far."""
  points = [(0.0, equivalent_share)] + [(d, s) for _, d, s, _ in kinds
                                        if d > 0]
  points.sort()
  for (d0, s0), (d1, s1) in zip(points, points[1:]):
    if d0 <= drop <= d1:
      return s0 if d1 == d0 else s0 + (s1 - s0) * (drop - d0) / (d1 - d0)
  return None


def run(sizes: Sizes, e2e_output_dir: str, work_dir: str,
        figures: List[Figure], details: Dict[str, Any]) -> None:
  """Retrains the models, runs the gate on every pair; the gate figures."""
  examples = steps.latest_dir(os.path.join(
      e2e_output_dir, "pipeline_root", "ImportExampleGen", "examples", "*"))
  transform = steps.latest_dir(os.path.join(
      e2e_output_dir, "pipeline_root", "Transform", "transform_graph", "*"))
  result = None
  if examples and transform:
    gate_dir = os.path.join(work_dir, "runs", "gate")
    os.makedirs(gate_dir, exist_ok=True)
    settings = config_lib.PipelineConfig(
        image_size=192).replace(train__epochs=sizes.epochs)
    plan = dict(examples=examples, transform_graph=transform,
                work_dir=gate_dir, settings=settings.trainer_settings(),
                runs=plan_runs(sizes))
    plan_path = os.path.join(gate_dir, "plan.json")
    result_path = os.path.join(gate_dir, "result.json")
    with open(plan_path, "w", encoding="utf-8") as f:
      json.dump(plan, f, indent=2)
    if steps.run_step(STEP, [sys.executable, os.path.join(
        steps.REPO_ROOT, "bench", "gate_runs.py"), plan_path, result_path],
                      os.path.join(work_dir, "logs", STEP + ".log"),
                      details):
      with open(result_path, encoding="utf-8") as f:
        result = json.load(f)
      details[STEP]["result"] = result

  def add(name, value, unit="%", target=None, note=""):
    figures.append(Figure("gate", name, value, unit, target, note))

  if result is None:
    add("equivalent retrains rejected", None,
        target=Target("<=", MAX_EQUIVALENT_REJECTED_PERCENT))
    add("rejected at a true drop of 0.10", None,
        target=Target(">=", MIN_REJECTED_AT_0_10_PERCENT))
    return
  models = result["models"]
  plain = {name for name, m in models.items() if m["kind"] == "seed"}
  plain_f1 = [models[name]["macro_f1"] for name in sorted(plain)]
  equivalent = [p for p in result["pairs"] if p["candidate"] in plain]
  spread = statistics.pstdev(plain_f1) if len(plain_f1) > 1 else 0.0
  add("macro F1 across seeds: standard deviation", spread, "",
      note=(f"{len(plain_f1)} seeds, {result['eval_examples']} eval "
            f"examples: mean {statistics.mean(plain_f1):.4f}, min "
            f"{min(plain_f1):.4f}, max {max(plain_f1):.4f}"))
  for rule in config_lib.CHANGE_RULES:
    share = _share(equivalent, rule)
    kinds = kinds_table(result, rule)
    primary = rule == config_lib.EvalConfig().change_rule
    suffix = "" if primary else f" (eval.change_rule={rule})"
    rejected = [p for p in equivalent if not p[rule]]
    note = (f"{len(rejected)} of {len(equivalent)} ordered pairs of "
            f"{len(plain)} seeds")
    if primary and share is not None and (
        share > MAX_EQUIVALENT_REJECTED_PERCENT):
      worst = sorted(rejected, key=lambda p: p["change"]["high"])[:3]
      note += ("; missed because the seeds' spread of macro F1 (sd "
               f"{spread:.4f}) moves whole intervals past the tolerated "
               "drop: " + ", ".join(
                   f"{p['candidate']} vs {p['baseline']} "
                   f"{p['change']['point']:+.4f} "
                   f"[{p['change']['low']:+.4f}, {p['change']['high']:+.4f}]"
                   for p in worst))
    add("equivalent retrains rejected" + suffix, share,
        target=(Target("<=", MAX_EQUIVALENT_REJECTED_PERCENT)
                if primary else None), note=note)
    for kind, drop, kind_share, count in kinds:
      add(f"{kind}: rejected{suffix}", kind_share,
          note=f"true drop {drop:+.4f} (plain mean minus its mean), "
               f"{count} pairs")
    half_widths = [(p["change"]["high"] - p["change"]["low"]) / 2
                   for p in result["pairs"]]
    for drop in DROPS:
      value = share_at(drop, share or 0.0, kinds)
      note = ("interpolated between the measured drops 0 and "
              + ", ".join(f"{d:.3f}" for _, d, _, _ in kinds))
      judged = primary and drop == 0.10
      if value is None:
        note = (f"no worse kind dropped by {drop:.2f}: the largest drop "
                "measured is "
                f"{max((d for _, d, _, _ in kinds), default=0.0):.4f}")
        if judged and not sizes.gate_power_required:
          # Tiny and quick models are near chance: nothing can drop 0.10.
          note += (f" (this mode's models are near chance, mean macro F1 "
                   f"{statistics.mean(plain_f1):.4f}; the full bench "
                   "measures it)")
          judged = False
      elif judged and value < MIN_REJECTED_AT_0_10_PERCENT:
        note += (f"; missed: the paired intervals are +-"
                 f"{statistics.mean(half_widths):.3f} wide on average on "
                 f"{result['eval_examples']} eval examples, so a drop of "
                 "0.10 does not always put the whole interval below the "
                 "tolerated drop of "
                 f"{config_lib.EvalConfig().max_macro_f1_drop}")
      add(f"rejected at a true drop of {drop:.2f}{suffix}", value,
          target=Target(">=", MIN_REJECTED_AT_0_10_PERCENT) if judged
          else None, note=note)
