"""How the evaluation report looks: its figures, its page and their files.

`render_report(data, output_dir)` writes `report.html`, its PNG figures and
gallery thumbnails (side by side, relative links, so the folder opens from
disk, is copied or attached as it is), the model card (`model_card.md`,
`model_card.html`) and `metrics.json` (the same numbers for machines), all
through
`tf.io.gfile`, so `output_dir` may be on any filesystem TensorFlow reads
(local, gs://): matplotlib draws into memory and the bytes are written.
The content comes from content.py.
"""

import datetime
import html
import io
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from pipeline.components.report import content
from pipeline.components.report import model_card
from pipeline.components.report.content import ClassRow
from pipeline.components.report.content import ReportData

REPORT_FILE = "report.html"
METRICS_FILE = "metrics.json"
PER_CLASS_F1_PNG = "per_class_f1.png"
CONFUSION_PNG = "confusion_matrix.png"
F1_CHANGE_PNG = "f1_change.png"
TEST_DISTRIBUTION_PNG = "test_distribution.png"
GALLERY_PREFIX = "gallery_"


# ---------------------------------------------------------------------------
# Figures.

def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # Files only: no display on servers and in CI.
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


def _num(value, digits=4) -> str:
  if value is None:
    return "&ndash;"
  if isinstance(value, (int, np.integer)):
    return str(value)
  return f"{value:.{digits}f}"


def _share(value) -> str:
  return "&ndash;" if value is None else f"{value:.1%}"


def _signed(value, digits=4) -> str:
  return "&ndash;" if value is None else f"{value:+.{digits}f}"


def _digits(metric_name: str) -> int:
  return 0 if metric_name == "example_count" else 4


def _metrics_table(data: ReportData) -> List[str]:
  e = html.escape
  has_baseline = data.baseline_metrics is not None
  parts = ["<table><tr><th>metric</th><th class=num>this model</th>" +
           ("<th class=num>baseline</th><th class=num>change</th>"
            if has_baseline else "") + "</tr>"]
  for name in content.metric_names(data):
    value, digits = data.metrics[name], _digits(name)
    row = f"<tr><td>{e(name)}</td><td class=num>{_num(value, digits)}</td>"
    if has_baseline:
      base = data.baseline_metrics.get(name)
      change = None if base is None else value - base
      row += (f"<td class=num>{_num(base, digits)}</td>"
              f"<td class=num>{_signed(change, digits)}</td>")
    parts.append(row + "</tr>")
  parts.append("</table>")
  return parts


def _class_table(data: ReportData) -> List[str]:
  e = html.escape
  has_baseline = data.baseline_metrics is not None
  parts = ["<table><tr><th class=num>id</th><th>class</th>"
           "<th class=num>train</th><th class=num>eval</th>"
           "<th class=num>precision</th><th class=num>recall</th>"
           "<th class=num>F1</th>" +
           ("<th class=num>baseline F1</th><th class=num>change</th>"
            if has_baseline else "") + "</tr>"]
  for row in sorted(data.rows, key=lambda r: (r.f1 is None, r.f1 or 0,
                                              r.class_id)):
    line = (f"<tr><td class=num>{row.class_id}</td><td>{e(row.name)}</td>"
            f"<td class=num>{_num(row.train_count)}</td>"
            f"<td class=num>{row.eval_count}</td>"
            f"<td class=num>{_num(row.precision)}</td>"
            f"<td class=num>{_num(row.recall)}</td>"
            f"<td class=num>{_num(row.f1)}</td>")
    if has_baseline:
      line += (f"<td class=num>{_num(row.baseline_f1)}</td>"
               f"<td class=num>{_signed(row.f1_change)}</td>")
    parts.append(line + "</tr>")
  parts.append("</table>")
  return parts


def _drift_section(drift: Dict[str, Any]) -> List[str]:
  """The DataValidator's drift check: baseline, distances, shifted classes."""
  e = html.escape
  if drift.get("baseline") is None:
    return [f'<p class="muted">No comparison: '
            f'{e(drift.get("note") or "no baseline")}.</p>']
  drifted = drift.get("drifted_features") or []
  body = [f"<p>This run's training data against the data the baseline "
          f"model was trained on: <code>{e(drift['baseline'])}"
          f"</code> ({drift.get('baseline_examples')} examples, now "
          f"{drift.get('current_examples')}). " +
          (f'<span class="bad">Drift</span> in {e(", ".join(drifted))}'
           + (" (validation.stop_on_drift: the run stopped)."
              if drift.get("stop_on_drift") else " (a warning).")
           if drifted else '<span class="ok">No drift</span>.') + "</p>",
          "<table><tr><th>feature</th><th>measure</th>"
          "<th class=num>distance</th><th class=num>threshold</th>"
          "<th>drifted</th></tr>"]
  for name, distance in sorted(drift.get("distances", {}).items()):
    body.append(f"<tr><td>{e(name)}</td><td>{e(distance['measure'])}</td>"
                f"<td class=num>{_num(distance['value'])}</td>"
                f"<td class=num>{_num(distance['threshold'])}</td>"
                f"<td>{'yes' if distance['drifted'] else 'no'}</td></tr>")
  body.append("</table>")
  shifted = drift.get("shifted_classes") or []
  if shifted:
    body.append(f'<p class="muted">Classes whose share moved most '
                f'({e(drift.get("shifted_classes_rule", ""))}):</p>'
                "<table><tr><th class=num>id</th><th>class</th>"
                "<th class=num>baseline share</th><th class=num>share now"
                "</th><th class=num>change</th></tr>")
    for shift in shifted:
      body.append(f"<tr><td class=num>{shift['class']}</td>"
                  f"<td>{e(shift['name'])}</td>"
                  f"<td class=num>{_share(shift['baseline_share'])}</td>"
                  f"<td class=num>{_share(shift['current_share'])}</td>"
                  f"<td class=num>{shift['change']:+.1%}</td></tr>")
    body.append("</table>")
  return body


def _figure(file_name: str, alt: str) -> str:
  """An image that links to itself: the page scales large figures down."""
  name = html.escape(file_name)
  return f'<a href="{name}"><img src="{name}" alt="{html.escape(alt)}"></a>'


def render_html(data: ReportData, figures: Dict[str, str]) -> str:
  """The page; `figures` maps a figure's role to its file name."""
  e = html.escape
  has_baseline = data.baseline_metrics is not None
  # Short sections first: the per-class figure and the matrix are long.
  sections: List[Tuple[str, str, List[str]]] = []

  if data.validation_ok is None:
    verdict = ['<p class="muted">No gate was configured.</p>']
  elif data.validation_ok:
    verdict = [f'<p><span class="ok">{content.BLESSED}</span>: every gate '
               "passed.</p>"]
  else:
    verdict = [f'<p><span class="bad">{content.NOT_BLESSED}</span></p><ul>'
               ] + [f"<li>{e(failure)}</li>" for failure in data.failures
                   ] + ["</ul>"]
  sections.append(("verdict", "Verdict", verdict))

  body = _metrics_table(data)
  unscored = [r for r in data.rows if r.f1 is None]
  if unscored:
    body.append(f'<p class="muted">{len(unscored)} classes have no eval '
                "example and were never predicted: they have no F1 and do "
                "not count in the macro average (as in scikit-learn).</p>")
  sections.append(("metrics", "Metrics (eval split, all classes)", body))

  if data.card is not None:
    body = [f'<p>The model card: <a href="{model_card.HTML_FILE}">'
            f'{model_card.HTML_FILE}</a> (Markdown: <a href="'
            f'{model_card.MARKDOWN_FILE}">{model_card.MARKDOWN_FILE}</a>).'
            "</p>"]
    interval = data.card.interval
    if interval is not None:
      body.append(
          f"<p>Macro F1 {interval.point:.4f}, 95% bootstrap interval "
          f"{interval.low:.4f} to {interval.high:.4f} ({interval.samples} "
          f"resamples of the {interval.examples} eval examples).</p>")
    sections.append(("model-card", "Model card", body))

  if has_baseline:
    body = [f'<p class="muted">Baseline: {e(data.baseline_source)}</p>']
    if "f1_change" in figures:
      body.append(_figure(figures["f1_change"],
                          "per-class F1 change against the baseline"))
    else:
      body.append("<p>No class's F1 changed.</p>")
    sections.append(("baseline", "Against the baseline model", body))

  pairs = content.top_confused_pairs(data.confusion, data.class_names)
  if pairs:
    body = ["<table><tr><th>true class</th><th>predicted as</th>"
            "<th class=num>examples</th>"
            "<th class=num>share of the true class</th></tr>"]
    for true_name, predicted_name, count, share in pairs:
      body.append(f"<tr><td>{e(true_name)}</td><td>{e(predicted_name)}</td>"
                  f"<td class=num>{count}</td>"
                  f"<td class=num>{share:.0%}</td></tr>")
    body.append("</table>")
  else:
    body = ["<p>No eval example was misclassified.</p>"]
  sections.append(("confused", "Most confused classes", body))

  if data.trials is not None:
    names = sorted({key for trial in data.trials for key in trial} -
                   {"trial_id", "score"})
    body = ['<p class="muted">The Tuner\'s completed trials, best first '
            "(score: val_accuracy after the trial's epochs); the model "
            "was trained with the first row's values.</p>",
            "<table><tr><th>trial</th><th class=num>score</th>" + "".join(
                f"<th>{e(name)}</th>" for name in names) + "</tr>"]
    for trial in data.trials:
      body.append(f"<tr><td>{e(str(trial.get('trial_id')))}</td>"
                  f"<td class=num>{_num(trial.get('score'))}</td>" + "".join(
                      f"<td>{e(str(trial.get(name)))}</td>" for name in names)
                  + "</tr>")
    body.append("</table>")
    sections.append(("tuning", "Tuning trials", body))

  if data.gallery is None:
    body = ['<p class="muted">No eval predictions were given: no gallery.'
            "</p>"]
  elif not data.gallery:
    body = ["<p>No eval example was misclassified.</p>"]
  else:
    body = ['<p class="muted">Eval images of the most-confused pairs, the '
            "most confident mistakes first; confidence is the model's "
            "probability of the predicted class.</p>"]
    for pair_index, pair in enumerate(data.gallery):
      body.append(f"<h3>{e(pair.true_name)} predicted as "
                  f"{e(pair.predicted_name)} ({pair.count} examples)</h3>"
                  '<div class="gallery">')
      for image_index, image in enumerate(pair.images):
        name = figures[f"gallery/{pair_index}/{image_index}"]
        body.append(
            f'<figure><a href="{e(name)}"><img src="{e(name)}" '
            f'alt="{e(image.image_id)}"></a><figcaption>{e(image.image_id)}'
            f"<br>true: {e(pair.true_name)}<br>predicted: "
            f"{e(pair.predicted_name)}<br>confidence {image.confidence:.2f}"
            "</figcaption></figure>")
      body.append("</div>")
  sections.append(("gallery", "Misclassified images", body))

  if data.data_splits is None:
    body = ['<p class="muted">No data validation output given.</p>']
  else:
    body = ["<p>Examples per split: " + ", ".join(
        f"{e(name)} {count}" for name, count in data.data_splits.items()) +
            "</p>"]
    if data.data_warnings:
      body.append("<p>Warnings of the data validation:</p><ul>")
      body.extend(f"<li>{e(warning)}</li>" for warning in data.data_warnings)
      body.append("</ul>")
    else:
      body.append("<p>The data validation gave no warning.</p>")
  sections.append(("data", "Data", body))
  if data.drift is not None:
    sections.append(("drift", "Data drift", _drift_section(data.drift)))

  if data.test is None:
    body = [f'<p class="muted">{e(data.test_note or "No test predictions.")}'
            "</p>"]
  else:
    test = data.test
    body = [f"<p>{test.records} test records predicted"
            f"{f', {test.skipped} skipped (named in skipped.json)' if test.skipped else ''}"
            "; the Kaggle submission: "
            f"<code>{e(test.submission or 'none')}</code></p>"]
    if "test_distribution" in figures:
      body.append(_figure(figures["test_distribution"],
                          "class shares: training data vs test predictions"))
    train_total = sum(r.train_count or 0 for r in data.rows)
    test_total = max(sum(test.predicted_counts), 1)
    body.append("<table><tr><th>class</th><th class=num>train</th>"
                "<th class=num>train share</th><th class=num>test predicted"
                "</th><th class=num>test share</th></tr>")
    for row in sorted(data.rows, key=lambda r: (
        -test.predicted_counts[r.class_id], r.class_id)):
      count = test.predicted_counts[row.class_id]
      train_share = (None if row.train_count is None or not train_total
                     else row.train_count / train_total)
      body.append(
          f"<tr><td>{e(row.name)}</td><td class=num>{_num(row.train_count)}"
          f"</td><td class=num>{_share(train_share)}</td>"
          f"<td class=num>{count}</td>"
          f"<td class=num>{_share(count / test_total)}</td></tr>")
    body.append("</table>")
  sections.append(("test", "Test predictions against the training data",
                   body))

  body = [f'<p class="muted">{e(note)}</p>' for note in data.notes]
  body.append(_figure(figures["per_class_f1"], "per-class F1, ascending"))
  sections.append(("per-class", "Per-class F1", body))
  sections.append(("confusion", "Confusion matrix", [
      '<p class="muted">Click a figure to open it at full size.</p>',
      _figure(figures["confusion"], "confusion matrix")]))
  sections.append(("classes", "All classes", _class_table(data)))

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
         plot_per_class_f1(data.rows), "wb")
  _write(os.path.join(output_dir, CONFUSION_PNG),
         plot_confusion_matrix(data.confusion, data.class_names), "wb")
  change_png = os.path.join(output_dir, F1_CHANGE_PNG)
  change = (plot_f1_change(data.rows) if data.baseline_metrics is not None
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
           plot_test_distribution(train_counts, data.test.predicted_counts),
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
