"""Shared fixtures: tiny generated TFRecords and one real pipeline run.

The end-to-end fixture runs `local_runner.py` as a user would (a subprocess,
real LocalDagRunner, Beam DirectRunner, SQLite MLMD) once per session; the
slow tests share its outputs.
"""

import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile

from absl import logging as absl_logging
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from settings import features  # pylint: disable=g-import-not-at-top
from tools import make_sample_data  # pylint: disable=g-import-not-at-top

# Small enough for a 2-core CPU, large enough to learn something in a few
# epochs: 4 head classes x 12 + 100 tail classes x 3 training images.
TINY = dict(image_size=features.DEFAULT_IMAGE_SIZE, num_classes=104,
            head_classes=4, head_count=12, tail_count=3, val_fraction=0.67, test_count=20, seed=11)
E2E_EPOCHS = 4


_LOGGERS_TOOLS_QUIET = ("", "absl", "tensorflow", "apache_beam")


def _tfx_sdists():
  """TFX's ephemeral sdist folders in the temp directory (see below)."""
  return set(glob.glob(os.path.join(tempfile.gettempdir(), "tmp*",
                                    "build", "tfx")))


@pytest.fixture(scope="session", autouse=True)
def _no_tfx_sdist_left_behind():
  """The suite leaves no TFX sdist in the temp directory.

  TFX's Beam executors build one (52 MiB, never removed) whenever their
  Beam arguments do not say where the workers' dependencies come from
  (pipeline/runner/beam.py, SAME_ENVIRONMENT_ARGS). Hundreds of them once
  filled this machine's disk and failed CI's install; this fails the
  session instead, naming them, and removes them.
  """
  before = _tfx_sdists()
  yield
  left = sorted(_tfx_sdists() - before)
  for folder in left:
    shutil.rmtree(os.path.dirname(os.path.dirname(folder)),
                  ignore_errors=True)
  assert not left, (
      f"{len(left)} TFX sdist folder(s) left in the temp directory: some "
      f"Beam arguments lack SAME_ENVIRONMENT_ARGS: {left[:3]}")


@pytest.fixture(autouse=True)
def _restore_log_levels():
  """A guard for the tests after this one: command-line mains called
  in-process set log levels (tools/ensemble.py quiets the libraries while
  it works, and gives the levels back; test_inference checks that), and
  absl's verbosity outlives a logger's level: TensorFlow's SavedModel
  export re-applies it to the absl logger at every save."""
  verbosity = absl_logging.get_verbosity()
  levels = {name: logging.getLogger(name).level
            for name in _LOGGERS_TOOLS_QUIET}
  yield
  absl_logging.set_verbosity(verbosity)
  for name, level in levels.items():
    logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("data")
  counts = make_sample_data.make_sample_data(str(root), **TINY)
  return str(root), counts


def run_local_pipeline(data_root: str, output_dir: str, *extra: str,
                       interpreter_flags=()) -> subprocess.CompletedProcess:
  """Runs local_runner.py in a subprocess; returns the finished process.
  `interpreter_flags`: Python's own (`-X importtime`)."""
  env = dict(os.environ, PYTHONPATH=REPO_ROOT)
  return subprocess.run(
      [sys.executable, *interpreter_flags,
       os.path.join(REPO_ROOT, "local_runner.py"),
       "--data-root", data_root, "--output-dir", output_dir, *extra],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800,
      check=False)


@pytest.fixture(scope="session")
def pipeline_run(tiny_data_root, tmp_path_factory):
  """One end-to-end run on the tiny data, gated at macro F1 >= 0; Python
  logs every module it imports (`-X importtime`, on stderr)."""
  data_root, counts = tiny_data_root
  output_dir = str(tmp_path_factory.mktemp("run"))
  process = run_local_pipeline(data_root, output_dir, "--epochs",
                               str(E2E_EPOCHS), "--min-macro-f1", "0.0",
                               interpreter_flags=("-X", "importtime"))
  if process.returncode != 0:
    raise AssertionError(
        f"local_runner.py failed ({process.returncode}):\n"
        f"{process.stdout[-5000:]}\n{process.stderr[-10000:]}")
  return dict(data_root=data_root, output_dir=output_dir, counts=counts,
              stdout=process.stdout, stderr=process.stderr)
