"""What the evaluation report says: its data, read from the run's artifacts.

`load_report_data` gathers, from an Evaluator output (through
`pipeline.components.evaluation.load_evaluation`, the overall slice), the
Trainer's training history and the ImageValidator's summary (their typed
records, settings/records.py), everything the page shows; the executor adds
the gallery (gallery.py) and the test predictions' class counts.
`metrics_record` is the same content as plain JSON (`metrics.json`), for CI
and dashboards. Nothing here draws or writes files (render.py does).
"""

import dataclasses
import html
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from modules import metrics as metrics_lib
from modules import warm_start as warm_start_lib
from pipeline.components.util import evaluation_reader as evaluation_lib
from pipeline.components.report import gallery as gallery_lib
from settings import records
from settings import spans as spans_lib

# The scalar metrics shown first, in this order (the rest follow by name).
HEADLINE_METRICS = evaluation_lib.HEADLINE_METRICS
TOP_CONFUSIONS = 20
BLESSED = "BLESSED"
NOT_BLESSED = "NOT BLESSED"
NO_GATE = "NO GATE"
# Bumped when a key of metrics.json changes meaning.
METRICS_FORMAT_VERSION = 1


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
class TestDistribution:
  """Classes predicted on the unlabelled test split."""
  predicted_counts: List[int]
  records: int
  skipped: int
  submission: Optional[str]


@dataclasses.dataclass
class ReportData:
  """Everything the page shows, independent of where it came from.

  `validation_ok` is the verdict: the Evaluator's blessing when the report
  was given one (what the Pusher acts on), else the validation result stored
  in the evaluation; None when no gate was configured.
  """
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
  # From the ImageValidator: examples per split and its warnings.
  data_splits: Optional[Dict[str, int]] = None
  data_warnings: List[str] = dataclasses.field(default_factory=list)
  # The ImageValidator's drift check (its summary's `drift`), if it ran.
  drift: Optional[Dict[str, Any]] = None
  # Why training counts or class names are missing, if they are.
  notes: List[str] = dataclasses.field(default_factory=list)
  pipeline_run_id: Optional[str] = None
  # Misclassified eval images of the most-confused pairs (None: no eval
  # predictions were given).
  gallery: Optional[List[gallery_lib.GalleryPair]] = None
  test: Optional[TestDistribution] = None
  # Why there are no test predictions, if there are none.
  test_note: Optional[str] = None
  # pipeline/components/util/model_card.py's card, and its interval.
  card: Any = None
  # The Tuner's completed trials, best first: trial_id, score and each
  # hyperparameter's value (None: no Tuner in the DAG).
  trials: Optional[List[Dict[str, Any]]] = None
  # With train.warm_start: where training started from, or why it started
  # from scratch (modules/warm_start.py `describe`).
  warm_start: Optional[str] = None
  # The spans the model was trained on ("span 2", "spans 1-2"; None in the
  # plain layout), from the ImageValidator's copy of ExampleGen's report.
  spans: Optional[str] = None
  # An ensemble's ledger (util/ensemble_section.py); None: one model.
  ensemble: Optional[Dict[str, Any]] = None
  # The Evaluator's gate record (its checks, intervals and rule); None for
  # an evaluation written before it kept one.
  gate: Optional[records.GateRecord] = None
  # What the Trainer's per-epoch val_* scores were computed on and which
  # choices read them (training_history.json `validation`).
  validation_data: Optional[Dict[str, Any]] = None
  # The LiteRT variants' scores (util/device_section.py); None: no
  # LiteRT nodes in the DAG.
  device: Optional[records.LiteEvaluation] = None

  @property
  def verdict(self) -> str:
    return {True: BLESSED, False: NOT_BLESSED, None: NO_GATE}[
        self.validation_ok]


def table_html(note: str, table: Sequence[Sequence[Any]]) -> List[str]:
  """A report section's body: a muted note, then `table` ([header, rows...])
  as an HTML table (the ensemble's and the device models' sections)."""
  e = html.escape
  header, *rows = table
  lines = [f'<p class="muted">{e(note)}</p>', "<table><tr>" +
           "".join(f"<th>{e(str(cell))}</th>" for cell in header) + "</tr>"]
  lines += ["<tr>" + "".join(f"<td>{e(str(cell))}</td>" for cell in row) +
            "</tr>" for row in rows]
  lines.append("</table>")
  return lines


def class_names_and_counts(history: Optional[records.TrainingHistory],
                           num_classes: int
                           ) -> Tuple[List[str], Optional[List[int]]]:
  """Class names and training counts from a training history (if any)."""
  names = history.class_names if history else []
  counts = history.class_counts if history else None
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


def read_json(path: str) -> Any:
  """A JSON file on any filesystem tf.io.gfile reads (local, gs://, ...)."""
  with tf.io.gfile.GFile(path, "r") as f:
    return json.load(f)


def load_report_data(evaluation_dir: str,
                     baseline_evaluation_dir: Optional[str] = None,
                     training_history: Optional[str] = None,
                     blessed: Optional[bool] = None,
                     validation_summary: Optional[
                         records.ValidationSummary] = None,
                     pipeline_run_id: Optional[str] = None) -> ReportData:
  """Reads an Evaluator output and what describes its model and data.

  Args:
    evaluation_dir: the Evaluator's output (ModelEvaluation artifact).
    baseline_evaluation_dir: another Evaluator output to compare with
      (default: the baseline the Evaluator itself evaluated, if any).
    training_history: path of the Trainer's training_history.json (class
      names and training counts).
    blessed: the Evaluator's blessing of the model, if known; it must agree
      with the validation result stored in the evaluation.
    validation_summary: the ImageValidator's summary (examples per split,
      class counts, warnings).
    pipeline_run_id: the run that made the report, if the orchestrator says.

  Returns:
    The report's content.

  Raises:
    FileNotFoundError: if `evaluation_dir` holds no TFMA metrics.
    ValueError: if the evaluation has no confusion matrix (not evaluated
      with modules.metrics.MacroF1), or the blessing contradicts it.
  """
  evaluation = evaluation_lib.load_evaluation(evaluation_dir)
  candidate = evaluation_lib.CANDIDATE
  if candidate not in evaluation.confusion:
    raise ValueError(
        f"{evaluation_dir} has no {metrics_lib.CONFUSION_MATRIX} metric: "
        "was it evaluated with modules.metrics.MacroF1?")
  confusion = evaluation.confusion[candidate]
  num_classes = confusion.shape[0]
  notes = []
  history = None
  if training_history:
    history = records.TrainingHistory.read_file(training_history)
    if history is None:
      notes.append(f"No training history at {training_history}.")
  class_names, train_counts = class_names_and_counts(history, num_classes)
  if train_counts is None and validation_summary:
    # The validator counted the same training split (StatisticsGen).
    counted = validation_summary.train_class_counts()
    if len(counted or []) == num_classes:
      train_counts = counted
  if train_counts is None:
    notes.append("No training history given: training counts are unknown.")

  validation_ok = evaluation.validation_ok
  if blessed is not None:
    if validation_ok is not None and validation_ok != blessed:
      raise ValueError(
          f"the blessing says {'blessed' if blessed else 'not blessed'}, "
          f"but the validation result in {evaluation_dir} says the opposite:"
          " are they from the same Evaluator run?")
    validation_ok = blessed

  baseline_metrics, baseline_f1, baseline_source = None, None, None
  if baseline_evaluation_dir:
    other = evaluation_lib.load_evaluation(baseline_evaluation_dir)
    baseline_metrics = other.metrics.get(candidate, {})
    baseline_f1 = other.per_class.get(candidate, {}).get(
        metrics_lib.CLASS_F1, {})
    baseline_source = baseline_evaluation_dir
  elif evaluation.has_baseline:
    baseline_metrics = evaluation.metrics[evaluation_lib.BASELINE]
    baseline_f1 = evaluation.per_class.get(evaluation_lib.BASELINE, {}).get(
        metrics_lib.CLASS_F1, {})
    baseline_source = (evaluation.model_locations.get(evaluation_lib.BASELINE)
                       or "the served model")
  model_location = evaluation.model_locations.get(candidate)
  data_splits, data_warnings = None, []
  if validation_summary:
    data_splits = validation_summary.examples_per_split()
    data_warnings = list(validation_summary.warnings)
  return ReportData(
      title=f"Evaluation report: {model_location or evaluation_dir}",
      evaluation_dir=evaluation_dir,
      model_location=model_location,
      metrics=evaluation.metrics.get(candidate, {}),
      validation_ok=validation_ok,
      failures=evaluation.failures,
      rows=build_rows(evaluation.per_class.get(candidate, {}), confusion,
                      class_names, train_counts, baseline_f1),
      confusion=confusion,
      class_names=class_names,
      baseline_metrics=baseline_metrics,
      baseline_source=baseline_source,
      data_splits=data_splits,
      data_warnings=data_warnings,
      drift=validation_summary.drift if validation_summary else None,
      notes=notes,
      pipeline_run_id=pipeline_run_id,
      warm_start=warm_start_lib.describe(
          history.warm_start if history else None),
      spans=spans_lib.label_of_summary(validation_summary),
      gate=evaluation.gate,
      validation_data=history.validation if history else None)


def _plain(value: Any) -> Any:
  """numpy scalars -> Python numbers, for json.dumps."""
  if isinstance(value, np.integer):
    return int(value)
  if isinstance(value, np.floating):
    return float(value)
  return value


def metric_names(data: ReportData) -> List[str]:
  """The metrics in the order the page lists them."""
  return [n for n in HEADLINE_METRICS if n in data.metrics] + sorted(
      n for n in data.metrics if n not in HEADLINE_METRICS)


def metrics_record(data: ReportData, figures: Sequence[str] = ()
                   ) -> Dict[str, Any]:
  """The report's numbers as JSON-ready data (`metrics.json`)."""
  baseline = data.baseline_metrics
  headline = {}
  for name in metric_names(data):
    base = None if baseline is None else baseline.get(name)
    value = data.metrics[name]
    headline[name] = {
        "value": _plain(value), "baseline": _plain(base),
        "change": None if base is None else _plain(value - base)}
  return {
      "format_version": METRICS_FORMAT_VERSION,
      "model": data.model_location,
      "evaluation": data.evaluation_dir,
      "pipeline_run_id": data.pipeline_run_id,
      "verdict": data.verdict,
      "blessed": data.validation_ok,
      "failed_gates": list(data.failures),
      "gate": data.gate.to_dict() if data.gate else None,
      "selection": data.validation_data,
      "metrics": headline,
      "baseline": data.baseline_source,
      "per_class": [
          {"class_id": row.class_id, "name": row.name,
           "train_count": row.train_count, "eval_count": row.eval_count,
           "precision": row.precision, "recall": row.recall, "f1": row.f1,
           "baseline_f1": row.baseline_f1, "f1_change": row.f1_change}
          for row in data.rows],
      "most_confused": [
          {"true": true_name, "predicted": predicted_name, "count": count,
           "share_of_true_class": share}
          for true_name, predicted_name, count, share in
          top_confused_pairs(data.confusion, data.class_names)],
      "data": {"spans": data.spans,
               "examples_per_split": data.data_splits,
               "warnings": list(data.data_warnings),
               "drift": data.drift},
      "notes": list(data.notes),
      "warm_start": data.warm_start,
      "figures": list(figures),
      "macro_f1_interval": (None if data.card is None or
                            data.card.interval is None else
                            dataclasses.asdict(data.card.interval)),
      "gallery": (None if data.gallery is None else [
          {"true": pair.true_name, "predicted": pair.predicted_name,
           "count": pair.count,
           "images": [{"id": image.image_id, "confidence": image.confidence}
                      for image in pair.images]}
          for pair in data.gallery]),
      "test_predictions": (None if data.test is None else {
          "records": data.test.records, "skipped": data.test.skipped,
          "submission": data.test.submission,
          "predicted_counts": data.test.predicted_counts}),
      "test_note": data.test_note,
      "tuner_trials": data.trials,
  }
