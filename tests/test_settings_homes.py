"""Every setting has one default and a short trip (docs/layout.md,
"Following one setting").

A setting is a field of a section of the config (settings/sections.py,
settings/ensemble.py: `config_lib.SECTIONS`). For every one of them:

* its default is written once, in its field: no typed view of the config
  (settings/config.py, settings/ensemble.py) gives the field a default of
  its own, and no other project file writes the value again under the
  field's name (a constant `DEFAULT_BATCH_SIZE = 64`, a parameter
  `batch_size=64`);
* it is followed from flag to use in at most three files: the flag that
  gives it, the config that holds it (settings/: declared, range-checked,
  sliced into a component's view, one home) and the code that reads it.

How a file is found to name a setting, by its syntax tree (comments and
docstrings do not count): `<x>.<section>.<field>` or `<Section>.<field>`
(a read of the config or of the section's default); the keys
`"<section>__<field>"`, `"<section>.<field>"` and the keyword
`<section>__<field>=` (a flag table, `--set`, `config.replace`); and a
read of a typed view's field (`settings.batch_size`) in a file that names
the view's class, the view's fields being mapped to settings by the slices
in settings/config.py and settings/ensemble.py (`batch_size=
self.predict.batch_size`).

The hops: settings/ files are the config (one hop however many of its files
name it); runners, tools/ and bench/ (layer 4) each start a chain of their
own (they give the setting or read a config they built), so they are listed
but not counted; a file of layers 1-3 that names the setting by its key is
its flag; any other file of layers 1-3 reads it, one reader per component
(a folder under pipeline/components/, the model code in modules/, one file
of pipeline/). The count is flags + 1 + readers; EXCEPTIONS lists the
settings allowed more, each with its reason. The last two tests show, on a
tree of their own, that a fourth file and a second default fail.
"""

import ast
import dataclasses
import os
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from settings import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIPPED_FOLDERS = ("tests", "docs", "schema", "output")
CONFIG_FOLDER = "settings"
ENTRY_FOLDERS = ("tools", "bench")
# The files that declare the sections (and may write their defaults).
DECLARING_FILES = ("settings/sections.py", "settings/ensemble.py")
# The files that hold the typed views and their slices.
VIEW_FILES = ("settings/config.py", "settings/ensemble.py")
MAX_FILES = 3
# Settings allowed a longer trip, with the reason; each entry is checked to
# be still needed (`test_exceptions_are_still_needed`).
EXCEPTIONS: Dict[str, str] = {
    "model.backbone":
        "two flags give it, each its own trip to modules/: the command line "
        "(pipeline/runner/flags.py) and the Tuner's search "
        "(modules/hyperparameters.py HP_FIELDS)",
    "train.learning_rate":
        "two flags give it, each its own trip to modules/: the command line "
        "(pipeline/runner/flags.py) and the Tuner's search "
        "(modules/hyperparameters.py HP_FIELDS)",
    "train.warm_start":
        "two readers by design: the DAG gives the Trainer the served model "
        "as base_model (pipeline/pipeline.py), run_fn starts from its "
        "weights (modules/warm_start.py)",
    "eval.min_macro_f1":
        "two gates share the threshold: the Evaluator's (GateSettings) and "
        "LiteRTExport's for each on-device variant (LiteSettings)",
    "eval.max_macro_f1_drop":
        "the run summary (pipeline/runner/summary.py) prints the tolerated drop "
        "beside the verdict of the Evaluator's gate, which applies it",
    "ensemble.members":
        "two readers by design: the DAG chooses one Trainer or the members' "
        "(pipeline/pipeline.py), pipeline/ensemble_dag.py builds the members",
}

# Values equal to a setting's default under its field's name that are not
# that setting, with the reason: `file:name` -> why.
OTHER_VALUES: Dict[str, str] = {
    "tools/convert_images.py:seed":
        "the seed of the conversion's stratified split, not train.seed",
}

Setting = Tuple[str, str]  # (section, field)


def settings() -> List[Setting]:
  """Every (section, field) of the config."""
  return [(section, field.name)
          for section, cls in config_lib.SECTIONS.items()
          for field in dataclasses.fields(cls)]


def default_of(setting: Setting):
  section, field = setting
  return getattr(config_lib.SECTIONS[section](), field)


def project_files(root: str) -> Iterator[str]:
  """The project's Python files, relative to `root` (tests/ and docs/
  left out)."""
  for folder, subfolders, files in os.walk(root):
    relative = os.path.relpath(folder, root)
    subfolders[:] = sorted(
        name for name in subfolders
        if not name.startswith((".", "__pycache__")) and
        not (relative == "." and name in SKIPPED_FOLDERS))
    for name in sorted(files):
      if name.endswith(".py"):
        yield os.path.normpath(os.path.join(relative, name))


def _parse(root: str, relpath: str) -> ast.AST:
  with open(os.path.join(root, relpath), encoding="utf-8") as f:
    return ast.parse(f.read(), filename=relpath)


def _docstrings(tree: ast.AST) -> Set[int]:
  """ids of the docstring nodes (they name settings in prose only)."""
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                         ast.AsyncFunctionDef)) and node.body:
      first = node.body[0]
      if (isinstance(first, ast.Expr) and
          isinstance(first.value, ast.Constant) and
          isinstance(first.value.value, str)):
        found.add(id(first.value))
  return found


def _chain_name(node: ast.AST) -> str:
  """`a.b.c` of a Name/Attribute/Call chain (a call's parentheses
  dropped: `EvalConfig().x` is `EvalConfig.x`), or ""."""
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Call):
    return _chain_name(node.func)
  if isinstance(node, ast.Attribute):
    base = _chain_name(node.value)
    return f"{base}.{node.attr}" if base else ""
  return ""


def view_fields(root: str) -> Dict[Tuple[str, str], Setting]:
  """(view class, view field) -> the setting its slice copies, from the
  calls `View(field=<x>.<section>.<field>)` in the view files."""
  sections = set(config_lib.SECTIONS)
  found = {}
  trees = [_parse(root, relpath) for relpath in VIEW_FILES]
  classes = {node.name for tree in trees for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef)}
  for tree in trees:
    for node in ast.walk(tree):
      if not isinstance(node, ast.Call):
        continue
      view = _chain_name(node.func).rpartition(".")[2]
      if view not in classes:
        continue
      for keyword in node.keywords:
        parts = _chain_name(keyword.value).split(".")
        if (keyword.arg and len(parts) >= 2 and parts[-2] in sections and
            parts[-1] in {f.name for f in dataclasses.fields(
                config_lib.SECTIONS[parts[-2]])}):
          found[(view, keyword.arg)] = (parts[-2], parts[-1])
  return found


def names_in(root: str, relpath: str,
             views: Dict[Tuple[str, str], Setting]) -> Set[Setting]:
  """The settings `relpath` names (the module docstring says how)."""
  tree = _parse(root, relpath)
  docstrings = _docstrings(tree)
  known = set(settings())
  classes = {cls.__name__: section
             for section, cls in config_lib.SECTIONS.items()}
  attributes: Set[str] = set()
  found: Set[Setting] = set()
  # A plain name is a section where the file binds it to one: it reads
  # `<x>.<section>` somewhere or annotates with the section's class
  # (`validation = settings.validation`, `predict: sections.PredictConfig`);
  # elsewhere `data.spans` is some other `data`.
  bound = {node.attr for node in ast.walk(tree)
           if isinstance(node, ast.Attribute)}
  bound |= {classes[name] for name in bound if name in classes}
  for node in ast.walk(tree):
    if isinstance(node, ast.Attribute):
      attributes.add(node.attr)
      base = node.value
      if isinstance(base, ast.Name):
        section = classes.get(base.id, base.id if base.id in bound else "")
      elif isinstance(base, ast.Attribute):
        section = classes.get(base.attr, base.attr)
      else:  # `EvalConfig().x`
        section = classes.get(_chain_name(base).rpartition(".")[2], "")
      if (section, node.attr) in known:
        found.add((section, node.attr))
    elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and
          id(node) not in docstrings):
      for separator in ("__", "."):
        section, _, field = node.value.partition(separator)
        if (section, field) in known:
          found.add((section, field))
    elif isinstance(node, ast.keyword) and node.arg:
      section, _, field = node.arg.partition("__")
      if (section, field) in known:
        found.add((section, field))
    elif isinstance(node, ast.Name):
      attributes.add(node.id)
  if relpath not in VIEW_FILES:
    for (view, field), setting in views.items():
      if view in attributes and field in attributes:
        found.add(setting)
  return found


def _keys_in(root: str, relpath: str) -> Set[Setting]:
  """The settings `relpath` names by key (a flag table, `--set`)."""
  tree = _parse(root, relpath)
  docstrings = _docstrings(tree)
  known = set(settings())
  found = set()
  for node in ast.walk(tree):
    texts = []
    if (isinstance(node, ast.Constant) and isinstance(node.value, str) and
        id(node) not in docstrings):
      texts = [node.value.replace(".", "__", 1)]
    elif isinstance(node, ast.keyword) and node.arg:
      texts = [node.arg]
    for text in texts:
      section, _, field = text.partition("__")
      if (section, field) in known:
        found.add((section, field))
  return found


@dataclasses.dataclass
class Trip:
  """The files that name one setting, by hop."""
  config: List[str] = dataclasses.field(default_factory=list)
  flags: List[str] = dataclasses.field(default_factory=list)
  readers: List[str] = dataclasses.field(default_factory=list)
  reader_files: List[str] = dataclasses.field(default_factory=list)
  entries: List[str] = dataclasses.field(default_factory=list)

  @property
  def files(self) -> int:
    """flag -> config -> use: the files counted."""
    return len(self.flags) + (1 if self.config else 0) + len(self.readers)

  def __str__(self):
    return (f"{self.files} files: flags {self.flags}, config "
            f"{self.config}, readers {self.readers} (files: "
            f"{self.reader_files}; entry points, not "
            f"counted: {self.entries})")


def trips(root: str) -> Dict[Setting, Trip]:
  views = view_fields(root)
  found = {setting: Trip() for setting in settings()}
  for relpath in project_files(root):
    named = names_in(root, relpath, views)
    if not named:
      continue
    keys = _keys_in(root, relpath)
    top = relpath.split(os.sep)[0]
    for setting in named:
      trip = found[setting]
      if top == CONFIG_FOLDER:
        trip.config.append(relpath)
      elif top in ENTRY_FOLDERS or os.sep not in relpath:
        trip.entries.append(relpath)
      elif setting in keys:
        trip.flags.append(relpath)
      else:
        trip.reader_files.append(relpath)
        unit = _reader(relpath)
        if unit not in trip.readers:
          trip.readers.append(unit)
  return found


def _reader(relpath: str) -> str:
  """The reader a file belongs to: one component's folder
  (pipeline/components/<name>/), the module code the Trainer and the Tuner
  run (modules/), or one file of the DAG (pipeline/*.py)."""
  parts = relpath.split(os.sep)
  if parts[0] == "modules":
    return "modules/"
  if parts[:2] == ["pipeline", "components"] and len(parts) > 3:
    return "/".join(parts[:3]) + "/"
  return relpath


def long_trips(root: str) -> Dict[str, str]:
  """`section.field` -> its trip, for every setting over MAX_FILES."""
  return {f"{section}.{field}": str(trip)
          for (section, field), trip in trips(root).items()
          if trip.files > MAX_FILES}


def _literal(node: ast.AST):
  try:
    return ast.literal_eval(node)
  except ValueError:
    return None


def default_copies(root: str) -> List[str]:
  """Where a setting's default is written again: a view field with a
  default of its own, a constant or parameter named for the field (its
  name holding the field's, `DEFAULT_BATCH_SIZE`) with the same value."""
  defaults: Dict[str, List[Tuple[Setting, object]]] = {}
  for setting in settings():
    defaults.setdefault(setting[1], []).append((setting, default_of(setting)))
  problems = []
  views = {view for view, _ in view_fields(root)}
  for relpath in VIEW_FILES:
    for node in ast.walk(_parse(root, relpath)):
      if isinstance(node, ast.ClassDef) and node.name in views:
        for statement in node.body:
          if (isinstance(statement, ast.AnnAssign) and statement.value and
              isinstance(statement.target, ast.Name) and
              (node.name, statement.target.id) in view_fields(root)):
            problems.append(f"{relpath}:{statement.lineno}: the view "
                            f"{node.name} gives {statement.target.id} a "
                            "default of its own")
  for relpath in project_files(root):
    if relpath in DECLARING_FILES:
      continue
    for node in ast.walk(_parse(root, relpath)):
      pairs = []
      if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [
            node.target]
        pairs = [(t.id, node.value) for t in targets
                 if isinstance(t, ast.Name) and node.value is not None]
      elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args.args + node.args.kwonlyargs
        given = ([None] * (len(node.args.args) - len(node.args.defaults)) +
                 list(node.args.defaults) + list(node.args.kw_defaults))
        pairs = [(argument.arg, value)
                 for argument, value in zip(arguments, given) if value]
      for name, value in pairs:
        for field, candidates in defaults.items():
          if field.lower() not in name.lower():
            continue
          literal = _literal(value)
          if f"{relpath}:{name}" in OTHER_VALUES:
            continue
          for setting, default in candidates:
            if (literal is not None and not isinstance(literal, bool) and
                literal == default and default not in (0, "", ())):
              problems.append(
                  f"{relpath}:{node.lineno}: {name} = {literal!r} writes "
                  f"the default of {setting[0]}.{setting[1]} again")
  return problems


def test_every_default_is_written_once():
  assert default_copies(ROOT) == []


def test_every_setting_is_followed_in_at_most_three_files():
  found = long_trips(ROOT)
  assert {name: trip for name, trip in found.items()
          if name not in EXCEPTIONS} == {}


def test_exceptions_are_still_needed():
  found = long_trips(ROOT)
  assert [name for name in EXCEPTIONS if name not in found] == []
  saved = dict(OTHER_VALUES)
  try:
    OTHER_VALUES.clear()
    copies = "\n".join(default_copies(ROOT))
  finally:
    OTHER_VALUES.update(saved)
  assert [key for key in saved
          if "{}:".format(key.split(":")[0]) not in copies or
          " {} = ".format(key.split(":")[1]) not in copies] == []


def test_the_trip_of_the_layout_example():
  """docs/layout.md's example: --epochs is given in the flag table,
  declared in settings/ and read by the Trainer's module file."""
  trip = trips(ROOT)[("train", "epochs")]
  assert any(path.endswith("flags.py") for path in trip.flags)
  assert "settings/sections.py" not in trip.config  # declared, not named
  assert "modules/trainer.py" in trip.reader_files


def _tree(root, files: Dict[str, str]) -> str:
  """A project tree at `root`: the real view files, and `files`."""
  for relpath in VIEW_FILES:
    (root / relpath).parent.mkdir(parents=True, exist_ok=True)
    with open(os.path.join(ROOT, relpath), encoding="utf-8") as f:
      (root / relpath).write_text(f.read())
  for relpath, source in files.items():
    (root / relpath).parent.mkdir(parents=True, exist_ok=True)
    (root / relpath).write_text(source)
  return str(root)


THREE_FILES = {
    "pipeline/flags.py": 'FLAGS = (("--batch", "predict__batch_size"),)\n',
    "pipeline/components/inference/executor.py":
        "def run(config):\n  return config.predict.batch_size\n",
}


def test_a_relay_through_a_fourth_file_fails(tmp_path):
  """flag -> config -> one reader passes; a file that hands the value on
  (here the DAG, reading it for a component) is a fourth and fails."""
  assert "predict.batch_size" not in long_trips(
      _tree(tmp_path / "three", THREE_FILES))
  relayed = dict(THREE_FILES, **{
      "pipeline/pipeline.py":
          "def node(config):\n  return Node(size=config.predict.batch_size)"
          "\n"})
  found = long_trips(_tree(tmp_path / "four", relayed))
  assert "pipeline/pipeline.py" in found["predict.batch_size"]


def test_a_second_copy_of_a_default_fails(tmp_path):
  """A constant named for the field with the default's value fails; one
  with another value, or the field's own default, does not."""
  copied = _tree(tmp_path / "copied", dict(THREE_FILES, **{
      "pipeline/components/inference/batch.py": "DEFAULT_BATCH_SIZE = 64\n",
      "tools/predict.py": "def main(batch_size=64):\n  pass\n"}))
  assert len(default_copies(copied)) == 2
  other = _tree(tmp_path / "other", dict(THREE_FILES, **{
      "tools/predict.py": "def main(batch_size=32):\n  pass\n"}))
  assert default_copies(other) == []
