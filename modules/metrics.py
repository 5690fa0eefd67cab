"""Kaggle-exact multi-class metrics for TFMA (the Evaluator gates on them).

TFMA's built-in `F1Score` binarizes every class at a 0.5 threshold; the
competition's metric is scikit-learn's
`f1_score(y_true, argmax(probabilities), average="macro")`. `MacroF1` below
accumulates the full confusion matrix of argmax predictions and derives, from
it, exactly what scikit-learn computes: macro precision, recall and F1 over the
union of classes present in the labels or the predictions (a class with no
support and no prediction is left out; 0/0 counts as 0), and accuracy.

The same combiner also outputs, in the overall slice (the EvalConfig's
only one, `tfma.SlicingSpec()` in pipeline/pipeline.py):
- per-class precision, recall and F1 (`class_precision`, `class_recall`,
  `class_f1`) as sub-keys, `SubKey(class_id=i)`, not slices, for the same
  classes scikit-learn's `average=None` returns (present in the
  labels or the predictions), so `tfma.load_eval_result` shows them under
  `classId:<i>`;
- the confusion matrix itself (`confusion_matrix`, rows = true class,
  columns = argmax prediction), stored by TFMA as an array value. TFMA also
  subtracts the baseline's matrix for the `_diff` entry, like every metric.

Used from the EvalConfig as
`MetricConfig(class_name="MacroF1", module="modules.metrics",
config='{"num_classes": N}')`.

pipeline/components/util/evaluation_reader.py (`load_evaluation`) reads these metrics
back from the Evaluator's output, the per-class ones by their sub-key
(`Evaluation.per_class`), for the Report component
(pipeline/components/report/, which `tools/report.py` also runs), the
model card, the Pusher's record and the run summary.
"""

from typing import Any, Dict, Iterable, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.proto import config_pb2

MACRO_F1 = "macro_f1"
MACRO_PRECISION = "macro_precision"
MACRO_RECALL = "macro_recall"
ACCURACY = "argmax_accuracy"
# Per-class scores (under SubKey(class_id=i)) and the matrix they come from.
CLASS_F1 = "class_f1"
CLASS_PRECISION = "class_precision"
CLASS_RECALL = "class_recall"
CONFUSION_MATRIX = "confusion_matrix"
PER_CLASS_METRICS = (CLASS_PRECISION, CLASS_RECALL, CLASS_F1)


def per_class_from_confusion(matrix: np.ndarray
                             ) -> Dict[str, np.ndarray]:
  """Per-class precision/recall/F1 from a confusion matrix.

  Args:
    matrix: [num_classes, num_classes], rows = true class, columns =
      predicted class, entries = (weighted) counts.

  Returns:
    `precision`, `recall`, `f1` ([num_classes] each, 0/0 counted as 0, as
    scikit-learn's zero_division=0) and `present` (a boolean mask of the
    classes that occur in the labels or the predictions: the classes
    scikit-learn scores when not given `labels`).
  """
  matrix = np.asarray(matrix, dtype=np.float64)
  true_positives = np.diag(matrix)
  support = matrix.sum(axis=1)
  predicted = matrix.sum(axis=0)
  with np.errstate(divide="ignore", invalid="ignore"):
    precision = np.where(predicted > 0, true_positives / predicted, 0.0)
    recall = np.where(support > 0, true_positives / support, 0.0)
    denominator = precision + recall
    f1 = np.where(denominator > 0, 2 * precision * recall / denominator, 0.0)
  return {"precision": precision, "recall": recall, "f1": f1,
          "present": (support > 0) | (predicted > 0)}


def scores_from_confusion(matrix: np.ndarray) -> Dict[str, float]:
  """Macro precision/recall/F1 and accuracy from a confusion matrix.

  Args:
    matrix: [num_classes, num_classes], rows = true class, columns =
      predicted class, entries = (weighted) counts.

  Returns:
    The four scores, computed as scikit-learn does for average="macro".
  """
  matrix = np.asarray(matrix, dtype=np.float64)
  per_class = per_class_from_confusion(matrix)
  precision, recall, f1 = (per_class["precision"], per_class["recall"],
                           per_class["f1"])
  present = per_class["present"]
  true_positives = np.diag(matrix)
  total = matrix.sum()
  if not present.any():
    return {MACRO_F1: 0.0, MACRO_PRECISION: 0.0, MACRO_RECALL: 0.0,
            ACCURACY: 0.0}
  return {
      MACRO_F1: float(f1[present].mean()),
      MACRO_PRECISION: float(precision[present].mean()),
      MACRO_RECALL: float(recall[present].mean()),
      ACCURACY: float(true_positives.sum() / total),
  }


class MacroF1(metric_types.Metric):
  """Macro F1 (plus macro precision, recall, argmax accuracy), sklearn-exact."""

  def __init__(self, num_classes: int, name: str = MACRO_F1):
    super().__init__(
        metric_util.merge_per_key_computations(_macro_f1_computations),
        num_classes=num_classes, name=name)


metric_types.register_metric(MacroF1)


def _macro_f1_computations(
    num_classes: int,
    name: str = MACRO_F1,
    eval_config: Optional[config_pb2.EvalConfig] = None,
    model_name: str = "",
    output_name: str = "",
    sub_key: Optional[metric_types.SubKey] = None,
    aggregation_type: Optional[metric_types.AggregationType] = None,
    class_weights: Optional[Dict[int, float]] = None,
    example_weighted: bool = False) -> metric_types.MetricComputations:
  """One computation: the macro scores, per-class scores and the matrix.

  `name` is the macro F1's key (the one the gate's thresholds name).
  """
  del sub_key, aggregation_type, class_weights  # Macro over all classes.

  def key(metric_name, class_id=None):
    return metric_types.MetricKey(
        name=metric_name, model_name=model_name, output_name=output_name,
        sub_key=(None if class_id is None else
                 metric_types.SubKey(class_id=class_id)),
        example_weighted=example_weighted)

  keys = {MACRO_F1: key(name), MACRO_PRECISION: key(MACRO_PRECISION),
          MACRO_RECALL: key(MACRO_RECALL), ACCURACY: key(ACCURACY),
          CONFUSION_MATRIX: key(CONFUSION_MATRIX)}
  class_keys = {(metric, class_id): key(metric, class_id)
                for metric in PER_CLASS_METRICS
                for class_id in range(int(num_classes))}
  return [
      metric_types.MetricComputation(
          keys=list(keys.values()) + list(class_keys.values()),
          preprocessors=None,
          combiner=_ConfusionCombiner(keys, class_keys, num_classes,
                                      eval_config, model_name, output_name,
                                      example_weighted))
  ]


class _ConfusionCombiner(beam.CombineFn):
  """Accumulates the argmax confusion matrix of one model output."""

  def __init__(self, keys: Dict[str, metric_types.MetricKey],
               class_keys: Dict[Tuple[str, int], metric_types.MetricKey],
               num_classes: int, eval_config, model_name: str,
               output_name: str, example_weighted: bool):
    self._keys = keys
    self._class_keys = class_keys
    self._num_classes = int(num_classes)
    self._eval_config = eval_config
    self._model_name = model_name
    self._output_name = output_name
    self._example_weighted = example_weighted

  def create_accumulator(self) -> np.ndarray:
    return np.zeros((self._num_classes, self._num_classes), dtype=np.float64)

  def add_input(self, accumulator: np.ndarray,
                element: metric_types.StandardMetricInputs) -> np.ndarray:
    for label, prediction, weight in (
        metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config,
            model_name=self._model_name, output_name=self._output_name,
            example_weighted=self._example_weighted, flatten=False,
            squeeze=False)):
      labels = np.asarray(label).reshape(-1).astype(np.int64)
      probabilities = np.asarray(prediction, dtype=np.float64).reshape(
          len(labels), -1)
      if probabilities.shape[1] != self._num_classes:
        raise ValueError(
            f"a model predicts {probabilities.shape[1]} classes, this "
            f"run's class list has {self._num_classes}: a model of another "
            "class list reached the Evaluator (its baseline must share the "
            "candidate's label space, docs/continuous-training.md)")
      bad = labels[(labels < 0) | (labels >= self._num_classes)]
      if bad.size:
        raise ValueError(
            f"label {int(bad[0])} outside [0, {self._num_classes})")
      weights = np.broadcast_to(
          np.asarray(weight, dtype=np.float64).reshape(-1), labels.shape)
      np.add.at(accumulator, (labels, probabilities.argmax(axis=1)), weights)
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[np.ndarray]
                         ) -> np.ndarray:
    accumulators = iter(accumulators)
    result = next(accumulators)
    for accumulator in accumulators:
      result = result + accumulator
    return result

  def extract_output(self, accumulator: np.ndarray
                     ) -> Dict[metric_types.MetricKey, Any]:
    scores = scores_from_confusion(accumulator)
    output: Dict[metric_types.MetricKey, Any] = {
        self._keys[name]: value for name, value in scores.items()}
    per_class = per_class_from_confusion(accumulator)
    # Only the classes scikit-learn's average=None scores: a class absent
    # from both labels and predictions has no meaningful F1 (and leaving it
    # out keeps TFMA's output to the sub-keys of classes that have one).
    for class_id in np.flatnonzero(per_class["present"]):
      for metric, values in zip(PER_CLASS_METRICS,
                                (per_class["precision"],
                                 per_class["recall"], per_class["f1"])):
        output[self._class_keys[(metric, int(class_id))]] = float(
            values[class_id])
    # Unweighted counts are integers; stored as int64 the array is a few
    # bytes a cell in TFMA's output (varints) instead of 8.
    integral = np.array_equal(accumulator, np.round(accumulator))
    output[self._keys[CONFUSION_MATRIX]] = (
        accumulator.astype(np.int64) if integral else accumulator.copy())
    return output
