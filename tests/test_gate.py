"""The Evaluator's gate on hand-made predictions, against an independent
computation: scikit-learn's macro F1 of each resample, numpy's quantiles.

The oracle draws its own resamples with another seed, so it shares no code
and no random numbers with modules/bootstrap.py: its interval matches the
gate's to within the bootstrap's own noise, and the verdicts it implies
(blessed when two prediction sets are the same, rejected when one makes
many more errors) must be the gate's.
"""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from modules import bootstrap
from pipeline.components.evaluator import gate
from settings import config as config_lib

CLASSES = 20


def _probabilities(predicted, num_classes=CLASSES):
  """One-hot-ish probabilities whose argmax is `predicted`."""
  probabilities = np.full((len(predicted), num_classes), 0.01, np.float32)
  probabilities[np.arange(len(predicted)), predicted] = 0.8
  return probabilities


def _predictions(labels, accuracy, seed):
  rng = np.random.default_rng(seed)
  wrong = rng.random(len(labels)) > accuracy
  guesses = rng.integers(0, CLASSES, len(labels))
  return np.where(wrong, guesses, labels)


def _oracle_change(labels, candidate, baseline, samples=2000, seed=99,
                   confidence=0.95):
  """Paired percentile bootstrap of the change in macro F1, with sklearn."""
  rng = np.random.default_rng(seed)
  changes = []
  for _ in range(samples):
    picked = rng.integers(0, len(labels), len(labels))

    def f1(predicted):
      return sk_metrics.f1_score(labels[picked], predicted[picked],
                                 average="macro", zero_division=0)

    changes.append(f1(candidate) - f1(baseline))
  tail = (1 - confidence) / 2
  low, high = np.quantile(changes, [tail, 1 - tail])
  point = (sk_metrics.f1_score(labels, candidate, average="macro") -
           sk_metrics.f1_score(labels, baseline, average="macro"))
  return point, low, high


def _settings(**changes):
  """The gate's settings at the config's defaults, with `changes`."""
  return config_lib.GateSettings(**dict(
      config_lib.PipelineConfig().gate_settings(), num_classes=CLASSES,
      **changes))


@pytest.fixture(scope="module")
def labels():
  return np.random.default_rng(0).integers(0, CLASSES, 400)


def test_the_paired_interval_matches_an_independent_bootstrap(labels):
  baseline = _predictions(labels, 0.8, seed=1)
  candidate = _predictions(labels, 0.7, seed=2)
  point, low, high = _oracle_change(labels, candidate, baseline)
  change = bootstrap.paired_macro_f1_change(labels, candidate, baseline,
                                            CLASSES).change
  assert change.point == pytest.approx(point, abs=1e-12)
  # Two bootstraps of 1000 and 2000 resamples: their 2.5% and 97.5%
  # quantiles agree to within a few thousandths.
  assert change.low == pytest.approx(low, abs=0.01)
  assert change.high == pytest.approx(high, abs=0.01)
  assert change.samples == 1000 and change.examples == len(labels)


def test_identical_predictions_are_blessed(labels):
  predicted = _predictions(labels, 0.8, seed=1)
  record = gate.decide(labels, _probabilities(predicted),
                       _probabilities(predicted), _settings(),
                       candidate_model="/m/2", baseline_model="/m/1")
  point, low, high = _oracle_change(labels, predicted, predicted)
  assert (point, low, high) == (0.0, 0.0, 0.0)
  assert record.blessed
  assert [c["passed"] for c in record.checks] == [True, True]
  assert record.change["low"] == record.change["high"] == 0.0


def test_many_more_errors_are_rejected(labels):
  baseline = _predictions(labels, 0.85, seed=1)
  candidate = _predictions(labels, 0.55, seed=2)
  point, low, high = _oracle_change(labels, candidate, baseline)
  # The oracle sees the whole interval below the tolerated drop...
  assert high < -0.02
  record = gate.decide(labels, _probabilities(candidate),
                       _probabilities(baseline),
                       _settings(min_macro_f1=0.1),
                       candidate_model="/m/2", baseline_model="/m/1")
  # ...and so does the gate, which says so.
  assert not record.blessed
  [failure] = record.failures
  assert failure.startswith(f"macro_f1 changed by {point:+.4f}")
  assert "the whole interval lies below -0.02" in failure
  assert record.change["high"] < -0.02


def test_a_drop_within_the_noise_is_blessed_by_the_interval_rule_only(
    labels):
  """A candidate a little worse than the served model, by about the
  tolerated drop: the point rule rejects it, the interval rule does not,
  as the oracle's interval reaches above minus the tolerated drop."""
  baseline = _predictions(labels, 0.80, seed=1)
  rng = np.random.default_rng(7)
  # The baseline's predictions with a few of its right answers made wrong.
  candidate = baseline.copy()
  right = np.flatnonzero(baseline == labels)
  flipped = rng.choice(right, 14, replace=False)
  candidate[flipped] = (labels[flipped] + 1) % CLASSES
  point, low, high = _oracle_change(labels, candidate, baseline)
  assert point < -0.02 < high
  tolerated = dict(min_macro_f1=0.1, max_macro_f1_drop=0.02)
  by_interval = gate.decide(labels, _probabilities(candidate),
                            _probabilities(baseline),
                            _settings(change_rule="interval", **tolerated),
                            candidate_model="/m/2", baseline_model="/m/1")
  by_point = gate.decide(labels, _probabilities(candidate),
                         _probabilities(baseline),
                         _settings(change_rule="point", **tolerated),
                         candidate_model="/m/2", baseline_model="/m/1")
  assert by_interval.blessed and not by_point.blessed
  assert "eval.change_rule=point" in by_point.failures[0]


def test_without_a_baseline_only_the_absolute_gate_decides(labels):
  predicted = _predictions(labels, 0.5, seed=3)
  expected = sk_metrics.f1_score(labels, predicted, average="macro")
  for minimum, blessed in ((expected - 0.01, True), (expected + 0.01, False)):
    record = gate.decide(labels, _probabilities(predicted), None,
                         _settings(min_macro_f1=round(minimum, 4)),
                         candidate_model="/m/1",
                         baseline_note="no model pushed yet")
    assert record.blessed is blessed
    assert [c["name"] for c in record.checks] == ["absolute"]
    assert record.macro_f1["point"] == pytest.approx(expected, abs=1e-12)
    assert record.macro_f1["low"] < expected < record.macro_f1["high"]
    assert record.change is None and record.baseline_note


def test_gate_settings_are_checked():
  with pytest.raises(ValueError, match="change_rule"):
    _settings(change_rule="vote")
  with pytest.raises(ValueError, match="confidence"):
    _settings(confidence=1.0)
  with pytest.raises(ValueError, match="bootstrap_samples"):
    _settings(bootstrap_samples=10)
