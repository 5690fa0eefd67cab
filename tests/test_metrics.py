"""MacroF1 equals scikit-learn's macro F1 exactly, through TFMA's API."""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics
from tensorflow_model_analysis.metrics import metric_types

from modules import metrics


def _tfma_scores(labels, probabilities, num_classes, batch=7):
  """Runs the TFMA computation's combiner as Beam would (split, merge)."""
  computation = metrics.MacroF1(num_classes=num_classes).computations()[0]
  combiner = computation.combiner
  accumulators = []
  for start in range(0, len(labels), batch):
    accumulator = combiner.create_accumulator()
    for label, prediction in zip(labels[start:start + batch],
                                 probabilities[start:start + batch]):
      accumulator = combiner.add_input(
          accumulator,
          metric_types.StandardMetricInputs(
              labels=np.array([label]), predictions=prediction,
              example_weights=np.array([1.0])))
    accumulators.append(accumulator)
  output = combiner.extract_output(combiner.merge_accumulators(accumulators))
  return {key.name: value for key, value in output.items()}


@pytest.mark.parametrize("seed", range(5))
def test_equals_sklearn_with_missing_and_unpredicted_classes(seed):
  rng = np.random.default_rng(seed)
  num_classes = 12
  # Labels never use classes 10, 11; predictions never reach class 0.
  labels = rng.integers(0, 10, size=200)
  logits = rng.normal(size=(200, num_classes))
  logits[:, 0] = -10
  logits[np.arange(200), labels] += rng.normal(1.0, 1.0, size=200)
  probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  predicted = probabilities.argmax(1)
  assert 0 not in predicted and {10, 11} - set(labels)
  got = _tfma_scores(labels, probabilities, num_classes)
  assert got[metrics.MACRO_F1] == pytest.approx(
      sk_metrics.f1_score(labels, predicted, average="macro"), abs=1e-6)
  assert got[metrics.MACRO_PRECISION] == pytest.approx(
      sk_metrics.precision_score(labels, predicted, average="macro",
                                 zero_division=0), abs=1e-6)
  assert got[metrics.MACRO_RECALL] == pytest.approx(
      sk_metrics.recall_score(labels, predicted, average="macro",
                              zero_division=0), abs=1e-6)
  assert got[metrics.ACCURACY] == pytest.approx(
      sk_metrics.accuracy_score(labels, predicted), abs=1e-6)


def test_perfect_and_label_out_of_range():
  probabilities = np.eye(3)
  assert _tfma_scores([0, 1, 2], probabilities, 3)[metrics.MACRO_F1] == 1.0
  with pytest.raises(ValueError, match="label 3"):
    _tfma_scores([3], probabilities[:1], 3)
