"""The evaluation report's figures, drawn with matplotlib into PNG bytes:
per-class F1, the confusion matrix, the F1 change against the baseline and
the test predictions' class shares against the training data.

Drawn into memory, so render.py writes the bytes through tf.io.gfile to any
filesystem.
"""

import io
from typing import Optional, Sequence

import numpy as np

from pipeline.components.report.content import ClassRow


def _pyplot():
  # slow import: matplotlib (0.5 s); every DAG build (the runners, a
  # Kubeflow compile) imports this module, only the executor draws
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # Files only: no display on servers and in CI.
  # after setup: pyplot picks its backend on import; Agg first
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _png(fig) -> bytes:
  """The figure as PNG bytes (closed afterwards)."""
  plt = _pyplot()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=100)
  plt.close(fig)
  return buffer.getvalue()


def plot_per_class_f1(rows: Sequence[ClassRow]) -> bytes:
  """Horizontal bars, worst class on top, with training/eval counts."""
  plt = _pyplot()
  scored = sorted((r for r in rows if r.f1 is not None),
                  key=lambda r: (r.f1, r.class_id))
  height = max(3.0, 0.2 * len(scored) + 1.2)
  fig, ax = plt.subplots(figsize=(9, height))
  positions = np.arange(len(scored))
  values = [r.f1 for r in scored]
  ax.barh(positions, values, color=plt.cm.RdYlGn(np.clip(values, 0, 1)),
          edgecolor="none")
  ax.set_yticks(positions)
  ax.set_yticklabels([r.name for r in scored], fontsize=7)
  ax.invert_yaxis()  # Worst first, at the top.
  ax.set_xlim(0, 1.25)
  ax.set_xticks(np.linspace(0, 1, 6))
  for position, row in zip(positions, scored):
    train = "?" if row.train_count is None else row.train_count
    ax.text(min(row.f1, 1.0) + 0.01, position,
            f"{row.f1:.2f}  train {train}, eval {row.eval_count}",
            va="center", fontsize=6)
  ax.set_xlabel("F1 (argmax prediction)")
  ax.set_title("Per-class F1, ascending (annotated: training / eval "
               "examples)", fontsize=10)
  ax.margins(y=0.005)
  fig.tight_layout()
  return _png(fig)


def plot_confusion_matrix(confusion: np.ndarray,
                          class_names: Sequence[str]) -> bytes:
  """Heatmap of the row-normalized matrix (where each class's examples go)."""
  plt = _pyplot()
  matrix = np.asarray(confusion, dtype=np.float64)
  support = matrix.sum(axis=1, keepdims=True)
  with np.errstate(divide="ignore", invalid="ignore"):
    normalized = np.where(support > 0, matrix / support, 0.0)
  n = matrix.shape[0]
  # About 20 pixels a class, so that every class name stays readable.
  side = min(26.0, max(6.0, 0.2 * n + 3))
  fig, ax = plt.subplots(figsize=(side, side))
  image = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1,
                    interpolation="nearest")
  font = 8 if n <= 30 else 5.5
  ax.set_xticks(np.arange(n))
  ax.set_yticks(np.arange(n))
  ax.set_xticklabels(class_names, rotation=90, fontsize=font)
  ax.set_yticklabels(class_names, fontsize=font)
  ax.set_xlabel("predicted class")
  ax.set_ylabel("true class")
  ax.set_title("Confusion matrix (each row divided by the class's eval "
               "examples)", fontsize=10)
  fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
  fig.tight_layout()
  return _png(fig)


def plot_f1_change(rows: Sequence[ClassRow]) -> Optional[bytes]:
  """Per-class F1 change against the baseline; None if nothing changed."""
  plt = _pyplot()
  changed = sorted((r for r in rows
                    if r.f1_change is not None and abs(r.f1_change) > 1e-12),
                   key=lambda r: (r.f1_change, r.class_id))
  if not changed:
    return None
  fig, ax = plt.subplots(figsize=(9, max(3.0, 0.2 * len(changed) + 1.2)))
  positions = np.arange(len(changed))
  values = [r.f1_change for r in changed]
  ax.barh(positions, values,
          color=["#c0392b" if v < 0 else "#27ae60" for v in values])
  ax.set_yticks(positions)
  ax.set_yticklabels([r.name for r in changed], fontsize=7)
  ax.invert_yaxis()
  ax.axvline(0, color="black", linewidth=0.8)
  ax.set_xlabel("F1 change (candidate - baseline)")
  ax.set_title("Classes whose F1 changed against the baseline", fontsize=10)
  fig.tight_layout()
  return _png(fig)


def plot_test_distribution(train_counts: Sequence[int],
                           test_counts: Sequence[int]) -> bytes:
  """Each class's share of training examples against its share of the
  test predictions: on the diagonal, the model predicts the test split in
  the training proportions."""
  plt = _pyplot()
  train = np.asarray(train_counts, dtype=np.float64)
  test = np.asarray(test_counts, dtype=np.float64)
  train_share = train / max(train.sum(), 1)
  test_share = test / max(test.sum(), 1)
  fig, ax = plt.subplots(figsize=(6, 6))
  top = max(train_share.max(initial=0), test_share.max(initial=0)) * 1.05
  ax.plot([0, top], [0, top], color="#999", linewidth=0.8)
  ax.scatter(train_share, test_share, s=14, alpha=0.7)
  ax.set_xlim(0, top)
  ax.set_ylim(0, top)
  ax.set_xlabel("share of the training examples")
  ax.set_ylabel("share of the test predictions")
  ax.set_title("Class shares: training data vs test predictions (one dot a "
               "class)", fontsize=10)
  fig.tight_layout()
  return _png(fig)


# ---------------------------------------------------------------------------
# Page.
