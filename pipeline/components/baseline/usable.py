"""Which of the baseline Models a component is given it may compare with.

A baseline is left out when it stands for no model (the push-record
baseline task found none: its NO_BASELINE_FILE, settings/features.py) or
when it is the candidate itself (same URI, or same artifact id where the
orchestrator numbers artifacts): TFX's `LatestBlessedModelStrategy`, which
the Vertex AI spec compiles, returns the latest blessed model, and after
an unchanged re-run that is the cached candidate. A model compared with
itself passes every change gate and says nothing.
"""

from typing import List, Optional, Sequence, Tuple

from tfx import types

from settings import features


def _same_model(a: types.Artifact, b: types.Artifact) -> bool:
  if a.uri and b.uri and a.uri.rstrip("/") == b.uri.rstrip("/"):
    return True
  return bool(a.id) and a.id == b.id


def usable_baselines(baselines: Sequence[types.Artifact],
                     candidate: Optional[types.Artifact] = None
                     ) -> Tuple[List[types.Artifact], Optional[str]]:
  """(the baselines to compare with, why any were left out or None)."""
  kept, reasons = [], []
  for baseline in baselines:
    none_reason = features.no_baseline_reason(baseline.uri)
    if none_reason is not None:
      reasons.append(f"no baseline: {none_reason}")
    elif candidate is not None and _same_model(baseline, candidate):
      reasons.append(f"the baseline {baseline.uri} is the candidate itself")
    else:
      kept.append(baseline)
  return kept, "; ".join(reasons) or None
