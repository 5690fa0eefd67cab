"""Runs a command and measures its wall time and peak memory, children included.

The pipeline's memory is spread over processes: LocalDagRunner in the
runner process, and one DirectRunner worker process per Beam worker for
StatisticsGen, Transform and the Evaluator. A thread samples the resident
set size (RSS) of the whole process tree with psutil and keeps the largest
sum. Summed RSS counts pages that processes share (the TensorFlow libraries
each worker maps) once per process, so it is an upper bound of the memory
the run needs: a target it meets is met.
"""

import dataclasses
import os
import subprocess
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

import psutil


@dataclasses.dataclass
class MonitoredRun:
  """What `run_monitored` measured.

  Attributes:
    returncode: the command's exit status.
    wall_seconds: from start to exit.
    peak_tree_rss_bytes: largest sum of RSS over the process and all its
      descendants seen at one sample.
    peak_process_rss_bytes: largest RSS of any single process in the tree.
    samples: how many samples were taken.
    log_path: where stdout and stderr went.
    beam_workers_started: Beam SDK worker processes seen in the tree
      (`sdk_worker_main`), each of which starts Python and imports what
      the pipeline's functions need, TensorFlow included; one that lived
      less than a sampling interval can be missed.
  """
  returncode: int
  wall_seconds: float
  peak_tree_rss_bytes: int
  peak_process_rss_bytes: int
  samples: int
  log_path: str
  beam_workers_started: int = 0

  @property
  def ok(self) -> bool:
    return self.returncode == 0


BEAM_WORKER_MODULE = "apache_beam.runners.worker.sdk_worker_main"


def is_beam_worker(cmdline: Sequence[str]) -> bool:
  """True for the command line of a Beam SDK worker (`python -m <module>`)."""
  return any(flag == "-m" and module == BEAM_WORKER_MODULE
             for flag, module in zip(cmdline, cmdline[1:]))


def _tree(pid: int) -> List[psutil.Process]:
  """`pid` and its descendants ([] once it has exited)."""
  try:
    root = psutil.Process(pid)
    return [root] + root.children(recursive=True)
  except psutil.Error:
    return []


def tree_rss(pid: int, processes: Optional[List[psutil.Process]] = None
             ) -> Tuple[int, int]:
  """(summed RSS, largest single RSS) of `pid` and its descendants, bytes."""
  if processes is None:
    processes = _tree(pid)
  total = largest = 0
  for process in processes:
    try:
      rss = process.memory_info().rss
    except psutil.Error:
      continue  # exited between listing and reading: nothing to count
    total += rss
    largest = max(largest, rss)
  return total, largest


def kill_tree(pid: int) -> None:
  """Kills `pid` and its descendants (Beam workers would outlive the runner)."""
  try:
    root = psutil.Process(pid)
    processes = root.children(recursive=True) + [root]
  except psutil.Error:
    return
  for process in processes:
    try:
      process.kill()
    except psutil.Error:
      pass


class _Sampler(threading.Thread):
  """Samples `tree_rss(pid)` every `interval` seconds until stopped."""

  def __init__(self, pid: int, interval: float):
    super().__init__(daemon=True)
    self.pid = pid
    self.interval = interval
    self.peak_total = 0
    self.peak_single = 0
    self.samples = 0
    self.beam_workers = set()  # (pid, create_time) of Beam SDK workers
    self._seen = set()
    self._stop_event = threading.Event()

  def _note_new(self, processes: List[psutil.Process]) -> None:
    for process in processes:
      try:
        key = (process.pid, process.create_time())
        if key in self._seen:
          continue
        self._seen.add(key)
        if is_beam_worker(process.cmdline()):
          self.beam_workers.add(key)
      except psutil.Error:
        continue  # exited meanwhile

  def run(self):
    while not self._stop_event.is_set():
      processes = _tree(self.pid)
      self._note_new(processes)
      total, largest = tree_rss(self.pid, processes)
      self.peak_total = max(self.peak_total, total)
      self.peak_single = max(self.peak_single, largest)
      self.samples += 1
      self._stop_event.wait(self.interval)

  def stop(self):
    self._stop_event.set()
    self.join()


def run_monitored(command: Sequence[str], log_path: str,
                  env: Optional[Dict[str, str]] = None,
                  cwd: Optional[str] = None, interval: float = 0.25,
                  timeout: Optional[float] = None) -> MonitoredRun:
  """Runs `command`, output to `log_path`; returns time and peak memory.

  Args:
    command: the argv to run.
    log_path: file that receives stdout and stderr.
    env: environment (default: this process's).
    cwd: working directory.
    interval: seconds between memory samples; short peaks between two
      samples can be missed, so keep it well under a component's duration.
    timeout: seconds after which the command and its descendants are
      killed (returncode -9).
  """
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
  with open(log_path, "w", encoding="utf-8") as log:
    start = time.perf_counter()
    process = subprocess.Popen(list(command), stdout=log,
                               stderr=subprocess.STDOUT, env=env, cwd=cwd)
    sampler = _Sampler(process.pid, interval)
    sampler.start()
    try:
      returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      kill_tree(process.pid)
      returncode = process.wait()
    wall = time.perf_counter() - start
    sampler.stop()
  return MonitoredRun(returncode=returncode, wall_seconds=wall,
                      peak_tree_rss_bytes=sampler.peak_total,
                      peak_process_rss_bytes=sampler.peak_single,
                      samples=sampler.samples, log_path=log_path,
                      beam_workers_started=len(sampler.beam_workers))
