"""An import inside a function says why it is not at the top of its module.

Imports go at the top of each module (STYLE.md). One that stays inside a
function does so for one of four reasons, and a comment that starts with the
reason's tag says which, with the detail after it:

  # slow import: TensorFlow (4 s); --help must not load it
  # optional import: <package> is not installed everywhere
  # after setup: TensorFlow loads after runtime.configure()
  # import cycle: <module> imports this one

The comment is on the import's line, or in the comment lines directly above
it; a run of imports on consecutive lines shares the comment above its first
line. A pylint pragma alone is not a reason.

COVERED_FOLDERS is the whole project: its folders, walked down, and ""
for the files of the top level itself (the runners). A new folder of
Python files at the top fails `test_every_project_folder_is_covered` until
it is listed there, or in NOT_PROJECT_CODE.
"""

import ast
import io
import os
import re
import tokenize
from typing import Dict, Iterator, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# "" is the top level: its own files only, not its folders.
COVERED_FOLDERS = ("", "settings", "modules", "pipeline", "tools", "bench")
# Top-level folders that hold no project code; hidden ones (.venv, .git)
# are skipped too.
NOT_PROJECT_CODE = ("tests", "docs", "schema", "data", "output")
REASONS = ("slow import", "optional import", "after setup", "import cycle")
_REASON = re.compile(r"#\s*(?:%s):" % "|".join(map(re.escape, REASONS)))
_IMPORTS = (ast.Import, ast.ImportFrom)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def covered_files(root: str) -> Iterator[str]:
  """The Python files under COVERED_FOLDERS, as paths relative to `root`."""
  for covered in COVERED_FOLDERS:
    if not covered:
      yield from sorted(name for name in os.listdir(root)
                        if name.endswith(".py")
                        and os.path.isfile(os.path.join(root, name)))
      continue
    for folder, subfolders, files in os.walk(os.path.join(root, covered)):
      subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
      for name in sorted(files):
        if name.endswith(".py"):
          yield os.path.relpath(os.path.join(folder, name), root)


def _holds_python(folder: str) -> bool:
  for _, subfolders, files in os.walk(folder):
    subfolders[:] = [d for d in subfolders if d != "__pycache__"]
    if any(name.endswith(".py") for name in files):
      return True
  return False


def uncovered_folders(root: str) -> List[str]:
  """The top-level folders holding Python files that neither
  COVERED_FOLDERS nor NOT_PROJECT_CODE names."""
  return [name for name in sorted(os.listdir(root))
          if os.path.isdir(os.path.join(root, name))
          and not name.startswith(".") and name != "__pycache__"
          and name not in COVERED_FOLDERS + NOT_PROJECT_CODE
          and _holds_python(os.path.join(root, name))]


def _function_imports(tree: ast.AST) -> List[ast.stmt]:
  """Every import statement inside a function body, nested ones included."""
  found = []

  def walk(node: ast.AST, in_function: bool) -> None:
    for child in ast.iter_child_nodes(node):
      if in_function and isinstance(child, _IMPORTS):
        found.append(child)
      walk(child, in_function or isinstance(child, _FUNCTIONS))

  walk(tree, False)
  return found


def _comments(source: str) -> Dict[int, str]:
  """Line number -> the comment on that line (tokenize's, so a `#` inside a
  string is not one)."""
  return {token.start[0]: token.string
          for token in tokenize.generate_tokens(io.StringIO(source).readline)
          if token.type == tokenize.COMMENT}


def unexplained_imports(source: str) -> List[int]:
  """The lines of the imports inside functions that give no reason."""
  lines = source.splitlines()
  comments = _comments(source)
  imports = _function_imports(ast.parse(source))
  import_at_end_line = {node.end_lineno: node for node in imports}

  def has_reason(line: int) -> bool:
    return bool(_REASON.search(comments.get(line, "")))

  def comment_only(line: int) -> bool:
    return lines[line - 1].strip().startswith("#")

  unexplained = []
  for node in imports:
    if has_reason(node.lineno):
      continue
    # Up through the imports just above (one run), then the comment block.
    line = node.lineno - 1
    while line in import_at_end_line:
      line = import_at_end_line[line].lineno - 1
    explained = False
    while line >= 1 and comment_only(line):
      explained = explained or has_reason(line)
      line -= 1
    if not explained:
      unexplained.append(node.lineno)
  return unexplained


def test_every_import_inside_a_function_says_why():
  problems, checked, covered = [], 0, []
  for relpath in covered_files(ROOT):
    covered.append(relpath)
    with open(os.path.join(ROOT, relpath), encoding="utf-8") as f:
      source = f.read()
    checked += len(_function_imports(ast.parse(source)))
    lines = source.splitlines()
    problems += [f"{relpath}:{line}: {lines[line - 1].strip()}"
                 for line in unexplained_imports(source)]
  assert checked, "the walk found no import inside a function"
  assert "local_runner.py" in covered, "the top level's files are not walked"
  assert not problems, (
      "imports inside functions without a reason: move them to the top of "
      "the module, or say why on the line or the comment line above, "
      f"starting with one of {REASONS}:\n" + "\n".join(problems))


def test_every_project_folder_is_covered():
  assert uncovered_folders(ROOT) == [], (
      "add the folder to COVERED_FOLDERS (project code) or NOT_PROJECT_CODE")


def test_a_new_folder_and_the_top_level_files_are_seen(tmp_path):
  (tmp_path / "runner.py").write_text("")
  (tmp_path / "tests").mkdir()
  (tmp_path / "tests" / "test_x.py").write_text("")
  (tmp_path / "newpkg" / "inner").mkdir(parents=True)
  (tmp_path / "newpkg" / "inner" / "code.py").write_text("")
  (tmp_path / "notes").mkdir()  # No Python: not code.
  (tmp_path / "notes" / "a.txt").write_text("")
  assert uncovered_folders(str(tmp_path)) == ["newpkg"]
  # The top level's own files, and not the folders it does not list.
  assert list(covered_files(str(tmp_path))) == ["runner.py"]


def test_an_import_without_a_reason_is_reported():
  source = '''
import os


def main():
  import json  # pylint: disable=g-import-not-at-top
  # The reader below.
  import csv
  # slow import: TensorFlow (4 s); --help must not load it
  import tensorflow as tf
  import keras

  import numpy as np
  if os.environ:
    import yaml  # optional import: only the spec's YAML form needs it
  return json, csv, tf, keras, np, yaml
'''
  lines = source.splitlines()
  reported = [lines[line - 1].strip()
              for line in unexplained_imports(source)]
  # A pylint pragma and a comment with no tag are no reason; the blank line
  # ends the run that the comment above `tensorflow` covers.
  assert reported == [
      "import json  # pylint: disable=g-import-not-at-top",
      "import csv",
      "import numpy as np",
  ]


def test_imports_at_module_level_are_not_checked():
  source = '''
import os
try:
  import yaml
except ImportError:
  yaml = None


class Holder:
  import json
'''
  assert unexplained_imports(source) == []
