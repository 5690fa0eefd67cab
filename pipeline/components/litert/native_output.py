"""The LiteRT converter's and runtime's C++ lines, moved into the log.

TF 2.16's converter and `ai_edge_litert`'s interpreter write to file
descriptor 2 from C++, outside Python logging: absl's "All log messages
before absl::InitializeLog() ..." notice, "Ignored output_format." and
"Ignored drop_control_dependency." warnings, the quantizer's
"fully_quantize: 0, inference_type: 6, ..." settings, and "INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.". A run prints only the
project's lines (docs/console.md), so `to_log` sends what C++ writes meanwhile
to the log (INFO: the file, not the terminal) instead.
"""

import contextlib
import os
import sys
import tempfile
from typing import Iterator

from absl import logging


@contextlib.contextmanager
def to_log(what: str) -> Iterator[None]:
  """Logs at INFO, as one record naming `what`, whatever is written to
  file descriptor 2 inside the block."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      text = captured.read().decode("utf-8", "replace").strip()
      if text:
        logging.info("%s wrote:\n%s", what, text)
