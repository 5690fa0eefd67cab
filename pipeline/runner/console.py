"""What the terminal shows: the project's lines, not the libraries' noise.

A run prints its progress lines (each component, each epoch), warnings and
errors; everything else goes to the run's log file. Log records the
libraries write on every run, whatever the input, are listed below by their
message (`_KNOWN_LOG_NOISE`), with where each comes from; they still reach
the log file. The libraries' noise made outside logging (import-time
prints, Python warnings, TensorFlow's shutdown error) is kept off the
terminal where it is made, by pipeline/runner/known_noise.py, which
`runtime.configure` sets up; TensorFlow's C++ start-up lines (CPU feature
guard, TF-TRT) by `runtime.configure` itself. A verbose run (`--verbose`,
or FLOWERS_VERBOSE=1) skips all of this and shows every line.

Exit codes and the `error:` line are here too, so that every entry point
ends the same way: the error is the last line printed, on its own.
"""

import argparse
import logging
import os
import re
import sys
import traceback
from typing import Callable, Optional

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


# Log records the libraries write on every run, by the start of their
# message (re.match). They stay in the log file.
_KNOWN_LOG_NOISE = tuple(re.compile(pattern) for pattern in (
    # TFX's cache lookup, on each query.
    re.escape("ArtifactQuery.property_predicate is not supported."),
    # TFX Transform, at every run: our preprocessing_fn has no analyzer
    # (modules/preprocessing.py), so TFX transforms in place.
    re.escape("Using the in-place Transform since disable_statistics=True"),
    # TFX's launcher, when BaselineModel hands on the served model's
    # existing artifact (its URI, not a new folder: pipeline/components/
    # baseline/) as its one output (tfx/orchestration/portable/
    # merge_utils.py).
    re.escape("When there is one artifact to publish, the URI of it should "
              "be identical to the URI of system generated artifact."),
    # Keras loading the Transform graph's SavedModel (TFT's own format).
    re.escape("SavedModel saved prior to TF 2.5 detected when loading Keras "
              "model."),
    # TFMA's metrics writer reads its own output with a deprecated API.
    r"From \S+tensorflow_model_analysis\S+: tf_record_iterator \(from "
    r"tensorflow\.python\.lib\.io\.tf_record\) is deprecated",
    # Beam relays its DirectRunner workers' start-up warnings as
    # "Worker: ... message: ..."; in-process (pipeline/runner/beam.py) the first
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
