"""The libraries' known noise made outside logging, kept off the terminal
where it is made.

Each is listed by its exact text, with where it comes from
(docs/console.md has the table):

* import-time prints (TFMA 0.47's "Error importing: ... 'addons'",
  TensorFlow's C++ "Unable to register cuFFT factory" lines, keras_core's
  "Using TensorFlow backend") are captured around that one import, and
  anything else printed meanwhile is written through (`_QUIET_IMPORTS`);
* Python warnings, by message (`_KNOWN_WARNINGS`; also in Beam's worker
  processes, through PYTHONWARNINGS);
* TensorFlow's shutdown error `Exception ignored in: AtomicFunction.__del__`
  (`_is_known_unraisable`).

`runtime.configure` calls `silence_known_noise`; Beam's DirectRunner
workers, separate processes writing to the same terminal, do the same
through `beam_worker_args` (pipeline/runner/quiet_worker.py). Log records the
libraries write are filtered by the console's handler instead
(pipeline/runner/console.py, `_KNOWN_LOG_NOISE`). A verbose run skips all of this.
"""

import contextlib
import dataclasses
import importlib.util
import io
import os
import re
import sys
import tempfile
import warnings
from typing import List, Pattern, Sequence

from pipeline.runner import console


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
    # TFX's proto_utils (protobuf 4's deprecation), when the launcher
    # resolves ExampleValidator's custom_validation_config placeholder.
    ("MessageFactory class is deprecated", UserWarning),
)


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
  if console.is_verbose():
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
  a worker starts. The in-process profile has no workers, and no Beam
  arguments at all (pipeline/runner/beam.py says why). The arguments are the same in a verbose run (the plugin
  reads FLOWERS_VERBOSE), so --verbose does not change the components'
  cache keys.
  """
  return ["--beam_plugins=pipeline.runner.quiet_worker"]
