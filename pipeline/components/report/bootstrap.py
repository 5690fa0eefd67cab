"""The model card's interval for macro F1: a seeded percentile bootstrap
over the eval examples, each resample scored as the Evaluator scores
(modules/metrics.py).
"""

import dataclasses

import numpy as np

from modules import metrics as metrics_lib

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate and its bootstrap confidence interval."""
  point: float
  low: float
  high: float
  examples: int
  samples: int
  confidence: float


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
    ValueError: with no example, or labels and predictions of other lengths.
  """
  labels = np.asarray(labels, np.int64)
  predicted = np.asarray(predicted, np.int64)
  if len(labels) != len(predicted):
    raise ValueError(f"{len(labels)} labels for {len(predicted)} "
                     "predictions")
  if not len(labels):  # pylint: disable=g-explicit-length-test
    raise ValueError("no examples to bootstrap")
  rng = np.random.default_rng(seed)
  n = len(labels)
  scores = np.empty(samples)
  for i in range(samples):
    picked = rng.integers(0, n, n)
    scores[i] = macro_f1(labels[picked], predicted[picked], num_classes)
  tail = (1 - confidence) / 2
  low, high = np.quantile(scores, [tail, 1 - tail])
  return Interval(point=macro_f1(labels, predicted, num_classes),
                  low=float(low), high=float(high), examples=n,
                  samples=samples, confidence=confidence)
