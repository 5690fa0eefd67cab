"""Imports point one way: a lower layer never imports a higher one.

The folders are the layers, bottom to top (docs/layout.md draws the map):

0. settings/: the typed config, feature names, the data layout rules. It
   imports nothing else of the project.
1. modules/: model and Transform code (what runs inside the Trainer, the
   Tuner and Transform). The Trainer's and Transform's processes load only
   layers 0-1.
2. pipeline/components/: the custom components, one package each, and
   what they share (pipeline/components/util/). A component package
   imports its own modules and util/, never another component's
   (`test_no_component_imports_another`): components talk through
   artifacts, as TFX's do.
3. pipeline/ (its top-level files): the DAG and the data plan it is given.
4. pipeline/runner/: what the runners share beside the DAG (flags, Beam
   profiles, the summary, the console, the run lock).
5. the runners at the top level, tools/ and bench/.

Imports within a layer are allowed; tests/ may import anything. A new
folder must be given a layer in LAYER_OF_FOLDER
(`test_every_project_file_has_a_layer`).
"""

import ast
import os
from typing import Iterator, List, Optional, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Folder (relative to the root; "" for the top level) -> layer; a file's
# innermost listed folder decides.
LAYER_OF_FOLDER = {
    "settings": 0,
    "modules": 1,
    "pipeline/components": 2,
    "pipeline": 3,
    "pipeline/runner": 4,
    "": 5,
    "tools": 5,
    "bench": 5,
}
LAYER_NAMES = ("settings and names", "model and Transform code",
               "custom components", "the DAG", "the runners' support",
               "runners and tools")
PROJECT_PACKAGES = ("settings", "pipeline", "modules", "tools", "bench")
SKIPPED_FOLDERS = ("tests", ".venv", ".git", "output", "schema", "docs")


def layer_of(relpath: str) -> Optional[int]:
  """The layer of a project file (a path relative to the root), or None."""
  folder = os.path.dirname(relpath)
  while True:
    if folder in LAYER_OF_FOLDER:
      return LAYER_OF_FOLDER[folder]
    if not folder:
      return None
    folder = os.path.dirname(folder)


def project_files(root: str) -> Iterator[str]:
  """The project's Python files, as paths relative to `root`."""
  for name in sorted(os.listdir(root)):
    if name.endswith(".py"):
      yield name
  for package in PROJECT_PACKAGES:
    for folder, subfolders, files in os.walk(os.path.join(root, package)):
      subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
      for name in sorted(files):
        if name.endswith(".py"):
          yield os.path.relpath(os.path.join(folder, name), root)


def _module_file(root: str, module: str) -> Optional[str]:
  """The file (relative to `root`) that `import module` loads, if ours."""
  base = module.replace(".", "/")
  for candidate in (base + ".py", base + "/__init__.py"):
    if os.path.isfile(os.path.join(root, candidate)):
      return candidate
  return None


def imported_files(root: str, relpath: str) -> List[Tuple[int, str]]:
  """(line, file) of every project file that `relpath` imports.

  `from a import b` counts as importing a/b.py when that file exists (a
  submodule), else a itself. Imports inside functions count too: a lazy
  import still loads the module into the process that runs the function.
  """
  with open(os.path.join(root, relpath), encoding="utf-8") as f:
    tree = ast.parse(f.read(), filename=relpath)
  package = os.path.dirname(relpath).replace("/", ".")
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      modules = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # Relative: resolved against this file's package.
        parts = package.split(".") if package else []
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(p for p in parts + [base] if p)
      modules = [f"{base}.{alias.name}" if _module_file(
          root, f"{base}.{alias.name}") else base for alias in node.names]
    else:
      continue
    for module in modules:
      path = _module_file(root, module)
      if path and path != relpath:
        found.append((node.lineno, path))
  return found


def violations(root: str) -> List[str]:
  """Every import of a higher layer by a lower one, as readable lines."""
  problems = []
  for relpath in project_files(root):
    layer = layer_of(relpath)
    if layer is None:
      continue  # Reported by test_every_project_file_has_a_layer.
    for line, imported in imported_files(root, relpath):
      imported_layer = layer_of(imported)
      if imported_layer is not None and imported_layer > layer:
        problems.append(
            f"{relpath}:{line} ({LAYER_NAMES[layer]}) imports {imported} "
            f"({LAYER_NAMES[imported_layer]})")
  return problems


def test_imports_point_down():
  assert violations(ROOT) == []


def test_every_project_file_has_a_layer():
  assert [p for p in project_files(ROOT) if layer_of(p) is None] == []


def _write(root, relpath: str, source: str) -> None:
  path = root / relpath
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(source)


@pytest.mark.parametrize("relpath,source", [
    ("modules/model.py", "from pipeline import pipeline\n"),
    ("modules/model.py", "import pipeline.components.pusher.executor\n"),
    ("modules/model.py", "def f():\n  from pipeline.runner import summary\n"),
    ("settings/features.py", "from modules import model\n"),
    ("pipeline/components/pusher/executor.py",
     "from ... import pipeline\n"),
    ("pipeline/components/pusher/executor.py", "import local_runner\n"),
    ("pipeline/pipeline.py", "from pipeline.runner import summary\n"),
    ("pipeline/runner/summary.py", "import local_runner\n"),
])
def test_a_lower_layer_importing_a_higher_one_is_reported(
    tmp_path, relpath, source):
  for path in ("pipeline/__init__.py", "settings/config.py",
               "settings/features.py", "pipeline/pipeline.py",
               "pipeline/runner/summary.py", "modules/__init__.py",
               "modules/model.py", "pipeline/components/__init__.py",
               "pipeline/components/pusher/__init__.py",
               "pipeline/components/pusher/executor.py", "local_runner.py"):
    _write(tmp_path, path, "")
  assert violations(str(tmp_path)) == []
  _write(tmp_path, relpath, source)
  found = violations(str(tmp_path))
  assert found and all(line.startswith(relpath) for line in found), found


def test_downward_and_same_layer_imports_pass(tmp_path):
  _write(tmp_path, "pipeline/__init__.py", "")
  _write(tmp_path, "settings/features.py", "")
  _write(tmp_path, "settings/config.py", "from settings import features\n")
  _write(tmp_path, "modules/__init__.py", "")
  _write(tmp_path, "modules/model.py",
         "from settings import config, features\n")
  _write(tmp_path, "local_runner.py", "import modules.model\n")
  assert violations(str(tmp_path)) == []
  assert [path for _, path in imported_files(str(tmp_path),
                                             "modules/model.py")] == [
                                                 "settings/config.py",
                                                 "settings/features.py"]


COMPONENTS = "pipeline/components"
# The package every component may import: what components share.
SHARED_PACKAGE = "util"


def _component_of(relpath: str) -> Optional[str]:
  """The component package (`pusher`, `util`...) a file belongs to; "" for
  a file at the top of pipeline/components/; None outside it."""
  if not relpath.startswith(COMPONENTS + "/"):
    return None
  rest = relpath[len(COMPONENTS) + 1:]
  return rest.split("/", 1)[0] if "/" in rest else ""


def component_violations(root: str) -> List[str]:
  """Every import of one component package by a file of another, as
  readable lines. A component may import util/ and its own package; util/
  and the top of pipeline/components/ import no component at all."""
  problems = []
  for relpath in project_files(root):
    own = _component_of(relpath)
    if own is None:
      continue
    for line, imported in imported_files(root, relpath):
      other = _component_of(imported)
      if other and other not in (own, SHARED_PACKAGE):
        problems.append(f"{relpath}:{line} imports {imported}: components "
                        f"share artifacts and {COMPONENTS}/{SHARED_PACKAGE}/, "
                        "not each other's modules")
  return problems


def test_no_component_imports_another():
  assert component_violations(ROOT) == []


@pytest.mark.parametrize("relpath,source", [
    ("pipeline/components/report/executor.py",
     "from pipeline.components.pusher import executor\n"),
    ("pipeline/components/report/executor.py",
     "import pipeline.components.pusher.executor\n"),
    ("pipeline/components/report/executor.py",
     "def f():\n  from pipeline.components.pusher import executor\n"),
    ("pipeline/components/report/executor.py",
     "from ..pusher import executor\n"),
    ("pipeline/components/util/shared.py",
     "from pipeline.components.report import executor\n"),
])
def test_a_component_importing_another_is_reported(tmp_path, relpath, source):
  for path in ("pipeline/__init__.py", "pipeline/components/__init__.py",
               "pipeline/components/util/__init__.py",
               "pipeline/components/util/shared.py",
               "pipeline/components/pusher/__init__.py",
               "pipeline/components/pusher/executor.py",
               "pipeline/components/report/__init__.py",
               "pipeline/components/report/content.py",
               "pipeline/components/report/executor.py"):
    _write(tmp_path, path, "")
  # Its own package and util/ are allowed.
  _write(tmp_path, "pipeline/components/report/executor.py",
         "from pipeline.components.report import content\n"
         "from pipeline.components.util import shared\n")
  assert component_violations(str(tmp_path)) == []
  _write(tmp_path, relpath, source)
  found = component_violations(str(tmp_path))
  assert found and all(line.startswith(relpath) for line in found), found


def _top_folder(relpath: str) -> str:
  return relpath.split("/", 1)[0] if "/" in relpath else ""


def test_no_top_level_folder_imports_one_that_imports_it_back():
  """settings/, modules/, pipeline/, tools/, bench/ and the top level: an
  import between two of them goes one way only."""
  edges = {(_top_folder(path), _top_folder(imported))
           for path in project_files(ROOT)
           for _, imported in imported_files(ROOT, path)
           if _top_folder(path) != _top_folder(imported)}
  assert ("modules", "settings") in edges  # The walk sees the imports.
  assert sorted((a, b) for a, b in edges if (b, a) in edges) == []
