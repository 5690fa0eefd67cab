"""How the evaluation report looks: the page and its files.

`render_report(data, output_dir)` writes `report.html`, its PNG figures
(figures.py) and gallery thumbnails (side by side, relative links, so the
folder opens from disk, is copied or attached as it is), the model card
(`model_card.md`, `model_card.html`) and `metrics.json` (the same numbers
for machines), all through `tf.io.gfile`, so `output_dir` may be on any
filesystem TensorFlow reads (local, gs://). The content comes from
content.py, the page's sections from page_sections.py.
"""

import datetime
import html
import json
import os
from typing import Dict

import tensorflow as tf

from pipeline.components.report import content
from pipeline.components.report import figures as figures_lib
from pipeline.components.util import model_card
from pipeline.components.report import page_sections
from pipeline.components.report.content import ReportData

REPORT_FILE = "report.html"
METRICS_FILE = "metrics.json"
PER_CLASS_F1_PNG = "per_class_f1.png"
CONFUSION_PNG = "confusion_matrix.png"
F1_CHANGE_PNG = "f1_change.png"
TEST_DISTRIBUTION_PNG = "test_distribution.png"
GALLERY_PREFIX = "gallery_"


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; word-break: break-all; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee;
         text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1e7b34; font-weight: bold; }
.bad { color: #b3261e; font-weight: bold; }
.muted { color: #777; font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #eee; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; }
.gallery figure { margin: 0; width: 140px; font-size: 0.75em; }
.gallery img { width: 128px; }
"""


def render_html(data: ReportData, figures: Dict[str, str]) -> str:
  """The page; `figures` maps a figure's role to its file name."""
  e = html.escape
  sections = [section for section in (
      build(data, figures) for build in page_sections.ORDER) if section]
  generated = datetime.datetime.now().isoformat(timespec="seconds")
  parts = [
      "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
      f"<title>{e(data.title)}</title><style>{_STYLE}</style></head><body>",
      f"<h1>{e(data.title)}</h1>",
      f'<p class="muted">Evaluation: {e(data.evaluation_dir)}<br>' +
      (f"Pipeline run: {e(data.pipeline_run_id)}<br>"
       if data.pipeline_run_id else "") +
      (f"Data: {e(data.spans)}<br>" if data.spans else "") +
      (f"Training: {e(data.warm_start)}<br>" if data.warm_start else "") +
      f"Generated {e(generated)}. The numbers as JSON: "
      f'<a href="{METRICS_FILE}">{METRICS_FILE}</a></p>',
      "<nav>" + " &middot; ".join(f'<a href="#{anchor}">{e(title)}</a>'
                                  for anchor, title, _ in sections)
      + "</nav>"]
  for anchor, title, body in sections:
    parts.append(f'<h2 id="{anchor}">{e(title)}</h2>')
    parts.extend(body)
  parts.append("</body></html>")
  return "\n".join(parts)


def _write(path: str, payload, mode: str = "w") -> None:
  with tf.io.gfile.GFile(path, mode) as f:
    f.write(payload)


def render_report(data: ReportData, output_dir: str) -> str:
  """Writes the figures, report.html and metrics.json into `output_dir`.

  Args:
    data: the report's content.
    output_dir: a folder on any filesystem tf.io.gfile writes; created if
      missing. A stale figure of an earlier report there is removed.

  Returns:
    The path of report.html.
  """
  tf.io.gfile.makedirs(output_dir)
  figures = {"per_class_f1": PER_CLASS_F1_PNG, "confusion": CONFUSION_PNG}
  _write(os.path.join(output_dir, PER_CLASS_F1_PNG),
         figures_lib.plot_per_class_f1(data.rows), "wb")
  _write(os.path.join(output_dir, CONFUSION_PNG),
         figures_lib.plot_confusion_matrix(data.confusion, data.class_names), "wb")
  change_png = os.path.join(output_dir, F1_CHANGE_PNG)
  change = (figures_lib.plot_f1_change(data.rows) if data.baseline_metrics is not None
            else None)
  if change is not None:
    _write(change_png, change, "wb")
    figures["f1_change"] = F1_CHANGE_PNG
  elif tf.io.gfile.exists(change_png):
    tf.io.gfile.remove(change_png)
  # Thumbnails of an earlier report in this folder would be stale.
  for stale in tf.io.gfile.glob(os.path.join(output_dir,
                                             f"{GALLERY_PREFIX}*.png")):
    tf.io.gfile.remove(stale)
  for pair_index, pair in enumerate(data.gallery or []):
    for image_index, image in enumerate(pair.images):
      name = f"{GALLERY_PREFIX}{pair_index:02d}_{image_index:02d}.png"
      _write(os.path.join(output_dir, name), image.thumbnail, "wb")
      figures[f"gallery/{pair_index}/{image_index}"] = name
  train_counts = [r.train_count for r in data.rows]
  if data.test is not None and None not in train_counts:
    _write(os.path.join(output_dir, TEST_DISTRIBUTION_PNG),
           figures_lib.plot_test_distribution(train_counts, data.test.predicted_counts),
           "wb")
    figures["test_distribution"] = TEST_DISTRIBUTION_PNG
  if data.card is not None:
    for name, text in model_card.card_files(data.card).items():
      _write(os.path.join(output_dir, name), text)
  # allow_nan=False: a NaN metric fails here rather than writing a file
  # that strict JSON readers reject.
  _write(os.path.join(output_dir, METRICS_FILE), json.dumps(
      content.metrics_record(data, sorted(
          name for role, name in figures.items()
          if not role.startswith("gallery/"))), indent=2,
      allow_nan=False))
  path = os.path.join(output_dir, REPORT_FILE)
  _write(path, render_html(data, figures))
  return path
