"""An evaluation report people can open: one HTML page and its PNG figures.

    python tools/report.py \
        --evaluation output/pipeline_root/Evaluator/evaluation/8 \
        --training-history output/pipeline_root/Trainer/model_run/7/training_history.json \
        --output output/reports/7

writes `report.html` and its figures into --output, side by side with
relative links, so the folder opens in a browser from disk (no server) and
can be copied or attached as it is. The page shows:

* the headline metrics and the Evaluator's verdict (with the failed gates);
* per-class F1, sorted ascending, each bar annotated with the class's number
  of training examples (from the Trainer's `training_history.json`), since
  on long-tailed data the worst classes are usually the rare ones;
* the confusion matrix (rows normalized: each row is where a true class's
  examples went) and the most confused class pairs, by name;
* the comparison with the baseline model when there is one: the Evaluator
  stores the baseline's metrics and the change when it evaluated the latest
  blessed model, or pass --baseline-evaluation to compare with any other
  evaluation.

`local_runner.py` writes it after every run to `<output-dir>/reports/<model
id>/`. Everything comes from `modules.metrics.load_evaluation` (the overall
slice of the Evaluator's output).
"""

import argparse
import dataclasses
import datetime
import html
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT_FILE = "report.html"
PER_CLASS_F1_PNG = "per_class_f1.png"
CONFUSION_PNG = "confusion_matrix.png"
F1_CHANGE_PNG = "f1_change.png"
TOP_CONFUSIONS = 20
HEADLINE_METRICS = ("example_count", "argmax_accuracy", "macro_precision",
                    "macro_recall", "macro_f1")


@dataclasses.dataclass
class ClassRow:
  """One class's line in the report."""
  class_id: int
  name: str
  train_count: Optional[int]
  eval_count: int
  precision: Optional[float]
  recall: Optional[float]
  f1: Optional[float]  # None: no eval example and never predicted.
  baseline_f1: Optional[float] = None

  @property
  def f1_change(self) -> Optional[float]:
    if self.f1 is None or self.baseline_f1 is None:
      return None
    return self.f1 - self.baseline_f1


@dataclasses.dataclass
class ReportData:
  """Everything the page shows, independent of where it came from."""
  title: str
  evaluation_dir: str
  model_location: Optional[str]
  metrics: Dict[str, float]
  validation_ok: Optional[bool]
  failures: List[str]
  rows: List[ClassRow]
  confusion: np.ndarray
  class_names: List[str]
  baseline_metrics: Optional[Dict[str, float]] = None
  baseline_source: Optional[str] = None


# ---------------------------------------------------------------------------
# Data.

def class_names_and_counts(history: Optional[dict], num_classes: int
                           ) -> Tuple[List[str], Optional[List[int]]]:
  """Class names and training counts from a training history (if any)."""
  names = list((history or {}).get("config", {}).get("class_names") or [])
  counts = (history or {}).get("class_counts")
  if len(names) != num_classes:
    names = [f"class {i}" for i in range(num_classes)]
  if counts is not None and len(counts) != num_classes:
    counts = None
  return names, counts


def build_rows(per_class: Dict[str, Dict[int, float]], confusion: np.ndarray,
               class_names: Sequence[str],
               train_counts: Optional[Sequence[int]],
               baseline_f1: Optional[Dict[int, float]] = None
               ) -> List[ClassRow]:
  """One row per class, in class order."""
  from modules import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  support = confusion.sum(axis=1)
  rows = []
  for class_id, name in enumerate(class_names):
    def score(metric):
      return per_class.get(metric, {}).get(class_id)
    rows.append(ClassRow(
        class_id=class_id, name=name,
        train_count=(int(train_counts[class_id])
                     if train_counts is not None else None),
        eval_count=int(support[class_id]),
        precision=score(metrics_lib.CLASS_PRECISION),
        recall=score(metrics_lib.CLASS_RECALL),
        f1=score(metrics_lib.CLASS_F1),
        baseline_f1=(baseline_f1 or {}).get(class_id)))
  return rows


def top_confused_pairs(confusion: np.ndarray, class_names: Sequence[str],
                       limit: int = TOP_CONFUSIONS
                       ) -> List[Tuple[str, str, int, float]]:
  """(true name, predicted name, count, share of the true class) by count."""
  off_diagonal = np.array(confusion, dtype=np.float64)
  np.fill_diagonal(off_diagonal, 0)
  support = np.asarray(confusion, dtype=np.float64).sum(axis=1)
  order = np.argsort(-off_diagonal, axis=None, kind="stable")
  pairs = []
  for flat in order[:limit]:
    true_id, predicted_id = np.unravel_index(flat, off_diagonal.shape)
    count = off_diagonal[true_id, predicted_id]
    if count <= 0:
      break
    pairs.append((class_names[true_id], class_names[predicted_id],
                  int(round(count)), float(count / support[true_id])))
  return pairs


def load_report_data(evaluation_dir: str,
                     baseline_evaluation_dir: Optional[str] = None,
                     training_history: Optional[str] = None) -> ReportData:
  """Reads an Evaluator output (and optionally another as the baseline)."""
  from modules import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  evaluation = metrics_lib.load_evaluation(evaluation_dir)
  candidate = metrics_lib.CANDIDATE
  if candidate not in evaluation.confusion:
    raise ValueError(
        f"{evaluation_dir} has no {metrics_lib.CONFUSION_MATRIX} metric: "
        "was it evaluated with modules.metrics.MacroF1?")
  confusion = evaluation.confusion[candidate]
  history = None
  if training_history:
    with open(training_history, encoding="utf-8") as f:
      history = json.load(f)
  class_names, train_counts = class_names_and_counts(history,
                                                     confusion.shape[0])

  baseline_metrics, baseline_f1, baseline_source = None, None, None
  if baseline_evaluation_dir:
    other = metrics_lib.load_evaluation(baseline_evaluation_dir)
    baseline_metrics = other.metrics.get(candidate, {})
    baseline_f1 = other.per_class.get(candidate, {}).get(
        metrics_lib.CLASS_F1, {})
    baseline_source = baseline_evaluation_dir
  elif evaluation.has_baseline:
    baseline_metrics = evaluation.metrics[metrics_lib.BASELINE]
    baseline_f1 = evaluation.per_class.get(metrics_lib.BASELINE, {}).get(
        metrics_lib.CLASS_F1, {})
    baseline_source = (evaluation.model_locations.get(metrics_lib.BASELINE)
                       or "the latest blessed model")
  model_location = evaluation.model_locations.get(candidate)
  return ReportData(
      title=f"Evaluation report: {model_location or evaluation_dir}",
      evaluation_dir=evaluation_dir,
      model_location=model_location,
      metrics=evaluation.metrics.get(candidate, {}),
      validation_ok=evaluation.validation_ok,
      failures=evaluation.failures,
      rows=build_rows(evaluation.per_class.get(candidate, {}), confusion,
                      class_names, train_counts, baseline_f1),
      confusion=confusion,
      class_names=class_names,
      baseline_metrics=baseline_metrics,
      baseline_source=baseline_source)


# ---------------------------------------------------------------------------
# Figures.

def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # Files only: no display on servers and in CI.
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_per_class_f1(rows: Sequence[ClassRow], path: str) -> None:
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
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_confusion_matrix(confusion: np.ndarray, class_names: Sequence[str],
                          path: str) -> None:
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
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_f1_change(rows: Sequence[ClassRow], path: str) -> bool:
  """Per-class F1 change against the baseline; False if nothing changed."""
  plt = _pyplot()
  changed = sorted((r for r in rows
                    if r.f1_change is not None and abs(r.f1_change) > 1e-12),
                   key=lambda r: (r.f1_change, r.class_id))
  if not changed:
    return False
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
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True


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
"""


def _num(value, digits=4) -> str:
  if value is None:
    return "&ndash;"
  if isinstance(value, (int, np.integer)):
    return str(value)
  return f"{value:.{digits}f}"


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
  names = [n for n in HEADLINE_METRICS if n in data.metrics] + sorted(
      n for n in data.metrics if n not in HEADLINE_METRICS)
  for name in names:
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
    verdict = ['<p><span class="ok">BLESSED</span>: every gate passed.</p>']
  else:
    verdict = ['<p><span class="bad">NOT BLESSED</span></p><ul>'] + [
        f"<li>{e(failure)}</li>" for failure in data.failures] + ["</ul>"]
  sections.append(("verdict", "Verdict", verdict))

  body = _metrics_table(data)
  unscored = [r for r in data.rows if r.f1 is None]
  if unscored:
    body.append(f'<p class="muted">{len(unscored)} classes have no eval '
                "example and were never predicted: they have no F1 and do "
                "not count in the macro average (as in scikit-learn).</p>")
  sections.append(("metrics", "Metrics (eval split, all classes)", body))

  if has_baseline:
    body = [f'<p class="muted">Baseline: {e(data.baseline_source)}</p>']
    if "f1_change" in figures:
      body.append(_figure(figures["f1_change"],
                          "per-class F1 change against the baseline"))
    else:
      body.append("<p>No class's F1 changed.</p>")
    sections.append(("baseline", "Against the baseline model", body))

  pairs = top_confused_pairs(data.confusion, data.class_names)
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

  body = []
  if any(r.train_count is None for r in data.rows):
    body.append('<p class="muted">No training history given: training '
                "counts are unknown.</p>")
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
      f'<p class="muted">Evaluation: {e(data.evaluation_dir)}<br>'
      f"Generated {e(generated)}</p>",
      "<nav>" + " &middot; ".join(f'<a href="#{anchor}">{e(title)}</a>'
                                  for anchor, title, _ in sections)
      + "</nav>"]
  for anchor, title, body in sections:
    parts.append(f'<h2 id="{anchor}">{e(title)}</h2>')
    parts.extend(body)
  parts.append("</body></html>")
  return "\n".join(parts)


def render_report(data: ReportData, output_dir: str) -> str:
  """Writes the figures and report.html into `output_dir`; returns its path."""
  os.makedirs(output_dir, exist_ok=True)
  figures = {"per_class_f1": PER_CLASS_F1_PNG, "confusion": CONFUSION_PNG}
  plot_per_class_f1(data.rows, os.path.join(output_dir, PER_CLASS_F1_PNG))
  plot_confusion_matrix(data.confusion, data.class_names,
                        os.path.join(output_dir, CONFUSION_PNG))
  change_png = os.path.join(output_dir, F1_CHANGE_PNG)
  if data.baseline_metrics is not None and plot_f1_change(data.rows,
                                                          change_png):
    figures["f1_change"] = F1_CHANGE_PNG
  elif os.path.exists(change_png):
    os.remove(change_png)  # A stale figure from an earlier report.
  path = os.path.join(output_dir, REPORT_FILE)
  with open(path, "w", encoding="utf-8") as f:
    f.write(render_html(data, figures))
  return path


def write_report(evaluation_dir: str, output_dir: str,
                 baseline_evaluation_dir: Optional[str] = None,
                 training_history: Optional[str] = None) -> str:
  """Reads an Evaluator output and writes the report; returns report.html.

  Args:
    evaluation_dir: the Evaluator's output (ModelEvaluation artifact).
    output_dir: where report.html and its PNG figures go.
    baseline_evaluation_dir: another Evaluator output to compare with
      (default: the baseline the Evaluator itself evaluated, if any).
    training_history: the Trainer's training_history.json (class names and
      training counts).

  Returns:
    The path of report.html.
  """
  data = load_report_data(evaluation_dir, baseline_evaluation_dir,
                          training_history)
  return render_report(data, output_dir)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Write an HTML evaluation report from an Evaluator output.")
  parser.add_argument("--evaluation", required=True,
                      help="the Evaluator's output folder "
                      "(pipeline_root/Evaluator/evaluation/<id>)")
  parser.add_argument("--baseline-evaluation", default=None,
                      help="another Evaluator output to compare with "
                      "(default: the baseline stored in --evaluation)")
  parser.add_argument("--training-history", default=None,
                      help="the Trainer's training_history.json (class "
                      "names and training counts)")
  parser.add_argument("--output", required=True,
                      help="folder for report.html and its figures")
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  path = write_report(args.evaluation, args.output, args.baseline_evaluation,
                      args.training_history)
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
