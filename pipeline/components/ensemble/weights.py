"""The ensemble's weights, fitted on the simplex, and the scores it records.

The ensemble's probabilities are `sum_k w_k p_k` with `w` on the simplex
(non-negative, summing to 1). The weights minimise the log loss of that
average on the fit slice: the log loss is convex in `w` (minus the log of a
linear function), so scipy's SLSQP under the simplex constraint finds the
global optimum; macro F1, what the gate scores, is piecewise constant in
`w` and gives an optimiser no gradient to follow. The scores are
scikit-learn's, as `modules/metrics.py` computes them for the Evaluator:
`f1_score(labels, argmax, average="macro")` over the classes present in
the labels or the predictions.
"""

from typing import Dict, List, Sequence

import numpy as np
from scipy import optimize
from sklearn import metrics

# Probabilities below this count as this in the log loss (a member that
# gives the true class 0 would make it infinite).
_FLOOR = 1e-12


def fit_weights(member_probabilities: Sequence[np.ndarray],
                labels: np.ndarray) -> List[float]:
  """Simplex weights minimising the log loss of the weighted average.

  Args:
    member_probabilities: per member, [records, classes] probabilities.
    labels: [records] true class indices.

  Returns:
    One weight per member, each in [0, 1], summing to 1.

  Raises:
    ValueError: no records, or members of different shapes.
  """
  stacked = np.stack([np.asarray(p, np.float64)
                      for p in member_probabilities])
  members, records = stacked.shape[:2]
  if records == 0:
    raise ValueError("no fit records to fit the ensemble's weights on")
  # [members, records]: each member's probability of the true class.
  true_class = stacked[:, np.arange(records), np.asarray(labels)]

  def loss_and_gradient(weights):
    mixed = np.maximum(weights @ true_class, _FLOOR)
    return (-np.mean(np.log(mixed)),
            -np.mean(true_class / mixed, axis=1))

  result = optimize.minimize(
      loss_and_gradient, np.full(members, 1.0 / members), jac=True,
      method="SLSQP", bounds=[(0.0, 1.0)] * members,
      constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0,
                    "jac": lambda w: np.ones_like(w)}])
  if not result.success:
    raise ValueError(f"fitting the ensemble's weights failed: "
                     f"{result.message}")
  weights = np.clip(result.x, 0.0, None)
  return (weights / weights.sum()).tolist()


def average(member_probabilities: Sequence[np.ndarray],
            weights: Sequence[float]) -> np.ndarray:
  """[records, classes]: the weighted average the ensemble serves."""
  return np.tensordot(np.asarray(weights, np.float64),
                      np.stack(member_probabilities), axes=1)


def scores(labels: np.ndarray, probabilities: np.ndarray
           ) -> Dict[str, object]:
  """Macro F1 and per-class F1 (class index -> F1, the classes present in
  the labels or the predictions), as scikit-learn computes them."""
  predicted = np.asarray(probabilities).argmax(axis=1)
  present = np.union1d(labels, predicted)
  per_class = metrics.f1_score(labels, predicted, labels=present,
                               average=None, zero_division=0)
  return {
      "macro_f1": float(metrics.f1_score(labels, predicted, average="macro",
                                         zero_division=0)),
      "class_f1": {str(int(c)): float(f) for c, f in zip(present,
                                                         per_class)},
  }
