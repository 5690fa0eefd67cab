"""Kubernetes resource quantities (`500m`, `32G`, `30Gi`) as numbers.

KFP's ResourceSpec has typed fields older backends read (`cpu_limit` in
cores, `memory_limit` in GB of 10^9 bytes, as KFP's own compiler writes
them) beside the quantity strings newer ones prefer; these give the typed
values.
"""

import re

# Quantity suffixes -> bytes.
_MEMORY_UNITS = {
    "": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    "Pi": 2**50, "Ei": 2**60,
}


def cpu_cores(text: str) -> float:
  """`2`, `1.5` or `500m` (millicores) -> cores; ValueError otherwise."""
  if not re.fullmatch(r"([0-9]*[.])?[0-9]+m?", text):
    raise ValueError(f"not a number of cores or millicores (500m): {text!r}")
  return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_gb(text: str) -> float:
  """`32G`, `30Gi`, `512Mi`... -> GB (10^9 bytes); ValueError otherwise."""
  match = re.fullmatch(r"([0-9]+(?:[.][0-9]+)?)([KMGTPE]i?)?", text)
  if not match:
    raise ValueError(
        f"not a Kubernetes quantity such as 32G or 30Gi: {text!r}")
  return float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""] / 10**9
