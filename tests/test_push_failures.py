"""What a push leaves when something fails: a claim whose write failed, a
pusher killed mid-copy, a power cut after the rename.

Every test runs the real code on a real disk: the AtomicPusher's executor
(`_push`, tests/test_pusher.py) or the claims it takes. A full disk is a
real one (RLIMIT_FSIZE: the kernel refuses any write that grows a file),
a dead pusher a real process killed with SIGKILL mid-copy, and the syncs
are the fsync(2) calls the kernel gets, each recorded as it is made.
"""

import contextlib
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from tfx.utils import path_utils

from conftest import REPO_ROOT
from pipeline.components.util import claims
from pipeline.components.util import publishing
from test_pusher import _blessing
from test_pusher import _model
from test_pusher import _push


def _in_time(work, seconds=60.0):
  """Runs `work` in a thread; its result, or a failure if it has not
  returned within `seconds` (a push held up for good never returns)."""
  result, errors = [], []

  def run():
    try:
      result.append(work())
    except BaseException as error:  # pylint: disable=broad-except
      errors.append(error)

  thread = threading.Thread(target=run, daemon=True)
  thread.start()
  thread.join(seconds)
  assert not thread.is_alive(), f"still waiting after {seconds} s"
  if errors:
    raise errors[0]
  return result[0]


@contextlib.contextmanager
def _full_disk():
  """No file of this process may grow, as on a full disk: the kernel fails
  the write (EFBIG) after the file was created."""
  soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
  handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
  try:
    yield
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, handler)


def _claims_in(base):
  return sorted(n for n in os.listdir(base) if n.startswith(".claim-"))


def _age(path, seconds):
  """Sets the file's time `seconds` back, as if written that long ago."""
  then = time.time() - seconds
  os.utime(path, (then, then))


# ---------------------------------------------------------------------------
# Claims.

def test_a_claim_whose_write_fails_is_removed(tmp_path):
  model, blessing = _model(tmp_path), _blessing(tmp_path, blessed=True)
  base = tmp_path / "serving"
  base.mkdir()
  with _full_disk():
    with pytest.raises(Exception, match="File too large"):
      _push(tmp_path, model, blessing)
  # The failed push took nothing, not even an empty claim...
  assert os.listdir(base) == []
  # ...so the next push of the model goes ahead.
  _, pushed = _in_time(lambda: _push(tmp_path, model, blessing))
  assert pushed.get_int_custom_property("pushed") == 1
  assert pushed.get_int_custom_property("already_serving") == 0


def test_an_empty_claim_holds_up_a_push_only_while_it_may_be_written(
    tmp_path):
  model, blessing = _model(tmp_path), _blessing(tmp_path, blessed=True)
  base = tmp_path / "serving"
  base.mkdir()
  # What a pusher killed while writing its claim leaves: an empty file.
  empty = base / ".claim-1000-0123456789abcdef"
  empty.write_bytes(b"")
  done = threading.Event()

  def wait():
    publishing.wait_for_earlier_claims(str(base), 1001, model.uri,
                                       poll_seconds=0.05)
    done.set()

  waiter = threading.Thread(target=wait, daemon=True)
  waiter.start()
  # Just written: it may be a claim whose bytes are on their way.
  assert not done.wait(1.0)
  # Past the grace period no write is under way: it holds up nothing.
  _age(empty, claims.UNREADABLE_CLAIM_GRACE_SECONDS + 1)
  assert done.wait(5.0)
  # A whole push with it in place: pushed, not held up.
  _, pushed = _in_time(lambda: _push(tmp_path, model, blessing))
  assert pushed.get_int_custom_property("pushed") == 1


def test_a_waiting_push_says_whom_it_waits_for(tmp_path, caplog):
  base = tmp_path / "serving"
  base.mkdir()
  taken = []
  # Another pusher of the same model: a claim from another thread.
  other = threading.Thread(target=lambda: taken.append(
      publishing.claim_version(str(base), model_uri="/models/m")))
  other.start()
  other.join()
  version, claim = taken[0]
  threading.Timer(1.0, os.remove, args=(claim,)).start()
  with caplog.at_level(logging.WARNING):
    start = time.monotonic()
    publishing.wait_for_earlier_claims(str(base), version + 1, "/models/m",
                                       poll_seconds=0.01, log_seconds=0.3)
  assert time.monotonic() - start >= 0.9  # It did wait, until the removal.
  said = [r.getMessage() for r in caplog.records
          if "Waiting for an earlier push" in r.getMessage()]
  # Every few seconds (here 0.3 s), not at every look (0.01 s).
  assert 2 <= len(said) <= 6, said
  assert (f"{claim} (process {os.getpid()} on {socket.gethostname()}"
          in said[0]), said[0]


# ---------------------------------------------------------------------------
# Staging folders of dead pushes.

_STALLED_PUSHER = r"""
import os, sys, time
from tfx.dsl.io import fileio
from pipeline.components.util import publishing
base, model_dir = sys.argv[1:3]
version, _ = publishing.claim_version(base, model_uri="/models/killed")
copy = fileio.copy

def copy_then_stall(src, dst, overwrite=False):
  copy(src, dst, overwrite)
  print("copying", flush=True)
  time.sleep(600)  # Killed here, half-way through its copy.

fileio.copy = copy_then_stall
publishing.publish_model(model_dir, os.path.join(base, str(version)), "{}")
"""


def test_a_dead_push_s_staging_copy_is_removed_but_not_a_live_one_s(
    tmp_path):
  base = tmp_path / "serving"
  base.mkdir()
  killed = _model(tmp_path, artifact_id=3)
  script = tmp_path / "stalled_pusher.py"
  script.write_text(_STALLED_PUSHER)
  pusher = subprocess.Popen(
      [sys.executable, str(script), str(base),
       path_utils.serving_model_path(killed.uri)],
      stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
      env=dict(os.environ, PYTHONPATH=REPO_ROOT))
  try:
    assert pusher.stdout.readline().strip() == "copying"
    staging = [n for n in os.listdir(base) if n.startswith(".incoming-")]
    assert len(staging) == 1
    # Its owner is alive (copying): another push leaves it alone.
    _, first = _push(tmp_path, _model(tmp_path, artifact_id=4),
                     _blessing(tmp_path, blessed=True, model_id=4),
                     pushed_id=4)
    assert first.get_int_custom_property("pushed") == 1
    assert staging[0] in os.listdir(base)
  finally:
    pusher.kill()  # SIGKILL: no clean-up of its own runs.
    pusher.wait()
  assert staging[0] in os.listdir(base)
  # The next push removes the dead push's staging copy.
  _, second = _push(tmp_path, _model(tmp_path, artifact_id=5),
                    _blessing(tmp_path, blessed=True, model_id=5),
                    pushed_id=5)
  assert second.get_int_custom_property("pushed") == 1
  assert not [n for n in os.listdir(base) if n.startswith(".incoming-")]
  # Its claim stays (a few bytes) and only uses up its number.
  assert len(_claims_in(base)) == 1


def test_another_host_s_staging_copy_is_removed_only_when_stale(tmp_path):
  base = tmp_path / "serving"
  base.mkdir()
  claim = base / ".claim-1000-feedfacefeedface"
  staging = base / ".incoming-1000-feedface"
  (staging / "variables").mkdir(parents=True)
  # A push on another host: whether its process lives cannot be asked.
  owner = ('{"host": "another-host", "pid": 1, "thread": 1, '
           '"model_uri": "/models/far", "claimed_at": %f}')
  claim.write_text(owner % (time.time() - 2 * 3600))
  _push(tmp_path, _model(tmp_path), _blessing(tmp_path, blessed=True))
  assert staging.exists()  # Two hours: it may still be copying.
  claim.write_text(owner % (time.time() - publishing.STALE_STAGING_SECONDS
                            - 60))
  _push(tmp_path, _model(tmp_path, artifact_id=8),
        _blessing(tmp_path, blessed=True, model_id=8), pushed_id=8)
  assert not staging.exists()


# ---------------------------------------------------------------------------
# Durability.

def test_a_version_is_synced_to_disk_before_and_after_its_rename(
    tmp_path, monkeypatch):
  """Each fsync(2) is recorded with whether the version folder existed:
  every file and folder of the version is synced while still staged (so
  the rename never reaches the disk before their bytes), then the serving
  folder (so the rename itself does)."""
  base = os.path.realpath(tmp_path / "serving")
  os.makedirs(base)
  synced = []
  real_fsync = os.fsync

  def recording_fsync(descriptor):
    path = os.readlink(f"/proc/self/fd/{descriptor}")
    synced.append((path, any(n.isdigit() for n in os.listdir(base))))
    return real_fsync(descriptor)

  monkeypatch.setattr(os, "fsync", recording_fsync)
  _, pushed = _push(tmp_path, _model(tmp_path),
                    _blessing(tmp_path, blessed=True), base=base)
  final = pushed.get_string_custom_property("pushed_destination")
  staged = os.path.join(base, f".incoming-{os.path.basename(final)}-")
  before_rename = set()
  for path, renamed in synced:
    if path.startswith(staged) and not renamed:
      inside = path[len(staged):].partition("/")[2]
      before_rename.add(inside or ".")
  everything = {"."}
  for folder, subfolders, names in os.walk(final):
    everything.update(os.path.relpath(os.path.join(folder, name), final)
                      for name in subfolders + names)
  assert everything - before_rename == set()
  assert (base, True) in synced
