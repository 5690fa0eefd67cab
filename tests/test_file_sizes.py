"""No source file outside tests/ is over MAX_LINES lines (issue 26).

A file that long does several jobs; split it by job, each new file naming
its one job in its opening docstring (docs/layout.md lists them).
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 400
# Not project source: tests, the virtual environment, run outputs, data.
SKIPPED_FOLDERS = ("tests", ".venv", "output", "data", ".git")


def python_files(root: str):
  """Every .py file under `root` outside SKIPPED_FOLDERS, relative paths."""
  for folder, subfolders, files in os.walk(root):
    if folder == root:
      subfolders[:] = [name for name in subfolders
                       if name not in SKIPPED_FOLDERS]
    # Caches and hidden folders (a nested .venv, .pytest_cache) hold no
    # project source.
    subfolders[:] = sorted(name for name in subfolders
                           if not name.startswith(".") and
                           name != "__pycache__")
    for name in sorted(files):
      if name.endswith(".py"):
        yield os.path.relpath(os.path.join(folder, name), root)


def line_count(path: str) -> int:
  with open(path, encoding="utf-8") as f:
    return sum(1 for _ in f)


def oversized(root: str, limit: int = MAX_LINES):
  """(path, lines) of each .py file over `limit` lines, longest first."""
  counts = [(path, line_count(os.path.join(root, path)))
            for path in python_files(root)]
  return sorted(((path, lines) for path, lines in counts if lines > limit),
                key=lambda item: -item[1])


def test_the_walk_finds_the_project_and_skips_the_rest(tmp_path):
  (tmp_path / "pipeline").mkdir()
  (tmp_path / "pipeline" / "long.py").write_text("x = 1\n" * 401)
  (tmp_path / "pipeline" / "short.py").write_text("x = 1\n" * 400)
  for skipped in SKIPPED_FOLDERS + ("pipeline/__pycache__",):
    (tmp_path / skipped).mkdir(parents=True, exist_ok=True)
    (tmp_path / skipped / "long.py").write_text("x = 1\n" * 500)
  (tmp_path / "top.py").write_text("x = 1\n" * 450)
  assert oversized(str(tmp_path)) == [("top.py", 450),
                                      ("pipeline/long.py", 401)]
  assert "local_runner.py" in set(python_files(ROOT))


def test_no_source_file_is_over_the_limit():
  offenders = oversized(ROOT)
  assert not offenders, (
      f"over {MAX_LINES} lines (split each by job): " +
      ", ".join(f"{path} ({lines})" for path, lines in offenders))
