"""Per-class loss weights from the training split's class counts.

The "balanced" rule of scikit-learn's `compute_class_weight`: a class with
n_c examples weighs n / (k * n_c), where n is the number of examples and k
the number of classes present. The weighted loss then sums to the same
total over the training set as the unweighted one (each class contributes
n / k), so turning weighting on does not act like a smaller or larger
learning rate. A class with no training examples gets weight 0: it never
appears in the loss, and it does not count in k.

`example_weights` applies them to a batch as per-example sample weights:
Keras's own `class_weight` argmaxes a soft label first
(keras/src/trainers/data_adapters/tf_dataset_adapter.py), so a MixUp or
CutMix example would weigh as its dominant class alone; the label's own
mix of classes (soft label . class weights) is the weight of its loss.
"""

from typing import List, Sequence

import tensorflow as tf


def balanced_class_weights(counts: Sequence[int]) -> List[float]:
  """Weights n / (k * n_c) by label, 0 for classes without examples.

  Args:
    counts: training examples per class, indexed by label.

  Raises:
    ValueError: if no class has an example, or a count is negative.
  """
  if any(n < 0 for n in counts):
    raise ValueError(f"negative class count in {list(counts)}")
  present = [n for n in counts if n > 0]
  if not present:
    raise ValueError("no class has any example")
  total = sum(present)
  return [total / (len(present) * n) if n > 0 else 0.0 for n in counts]


def example_weights(labels: tf.Tensor, class_weights: Sequence[float]
                    ) -> tf.Tensor:
  """Each example's loss weight: its label's mix of the class weights.

  Args:
    labels: a batch of integer labels [batch], or of one-hot or soft
      (MixUp / CutMix, smoothed) labels [batch, classes].
    class_weights: weight by label (`balanced_class_weights`).

  Returns:
    float32 [batch]: w[label] for integer labels, sum_c label_c * w_c for
    soft ones (a mix of classes a and b at lambda weighs
    lambda * w_a + (1 - lambda) * w_b).
  """
  weights = tf.constant(class_weights, tf.float32)
  if labels.shape.rank == 1:
    return tf.gather(weights, tf.cast(labels, tf.int32))
  return tf.linalg.matvec(tf.cast(labels, tf.float32), weights)
