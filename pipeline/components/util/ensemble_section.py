"""The ensemble's section of the report and of the model card.

An ensemble's ledger (ensemble_servable.py, written by the Ensemble
component) records each member's weight and its macro and
per-class F1 on the fit slice, and the ensemble's own. This file turns that
into one table, members and ensemble side by side: a model card section
(model_card.py's blocks), which the Pusher's card and the Report's share,
and the table and note of a section of the report page
(pipeline/components/report/page_sections.py `ensemble`).
A single model has no ledger, and neither gets a section.
"""

from typing import Any, Dict, List, Optional, Sequence

from pipeline.components.util import ensemble_servable
from pipeline.components.util import model_card

TITLE = "Ensemble members"


def read(model_dir: Optional[str]) -> Optional[Dict[str, Any]]:
  """The ledger of the served model in `model_dir` if it is a pipeline
  ensemble (one with a fit slice); else None."""
  if not model_dir:
    return None
  ledger = ensemble_servable.read_ledger(model_dir)
  return ledger if ledger and "fit_slice" in ledger else None


def _f1(value: Optional[float]) -> str:
  return "-" if value is None else f"{value:.4f}"


def table(ledger: Dict[str, Any], class_names: Sequence[str]
          ) -> List[List[Any]]:
  """[header, rows...]: one column per member and one for the ensemble;
  rows weight, macro F1, then per-class F1 for each class scored."""
  members = ledger["members"]
  columns = [m.get("name") or m.get("backbone") for m in members]
  header = ["fit slice"] + columns + ["ensemble"]
  scored = [m for m in members] + [ledger["ensemble"]]
  rows = [["weight"] + [f"{m['weight']:.4f}" for m in members] + ["1"],
          ["macro F1"] + [_f1(s["macro_f1"]) for s in scored]]
  classes = sorted({int(c) for s in scored for c in s["class_f1"]})
  for index in classes:
    name = class_names[index] if index < len(class_names) else ""
    rows.append([f"F1 {index} {name}".strip()] + [
        _f1(s["class_f1"].get(str(index))) for s in scored])
  return [header] + rows


def note(ledger: Dict[str, Any]) -> str:
  fit = ledger["fit_slice"]
  return (f"Weights fitted by {ledger.get('weights_fitted_by', '?')} on the "
          f"fit slice: {fit['records']} train records ({fit['percent']}% of "
          "the id buckets) that no member trained on and the eval split "
          "does not hold. The scores below are on that slice; the "
          "headline metrics are the ensemble's on the eval split.")


def card_blocks(ledger: Dict[str, Any], class_names: Sequence[str]
                ) -> List[model_card.Block]:
  """The model card's section: a note, and the table."""
  header, *rows = table(ledger, class_names)
  members = [("ul", [f"{m.get('name')} ({m['backbone']}): {m['uri']}"
                     for m in ledger["members"]])]
  return [("p", note(ledger))] + members + [("table", header, rows)]


def add_to_card(card: model_card.ModelCard, model_dir: Optional[str],
                class_names: Sequence[str]) -> None:
  """Appends the section to `card` when `model_dir` is an ensemble."""
  ledger = read(model_dir)
  if ledger:
    card.sections.append((TITLE, card_blocks(ledger, class_names)))

