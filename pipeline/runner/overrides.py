"""The `--set section.field=value` flag: applies command-line overrides to a
PipelineConfig (`apply_overrides`), with messages written for the command
line.

It sits beside the other flags (pipeline/runner/flags.py), which call it last, so
`--set` can reach every field of the typed config (settings/config.py),
including those without a flag of their own.
"""

import dataclasses
from typing import Any, Dict, Sequence

from settings import config as config_lib
from settings import features


def apply_overrides(config: config_lib.PipelineConfig,
                    overrides: Sequence[str]) -> config_lib.PipelineConfig:
  """A copy of `config` with `section.field=value` or `field=value` strings
  applied.

  Values are parsed by the type of the field's current value: booleans
  take true/false/1/0/yes/no, "none" clears an optional string. The
  top-level fields are `image_size` and, read from a file of one name a
  line, `classes_file` (it sets `class_names`).

  Raises:
    ValueError: naming the override that is malformed or unknown.
  """
  changes: Dict[str, Any] = {}
  for override in overrides:
    key, sep, text = override.partition("=")
    section, dot, field = key.strip().partition(".")
    text = text.strip()
    if not sep:
      raise ValueError(f"--set {override!r}: expected section.field=value "
                       f"or field=value")
    if not dot:
      changes.update(_top_level_override(override, section, text, config))
      continue
    if section not in config_lib.SECTIONS:
      raise ValueError(f"--set {override!r}: unknown section {section!r}; "
                       f"choose from {sorted(config_lib.SECTIONS)}")
    names = {f.name for f in dataclasses.fields(config_lib.SECTIONS[section])}
    if field not in names:
      raise ValueError(f"--set {override!r}: {section} has no field "
                       f"{field!r}; fields: {sorted(names)}")
    current = getattr(getattr(config, section), field)
    changes[f"{section}__{field}"] = _parse_value(override, text, current)
  return config.replace(**changes)


# `--set NAME=VALUE` without a section: the top-level fields, and the class
# names through the file that holds them.
CLASSES_FILE_OVERRIDE = "classes_file"
_TOP_LEVEL_OVERRIDES = ("image_size", CLASSES_FILE_OVERRIDE)


def _top_level_override(override: str, name: str, text: str,
                        config: config_lib.PipelineConfig) -> Dict[str, Any]:
  """The `replace` changes of a `--set name=value` without a section."""
  if name == CLASSES_FILE_OVERRIDE:
    try:
      return {"class_names": tuple(features.load_class_names(text))}
    except OSError as error:
      raise ValueError(f"--set {override!r}: {error}") from None
  if name not in _TOP_LEVEL_OVERRIDES:
    raise ValueError(
        f"--set {override!r}: unknown setting {name!r}; top-level settings: "
        f"{', '.join(_TOP_LEVEL_OVERRIDES)}; or section.field=value with a "
        f"section from {sorted(config_lib.SECTIONS)}")
  return {name: _parse_value(override, text, getattr(config, name))}


def _parse_value(override: str, text: str, current: Any) -> Any:
  """Parses `text` as the type of `current` (see with_overrides); a tuple
  takes comma-separated values of its first element's type."""
  if isinstance(current, tuple):
    return tuple(_parse_value(override, part.strip(),
                              current[0] if current else "")
                 for part in text.split(",") if part.strip())
  if isinstance(current, bool):
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
      return True
    if lowered in ("false", "0", "no"):
      return False
    raise ValueError(f"--set {override!r}: expected true or false")
  if text.lower() == "none" and not isinstance(current, (int, float)):
    return None
  try:
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
  except ValueError:
    raise ValueError(f"--set {override!r}: expected a "
                     f"{type(current).__name__}") from None
  return text

