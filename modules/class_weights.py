"""Per-class loss weights from the training split's class counts.

The "balanced" rule of scikit-learn's `compute_class_weight`: a class with
n_c examples weighs n / (k * n_c), where n is the number of examples and k
the number of classes present. The weighted loss then sums to the same
total over the training set as the unweighted one (each class contributes
n / k), so turning weighting on does not act like a smaller or larger
learning rate. A class with no training examples gets weight 0: it never
appears in the loss, and it does not count in k.
"""

from typing import List, Sequence


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
