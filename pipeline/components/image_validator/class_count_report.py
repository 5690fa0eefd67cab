"""Per-class example counts of each split as a text table and a bar chart."""

import io
import os
from typing import Dict, List, Sequence

import tensorflow as tf

COUNTS_TABLE_FILE = "class_counts.txt"
COUNTS_CHART_FILE = "class_counts.png"


def write_class_count_report(output_dir: str,
                             counts_by_split: Dict[str, List[int]],
                             class_names: Sequence[str]) -> Dict[str, str]:
  """Writes the per-class count table and bar chart; returns their paths."""
  # slow import: matplotlib (0.5 s); every DAG build (the runners, a
  # Kubeflow compile) imports this module, only the executor draws
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  # after setup: pyplot picks its backend on import; Agg first
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

  splits = sorted(counts_by_split)
  table_path = os.path.join(output_dir, COUNTS_TABLE_FILE)
  width = max(len(n) for n in class_names)
  lines = [f"{'label':>5}  {'class':<{width}}  " +
           "  ".join(f"{s:>7}" for s in splits)]
  for label, name in enumerate(class_names):
    lines.append(f"{label:>5}  {name:<{width}}  " + "  ".join(
        f"{counts_by_split[s][label]:>7}" for s in splits))
  lines.append(f"{'':>5}  {'total':<{width}}  " + "  ".join(
      f"{sum(counts_by_split[s]):>7}" for s in splits))
  with tf.io.gfile.GFile(table_path, "w") as f:
    f.write("\n".join(lines) + "\n")

  figure, axes = plt.subplots(len(splits), 1,
                              figsize=(max(8, len(class_names) * 0.14),
                                       3 * len(splits)), squeeze=False)
  for axis, split in zip(axes[:, 0], splits):
    axis.bar(range(len(class_names)), counts_by_split[split], width=0.8)
    axis.set_title(f"examples per class: split {split!r}")
    axis.set_xlabel("label")
    axis.set_ylabel("examples")
    axis.set_xlim(-1, len(class_names))
  figure.tight_layout()
  chart_path = os.path.join(output_dir, COUNTS_CHART_FILE)
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=80)
  plt.close(figure)
  with tf.io.gfile.GFile(chart_path, "wb") as f:
    f.write(buffer.getvalue())
  return {"table": table_path, "chart": chart_path}
