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

COVERED_FOLDERS are the folders held to this so far; the rest of the tree
joins by adding its folders there.
"""

import ast
import io
import os
import re
import tokenize
from typing import Dict, Iterator, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COVERED_FOLDERS = ("bench", "tools", "modules")
REASONS = ("slow import", "optional import", "after setup", "import cycle")
_REASON = re.compile(r"#\s*(?:%s):" % "|".join(map(re.escape, REASONS)))
_IMPORTS = (ast.Import, ast.ImportFrom)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def covered_files(root: str) -> Iterator[str]:
  """The Python files under COVERED_FOLDERS, as paths relative to `root`."""
  for covered in COVERED_FOLDERS:
    for folder, subfolders, files in os.walk(os.path.join(root, covered)):
      subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
      for name in sorted(files):
        if name.endswith(".py"):
          yield os.path.relpath(os.path.join(folder, name), root)


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
  problems, checked = [], 0
  for relpath in covered_files(ROOT):
    with open(os.path.join(ROOT, relpath), encoding="utf-8") as f:
      source = f.read()
    checked += len(_function_imports(ast.parse(source)))
    lines = source.splitlines()
    problems += [f"{relpath}:{line}: {lines[line - 1].strip()}"
                 for line in unexplained_imports(source)]
  assert checked, "the walk found no import inside a function"
  assert not problems, (
      "imports inside functions without a reason: move them to the top of "
      "the module, or say why on the line or the comment line above, "
      f"starting with one of {REASONS}:\n" + "\n".join(problems))


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
