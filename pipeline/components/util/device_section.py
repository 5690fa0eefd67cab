"""The on-device models' section of the report and of the model card.

LiteRTExport's `lite_evaluation.json` (settings/records.py
`LiteEvaluation`, pipeline/components/litert/) scores the SavedModel and
its LiteRT variants on the same eval records. This file turns it into one
table, SavedModel, float32 and int8 side by side (file size, macro F1, the
drop, top-1 agreement with the SavedModel, latency per image through the
interpreter with one thread, the device gate's verdict): a model card
section (model_card.py's blocks), which the Pusher's card and the Report's
share, and the table and note of a section of the report page
(pipeline/components/report/page_sections.py `device`). A run without the
LiteRT nodes (an ensemble, or `lite.enabled` off) has neither.
"""

from typing import Any, List, Optional

from pipeline.components.util import model_card
from settings import records

TITLE = "On-device models (LiteRT)"
HEADER = ["model", "file size", "macro F1", "drop vs SavedModel",
          "top-1 agreement", "latency per image", "device gate"]


def read(folder: Optional[str]) -> Optional[records.LiteEvaluation]:
  """The LiteModel artifact's evaluation; None without one."""
  return records.LiteEvaluation.read(folder)


def _size(size_bytes: Optional[int]) -> str:
  if size_bytes is None:
    return "-"
  return (f"{size_bytes / 2**20:.2f} MiB" if size_bytes >= 2**20 else
          f"{size_bytes / 2**10:.1f} KiB")


def table(evaluation: records.LiteEvaluation) -> List[List[Any]]:
  """[header, rows...]: the SavedModel, then each variant."""
  saved = evaluation.saved_model
  rows = [["SavedModel", _size(saved.get("size_bytes")),
           f"{saved['macro_f1']:.4f}", "-", "1", "-", "(the Evaluator's)"]]
  for variant in evaluation.variants:
    verdict = ("passed" if variant["passed"] else
               "failed: " + "; ".join(variant["reasons"]))
    if variant.get("macro_f1") is None:  # Its conversion failed.
      rows.append([variant["variant"], "-", "-", "-", "-", "-", verdict])
      continue
    rows.append([variant["variant"], _size(variant["size_bytes"]),
                 f"{variant['macro_f1']:.4f}",
                 f"{variant['macro_f1_drop']:+.4f} (tolerance "
                 f"{variant['tolerance']})",
                 f"{variant['top1_agreement']:.4f}",
                 f"{variant['latency_ms']:.3f} ms", verdict])
  return [HEADER] + rows


def note(evaluation: records.LiteEvaluation) -> str:
  size = evaluation.input.get("shape", [None, "?"])[1]
  runtime = evaluation.interpreter
  return (f"Each variant takes uint8 RGB pixels [n, {size}, {size}, 3] "
          f"and gives probabilities, and was scored on the "
          f"{evaluation.eval_examples} eval records the SavedModel "
          f"predicted, through {runtime.get('package')} "
          f"{runtime.get('version')}; int8 calibrated on "
          f"{evaluation.representative.get('examples')} train images. "
          f"A variant passes when its macro F1 is at least "
          f"{evaluation.min_macro_f1} and at most its tolerance below the "
          "SavedModel's; it is pushed when the SavedModel is blessed too. "
          f"Latency: median per image, batch 1, "
          f"{runtime.get('latency_threads')} thread, on the CPU that ran "
          "the pipeline (the SavedModel has none: not a LiteRT model).")


def card_blocks(evaluation: records.LiteEvaluation
                ) -> List[model_card.Block]:
  """The model card's section: a note, and the table."""
  header, *rows = table(evaluation)
  return [("p", note(evaluation)), ("table", header, rows)]


def add_to_card(card: model_card.ModelCard,
                evaluation: Optional[records.LiteEvaluation]) -> None:
  """Appends the section to `card` when there is an evaluation."""
  if evaluation is not None:
    card.sections.append((TITLE, card_blocks(evaluation)))

