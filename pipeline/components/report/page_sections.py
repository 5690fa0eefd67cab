"""The sections of the evaluation report's page, one function each: the
verdict, the metrics, the model card, the baseline, the most confused
classes, the tuning trials, the gallery, the data, the drift check, the test
predictions and the per-class tables.

Each returns `(anchor, title, body)` with `body` a list of HTML fragments,
and render.py puts them on the page in order, short sections first.
`figures` maps a figure's role to its file name (render.py writes them).
"""

import html
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from pipeline.components.report import content
from pipeline.components.util import device_section
from pipeline.components.util import ensemble_section
from pipeline.components.util import model_card
from pipeline.components.report.content import ReportData

# (anchor, title, HTML fragments); None leaves the section out.
Section = Optional[Tuple[str, str, List[str]]]
Figures = Dict[str, str]
e = html.escape


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
  """The ImageValidator's drift check: baseline, distances, shifted classes."""
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


def verdict(data: ReportData, figures: Figures) -> Section:
  del figures
  if data.validation_ok is None:
    body = ['<p class="muted">No gate was configured.</p>']
  elif data.validation_ok:
    body = [f'<p><span class="ok">{content.BLESSED}</span>: every gate '
            "passed.</p>"]
  else:
    body = [f'<p><span class="bad">{content.NOT_BLESSED}</span></p>']
  if data.gate is not None:
    body.append("<ul>" + "".join(
        f'<li><span class="{"ok" if check["passed"] else "bad"}">'
        f'{"passed" if check["passed"] else "FAILED"}</span>: '
        f'{e(check["line"])}</li>' for check in data.gate.checks) + "</ul>")
    body.append(f'<p class="muted">{e(model_card.gate_rule_text(data.gate))}</p>')
  elif data.failures:
    body.append("<ul>" + "".join(f"<li>{e(failure)}</li>"
                                 for failure in data.failures) + "</ul>")
  selection = selection_text(data)
  if selection:
    body.append(f'<p class="muted">{e(selection)}</p>')
  return "verdict", "Verdict", body


def selection_text(data: ReportData) -> Optional[str]:
  """Which data each choice made while training read (never the eval
  split the gate scores)."""
  parts = []
  validation = data.validation_data
  if validation:
    used_by = validation.get("used_by") or []
    parts.append(
        f"Each epoch's val scores: {validation.get('data')}" +
        (f", watched by {' and '.join(used_by)}" if used_by else "") + ".")
  if data.trials is not None:
    parts.append("Tuner: each trial scored on the selection slice of train "
                 "(train.selection_percent), not on the eval split.")
  return " ".join(parts) or None


def metrics(data: ReportData, figures: Figures) -> Section:
  del figures
  body = _metrics_table(data)
  unscored = [r for r in data.rows if r.f1 is None]
  if unscored:
    body.append(f'<p class="muted">{len(unscored)} classes have no eval '
                "example and were never predicted: they have no F1 and do "
                "not count in the macro average (as in scikit-learn).</p>")
  return "metrics", "Metrics (eval split, all classes)", body


def card(data: ReportData, figures: Figures) -> Section:
  del figures
  if data.card is None:
    return None
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
  return "model-card", "Model card", body


def baseline(data: ReportData, figures: Figures) -> Section:
  if data.baseline_metrics is None:
    return None
  body = [f'<p class="muted">Baseline: {e(data.baseline_source)}</p>']
  if "f1_change" in figures:
    body.append(_figure(figures["f1_change"],
                        "per-class F1 change against the baseline"))
  else:
    body.append("<p>No class's F1 changed.</p>")
  return "baseline", "Against the baseline model", body


def confused(data: ReportData, figures: Figures) -> Section:
  del figures
  pairs = content.top_confused_pairs(data.confusion, data.class_names)
  if not pairs:
    return ("confused", "Most confused classes",
            ["<p>No eval example was misclassified.</p>"])
  body = ["<table><tr><th>true class</th><th>predicted as</th>"
          "<th class=num>examples</th>"
          "<th class=num>share of the true class</th></tr>"]
  for true_name, predicted_name, count, share in pairs:
    body.append(f"<tr><td>{e(true_name)}</td><td>{e(predicted_name)}</td>"
                f"<td class=num>{count}</td>"
                f"<td class=num>{share:.0%}</td></tr>")
  body.append("</table>")
  return "confused", "Most confused classes", body


def tuning(data: ReportData, figures: Figures) -> Section:
  del figures
  if data.trials is None:
    return None
  names = sorted({key for trial in data.trials for key in trial} -
                 {"trial_id", "score"})
  body = ['<p class="muted">The Tuner\'s completed trials, best first '
          "(score: val_accuracy on the selection slice of train after the "
          "trial's epochs, never the eval split); the model "
          "was trained with the first row's values.</p>",
          "<table><tr><th>trial</th><th class=num>score</th>" + "".join(
              f"<th>{e(name)}</th>" for name in names) + "</tr>"]
  for trial in data.trials:
    body.append(f"<tr><td>{e(str(trial.get('trial_id')))}</td>"
                f"<td class=num>{_num(trial.get('score'))}</td>" + "".join(
                    f"<td>{e(str(trial.get(name)))}</td>" for name in names)
                + "</tr>")
  body.append("</table>")
  return "tuning", "Tuning trials", body


def gallery(data: ReportData, figures: Figures) -> Section:
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
  return "gallery", "Misclassified images", body


def data_checks(data: ReportData, figures: Figures) -> Section:
  del figures
  if data.data_splits is None:
    return ("data", "Data",
            ['<p class="muted">No data validation output given.</p>'])
  body = ["<p>Examples per split: " + ", ".join(
      f"{e(name)} {count}" for name, count in data.data_splits.items()) +
          "</p>"]
  if data.data_warnings:
    body.append("<p>Warnings of the data validation:</p><ul>")
    body.extend(f"<li>{e(warning)}</li>" for warning in data.data_warnings)
    body.append("</ul>")
  else:
    body.append("<p>The data validation gave no warning.</p>")
  return "data", "Data", body


def drift(data: ReportData, figures: Figures) -> Section:
  del figures
  if data.drift is None:
    return None
  return "drift", "Data drift", _drift_section(data.drift)


def test_predictions(data: ReportData, figures: Figures) -> Section:
  title = "Test predictions against the training data"
  if data.test is None:
    return ("test", title, [
        f'<p class="muted">{e(data.test_note or "No test predictions.")}'
        "</p>"])
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
  return "test", title, body


def per_class_f1(data: ReportData, figures: Figures) -> Section:
  body = [f'<p class="muted">{e(note)}</p>' for note in data.notes]
  body.append(_figure(figures["per_class_f1"], "per-class F1, ascending"))
  return "per-class", "Per-class F1", body


def confusion(data: ReportData, figures: Figures) -> Section:
  del data
  return "confusion", "Confusion matrix", [
      '<p class="muted">Click a figure to open it at full size.</p>',
      _figure(figures["confusion"], "confusion matrix")]


def all_classes(data: ReportData, figures: Figures) -> Section:
  del figures
  return "classes", "All classes", _class_table(data)


def ensemble(data: ReportData, figures: Figures) -> Section:
  """An ensemble's members side by side (util/ensemble_section.py); None
  for a single model."""
  del figures  # The section is a table; it draws nothing.
  if not data.ensemble:
    return None
  return "ensemble", ensemble_section.TITLE, content.table_html(
      ensemble_section.note(data.ensemble),
      ensemble_section.table(data.ensemble, data.class_names))


def device(data: ReportData, figures: Figures) -> Section:
  """The SavedModel and its LiteRT variants side by side
  (util/device_section.py); None without the LiteRT nodes."""
  del figures  # A table; it draws nothing.
  if data.device is None:
    return None
  return "device", device_section.TITLE, content.table_html(
      device_section.note(data.device), device_section.table(data.device))


# The page's order: short sections first, the long figures and tables last.
ORDER = (verdict, metrics, ensemble, device, card, baseline,
         confused, tuning, gallery,
         data_checks, drift, test_predictions, per_class_f1, confusion,
         all_classes)
