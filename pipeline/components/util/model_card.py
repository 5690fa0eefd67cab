"""The model card: what a pushed model is, how it was trained and how good.

`build_card` gathers, from the Evaluator's output, the Trainer's
`training_history.json`, the ImageValidator's summary, ExampleGen's span and
the eval split's predictions (BatchInference), the card's sections: data,
training, evaluation (macro F1 with a bootstrap 95% interval over the eval
examples, per-class F1, the worst classes), the gate's verdict and the
limitations. `to_markdown` and `to_html` write the same sections; no
model-card library (the archived model-card-toolkit does not install with
TFX 1.16). The Pusher writes the card into the version folder with the
model (pipeline/components/pusher/), the Report into its artifact; both
build it from the run's artifacts with `card_inputs.py`.
"""

import dataclasses
import html
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from modules import metrics as metrics_lib
from pipeline.components.util import evaluation_reader as evaluation_lib
from modules import bootstrap
from settings import records

MARKDOWN_FILE = "model_card.md"
HTML_FILE = "model_card.html"
WORST_CLASSES = 5
# Classes with fewer eval examples than this have a noisy F1.
FEW_EVAL_EXAMPLES = 5
# The usual order of a model card (Mitchell et al., "Model Cards for Model
# Reporting"): what the model is and is for, how good it is (with its
# interval) and the verdict first; the per-class tables last, where they do
# not push the headline off the first screen.
SECTIONS = ("Model details", "Intended use", "Headline metrics",
            "Gate verdict", "Data", "Training", "Limitations",
            "Per-class results")
INTENDED_USE = [
    "Classifies a photo of a flower into one of the {num_classes} classes "
    "of the list it was trained with (by default the 104 kinds of the "
    "Kaggle \"Flower Classification with TPUs\" set).",
    "Input: one image, encoded (JPEG or PNG) or as a serialized "
    "tf.Example; the model resizes it itself.",
    "Not for: images that show no flower or a kind not in its class list "
    "(it always answers one of its classes), nor decisions where a wrong "
    "class is costly without a person checking it."]


# A block of a section: ("p", text), ("ul", [items]) or
# ("table", [header cells], [[cells], ...]).
Block = Tuple[Any, ...]


@dataclasses.dataclass
class ModelCard:
  """The card's title and sections, in SECTIONS order."""
  title: str
  sections: List[Tuple[str, List[Block]]]
  interval: Optional[bootstrap.Interval] = None

  def section(self, name: str) -> List[Block]:
    return dict(self.sections)[name]


def _fmt(value, digits: int = 4) -> str:
  if value is None:
    return "n/a"
  if isinstance(value, float):
    return f"{value:.{digits}f}"
  return str(value)


def build_card(evaluation: evaluation_lib.Evaluation,
               history: Optional[records.TrainingHistory],
               validation_summary: Optional[records.ValidationSummary] = None,
               span: Optional[Union[int, str]] = None,
               eval_labels: Optional[np.ndarray] = None,
               eval_predicted: Optional[np.ndarray] = None,
               blessed: Optional[bool] = None,
               model: Optional[str] = None) -> ModelCard:
  """The card of the model `evaluation` evaluated.

  Args:
    evaluation: the Evaluator's output, read (pipeline.components.evaluation).
    history: the Trainer's training history; None if missing.
    validation_summary: the ImageValidator's summary (splits, warnings, the
      class balance threshold).
    span: ExampleGen's span of the examples, or the spans it read
      ("spans 1-2", settings/spans.py).
    eval_labels: true classes of the eval examples (BatchInference).
    eval_predicted: the model's classes for the same examples.
    blessed: the Evaluator's blessing (default: its validation result).
    model: where the model is (a version folder or the Trainer's output).
  """
  candidate = evaluation_lib.CANDIDATE
  metrics = evaluation.metrics.get(candidate, {})
  confusion = evaluation.confusion.get(candidate)
  num_classes = (confusion.shape[0] if confusion is not None else
                 len((history.class_counts if history else None) or []))
  names = history.class_names if history else []
  if len(names) != num_classes:
    names = [f"class {i}" for i in range(num_classes)]
  model = model or evaluation.model_locations.get(candidate) or "unknown"
  sections: List[Tuple[str, List[Block]]] = []
  limitations: List[str] = []
  per_class: List[Block] = []

  sections.append(("Model details", [("ul", [
      f"Location: `{model}`",
      f"Classes: {num_classes}",
      "Serving signatures: `serving_default` (serialized tf.Examples), "
      "`serving_image_bytes` (encoded images)"])]))

  # Data.
  data: List[Block] = []
  counts = history.class_counts if history else None
  items = [f"Data: {span}" if isinstance(span, str) else
           f"Span: {_fmt(span)}"]
  splits = validation_summary.examples_per_split() if validation_summary \
      else {}
  if splits:
    items.append("Examples per split: " + ", ".join(
        f"{name} {count}" for name, count in splits.items()))
  if counts:
    counts_array = np.asarray(counts)
    nonzero = counts_array[counts_array > 0]
    ratio = (float(nonzero.max() / nonzero.min()) if len(nonzero) else None)
    items += [
        f"Training examples: {int(counts_array.sum())}; per class min "
        f"{int(counts_array.min())}, median {float(np.median(counts_array)):g}"
        f", max {int(counts_array.max())}",
        f"Imbalance (largest / smallest class): {_fmt(ratio, 1)}"]
    empty = [names[i] for i in np.flatnonzero(counts_array == 0)]
    if empty:
      items.append(f"Classes without training examples: {len(empty)}")
      limitations.append(f"{len(empty)} classes have no training example: "
                         "the model cannot have learnt them.")
    # The validator's own threshold, which its summary records (none
    # without a summary: the run's setting is not known here).
    max_ratio = (validation_summary.max_imbalance_ratio
                 if validation_summary else None)
    if ratio and max_ratio and ratio > max_ratio:
      limitations.append(
          f"The training data is imbalanced ({ratio:.1f}:1): rare classes "
          "are recognised less reliably.")
  else:
    items.append("Class counts: unknown (no training history)")
  data.append(("ul", items))
  warnings = list(validation_summary.warnings if validation_summary else [])
  data.append(("p", "Drift and data notes (data validation):"))
  data.append(("ul", warnings or ["No warning from the data validation."]))
  sections.append(("Data", data))

  # Training.
  model_config = history.section("model") if history else {}
  train = history.section("train") if history else {}
  augment = history.section("augment") if history else {}
  weights = model_config.get("weights")
  if history is None:
    sections.append(("Training", [("p", "No training history was found.")]))
  else:
    epochs_run = len(history.epochs)
    sections.append(("Training", [
        ("ul", [
            f"Backbone: {model_config.get('backbone')}",
            f"Weights: {weights or 'random initialisation'}",
            f"Input size: {model_config.get('input_size') or 'image size'}",
            f"Epochs: {epochs_run} run of {train.get('epochs')} configured",
            f"Strategy: {history.strategy} with "
            f"{history.replicas} replica(s), precision "
            f"{history.precision_policy}",
            f"Global batch: {history.global_batch_size}, "
            f"{history.steps_per_epoch} steps per epoch",
            f"Wall time: {history.wall_seconds} s",
            "Hyperparameters from the Tuner's best trial: " + (
                ", ".join(f"{name} = {value}" for name, value in sorted(
                    history.hyperparameters.items()))
                if history.hyperparameters else
                "none (no tuning; the configured values)")]),
        ("table", ["hyperparameter", "value"],
         [[f"{section}.{key}", str(value)]
          for section, values in (("model", model_config), ("train", train),
                                  ("augment", augment))
          for key, value in sorted(values.items())]),
    ]))
    if not weights:
      limitations.append("Trained from random weights, not pretrained ones.")

  # Evaluation.
  evaluation_blocks: List[Block] = []
  interval = None
  if eval_labels is not None and len(eval_labels) and num_classes:
    interval = bootstrap.bootstrap_macro_f1(eval_labels, eval_predicted,
                                            num_classes)
  f1_line = f"Macro F1: {_fmt(metrics.get(metrics_lib.MACRO_F1))}"
  if interval is not None:
    f1_line += (f" (95% bootstrap interval {interval.low:.4f} to "
                f"{interval.high:.4f}: {interval.samples} resamples of the "
                f"{interval.examples} eval examples; macro F1 of these "
                f"predictions {interval.point:.4f})")
  else:
    f1_line += " (no eval predictions: no interval)"
  evaluation_blocks.append(("ul", [
      f1_line,
      f"Accuracy: {_fmt(metrics.get(metrics_lib.ACCURACY))}",
      f"Macro precision: {_fmt(metrics.get(metrics_lib.MACRO_PRECISION))}",
      f"Macro recall: {_fmt(metrics.get(metrics_lib.MACRO_RECALL))}",
      f"Eval examples: {_fmt(metrics.get('example_count'), 0)}"]))
  f1 = evaluation.per_class.get(candidate, {}).get(metrics_lib.CLASS_F1, {})
  support = (confusion.sum(axis=1) if confusion is not None
             else np.zeros(num_classes))
  scored = sorted((value, class_id) for class_id, value in f1.items()
                  if support[class_id] > 0)
  worst = scored[:WORST_CLASSES]
  evaluation_blocks.append(("p", "Worst classes (F1, eval examples): " + (
      "; ".join(f"{names[c]} {v:.3f} ({int(support[c])})" for v, c in worst)
      or "none scored") + " (every class: \"Per-class results\" below)."))
  sections.append(("Headline metrics", evaluation_blocks))
  per_class.append(("p", "Eval F1 by class, worst first:"))
  per_class.append(("table", ["class", "F1", "eval examples"], [
      [names[c], f"{v:.4f}", str(int(support[c]))] for v, c in scored]))
  if counts:
    per_class.append(("p", "Training examples by class:"))
    per_class.append(("table", ["class", "training examples"],
                      [[names[i], str(c)] for i, c in enumerate(counts)]))
  few = int(((support > 0) & (support < FEW_EVAL_EXAMPLES)).sum())
  if few:
    limitations.append(f"{few} classes have fewer than {FEW_EVAL_EXAMPLES} "
                       "eval examples: their F1 is noisy.")
  absent = int((support == 0).sum())
  if absent:
    limitations.append(f"{absent} classes have no eval example: they are "
                       "not evaluated.")
  if interval is not None:
    limitations.append(
        f"Macro F1 is known to within about "
        f"{(interval.high - interval.low) / 2:.3f} (half the 95% interval) "
        "on data like the eval split.")

  # Verdict: each gate's measurement, and the rule that decided.
  verdict = blessed if blessed is not None else evaluation.validation_ok
  if verdict is None:
    verdict_blocks = [("p", "No gate was configured.")]
  elif verdict:
    verdict_blocks = [("p", "BLESSED: every gate passed.")]
  else:
    verdict_blocks = [("p", "NOT BLESSED")]
  gate = evaluation.gate
  if gate is not None:
    verdict_blocks += [
        ("ul", [f"{'passed' if check['passed'] else 'FAILED'}: "
                f"{check['line']}" for check in gate.checks]),
        ("p", gate_rule_text(gate))]
  elif verdict is False:
    verdict_blocks.append(("ul", list(evaluation.failures) or
                           ["(no reason)"]))
  sections.append(("Gate verdict", verdict_blocks))

  limitations += [
      "The model always answers one of its classes: an image of anything "
      "else (another flower, no flower) gets a confident wrong class.",
      "The test split is unlabelled: its predictions are scored by Kaggle, "
      "not here.",
      "Numbers describe the eval split, drawn like the training data; "
      "other cameras, seasons or crops may score lower."]
  sections.append(("Limitations", [("ul", limitations)]))
  sections.append(("Intended use", [("ul", [
      item.format(num_classes=num_classes) for item in INTENDED_USE])]))
  sections.append(("Per-class results", per_class or [
      ("p", "No per-class results (no evaluation or class counts).")]))
  by_name = dict(sections)
  return ModelCard(title=f"Model card: {model}",
                   sections=[(name, by_name[name]) for name in SECTIONS],
                   interval=interval)


def _md_cell(text: str) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(card: ModelCard) -> str:
  """The card as Markdown."""
  lines = [f"# {card.title}", ""]
  for title, blocks in card.sections:
    lines += [f"## {title}", ""]
    for block in blocks:
      if block[0] == "p":
        lines += [block[1], ""]
      elif block[0] == "ul":
        lines += [f"- {item}" for item in block[1]] + [""]
      else:
        header, rows = block[1], block[2]
        lines.append("| " + " | ".join(map(_md_cell, header)) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(map(_md_cell, row)) + " |"
                  for row in rows]
        lines.append("")
  return "\n".join(lines)


def _inline(text: str) -> str:
  """HTML of a line: escaped, `code` spans as <code>."""
  parts = html.escape(str(text)).split("`")
  return "".join(f"<code>{part}</code>" if i % 2 else part
                 for i, part in enumerate(parts))


def to_html(card: ModelCard) -> str:
  """The card as a standalone HTML page."""
  e = html.escape
  parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(card.title)}</title><style>"
           "body{font-family:sans-serif;max-width:1000px;margin:2em auto;"
           "padding:0 1em}table{border-collapse:collapse;font-size:.9em}"
           "td,th{padding:.2em .6em;border-bottom:1px solid #eee;"
           "text-align:left}</style></head><body>",
           f"<h1>{_inline(card.title)}</h1>"]
  for title, blocks in card.sections:
    parts.append(f"<h2>{e(title)}</h2>")
    for block in blocks:
      if block[0] == "p":
        parts.append(f"<p>{_inline(block[1])}</p>")
      elif block[0] == "ul":
        parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>"
                                      for item in block[1]) + "</ul>")
      else:
        parts.append("<table><tr>" + "".join(
            f"<th>{e(cell)}</th>" for cell in block[1]) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) +
                "</tr>" for row in block[2]) + "</table>")
  parts.append("</body></html>")
  return "\n".join(parts)


def card_files(card: ModelCard) -> Dict[str, str]:
  """File name -> text of the card's two files."""
  return {MARKDOWN_FILE: to_markdown(card), HTML_FILE: to_html(card)}


def eval_arrays(predictions) -> Tuple[Optional[np.ndarray],
                                      Optional[np.ndarray]]:
  """(labels, predicted classes) of labelled eval predictions, or Nones."""
  if predictions is None:
    return None, None
  labelled = predictions.labels >= 0
  return predictions.labels[labelled], predictions.predicted[labelled]


def gate_rule_text(gate: records.GateRecord) -> str:
  """The rule that decided, in words (the report's verdict and the model
  card show it)."""
  if gate.baseline_model is None:
    against = (f"No change gate: {gate.baseline_note or 'no served model'}"
               ".")
  elif gate.rule == "interval":
    against = (f"Change gate (eval.change_rule=interval): rejected only "
               f"when the whole {gate.confidence:.0%} paired bootstrap "
               f"interval of the change lies below -"
               f"{gate.max_macro_f1_drop:g}, so a retrain that differs by "
               "chance is not stopped.")
  else:
    against = (f"Change gate (eval.change_rule=point): rejected when the "
               f"change itself is below -{gate.max_macro_f1_drop:g}.")
  scored = ("Both models scored on the same" if gate.baseline_model else
            "Scored on the")
  return (f"{scored} {gate.macro_f1['examples']} eval examples; intervals "
          f"from {gate.bootstrap_samples} bootstrap resamples. " + against)
