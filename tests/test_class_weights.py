"""Class weights follow scikit-learn's "balanced" rule."""

import numpy as np
import pytest
from sklearn.utils import class_weight as sk_class_weight

from modules import class_weights


@pytest.mark.parametrize("counts", [
    [10, 20, 40],
    [40, 40, 40, 40] + [8] * 100,  # The sample data's long tail.
    [1, 1000],
    [7],
])
def test_weights_match_scikit_learn_balanced(counts):
  labels = np.repeat(np.arange(len(counts)), counts)
  expected = sk_class_weight.compute_class_weight(
      "balanced", classes=np.arange(len(counts)), y=labels)
  np.testing.assert_allclose(class_weights.balanced_class_weights(counts),
                             expected, rtol=1e-12)


def test_missing_classes_weigh_nothing_and_do_not_count():
  counts = [10, 0, 30, 0]
  labels = np.repeat(np.arange(len(counts)), counts)
  present = np.array([0, 2])
  expected = sk_class_weight.compute_class_weight("balanced", classes=present,
                                                  y=labels)
  weights = class_weights.balanced_class_weights(counts)
  np.testing.assert_allclose(np.array(weights)[present], expected, rtol=1e-12)
  assert weights[1] == weights[3] == 0.0
  # Hand-checked: 40 examples, 2 classes: 40 / (2 * 10) and 40 / (2 * 30).
  assert weights == pytest.approx([2.0, 0.0, 2 / 3, 0.0])


def test_the_weighted_loss_keeps_the_average_weight_per_example_at_one():
  counts = [40] * 4 + [8] * 100
  weights = class_weights.balanced_class_weights(counts)
  # Per example, not per class: the loss scale does not change.
  assert np.dot(weights, counts) / sum(counts) == pytest.approx(1.0)


def test_no_examples_is_an_error():
  with pytest.raises(ValueError, match="no class"):
    class_weights.balanced_class_weights([0, 0])
  with pytest.raises(ValueError, match="negative"):
    class_weights.balanced_class_weights([3, -1])
