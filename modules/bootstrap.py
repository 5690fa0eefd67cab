"""How noisy a macro F1 is: seeded percentile bootstraps over the eval examples.

Two estimates, each resample scored exactly as the Evaluator scores
(modules/metrics.py, scikit-learn's `average="macro"`):

* `bootstrap_macro_f1`: one model's macro F1 and its interval (the model
  card, the summary's absolute-threshold line);
* `paired_macro_f1_change`: two models scored on the SAME resampled
  examples, and the interval of their difference (the Evaluator's change
  gate, pipeline/components/evaluator/gate.py). Pairing removes the
  examples' own difficulty from the difference: on 356 sample eval images
  one model's interval is about +-0.03 wide, the paired difference's is
  narrower wherever the two models err on the same images.

Why a bootstrap and not a closed form: macro F1 averages per-class ratios
over the classes present in the labels or the predictions; its variance has
no closed form, and with 104 classes of a few examples each a normal
approximation is poor. The percentile bootstrap needs no such assumption and
costs milliseconds (every resample's per-class counts come from one
`bincount`). Seeded: the same predictions give the same interval.
"""

import dataclasses
from typing import Iterator, Tuple

import numpy as np

from modules import metrics as metrics_lib
from settings import sections

# The gate's defaults (`eval.bootstrap_samples`, `eval.confidence`), also
# the model card's interval.
BOOTSTRAP_SAMPLES = sections.EvalConfig.bootstrap_samples
BOOTSTRAP_SEED = 0
CONFIDENCE = sections.EvalConfig.confidence
# Resamples scored per vectorised step (bounds the memory: chunk x examples
# indices).
_CHUNK = 100


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate and its bootstrap confidence interval."""
  point: float
  low: float
  high: float
  examples: int
  samples: int
  confidence: float

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PairedChange:
  """Two models scored on the same resamples: each one's interval, and the
  interval of the change (candidate minus baseline)."""
  candidate: Interval
  baseline: Interval
  change: Interval

  def to_dict(self) -> dict:
    return {"candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "change": self.change.to_dict()}


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray,
                     num_classes: int) -> np.ndarray:
  """[num_classes, num_classes] counts, rows = true class."""
  flat = (np.asarray(labels, np.int64) * num_classes +
          np.asarray(predicted, np.int64))
  return np.bincount(flat, minlength=num_classes * num_classes).reshape(
      num_classes, num_classes)


def macro_f1(labels: np.ndarray, predicted: np.ndarray,
             num_classes: int) -> float:
  """Macro F1 as the Evaluator computes it (modules.metrics)."""
  return metrics_lib.scores_from_confusion(confusion_matrix(
      labels, predicted, num_classes))[metrics_lib.MACRO_F1]


def _checked(labels, predicted, num_classes) -> Tuple[np.ndarray, np.ndarray]:
  labels = np.asarray(labels, np.int64)
  predicted = np.asarray(predicted, np.int64)
  if len(labels) != len(predicted):
    raise ValueError(f"{len(labels)} labels for {len(predicted)} "
                     "predictions")
  if not len(labels):  # pylint: disable=g-explicit-length-test
    raise ValueError("no examples to bootstrap")
  for name, values in (("label", labels), ("prediction", predicted)):
    outside = values[(values < 0) | (values >= num_classes)]
    if outside.size:
      raise ValueError(f"{name} {int(outside[0])} outside [0, {num_classes})")
  return labels, predicted


def _resamples(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
  """[chunk, n] example indices, drawn with replacement, `samples` rows in
  all; the same seed draws the same rows."""
  rng = np.random.default_rng(seed)
  for start in range(0, samples, _CHUNK):
    yield rng.integers(0, n, size=(min(_CHUNK, samples - start), n))


def _macro_f1_of_resamples(labels: np.ndarray, predicted: np.ndarray,
                           picked: np.ndarray, num_classes: int) -> np.ndarray:
  """Macro F1 of each resample (row of `picked`), as scikit-learn scores it.

  Per class F1 = 2 TP / (support + predicted), which is 2PR / (P + R) where
  both are defined and 0 where scikit-learn's zero_division=0 gives 0; the
  mean runs over the classes present in the labels or the predictions.
  """
  rows = picked.shape[0]
  offsets = (np.arange(rows, dtype=np.int64) * num_classes)[:, None]
  true = labels[picked]
  guess = predicted[picked]
  size = rows * num_classes
  support = np.bincount((offsets + true).ravel(), minlength=size)
  guessed = np.bincount((offsets + guess).ravel(), minlength=size)
  hits = np.bincount((offsets + true).ravel(),
                     weights=(true == guess).ravel(), minlength=size)
  support = support.reshape(rows, num_classes)
  guessed = guessed.reshape(rows, num_classes)
  hits = hits.reshape(rows, num_classes)
  present = (support + guessed) > 0
  with np.errstate(divide="ignore", invalid="ignore"):
    f1 = np.where(present, 2 * hits / np.maximum(support + guessed, 1), 0.0)
  return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _interval(point: float, scores: np.ndarray, examples: int,
              confidence: float) -> Interval:
  tail = (1 - confidence) / 2
  low, high = np.quantile(scores, [tail, 1 - tail])
  return Interval(point=float(point), low=float(low), high=float(high),
                  examples=examples, samples=len(scores),
                  confidence=confidence)


def bootstrap_macro_f1(labels: np.ndarray, predicted: np.ndarray,
                       num_classes: int, samples: int = BOOTSTRAP_SAMPLES,
                       confidence: float = CONFIDENCE,
                       seed: int = BOOTSTRAP_SEED) -> Interval:
  """Macro F1 with a percentile bootstrap interval over the examples.

  Each of `samples` resamples draws len(labels) examples with replacement
  and scores them as the Evaluator does; the interval is the central
  `confidence` share of those scores. Seeded: the same inputs give the same
  interval.

  Raises:
    ValueError: with no example, labels and predictions of other lengths,
      or a class index outside [0, num_classes).
  """
  labels, predicted = _checked(labels, predicted, num_classes)
  scores = np.concatenate([
      _macro_f1_of_resamples(labels, predicted, picked, num_classes)
      for picked in _resamples(len(labels), samples, seed)])
  return _interval(macro_f1(labels, predicted, num_classes), scores,
                   len(labels), confidence)


def paired_macro_f1_change(labels: np.ndarray, candidate: np.ndarray,
                           baseline: np.ndarray, num_classes: int,
                           samples: int = BOOTSTRAP_SAMPLES,
                           confidence: float = CONFIDENCE,
                           seed: int = BOOTSTRAP_SEED) -> PairedChange:
  """The change in macro F1 from `baseline` to `candidate` (each an array of
  predicted class indices for the same examples), with a paired percentile
  bootstrap interval: every resample scores both models on the same drawn
  examples, and the interval is the central `confidence` share of the
  differences.

  Raises:
    ValueError: as `bootstrap_macro_f1`, or predictions of other lengths.
  """
  labels, candidate = _checked(labels, candidate, num_classes)
  _, baseline = _checked(labels, baseline, num_classes)
  candidate_scores, baseline_scores = [], []
  for picked in _resamples(len(labels), samples, seed):
    candidate_scores.append(
        _macro_f1_of_resamples(labels, candidate, picked, num_classes))
    baseline_scores.append(
        _macro_f1_of_resamples(labels, baseline, picked, num_classes))
  candidate_scores = np.concatenate(candidate_scores)
  baseline_scores = np.concatenate(baseline_scores)
  candidate_point = macro_f1(labels, candidate, num_classes)
  baseline_point = macro_f1(labels, baseline, num_classes)
  n = len(labels)
  return PairedChange(
      candidate=_interval(candidate_point, candidate_scores, n, confidence),
      baseline=_interval(baseline_point, baseline_scores, n, confidence),
      change=_interval(candidate_point - baseline_point,
                       candidate_scores - baseline_scores, n, confidence))
