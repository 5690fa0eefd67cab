"""Kaggle-exact multi-class metrics for TFMA (the Evaluator gates on them).

TFMA's built-in `F1Score` binarizes every class at a 0.5 threshold; the
competition's metric is scikit-learn's
`f1_score(y_true, argmax(probabilities), average="macro")`. `MacroF1` below
accumulates the full confusion matrix of argmax predictions and derives, from
it, exactly what scikit-learn computes: macro precision, recall and F1 over the
union of classes present in the labels or the predictions (a class with no
support and no prediction is left out; 0/0 counts as 0), and accuracy.

Used from the EvalConfig as
`MetricConfig(class_name="MacroF1", module="modules.metrics",
config='{"num_classes": N}')`.
"""

from typing import Dict, Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.proto import config_pb2

MACRO_F1 = "macro_f1"
MACRO_PRECISION = "macro_precision"
MACRO_RECALL = "macro_recall"
ACCURACY = "argmax_accuracy"


def scores_from_confusion(matrix: np.ndarray) -> Dict[str, float]:
  """Macro precision/recall/F1 and accuracy from a confusion matrix.

  Args:
    matrix: [num_classes, num_classes], rows = true class, columns =
      predicted class, entries = (weighted) counts.

  Returns:
    The four scores, computed as scikit-learn does for average="macro".
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
  present = (support > 0) | (predicted > 0)
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
  """One computation with four output keys (name is the F1's key)."""
  del sub_key, aggregation_type, class_weights  # Macro over all classes.

  def key(metric_name):
    return metric_types.MetricKey(
        name=metric_name, model_name=model_name, output_name=output_name,
        example_weighted=example_weighted)

  keys = {MACRO_F1: key(name), MACRO_PRECISION: key(MACRO_PRECISION),
          MACRO_RECALL: key(MACRO_RECALL), ACCURACY: key(ACCURACY)}
  return [
      metric_types.MetricComputation(
          keys=list(keys.values()),
          preprocessors=None,
          combiner=_ConfusionCombiner(keys, num_classes, eval_config,
                                      model_name, output_name,
                                      example_weighted))
  ]


class _ConfusionCombiner(beam.CombineFn):
  """Accumulates the argmax confusion matrix of one model output."""

  def __init__(self, keys: Dict[str, metric_types.MetricKey],
               num_classes: int, eval_config, model_name: str,
               output_name: str, example_weighted: bool):
    self._keys = keys
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
            f"prediction has {probabilities.shape[1]} classes, the metric "
            f"was configured for {self._num_classes}")
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
                     ) -> Dict[metric_types.MetricKey, float]:
    scores = scores_from_confusion(accumulator)
    return {self._keys[name]: value for name, value in scores.items()}
