"""MacroF1 equals scikit-learn exactly, through TFMA's API.

Macro scores, per-class scores (`average=None`) and the confusion matrix all
come from one combiner; they are checked against scikit-learn on random
labels and predictions that leave some classes out of the labels and others
out of the predictions (the cases where implementations usually differ).
"""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.view import util as view_util
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer

from modules import metrics


def _tfma_output(labels, probabilities, num_classes, batch=7, weights=None):
  """Runs the TFMA computation's combiner as Beam would (split, merge)."""
  computation = metrics.MacroF1(num_classes=num_classes).computations(
      example_weighted=weights is not None)[0]
  combiner = computation.combiner
  if weights is None:
    weights = np.ones(len(labels))
  accumulators = []
  for start in range(0, len(labels), batch):
    accumulator = combiner.create_accumulator()
    for label, prediction, weight in zip(labels[start:start + batch],
                                         probabilities[start:start + batch],
                                         weights[start:start + batch]):
      accumulator = combiner.add_input(
          accumulator,
          metric_types.StandardMetricInputs(
              labels=np.array([label]), predictions=prediction,
              example_weights=np.array([weight])))
    accumulators.append(accumulator)
  output = combiner.extract_output(combiner.merge_accumulators(accumulators))
  # Every key the combiner emits must be one the computation declared.
  assert set(output) <= set(computation.keys)
  return output


def _tfma_scores(labels, probabilities, num_classes, batch=7):
  """The overall (no sub key) scalar scores, by metric name."""
  return {key.name: value for key, value in
          _tfma_output(labels, probabilities, num_classes, batch).items()
          if key.sub_key is None}


def _per_class(output, metric_name):
  """{class_id: value} of one per-class metric."""
  return {key.sub_key.class_id: value for key, value in output.items()
          if key.name == metric_name and key.sub_key is not None}


def _random_case(seed, n=200, num_classes=12):
  """Labels never use classes 10, 11; predictions never reach class 0."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 10, size=n)
  logits = rng.normal(size=(n, num_classes))
  logits[:, 0] = -10
  logits[np.arange(n), labels] += rng.normal(1.0, 1.0, size=n)
  probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  return labels, probabilities


@pytest.mark.parametrize("seed", range(5))
def test_equals_sklearn_with_missing_and_unpredicted_classes(seed):
  num_classes = 12
  labels, probabilities = _random_case(seed, num_classes=num_classes)
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


@pytest.mark.parametrize("seed", range(5))
def test_per_class_scores_equal_sklearn_average_none(seed):
  num_classes = 12
  labels, probabilities = _random_case(seed, num_classes=num_classes)
  predicted = probabilities.argmax(1)
  output = _tfma_output(labels, probabilities, num_classes)
  # scikit-learn's average=None scores the union of labels and predictions;
  # a class in neither (here class 11 unless predicted) has no entry.
  scored = np.unique(np.concatenate([labels, predicted]))
  for metric_name, sk_function in (
      (metrics.CLASS_F1, sk_metrics.f1_score),
      (metrics.CLASS_PRECISION, sk_metrics.precision_score),
      (metrics.CLASS_RECALL, sk_metrics.recall_score)):
    got = _per_class(output, metric_name)
    expected = sk_function(labels, predicted, average=None, zero_division=0)
    assert sorted(got) == scored.tolist(), metric_name
    np.testing.assert_allclose([got[c] for c in scored], expected,
                               atol=1e-9, err_msg=metric_name)
  # The macro F1 is the mean of the per-class F1s the same output holds.
  per_class_f1 = _per_class(output, metrics.CLASS_F1)
  macro = [v for k, v in output.items()
           if k.name == metrics.MACRO_F1 and k.sub_key is None][0]
  assert macro == pytest.approx(np.mean(list(per_class_f1.values())))


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_equals_sklearn(seed):
  num_classes = 12
  labels, probabilities = _random_case(seed, num_classes=num_classes)
  output = _tfma_output(labels, probabilities, num_classes)
  matrix = [v for k, v in output.items()
            if k.name == metrics.CONFUSION_MATRIX][0]
  # Integer counts stay integers (small in TFMA's output).
  assert matrix.dtype == np.int64
  np.testing.assert_array_equal(
      matrix, sk_metrics.confusion_matrix(
          labels, probabilities.argmax(1), labels=range(num_classes)))


def test_weighted_confusion_matrix_and_f1_equal_sklearn():
  num_classes = 6
  rng = np.random.default_rng(0)
  labels = rng.integers(0, num_classes, size=60)
  probabilities = rng.dirichlet(np.ones(num_classes), size=60)
  weights = rng.uniform(0.1, 3.0, size=len(labels))
  predicted = probabilities.argmax(1)
  output = _tfma_output(labels, probabilities, num_classes, weights=weights)
  matrix = [v for k, v in output.items()
            if k.name == metrics.CONFUSION_MATRIX][0]
  np.testing.assert_allclose(
      matrix, sk_metrics.confusion_matrix(
          labels, predicted, labels=range(num_classes),
          sample_weight=weights))
  got = _per_class(output, metrics.CLASS_F1)
  scored = np.unique(np.concatenate([labels, predicted]))
  np.testing.assert_allclose(
      [got[c] for c in scored],
      sk_metrics.f1_score(labels, predicted, average=None,
                          sample_weight=weights, zero_division=0))


def test_load_eval_result_shows_per_class_under_class_id():
  """What TFMA writes and reads back: classId:<i> sub keys, an array."""
  num_classes = 5
  labels = np.array([0, 1, 1, 2, 3, 3, 3])
  probabilities = np.eye(num_classes)[[0, 1, 2, 2, 3, 3, 1]]
  output = _tfma_output(labels, probabilities, num_classes)
  proto = metrics_plots_and_validations_writer.convert_slice_metrics_to_proto(
      ((), output), add_metrics_callbacks=None)
  _, by_output = view_util.convert_metrics_proto_to_dict(proto)
  by_sub_key = by_output[""]
  overall = by_sub_key[""]
  assert overall[metrics.MACRO_F1]["doubleValue"] == pytest.approx(
      sk_metrics.f1_score(labels, probabilities.argmax(1), average="macro"))
  matrix = overall[metrics.CONFUSION_MATRIX]["arrayValue"]
  assert matrix["shape"] == [num_classes, num_classes]
  assert [int(v) for v in matrix["int64Values"]] == sk_metrics.confusion_matrix(
      labels, probabilities.argmax(1), labels=range(num_classes)
  ).reshape(-1).tolist()
  # Class 4 is neither a label nor a prediction: no per-class entry.
  assert sorted(k for k in by_sub_key if k) == [
      "classId:0", "classId:1", "classId:2", "classId:3"]
  assert by_sub_key["classId:1"][metrics.CLASS_RECALL]["doubleValue"] == 0.5
  assert by_sub_key["classId:2"][metrics.CLASS_PRECISION][
      "doubleValue"] == 0.5
  assert set(by_sub_key["classId:0"]) == set(metrics.PER_CLASS_METRICS)
