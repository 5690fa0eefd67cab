"""The gate: whether a candidate is blessed, decided on a measurement.

Two checks, on the candidate's and the served model's predictions of the
same eval examples (EvalInference's scored examples):

* absolute: the candidate's macro F1 is at least `eval.min_macro_f1` (the
  point estimate decides; its bootstrap interval is shown beside it);
* change, when a served model of this class list exists: the paired
  bootstrap interval of the change in macro F1 (modules/bootstrap.py; both
  models scored on the same resampled examples). Rule "interval" (the
  default) rejects only when the whole interval lies below minus
  `eval.max_macro_f1_drop`: the data then show the candidate worse than the
  served model by more than the tolerated drop. Rule "point" rejects when
  the change itself does.

Why our own decision on top of TFMA's metrics: TFMA 0.47 computes both
models' metrics and their `_diff` from the scored examples, but refuses a
change threshold in model-agnostic mode ("There are change thresholds, but
the baseline is missing": it counts baselines by loaded models), and none
of its thresholds takes the noise of the difference into account. The
interval is what tells a retrain that differs by chance from a worse model
(docs/evaluation.md; `make bench BENCH_ARGS="--sections gate"` measures
both rates).
"""

from typing import Optional

import numpy as np

from modules import bootstrap
from settings import config as config_lib
from settings import records


def _interval_text(interval: bootstrap.Interval, signed: bool = False) -> str:
  form = "{:+.4f}" if signed else "{:.4f}"
  return (f"{interval.confidence:.0%} interval {form.format(interval.low)} "
          f"to {form.format(interval.high)}")


def _absolute_check(macro_f1: bootstrap.Interval, minimum: float) -> dict:
  passed = macro_f1.point >= minimum
  line = (f"macro_f1 {macro_f1.point:.4f} "
          + (">=" if passed else "is below") +
          f" the minimum {minimum:g} ({_interval_text(macro_f1)})")
  return {"name": "absolute", "passed": bool(passed), "line": line}


def _change_check(change: bootstrap.Interval, tolerated: float,
                  rule: str) -> dict:
  measured = (f"macro_f1 changed by {change.point:+.4f} against the served "
              f"model ({_interval_text(change, signed=True)})")
  if rule == "interval":
    passed = change.high >= -tolerated
    verdict = ("the interval reaches above" if passed else
               "the whole interval lies below")
  else:
    passed = change.point >= -tolerated
    verdict = ("the change is not below" if passed else
               "the change is below")
  line = (f"{measured}: {verdict} -{tolerated:g}, the tolerated drop "
          f"(eval.change_rule={rule})")
  return {"name": "change", "passed": bool(passed), "line": line}


def decide(labels: np.ndarray, candidate: np.ndarray,
           baseline: Optional[np.ndarray],
           settings: config_lib.GateSettings, candidate_model: str,
           baseline_model: Optional[str] = None,
           baseline_note: Optional[str] = None) -> records.GateRecord:
  """The verdict on a candidate.

  Args:
    labels: [n] true classes of the eval examples.
    candidate: [n, classes] the candidate's probabilities.
    baseline: [n, classes] the served model's probabilities of the same
      examples, or None when there is no served model to compare with.
    settings: the gate's settings (`eval.*`).
    candidate_model, baseline_model: the models' URIs, for the record.
    baseline_note: which served model, or why there is none.
  """
  labels = np.asarray(labels, np.int64)
  candidate_predicted = np.asarray(candidate).argmax(axis=1)
  options = dict(samples=settings.bootstrap_samples,
                 confidence=settings.confidence)
  baseline_interval = change = None
  if baseline is None:
    macro_f1 = bootstrap.bootstrap_macro_f1(
        labels, candidate_predicted, settings.num_classes, **options)
  else:
    paired = bootstrap.paired_macro_f1_change(
        labels, candidate_predicted, np.asarray(baseline).argmax(axis=1),
        settings.num_classes, **options)
    macro_f1, baseline_interval, change = (paired.candidate,
                                           paired.baseline, paired.change)
  checks = [_absolute_check(macro_f1, settings.min_macro_f1)]
  if change is not None:
    checks.append(_change_check(change, settings.max_macro_f1_drop,
                                settings.change_rule))
  return records.GateRecord(
      blessed=all(check["passed"] for check in checks),
      rule=settings.change_rule, min_macro_f1=settings.min_macro_f1,
      max_macro_f1_drop=settings.max_macro_f1_drop,
      confidence=settings.confidence,
      bootstrap_samples=settings.bootstrap_samples,
      candidate_model=candidate_model, macro_f1=macro_f1.to_dict(),
      checks=checks, baseline_model=baseline_model,
      baseline_note=baseline_note,
      baseline_macro_f1=(baseline_interval.to_dict()
                         if baseline_interval else None),
      change=change.to_dict() if change else None)
