"""What a user reads: the project's own lines, errors last, clean --help.

The entry points run as a user runs them (subprocesses); the filters of
`pipeline/runner/console.py` and `pipeline/runner/known_noise.py` are checked on the exact
texts the libraries write, and on texts that only look like them, which
must still show.
"""

import glob
import logging
import os
import re
import subprocess
import sys
import types

import pytest

from pipeline.runner import console
from pipeline.runner import known_noise

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, env_extra=None, timeout=600):
  env = dict(os.environ, PYTHONPATH=REPO_ROOT)
  env.pop(console.VERBOSE_ENV, None)
  env.update(env_extra or {})
  return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout,
                        check=False)


# ---------------------------------------------------------------------------
# The whole run: only the project's lines.

_TIME = r"\d\d:\d\d:\d\d "
# Every line a default run may print on stdout, by its start. Progress
# lines are the console's own allow-list; warnings are the project's.
_PROJECT_STDOUT = [re.compile(pattern) for pattern in (
    r"data: ",  # the data check, before the run
    r"beam: ",  # how Beam runs, and why (pipeline/runner/beam.py)
    r"Running the pipeline; progress below, full log in ",
    _TIME + console.PROGRESS.pattern.lstrip("^"),
    _TIME + r"Data validation: ",  # pipeline/components/image_validator/executor.py
    _TIME + r"Not pushing ",  # pipeline/components/pusher/executor.py
    r"=== Run summary ===$",
    r"  \S",  # a summary row
    r" {21}\S",  # a summary row's continuation
    r"$",
)]


@pytest.mark.slow
def test_a_run_prints_only_the_project_lines(pipeline_run):
  foreign = [line for line in pipeline_run["stdout"].splitlines()
             if not any(p.match(line) for p in _PROJECT_STDOUT)]
  assert not foreign, "\n".join(foreign)
  # The session's run logs every import (`python -X importtime`, for
  # test_pipeline_e2e.py); nothing else may reach stderr.
  stderr = [line for line in pipeline_run["stderr"].splitlines()
            if not line.startswith("import time:")]
  assert stderr == []
  # Progress shows to the end (after the Trainer's SavedModel export too).
  before_summary = pipeline_run["stdout"].split("=== Run summary ===")[0]
  assert "Component Evaluator is finished." in before_summary
  assert re.search(r"Component \S+ is finished\.\n\n$", before_summary)


@pytest.mark.slow
def test_the_noise_still_reaches_the_log_file(pipeline_run):
  with open(os.path.join(pipeline_run["output_dir"], "pipeline.log"),
            encoding="utf-8") as f:
    log = f.read()
  assert "ArtifactQuery.property_predicate is not supported." in log
  assert "Component Trainer is finished." in log


# ---------------------------------------------------------------------------
# Errors: the last line, on its own, with the documented exit code.

def test_a_bad_data_root_prints_only_the_error_line(tmp_path):
  missing = tmp_path / "no-such-data"
  process = _run(["local_runner.py", "--data-root", str(missing),
                  "--output-dir", str(tmp_path / "out")])
  assert process.returncode == console.EXIT_ERROR
  assert process.stdout == ""
  lines = process.stderr.splitlines(keepends=True)
  assert len(lines) == 1, process.stderr
  # The image size is looked up in the data root first (pipeline/data_plan.py).
  assert lines[0] == (f"error: data root {missing} does not exist or is not "
                      "a folder (--data-root)\n")


def test_verbose_shows_the_library_lines_and_the_error_last(tmp_path):
  process = _run(["local_runner.py", "--verbose", "--data-root",
                  str(tmp_path / "none"), "--output-dir",
                  str(tmp_path / "out")])
  assert process.returncode == console.EXIT_ERROR
  assert "Error importing: cannot import name 'addons'" in process.stderr
  assert process.stderr.splitlines()[-1].startswith("error: ")


def test_a_usage_error_ends_with_an_error_line():
  process = _run(["local_runner.py", "--no-such-flag"])
  assert process.returncode == console.EXIT_ERROR
  assert process.stderr.splitlines()[-1] == (
      "error: unrecognized arguments: --no-such-flag (see --help)")


def test_print_error_puts_the_details_first_and_the_error_last(capsys):
  print("progress", end="")  # Unflushed stdout comes first.
  console.print_error("data validation failed, the run stops:\n  bad one\n"
                      "(details in /x)")
  captured = capsys.readouterr()
  assert captured.out == "progress"
  assert captured.err == ("  bad one\n(details in /x)\n"
                          "error: data validation failed, the run stops "
                          "(above)\n")


def test_run_main_turns_an_exception_into_one_error_line(capsys):
  def main():
    raise RuntimeError("component Trainer failed\nworker traceback ...")
  assert console.run_main(main) == console.EXIT_ERROR
  last = capsys.readouterr().err.splitlines()[-1]
  assert last == "error: RuntimeError: component Trainer failed"


def test_run_main_keeps_exit_codes(capsys):
  assert console.run_main(lambda: console.EXIT_VALIDATION_STOP) == 2
  with pytest.raises(SystemExit) as exit_:
    console.run_main(lambda: sys.exit(0))
  assert exit_.value.code == 0
  assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------
# --help of every entry point.

def _entry_points():
  files = ["local_runner.py", "kubeflow_runner.py"]
  for path in sorted(glob.glob(os.path.join(REPO_ROOT, "tools", "*.py")) +
                     glob.glob(os.path.join(REPO_ROOT, "bench", "*.py"))):
    with open(path, encoding="utf-8") as f:
      if 'if __name__ == "__main__":' in f.read():
        files.append(os.path.relpath(path, REPO_ROOT))
  return files


def _help_entries(text):
  """Each option's (or positional's) help, joined; group texts left out."""
  entries, current, positional = [], None, False
  for line in text.splitlines():
    indent = len(line) - len(line.lstrip(" "))
    if not line.strip() or indent == 0:
      positional = line.startswith("positional arguments")
      current = None
      continue
    if indent == 2:
      is_entry = line.lstrip().startswith("-") or positional
      current = [line.strip()] if is_entry else None
      if is_entry:
        entries.append(current)
    elif current is not None:
      current.append(line.strip())
  return [" ".join(entry) for entry in entries]


_EMPTY_DEFAULT = re.compile(r"\(default: (None|False|\[\]|\(\)|)\)")


@pytest.mark.parametrize("entry_point", _entry_points())
def test_help_reads_cleanly(entry_point):
  process = _run([entry_point, "--help"])
  assert process.returncode == 0, process.stderr
  assert process.stderr == ""
  entries = _help_entries(process.stdout)
  assert entries, process.stdout
  for entry in entries:
    assert not _EMPTY_DEFAULT.search(entry), entry
    assert len(re.findall(r"\bdefault\b", entry, re.IGNORECASE)) <= 1, entry


def test_help_entries_are_parsed_per_option():
  text = ("usage: x\n\npositional arguments:\n  images      files\n\n"
          "options:\n  -h, --help  show\n  --model M   the model\n"
          "              folder (default: a)\n\ngroup:\n  a group text "
          "(default: no)\n\n  --k K       k (default: 3)\n")
  assert _help_entries(text) == [
      "images      files", "-h, --help  show",
      "--model M   the model folder (default: a)", "--k K       k (default: 3)"]


# ---------------------------------------------------------------------------
# The known-noise lists: exact texts go, look-alikes stay.

def _record(message, level=logging.WARNING, **extra):
  record = logging.LogRecord("absl", level, __file__, 1, message, (), None)
  record.__dict__.update(extra)
  return record


@pytest.mark.parametrize("message", [
    "ArtifactQuery.property_predicate is not supported.",
    "When there is one artifact to publish, the URI of it should be "
    "identical to the URI of system generated artifact.",
    "Using the in-place Transform since disable_statistics=True, it does "
    "not materialize transformed data, and the configured preprocessing_fn "
    "appears to not require analyzing the data.",
    "From /venv/lib/python3.11/site-packages/tensorflow_model_analysis/"
    "writers/metrics_plots_and_validations_writer.py:112: tf_record_iterator "
    "(from tensorflow.python.lib.io.tf_record) is deprecated and will be "
    "removed in a future version.",
    "Worker: severity: WARN timestamp {   seconds: 1795934109   nanos: 9 } "
    "message: \"Couldn\\'t find python-snappy so the implementation of "
    "_TFRecordUtil._masked_crc32c is not as fast as it could be.\" "
    "log_location: \"x\"",
    "Worker: severity: WARN timestamp {   seconds: 1 } message: \"Discarding "
    "unparseable args: [\\'--direct_runner_use_stacked_bundle\\', "
    "\\'--pipeline_type_check\\']\" log_location: \"x\"",
])
def test_known_log_noise_stays_off_the_terminal(message):
  assert not console.ConsoleFilter().filter(_record(message))


@pytest.mark.parametrize("message,level", [
    ("Data validation: split 'train': class imbalance", logging.WARNING),
    # Another deprecation, from our own code: shows.
    ("From /repo/modules/trainer.py:10: foo (from tensorflow) is "
     "deprecated", logging.WARNING),
    ("Worker: severity: ERROR message: \"Couldn't decode image\"",
     logging.ERROR),
    ("Component Trainer is running.", logging.INFO),
    ("epoch 3: loss 1.0", logging.INFO),
])
def test_progress_warnings_and_errors_show(message, level):
  assert console.ConsoleFilter().filter(_record(message, level))


def test_other_info_and_file_only_records_stay_off_the_terminal():
  assert not console.ConsoleFilter().filter(
      _record("Running driver for Trainer", logging.INFO))
  assert not console.ConsoleFilter().filter(
      _record("The run failed", logging.ERROR, console=False))


def test_an_import_print_is_dropped_and_the_rest_written_through(capsys):
  quiet = known_noise._QUIET_IMPORTS[1]  # pylint: disable=protected-access
  assert quiet.module == "tensorflow_model_analysis"
  with known_noise._drop_text("stderr", quiet.text):  # pylint: disable=protected-access
    sys.stderr.write(
        "Error importing: cannot import name 'addons' from partially "
        "initialized module 'tensorflow_model_analysis' (most likely due to "
        "a circular import) (/v/site-packages/tensorflow_model_analysis/"
        "__init__.py)")
    sys.stderr.write("something else\n")
  assert capsys.readouterr().err == "something else\n"


def test_cpp_start_up_errors_are_dropped_at_the_file_descriptor(capfd):
  quiet = known_noise._QUIET_IMPORTS[0]  # pylint: disable=protected-access
  assert quiet.module == "tensorflow" and quiet.stream == "fd2"
  line = ("2026-11-29 06:43:51.232061: E external/local_xla/xla/"
          "stream_executor/cuda/cuda_fft.cc:479] Unable to register cuFFT "
          "factory: Attempting to register factory for plugin cuFFT when one "
          "has already been registered\n")
  with known_noise._drop_text("fd2", quiet.text):  # pylint: disable=protected-access
    os.write(2, line.encode())
    os.write(2, line.replace("cuFFT", "cuDNN").replace("fft", "dnn")
             .encode())
    os.write(2, b"E real C++ error\n")
  assert capfd.readouterr().err == "E real C++ error\n"


def test_only_tensorflows_shutdown_error_is_dropped():
  seen = []
  hook = known_noise._make_unraisable_hook(seen.append)  # pylint: disable=protected-access

  def atomic_del():
    pass
  atomic_del.__qualname__ = "AtomicFunction.__del__"
  known = types.SimpleNamespace(
      exc_type=TypeError, object=atomic_del,
      exc_value=TypeError("'NoneType' object is not subscriptable"))
  other = types.SimpleNamespace(
      exc_type=TypeError, object=atomic_del,
      exc_value=TypeError("unsupported operand"))
  hook(known)
  hook(other)
  assert seen == [other]


def test_known_python_warnings_reach_beam_workers_through_the_environment():
  value = known_noise._warnings_env_value()  # pylint: disable=protected-access
  assert "ignore:You are using a Python version:FutureWarning" in value
  assert value.count(":") == 2 * len(value.split(","))


# ---------------------------------------------------------------------------
# A failure prints one line: no array, tensor or proto dump, the component
# named, the cause rather than the wrapper.

def _running(component):
  """Passes the runner's progress line through the console filter, as a
  run does before a component fails."""
  record = logging.LogRecord("absl", logging.INFO, __file__, 0,
                             f"Component {component} is running.", (), None)
  assert console.ConsoleFilter().filter(record)


@pytest.fixture
def run_log(tmp_path, monkeypatch):
  """As in a run: a log file takes the traceback."""
  monkeypatch.setattr(console, "_log_file", str(tmp_path / "pipeline.log"))
  monkeypatch.setattr(console, "_running_component", None)


def _failing_line(main, capsys):
  assert console.run_main(main) == console.EXIT_ERROR
  err = capsys.readouterr().err
  return err.splitlines()


def test_a_wrapped_evaluator_error_names_the_component_and_its_cause(
    capsys, run_log, tmp_path):
  """TFMA's evaluator wraps a metric's error in "add_input failed on ...
  with inputs:" and the whole input batch (its source,
  metrics_plots_and_validations_evaluator.py); the line is the metric's."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  _running("Evaluator")

  def main():
    try:
      raise ValueError("a model predicts 104 classes, this run's class list "
                       "has 10")
    except ValueError as error:
      raise RuntimeError(
          'add_input failed on "<modules.metrics._ConfusionCombiner>" with '
          f"inputs:\n{np.random.rand(40, 104)}") from error
  lines = _failing_line(main, capsys)
  assert lines == ["error: Evaluator failed: ValueError: a model predicts "
                   "104 classes, this run's class list has 10 (traceback in "
                   f"{tmp_path / 'pipeline.log'})"]


def test_a_beam_stage_error_is_one_line(capsys, run_log):
  """A real Beam pipeline whose step fails with a multi-line message."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  _running("Transform")

  def fail(_):
    raise ValueError(f"bad element:\n{np.arange(2000).reshape(100, 20)}")

  def main():
    with beam.Pipeline() as pipeline:
      _ = pipeline | beam.Create([1]) | beam.Map(fail)
  lines = _failing_line(main, capsys)
  assert len(lines) == 1, lines
  assert lines[0].startswith("error: Transform failed: ValueError: bad "
                             "element:")
  assert "[[" not in lines[0] and len(lines[0]) < 300


def test_a_tensorflow_op_error_is_one_line(capsys, run_log):
  """A real TF op error: its message spans lines of graph locations."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _running("Trainer")

  @tf.function
  def decode(data):
    return tf.io.decode_image(data)

  lines = _failing_line(lambda: decode(tf.constant(b"not an image")), capsys)
  assert len(lines) == 1, lines
  assert lines[0].startswith("error: Trainer failed: InvalidArgumentError")


def test_a_multi_line_log_record_is_one_terminal_line():
  """A library's error record carrying a proto or an array: one line on
  the terminal (the file handler keeps it whole)."""
  record = logging.LogRecord(
      "apache_beam", logging.ERROR, __file__, 0,
      "Error processing element:\nfeatures {\n  feature {\n    key: "
      "\"image\"\n  }\n}", (), None)
  assert console.ConsoleFilter().filter(record)
  text = console._OneLineFormatter().format(record)  # pylint: disable=protected-access
  assert "\n" not in text and text.endswith("Error processing element:")


def test_a_finished_component_is_not_named(run_log):
  record = logging.LogRecord("absl", logging.INFO, __file__, 0,
                             "Component Pusher is finished.", (), None)
  console.ConsoleFilter().filter(record)
  assert console.describe_failure(KeyError("span")) == "KeyError: 'span'"
