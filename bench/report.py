"""Benchmark figures, their targets, the printed table and the JSON record.

Pure helpers (no TensorFlow): `bench/run.py` collects `Figure`s, prints
`format_table(...)` and writes `make_record(...)` to
`bench/results/<timestamp>.json`; tests/test_bench.py covers them.

    python -m bench.report bench/results/<timestamp>.json

prints a record's figures as the Markdown table docs/benchmarks.md shows,
then each missed target's reason (its note) as a bullet.
"""

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

import psutil

MET = "MET"
MISSED = "MISSED"
NOT_MEASURED = "NOT MEASURED"
_OPERATORS = {
    "<=": lambda value, limit: value <= limit,
    "<": lambda value, limit: value < limit,
    ">=": lambda value, limit: value >= limit,
    ">": lambda value, limit: value > limit,
}


@dataclasses.dataclass(frozen=True)
class Target:
  """A bound a figure must satisfy, e.g. `Target("<=", 1.5)`."""
  operator: str
  limit: float

  def __post_init__(self):
    if self.operator not in _OPERATORS:
      raise ValueError(f"unknown operator {self.operator!r}; choose from "
                       f"{sorted(_OPERATORS)}")

  def is_met(self, value: float) -> bool:
    return _OPERATORS[self.operator](value, self.limit)


@dataclasses.dataclass
class Figure:
  """One measured number, with its target if it has one.

  Attributes:
    section: which benchmark it belongs to ("input", "e2e", ...).
    name: what was measured, readable on its own.
    value: the number; None if it could not be measured (the run failed).
    unit: "s", "images/s", "GiB", "x" (a ratio), "%"...
    target: the bound it must satisfy, or None for a figure that only
      informs.
    note: why it was missed, or how it was measured, where that helps.
  """
  section: str
  name: str
  value: Optional[float]
  unit: str = ""
  target: Optional[Target] = None
  note: str = ""

  @property
  def status(self) -> str:
    """MET / MISSED for a figure with a target, "" for one without."""
    if self.target is None:
      return ""
    if self.value is None:
      return NOT_MEASURED
    return MET if self.target.is_met(self.value) else MISSED

  def to_dict(self) -> Dict[str, Any]:
    result = dataclasses.asdict(self)
    result["target"] = (None if self.target is None else
                        f"{self.target.operator} {self.target.limit:g}")
    result["status"] = self.status
    return result

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> "Figure":
    """Inverse of `to_dict` (the status is recomputed, not read)."""
    target = None
    if values.get("target"):
      operator, limit = values["target"].split()
      target = Target(operator, float(limit))
    return cls(values["section"], values["name"], values["value"],
               values.get("unit", ""), target, values.get("note", ""))


def format_value(value: Optional[float], unit: str) -> str:
  """A figure's value with its unit, at a precision that suits the unit."""
  if value is None:
    return "n/a"
  if unit == "x":
    return f"{value:.2f}x"
  if unit == "%":
    return f"{value:.1f}%"
  if unit == "GiB":
    return f"{value:.2f} GiB"
  if unit == "s":
    return f"{value:.1f} s"
  if unit == "epochs":
    return f"{value:.0f} epochs"
  if not unit:  # scores such as macro F1
    return f"{value:.3f}"
  if abs(value) >= 100:
    return f"{value:,.0f} {unit}".strip()
  return f"{value:.1f} {unit}".strip()


def format_target(figure: Figure) -> str:
  if figure.target is None:
    return "-"
  limit = format_value(figure.target.limit, figure.unit)
  return f"{figure.target.operator} {limit}"


def _rows(figures: Sequence[Figure]) -> List[List[str]]:
  return [[f.section, f.name, format_value(f.value, f.unit), format_target(f),
           f.status or "-"] for f in figures]


_HEADER = ["Section", "Figure", "Value", "Target", "Status"]


def format_table(figures: Sequence[Figure]) -> str:
  """A plain-text table, columns aligned, notes listed under it."""
  rows = [_HEADER] + _rows(figures)
  widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
  lines = []
  for index, row in enumerate(rows):
    lines.append("  ".join(cell.ljust(width)
                           for cell, width in zip(row, widths)).rstrip())
    if index == 0:
      lines.append("  ".join("-" * width for width in widths))
  notes = [f for f in figures if f.note]
  if notes:
    lines.append("")
    lines.extend(f"* {f.section} / {f.name}: {f.note}" for f in notes)
  return "\n".join(lines)


def format_markdown(figures: Sequence[Figure]) -> str:
  """The same table in Markdown, for docs/benchmarks.md."""
  lines = ["| " + " | ".join(_HEADER) + " |",
           "|" + "---|" * len(_HEADER)]
  for row in _rows(figures):
    row[-1] = f"**{row[-1]}**" if row[-1] in (MET, MISSED) else row[-1]
    lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row)
                 + " |")
  return "\n".join(lines)


def target_summary(figures: Sequence[Figure]) -> str:
  """One line: how many targets were met, and which were missed."""
  judged = [f for f in figures if f.target is not None]
  missed = [f for f in judged if f.status != MET]
  line = f"{len(judged) - len(missed)} of {len(judged)} targets MET"
  if missed:
    line += "; MISSED: " + "; ".join(f.name for f in missed)
  return line


def section_of(figure_section: str) -> str:
  """The bench section a figure belongs to: "input 192->64" is "input"."""
  return figure_section.split(" ")[0]


def failures(figures: Sequence[Figure], details: Dict[str, Any],
             sections: Sequence[str]) -> List[str]:
  """Why a bench run failed, one line each; [] when it did not.

  A bench run fails when a measured step exited with another code than
  its `expected_returncode` (0 unless the step says), when one of
  `sections` (the sections that ran) has no figure with a value, or when a
  figure with a target has no value. A missed target is a result, not a
  failure.
  """
  lines = [f"step {name} failed (exit {step['returncode']}; log: "
           f"{step.get('log')})" for name, step in details.items()
           if isinstance(step, dict) and step.get("returncode") not in
           (None, step.get("expected_returncode", 0))]
  for section in sections:
    measured = [f for f in figures if section_of(f.section) == section and
                f.value is not None]
    if not measured:
      lines.append(f"section {section} measured nothing")
  lines += [f"not measured: {f.section}: {f.name}" for f in figures
            if f.target is not None and f.value is None]
  return lines


def epochs_for_ratio(target_ratio: float, wall_a: float, wall_b: float,
                     epochs: int, epoch_a: float, epoch_b: float) -> float:
  """Fewest epochs at which run A takes at most `target_ratio` x run B.

  Models each run as a fixed cost plus its epoch time per epoch, both taken
  from a measured run of `epochs` epochs: fixed = wall - epochs x epoch.

  Args:
    target_ratio: the bound on wall_a / wall_b.
    wall_a, wall_b: measured wall times, seconds.
    epochs: epochs both measured runs trained for.
    epoch_a, epoch_b: seconds per epoch of each.

  Returns:
    The number of epochs (0 if any number will do), or infinity if A's
    epochs are too slow for the ratio ever to be reached.
  """
  fixed_a = wall_a - epochs * epoch_a
  fixed_b = wall_b - epochs * epoch_b
  excess = fixed_a - target_ratio * fixed_b  # over the bound at 0 epochs
  gain = target_ratio * epoch_b - epoch_a  # what each epoch claws back
  if excess <= 0 and gain >= 0:
    return 0
  if gain <= 0:
    return 0 if excess <= 0 else math.inf
  return max(0, math.ceil(excess / gain))


# ---------------------------------------------------------------------------
# Where the figures came from.

def cpu_model() -> str:
  """The CPU's model name (Linux /proc/cpuinfo, else `platform`)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine_info() -> Dict[str, Any]:
  """Cores, memory and CPU of this machine, and its load when asked."""
  return {
      "logical_cores": psutil.cpu_count(logical=True),
      "physical_cores": psutil.cpu_count(logical=False),
      "usable_cores": len(os.sched_getaffinity(0))
                      if hasattr(os, "sched_getaffinity") else None,
      "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
      "cpu_model": cpu_model(),
      "platform": platform.platform(),
      "python": sys.version.split()[0],
      # Other people's jobs on a shared machine skew every figure.
      "load_average": [round(x, 2) for x in os.getloadavg()],
  }


def git_state(repo_root: str) -> Dict[str, Any]:
  """The commit the figures come from, and whether the tree had changes."""
  def git(*args):
    return subprocess.run(["git", *args], cwd=repo_root, capture_output=True,
                          text=True, check=False).stdout.strip()
  return {
      "commit": git("rev-parse", "HEAD") or None,
      "short_commit": git("rev-parse", "--short", "HEAD") or None,
      "uncommitted_changes": bool(git("status", "--porcelain",
                                      "--untracked-files=no")),
  }


def make_record(figures: Sequence[Figure], settings: Dict[str, Any],
                details: Dict[str, Any], git: Dict[str, Any],
                machine: Dict[str, Any], started: datetime.datetime,
                argv: Sequence[str]) -> Dict[str, Any]:
  """The JSON record of one bench run: provenance, settings, every figure."""
  return {
      "started": started.isoformat(timespec="seconds"),
      "finished": datetime.datetime.now().isoformat(timespec="seconds"),
      "command": list(argv),
      "git": git,
      "machine": machine,
      "settings": settings,
      "figures": [figure.to_dict() for figure in figures],
      "summary": target_summary(figures),
      "details": details,
  }


def write_record(record: Dict[str, Any], results_dir: str,
                 started: datetime.datetime, prefix: str = "") -> str:
  """Writes `record` to `<results_dir>/<prefix><timestamp>.json`; its path."""
  os.makedirs(results_dir, exist_ok=True)
  path = os.path.join(results_dir,
                      prefix + started.strftime("%Y%m%d-%H%M%S") + ".json")
  with open(path, "w", encoding="utf-8") as f:
    json.dump(record, f, indent=2, sort_keys=False)
    f.write("\n")
  return path


def main(argv=None) -> int:
  """Prints the figures of a bench record as a Markdown table."""
  parser = argparse.ArgumentParser(
      description="Print a bench record's figures as the Markdown table "
      "docs/benchmarks.md shows, and whether each met its target.")
  parser.add_argument("record",
                      help="a record of bench/run.py, "
                      "bench/results/<timestamp>.json")
  args = parser.parse_args(argv)
  with open(args.record, encoding="utf-8") as f:
    record = json.load(f)
  figures = [Figure.from_dict(values) for values in record["figures"]]
  print(format_markdown(figures))
  print()
  print(f"Targets: {target_summary(figures)}")
  reasons = missed_reasons(figures)
  if reasons:
    print()
    print(reasons)
  return 0


def missed_reasons(figures: Sequence[Figure]) -> str:
  """Markdown bullets: each MISSED figure with the reason its note gives."""
  return "\n".join(f"- **{f.section} / {f.name}**: {f.note}"
                   for f in figures if f.status == MISSED and f.note)


if __name__ == "__main__":
  sys.exit(main())
