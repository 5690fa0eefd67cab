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


def test_a_mixed_example_weighs_its_own_mix_of_the_two_classes():
  """The mixing is read back from the images, not from the labels.

  Class 0's images are all 0, class 1's all 1, so the mean of a MixUp image
  is the share of class 1 in it (its lambda), whatever the mixer drew; its
  weight must be that mix of w_0 and w_1. (Not CutMix: KerasCV's CutMix
  label counts the whole pasted box even where the image edge clips it, so
  its pixels are not its label; `test_soft_labels_weigh_their_mix` covers
  labels of any origin.)
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from modules import augmentation  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.PipelineConfig().replace(augment__mixup_alpha=0.8)
  weights = [0.5, 3.0, 7.0]  # Class 2 is in no image: its weight must not show.
  labels = np.array([0, 1] * 8)
  images = np.broadcast_to(labels[:, None, None, None].astype(np.float32),
                           (16, 16, 16, 3))
  mix = augmentation.make_label_mixer(config)
  mixed_images, mixed_labels = mix(tf.constant(images),
                                   tf.one_hot(labels, 3))
  share_of_1 = mixed_images.numpy().mean(axis=(1, 2, 3))
  assert ((share_of_1 > 0.01) & (share_of_1 < 0.99)).any(), (
      "nothing was mixed: the test shows nothing")
  expected = (1 - share_of_1) * weights[0] + share_of_1 * weights[1]
  got = class_weights.example_weights(mixed_labels, weights).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  # What Keras's class_weight gives (the dominant class's weight) differs.
  dominant = np.where(share_of_1 > 0.5, weights[1], weights[0])
  assert not np.allclose(got, dominant, atol=1e-3)


def test_soft_labels_weigh_their_mix():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # 0.3 of class 0 with 0.7 of class 2; 0.75 of class 1 with 0.25 of class 0.
  labels = tf.constant([[0.3, 0.0, 0.7], [0.25, 0.75, 0.0]])
  got = class_weights.example_weights(labels, [0.5, 3.0, 7.0]).numpy()
  # By hand: 0.3 * 0.5 + 0.7 * 7 = 5.05; 0.25 * 0.5 + 0.75 * 3 = 2.375.
  np.testing.assert_allclose(got, [5.05, 2.375], rtol=1e-6)


def test_integer_labels_weigh_their_class():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  got = class_weights.example_weights(tf.constant([2, 0, 1]), [0.5, 3.0, 7.0])
  np.testing.assert_allclose(got.numpy(), [7.0, 0.5, 3.0])
