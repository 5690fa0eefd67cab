"""What the terminal shows: the project's lines, not the libraries' noise.

A run prints its progress lines (each component, each epoch), warnings and
errors; everything else goes to the run's log file. The libraries print
some harmless lines on every run, whatever the input; each is listed below
by its exact text, with where it comes from, and kept off the terminal where
it is made:

* import-time prints (TFMA 0.47's "Error importing: ... 'addons'",
  TensorFlow's C++ "Unable to register cuFFT factory" lines, keras_core's
  "Using TensorFlow backend") are captured around that one import, and
  anything else printed meanwhile is written through (`_QUIET_IMPORTS`);
* Python warnings, by message (`_KNOWN_WARNINGS`; also in Beam's worker
  processes, through PYTHONWARNINGS);
* log records, by message (`_KNOWN_LOG_NOISE`; they still reach the log
  file);
* TensorFlow's shutdown error `Exception ignored in: AtomicFunction.__del__`
  (`_is_known_unraisable`).

TensorFlow's C++ start-up lines (CPU feature guard, TF-TRT) are silenced by
`runtime.configure`, which also calls `silence_known_noise` here. Beam's
DirectRunner workers are separate processes writing to the same terminal:
`beam_worker_args` makes each import `pipeline.quiet_worker`, which does the
same there. A verbose run (`--verbose`, or FLOWERS_VERBOSE=1) skips all of
this and shows every line.

Exit codes and the `error:` line are here too, so that every entry point
ends the same way: the error is the last line printed, on its own.
"""

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile
import traceback
import warnings
from typing import Callable, List, Optional, Pattern, Sequence

from absl import logging as absl_logging

VERBOSE_ENV = "FLOWERS_VERBOSE"

# Exit codes of the runners (docs/console.md).
EXIT_OK = 0  # The run finished (the model may still be unblessed).
EXIT_ERROR = 1  # A usage, configuration or data error, or a failed run.
EXIT_VALIDATION_STOP = 2  # Data validation stopped the run before Transform.

# INFO lines the terminal shows: the progress of the run. Warnings and
# errors always show, unless listed in _KNOWN_LOG_NOISE.
PROGRESS = re.compile(
    r"^(Component \S+ is (running|finished)|epoch \d+:|\d+ training "
    r"examples|Distribution strategy|Precision policy|Class weights|"
    r"Phase \d|Exported the serving model|Multi-worker training|Input "
    r"sharded)")


@dataclasses.dataclass(frozen=True)
class _QuietImport:
  """A print a library makes when it is first imported.

  Attributes:
    module: the top-level module whose import prints it.
    stream: "stdout" or "stderr" (Python's), or "fd2" (C++ writes there).
    text: the exact text (a regex only where it names a path, a time or
      a line number).
    why: where it comes from and why it is harmless.
  """
  module: str
  stream: str
  text: Pattern[str]
  why: str


_QUIET_IMPORTS = (
    _QuietImport(
        "tensorflow", "fd2",
        re.compile(
            r"(\S+ \S+: E external/local_xla/xla/stream_executor/cuda/"
            r"cuda_(fft|dnn|blas)\.cc:\d+\] Unable to register "
            r"cu(FFT|DNN|BLAS) factory: Attempting to register factory for "
            r"plugin cu(FFT|DNN|BLAS) when one has already been "
            r"registered\n)"),
        "TensorFlow 2.16's CUDA build registers its cuFFT, cuDNN and cuBLAS "
        "plugins twice on import, and logs each as a C++ error, GPU or not"),
    _QuietImport(
        "tensorflow_model_analysis", "stderr",
        re.compile(re.escape(
            "Error importing: cannot import name 'addons' from partially "
            "initialized module 'tensorflow_model_analysis' (most likely due "
            "to a circular import) (") + r"[^)]*\)"),
        "TFMA 0.47's __init__ imports a subpackage the wheel lacks and "
        "writes the ImportError, without a newline; every API we use "
        "imports by submodule and works"),
    _QuietImport(
        "keras_core", "stdout", re.compile(r"Using TensorFlow backend\n"),
        "keras_core (imported by KerasCV's backend shim) prints it on "
        "import"),
)

# (message regex, category) of Python warnings; matched from the start.
_KNOWN_WARNINGS = (
    # google.api_core: a support notice about the interpreter, not the run.
    ("You are using a Python version", FutureWarning),
    # Keras 3 at the end of every finite validation pass.
    ("Your input ran out of data", UserWarning),
)

# Log records the libraries write on every run, by the start of their
# message (re.match). They stay in the log file.
_KNOWN_LOG_NOISE = tuple(re.compile(pattern) for pattern in (
    # TFX's resolver of the latest blessed model, on each query.
    re.escape("ArtifactQuery.property_predicate is not supported."),
    # TFX Transform: our preprocessing_fn counts classes (an analyzer).
    re.escape("Not using the in-place Transform because the following "
              "features require analyzing"),
    # Keras loading the Transform graph's SavedModel (TFT's own format).
    re.escape("SavedModel saved prior to TF 2.5 detected when loading Keras "
              "model."),
    # TFMA's metrics writer reads its own output with a deprecated API.
    r"From \S+tensorflow_model_analysis\S+: tf_record_iterator \(from "
    r"tensorflow\.python\.lib\.io\.tf_record\) is deprecated",
    # Beam relays its DirectRunner workers' start-up warnings as
    # "Worker: ... message: ..."; in-process (pipeline/beam.py) the first
    # comes as it is.
    r"(Worker: .*message: \")?Couldn\\*'t find python-snappy so the "
    r"implementation of _TFRecordUtil\._masked_crc32c is not as fast",
    r"Worker: .*message: \"Discarding unparseable args: "
    r"\[\\*'--direct_runner_use_stacked_bundle\\*', "
    r"\\*'--pipeline_type_check\\*'\]\"",
    r"Worker: .*message: \"No semi_persistent_directory found: Functions "
    r"defined in __main__ \(interactive session\) may fail\.\"",
))


def is_verbose() -> bool:
  """Whether this process (or the runner that started it) is verbose."""
  return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


# ---------------------------------------------------------------------------
# Noise made outside logging: import prints, warnings, shutdown errors.

@contextlib.contextmanager
def _drop_text(stream: str, text: Pattern[str]):
  """Captures `stream`; writes back all of it but `text`.

  "stdout" and "stderr" are Python's `sys.stdout` / `sys.stderr`; "fd2" is
  the process's file descriptor 2, where C++ code writes.
  """
  if stream == "fd2":
    sys.stderr.flush()
    saved = os.dup(2)
    captured = tempfile.TemporaryFile()
    os.dup2(captured.fileno(), 2)
  else:
    real = getattr(sys, stream)
    captured = io.StringIO()
    setattr(sys, stream, captured)
  try:
    yield
  finally:
    if stream == "fd2":
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      rest = text.sub("", captured.read().decode("utf-8", "replace"))
      captured.close()
      if rest:
        os.write(2, rest.encode("utf-8"))
    else:
      setattr(sys, stream, real)
      rest = text.sub("", captured.getvalue())
      if rest:
        real.write(rest)
        real.flush()


class _QuietImportFinder:
  """Wraps the first import of each module of `_QUIET_IMPORTS`.

  A meta path finder, so that the capture happens wherever the import
  does (a runner, TFX, a Beam worker unpickling TFMA's code) and costs
  nothing in processes that never import the module.
  """

  def __init__(self, quiet_imports: Sequence[_QuietImport]):
    self._pending = {quiet.module: quiet for quiet in quiet_imports}

  def find_spec(self, fullname, path, target=None):  # pylint: disable=unused-argument
    quiet = self._pending.pop(fullname, None)
    if quiet is None:
      return None
    if not self._pending:
      sys.meta_path.remove(self)
    # The other finders locate it (we are out of the way for this name).
    spec = importlib.util.find_spec(fullname)
    if spec is None or spec.loader is None:
      return spec
    exec_module = spec.loader.exec_module

    def quiet_exec_module(module):
      with _drop_text(quiet.stream, quiet.text):
        exec_module(module)

    # The loader object is this module's own (made by find_spec above).
    spec.loader.exec_module = quiet_exec_module
    return spec


def _is_known_unraisable(unraisable) -> bool:
  # TF's AtomicFunction.__del__ runs during interpreter shutdown, after
  # its module's globals were cleared (a Beam worker exiting after
  # Transform): "TypeError: 'NoneType' object is not subscriptable".
  return (unraisable.exc_type is TypeError and
          getattr(unraisable.object, "__qualname__", "") ==
          "AtomicFunction.__del__" and
          str(unraisable.exc_value) == "'NoneType' object is not subscriptable")


def _make_unraisable_hook(previous):
  # A closure: at interpreter shutdown this module's globals may be gone.
  is_known = _is_known_unraisable

  def hook(unraisable):
    if not is_known(unraisable):
      previous(unraisable)
  return hook


def _warnings_env_value() -> str:
  """PYTHONWARNINGS entries (message, category) of `_KNOWN_WARNINGS`."""
  # Its message field is a literal prefix, so none of ours has a ':'.
  return ",".join(f"ignore:{message}:{category.__name__}"
                  for message, category in _KNOWN_WARNINGS)


def silence_known_noise() -> None:
  """Keeps the listed noise off this process's terminal; idempotent.

  Does nothing in a verbose run.
  """
  if is_verbose():
    return
  for message, category in _KNOWN_WARNINGS:
    warnings.filterwarnings("ignore", message=re.escape(message),
                            category=category)
  # Beam's worker processes inherit it (their warnings reach the terminal).
  inherited = os.environ.get("PYTHONWARNINGS")
  ours = _warnings_env_value()
  if not inherited or ours not in inherited:
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, (inherited, ours)))
  if not any(isinstance(finder, _QuietImportFinder)
             for finder in sys.meta_path):
    pending = [quiet for quiet in _QUIET_IMPORTS
               if quiet.module not in sys.modules]
    if pending:
      sys.meta_path.insert(0, _QuietImportFinder(pending))
  if not getattr(sys.unraisablehook, "_flowers_quiet", False):
    sys.unraisablehook = _make_unraisable_hook(sys.unraisablehook)
    sys.unraisablehook._flowers_quiet = True  # pylint: disable=protected-access


def beam_worker_args() -> List[str]:
  """Beam arguments that silence the same noise in DirectRunner workers.

  The `local` profile runs each Beam stage in worker processes that write
  to the runner's terminal; Beam imports each `--beam_plugins` module when
  a worker starts. The arguments are the same in a verbose run (the plugin
  reads FLOWERS_VERBOSE), so --verbose does not change the components'
  cache keys.
  """
  return ["--beam_plugins=pipeline.quiet_worker"]


# ---------------------------------------------------------------------------
# Logging: everything to the log file, progress and warnings to the terminal.

# The longest line a record or an error puts on the terminal (a long
# warning, such as a class list, fits; a dump on one line does not); the
# log file keeps every record whole.
MAX_CONSOLE_LINE = 2000
_COMPONENT_STATE = re.compile(r"^Component (\S+) is (running|finished)")
# The component running now, from the progress lines: an error names it.
_running_component: Optional[str] = None


def one_line(text: str, limit: int = MAX_CONSOLE_LINE) -> str:
  """The first non-empty line of `text`, cut to `limit` characters: what a
  terminal gets of a message that may hold an array, a tensor or a proto."""
  first = next((line.strip() for line in str(text).splitlines()
                if line.strip()), "")
  return first if len(first) <= limit else first[:limit - 3] + "..."


class _OneLineFormatter(logging.Formatter):
  """One line per record on the terminal; no traceback (the file has it)."""

  def format(self, record: logging.LogRecord) -> str:
    stamp = self.formatTime(record, "%H:%M:%S")
    return f"{stamp} {one_line(record.getMessage())}"


class ConsoleFilter(logging.Filter):
  """Lets through progress lines, and warnings and errors not known noise."""

  def filter(self, record: logging.LogRecord) -> bool:
    global _running_component
    if not getattr(record, "console", True):
      return False  # Logged for the file only (e.g. a traceback).
    message = record.getMessage()
    state = _COMPONENT_STATE.match(message)
    if state:
      _running_component = (state.group(1) if state.group(2) == "running"
                            else None)
    if record.levelno >= logging.WARNING:
      return not any(noise.match(message) for noise in _KNOWN_LOG_NOISE)
    return bool(PROGRESS.match(message))


_log_file: Optional[str] = None


def configure_logging(log_file: str, verbose: bool = False) -> None:
  """Everything at INFO to `log_file`; progress and warnings to stdout.

  Args:
    log_file: the run's log file (replaced).
    verbose: show every record on the terminal too, known noise included.
  """
  global _log_file
  root = logging.getLogger()
  for handler in list(root.handlers):
    root.removeHandler(handler)
  root.setLevel(logging.INFO)
  to_file = logging.FileHandler(log_file, mode="w")
  to_file.setFormatter(logging.Formatter(
      "%(asctime)s %(levelname)s %(name)s: %(message)s"))
  to_console = logging.StreamHandler(sys.stdout)
  if verbose:
    to_console.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                              datefmt="%H:%M:%S"))
  else:
    to_console.setFormatter(_OneLineFormatter())
    to_console.addFilter(ConsoleFilter())
  root.addHandler(to_file)
  root.addHandler(to_console)
  # Python warnings become log records: in the file, and on the terminal
  # unless known noise.
  logging.captureWarnings(True)
  # TensorFlow's logger prints through its own handler; route it through
  # ours.
  tf_logger = logging.getLogger("tensorflow")
  tf_logger.handlers = []
  tf_logger.propagate = True
  # TFX, TFMA and our modules log through absl. Its verbosity flag
  # defaults to WARNING; TF's SavedModel export "restores" that default
  # onto the absl logger (autotrackable.py), after which the progress
  # lines from the Trainer on (Evaluator, Pusher) were lost. INFO, as the
  # TFX templates set it.
  absl_logging.set_verbosity(absl_logging.INFO)
  _log_file = log_file


# ---------------------------------------------------------------------------
# Errors and exit codes.

def print_error(message: str) -> None:
  """Prints `error: <message>` as the last line, after what came before.

  A message of several lines prints its other lines first, as details,
  so that the `error:` line is still last.
  """
  sys.stdout.flush()  # What the run printed comes first.
  first, *details = str(message).strip().splitlines() or [""]
  if first.startswith("error: "):
    first = first[len("error: "):]
  for line in details:
    print(line, file=sys.stderr)
  if details and first.endswith(":"):
    first = first[:-1] + " (above)"
  if is_verbose():
    # Library prints pass through unfiltered, some without a final newline
    # (TFMA's import message): start the error on a line of its own.
    sys.stderr.write("\n")
  print(f"error: {first}", file=sys.stderr, flush=True)


def _root_cause(error: BaseException) -> BaseException:
  """The innermost exception of `error`'s chain that says something: the
  libraries wrap the cause (TFMA's "add_input failed on ... with inputs:",
  Beam's "[while running ...]") in errors that name where, not what."""
  seen = {id(error)}
  cause = error
  while True:
    inner = cause.__cause__ or cause.__context__
    if inner is None or id(inner) in seen or not str(inner).strip():
      return cause
    seen.add(id(inner))
    cause = inner


def describe_failure(error: BaseException) -> str:
  """One line for a failed run: the component that was running, then the
  cause's type and first line (no array, tensor or proto dump)."""
  cause = _root_cause(error)
  text = one_line(f"{type(cause).__name__}: {cause}")
  return f"{_running_component} failed: {text}" if _running_component else text


def run_main(main: Callable[[], int]) -> int:
  """Runs an entry point's `main`; returns its exit code.

  An unexpected exception becomes one `error:` line naming it, with its
  traceback in the run's log file (or above the line before there is
  one); `SystemExit` with a message prints it as an `error:` line.
  """
  try:
    return main()
  except SystemExit as exit_:
    if isinstance(exit_.code, int) or exit_.code is None:
      raise
    print_error(exit_.code)
    return EXIT_ERROR
  except KeyboardInterrupt:
    print_error("interrupted")
    return EXIT_ERROR
  except Exception as error:  # pylint: disable=broad-except
    summary = describe_failure(error)
    if _log_file and not is_verbose():
      logging.getLogger(__name__).error("The run failed", exc_info=True,
                                        extra={"console": False})
      summary += f" (traceback in {_log_file})"
    else:
      sys.stdout.flush()
      traceback.print_exc()
    print_error(summary)
    return EXIT_ERROR


class ArgumentParser(argparse.ArgumentParser):
  """argparse, ending a usage error with an `error:` line and EXIT_ERROR."""

  def error(self, message):
    self.print_usage(sys.stderr)
    print(f"error: {message} (see --help)", file=sys.stderr)
    sys.exit(EXIT_ERROR)
