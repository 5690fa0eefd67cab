"""The device gate: a variant's macro F1 against the threshold and the
SavedModel's, on the same eval records.

Macro F1 is the Evaluator's (`modules.metrics.scores_from_confusion`, the
competition's metric as scikit-learn computes it). A variant passes when

    macro_f1 >= eval.min_macro_f1   (the absolute threshold, as the
                                     SavedModel must pass it), and
    SavedModel's macro_f1 - macro_f1 <= its tolerance
                                    (lite.float_tolerance, lite.int8_tolerance).

Passing is necessary, not sufficient: LiteRTPusher pushes a variant only
when the Evaluator also blessed the SavedModel.
"""

from typing import Any, Dict, List

import numpy as np

from modules import metrics as metrics_lib


def macro_f1(labels: np.ndarray, predicted: np.ndarray,
             num_classes: int) -> float:
  """Macro F1 of argmax predictions, as the Evaluator computes it."""
  flat = (np.asarray(labels, np.int64) * num_classes +
          np.asarray(predicted, np.int64))
  confusion = np.bincount(flat, minlength=num_classes * num_classes
                          ).reshape(num_classes, num_classes)
  return float(metrics_lib.scores_from_confusion(confusion)[
      metrics_lib.MACRO_F1])


def score_variant(labels: np.ndarray, saved_probabilities: np.ndarray,
                  probabilities: np.ndarray, min_macro_f1: float,
                  tolerance: float) -> Dict[str, Any]:
  """A variant's scores and verdict on records in one order.

  Args:
    labels: the records' classes [n].
    saved_probabilities: the SavedModel's probabilities [n, classes].
    probabilities: the variant's [n, classes].
    min_macro_f1: the absolute threshold.
    tolerance: the largest drop allowed against the SavedModel.

  Returns:
    `macro_f1`, `macro_f1_drop`, `top1_agreement`, `tolerance`, `passed`
    and `reasons` (one line per failed condition).
  """
  if len(labels) == 0:  # pylint: disable=g-explicit-length-test
    raise ValueError("no eval records to score the device model on")
  num_classes = saved_probabilities.shape[1]
  predicted = probabilities.argmax(axis=1)
  saved_predicted = saved_probabilities.argmax(axis=1)
  score = macro_f1(labels, predicted, num_classes)
  drop = macro_f1(labels, saved_predicted, num_classes) - score
  reasons: List[str] = []
  if score < min_macro_f1:
    reasons.append(f"macro_f1 {score:.4f} < {min_macro_f1}")
  # The epsilon: a drop equal to the tolerance passes, whatever the
  # float rounding of the two scores.
  if drop > tolerance + 1e-9:
    reasons.append(f"macro_f1 {drop:.4f} below the SavedModel's (the "
                   f"tolerance is {tolerance})")
  return {"macro_f1": round(score, 6), "macro_f1_drop": round(drop, 6),
          "top1_agreement": round(float(np.mean(
              predicted == saved_predicted)), 6),
          "tolerance": tolerance, "passed": not reasons, "reasons": reasons}
