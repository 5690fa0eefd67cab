"""Imports point one way: a lower layer never imports a higher one.

The layers, bottom to top (docs/layout.md has the same map with each file's
job):

0. settings, names and process set-up: pipeline/config.py,
   pipeline/features.py, pipeline/console.py, pipeline/runtime.py,
   pipeline/spans.py (which spans a run reads). No
   project imports but each other's.
1. model and Transform code: modules/ (model, strategy, dataset and
   augmentation, serving export, `run_fn`, `tuner_fn` and its
   hyperparameters, `preprocessing_fn`, the TFMA metric). The Trainer's and Transform's processes load only layers 0-1.
2. custom components and what they share: pipeline/components/ (each
   component a package: component.py, executor.py and its helpers),
   pipeline/evaluation.py (reads the Evaluator's output back),
   pipeline/serving_model.py (loads a served model and reads it).
3. the DAG and what every runner shares about it: pipeline/pipeline.py,
   pipeline/baseline.py (the baselines' resolver strategies),
   pipeline/beam.py (Beam profiles), pipeline/quiet_worker.py (the Beam
   workers' plugin), pipeline/flags.py and pipeline/env_flags.py (the
   runners' flags), pipeline/trainer_placement.py and
   pipeline/kubernetes_quantity.py (the Trainer's cluster resources),
   pipeline/summary.py, pipeline/run_lock.py.
4. runners and tools: local_runner.py, kubeflow_runner.py, tools/, bench/.

Imports within a layer are allowed; tests/ may import anything. A new file
must be placed in a layer here (`test_every_project_file_has_a_layer`).
"""

import ast
import os
from typing import Iterator, List, Optional, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (path prefix, layer): the longest matching prefix decides.
LAYER_OF_PATH = (
    ("pipeline/config.py", 0),
    ("pipeline/features.py", 0),
    ("pipeline/console.py", 0),
    ("pipeline/runtime.py", 0),
    ("pipeline/spans.py", 0),
    ("modules/", 1),
    ("pipeline/components/", 2),
    # Resolves `pipeline.EvaluationReport` (a component's artifact type) for
    # Kubeflow's launcher, lazily: `from pipeline import config` never runs it.
    ("pipeline/__init__.py", 2),
    ("pipeline/evaluation.py", 2),
    # Loads a served model: BatchInference runs it, tools/ predict with it.
    ("pipeline/serving_model.py", 2),
    ("pipeline/pipeline.py", 3),
    ("pipeline/data_plan.py", 3),
    ("pipeline/baseline.py", 3),
    ("pipeline/beam.py", 3),
    ("pipeline/quiet_worker.py", 3),
    ("pipeline/flags.py", 3),
    ("pipeline/summary.py", 3),
    ("pipeline/run_lock.py", 3),
    ("pipeline/env_flags.py", 3),
    ("pipeline/kubernetes_quantity.py", 3),
    ("pipeline/trainer_placement.py", 3),
    ("local_runner.py", 4),
    ("kubeflow_runner.py", 4),
    ("tools/", 4),
    ("bench/", 4),
)
LAYER_NAMES = ("settings and names", "model and Transform code",
               "custom components", "the DAG", "runners and tools")
PROJECT_PACKAGES = ("pipeline", "modules", "tools", "bench")
SKIPPED_FOLDERS = ("tests", ".venv", ".git", "output", "schema", "docs")


def layer_of(relpath: str) -> Optional[int]:
  """The layer of a project file (a path relative to the root), or None."""
  matches = [(len(prefix), layer) for prefix, layer in LAYER_OF_PATH
             if relpath == prefix or
             (prefix.endswith("/") and relpath.startswith(prefix))]
  return max(matches)[1] if matches else None


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
    ("modules/model.py", "def f():\n  from pipeline import summary\n"),
    ("pipeline/features.py", "from modules import model\n"),
    ("pipeline/components/pusher/executor.py",
     "from ... import pipeline\n"),
    ("pipeline/components/pusher/executor.py", "import local_runner\n"),
])
def test_a_lower_layer_importing_a_higher_one_is_reported(
    tmp_path, relpath, source):
  for path in ("pipeline/__init__.py", "pipeline/config.py",
               "pipeline/features.py", "pipeline/pipeline.py",
               "pipeline/summary.py", "modules/__init__.py",
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
  _write(tmp_path, "pipeline/features.py", "")
  _write(tmp_path, "pipeline/config.py", "from pipeline import features\n")
  _write(tmp_path, "modules/__init__.py", "")
  _write(tmp_path, "modules/model.py",
         "from pipeline import config, features\n")
  _write(tmp_path, "local_runner.py", "import modules.model\n")
  assert violations(str(tmp_path)) == []
  assert [path for _, path in imported_files(str(tmp_path),
                                             "modules/model.py")] == [
                                                 "pipeline/config.py",
                                                 "pipeline/features.py"]
