"""One run at a time per output directory: a lock held for the process.

Two runs into one output directory would share one ML Metadata store (a
SQLite file written by both) and one pipeline root, and each could cache
or resolve the other's half-written artifacts. A run takes an exclusive
`fcntl.flock` on `<output-dir>/.lock` before it writes anything there and
holds it until its process ends; a second run fails at once, naming the
run that holds it. The kernel drops the lock when the holder's process
ends, however it ends (`kill -9` too), so a crashed run never leaves a
stale lock. The file's text (pid, start time, command) only says who holds
it; the lock itself is the flock.
"""

import datetime
import fcntl
import json
import os
import shlex
import socket
import sys
from typing import Dict, List, Optional

LOCK_FILE = ".lock"

# Open lock files of this process, by output directory: the lock lives as
# long as its file stays open.
_held: Dict[str, int] = {}


class RunLockedError(RuntimeError):
  """Another run holds the output directory's lock."""


def hold(output_dir: str, command: Optional[List[str]] = None) -> str:
  """Takes the output directory's lock for the rest of this process.

  Args:
    output_dir: the run's output directory (created if missing).
    command: the command to record (default: this process's argv).

  Returns:
    The lock file's path.

  Raises:
    RunLockedError: if another process holds it; the message names that
      run's pid, host, start time and command.
  """
  output_dir = os.path.abspath(output_dir)
  path = os.path.join(output_dir, LOCK_FILE)
  if output_dir in _held:
    return path
  os.makedirs(output_dir, exist_ok=True)
  # O_CREAT without O_TRUNC: the holder's record must survive a failed try.
  descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = _read_holder(descriptor)
    os.close(descriptor)
    raise RunLockedError(
        f"another run is using {output_dir}: {holder}. Wait for it to "
        "finish, or pass another --output-dir.") from None
  record = json.dumps({
      "pid": os.getpid(),
      "host": socket.gethostname(),
      "started": datetime.datetime.now().astimezone().isoformat(
          timespec="seconds"),
      "command": list(sys.argv if command is None else command),
  })
  os.ftruncate(descriptor, 0)
  os.pwrite(descriptor, record.encode() + b"\n", 0)
  _held[output_dir] = descriptor
  return path


def release(output_dir: str) -> None:
  """Lets go of a lock `hold` took (process exit does this too)."""
  descriptor = _held.pop(os.path.abspath(output_dir), None)
  if descriptor is not None:
    os.close(descriptor)  # Closing the file drops the flock.


def _read_holder(descriptor: int) -> str:
  """The holder's record, in words."""
  text = os.pread(descriptor, 65536, 0).decode(errors="replace").strip()
  try:
    holder = json.loads(text)
    return (f"pid {holder['pid']} on {holder['host']}, started "
            f"{holder['started']}: {shlex.join(holder['command'])}")
  except (ValueError, KeyError, TypeError):
    # Locked but not yet written (the holder is between flock and write).
    return "a run that is starting (no record yet)"
