"""One run per output directory: a second run fails at once, naming the
first; the lock goes when its holder's process ends, even by kill -9.

Every test uses real processes: flock locks belong to open files, so one
process cannot show another's lock by itself.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import REPO_ROOT
from conftest import run_local_pipeline
from pipeline.runner import run_lock

_HOLDER = ("import sys; from pipeline.runner import run_lock; "
           "run_lock.hold(sys.argv[1]); print('held', flush=True); "
           "sys.stdin.read()")


def _start_holder(output_dir):
  """A process that holds the lock until its stdin closes."""
  process = subprocess.Popen(
      [sys.executable, "-c", _HOLDER, output_dir, "--a-flag"],
      cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT),
      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == "held"
  return process


def _try_lock(output_dir):
  """Takes and releases the lock in another process; returns it finished."""
  return subprocess.run(
      [sys.executable, "-c",
       "import sys; from pipeline.runner import run_lock; "
       "run_lock.hold(sys.argv[1]); run_lock.release(sys.argv[1])",
       output_dir], cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT),
      capture_output=True, text=True, timeout=60, check=False)


def test_second_holder_is_refused_until_the_first_ends(tmp_path):
  output_dir = str(tmp_path / "out")
  holder = _start_holder(output_dir)
  try:
    refused = _try_lock(output_dir)
    assert refused.returncode != 0
    assert "RunLockedError: another run is using" in refused.stderr
    assert f"pid {holder.pid} " in refused.stderr
    assert "--a-flag" in refused.stderr  # The holder's command.
  finally:
    holder.stdin.close()
    holder.wait(timeout=30)
  assert _try_lock(output_dir).returncode == 0


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
  output_dir = str(tmp_path / "out")
  holder = _start_holder(output_dir)
  os.kill(holder.pid, signal.SIGKILL)
  holder.wait(timeout=30)
  # The record is still in the file, but nobody holds the lock.
  assert str(holder.pid) in open(os.path.join(output_dir,
                                              run_lock.LOCK_FILE)).read()
  taken = _try_lock(output_dir)
  assert taken.returncode == 0, taken.stderr


def test_local_runner_fails_at_once_and_leaves_the_store_alone(
    tmp_path, tiny_data_root):
  output_dir = str(tmp_path / "out")
  os.makedirs(output_dir)
  # A metadata store the running run would own.
  store = os.path.join(output_dir, "metadata.sqlite")
  with sqlite3.connect(store) as connection:
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")
  connection.close()
  with open(store, "rb") as f:
    before = f.read()
  holder = _start_holder(output_dir)
  try:
    start = time.monotonic()
    second = run_local_pipeline(tiny_data_root[0], output_dir, "--epochs",
                                "1")
    seconds = time.monotonic() - start
  finally:
    holder.stdin.close()
    holder.wait(timeout=30)
  assert second.returncode != 0
  assert "error: another run is using" in second.stderr
  assert f"pid {holder.pid} " in second.stderr
  assert seconds < 60  # Start-up only: no component ran.
  assert sorted(os.listdir(output_dir)) == [run_lock.LOCK_FILE,
                                            "metadata.sqlite"]
  with open(store, "rb") as f:
    assert f.read() == before
  with sqlite3.connect(store) as connection:
    assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]
  connection.close()
