"""Section engines: StatisticsGen and Transform on Flink against the
DirectRunner.

Flink's embedded mini-cluster, parallelism 1 and 2, against the DirectRunner
with 2 workers: the same partial run as the beam section, on one Flink job
server (`make beam-jobs` fetches it; docs/beam-engines.md) with the SDK
harness in LOOPBACK. The job server's start-up and the fixed cost of a job
(a one-element job: Flink's mini-cluster and the harness starting) are
figures of their own, and "work only" throughput takes that fixed cost out
of each component's time.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from bench import steps
from bench.report import Figure
from bench.sections import beam_workers
from bench.sizes import Sizes
from tools import beam_jobs

# Flink parallelisms of the section.
ENGINE_PARALLELISMS = (1, 2)


def start_flink_job_server(jar: str, log_path: str):
  """Beam's Flink job server on [local]; (process, port, start-up seconds).

  The seconds run from `java -jar` to the job service accepting
  connections; None for the process if it did not come up in 3 minutes.
  """
  with socket.socket() as probe:
    probe.bind(("localhost", 0))
    port = probe.getsockname()[1]
  started = time.perf_counter()
  with open(log_path, "w", encoding="utf-8") as log_file:
    process = subprocess.Popen(
        ["java", "-jar", jar, "--flink-master", "[local]", "--job-port",
         str(port), "--artifact-port", "0", "--expansion-port", "0"],
        stdout=log_file, stderr=subprocess.STDOUT)
  while time.perf_counter() - started < 180 and process.poll() is None:
    try:
      socket.create_connection(("localhost", port), timeout=1).close()
      return process, port, time.perf_counter() - started
    except OSError:
      time.sleep(0.2)
  process.kill()
  process.wait()
  return None, port, None


def run(sizes: Sizes, data_192: str, work_dir: str, figures: List[Figure],
        details: Dict[str, Any]) -> None:
  """Section engines: the Beam data components on Flink against Direct."""
  examples = beam_workers.beam_examples(sizes)
  logs = os.path.join(work_dir, "logs")
  fetch = subprocess.run(["make", "--no-print-directory", "beam-jobs"],
                         cwd=steps.REPO_ROOT, capture_output=True, text=True,
                         check=False)
  details["engines_fetch"] = {"returncode": fetch.returncode,
                              "output": (fetch.stdout + fetch.stderr)[-2000:]}
  runs = {"DirectRunner, 2 workers": ["--beam-workers",
                                      str(beam_workers.BEAM_WORKERS)]}
  seconds: Dict[str, Dict[str, float]] = {}
  empty_job: Dict[int, Optional[float]] = {}
  server, port, startup = None, None, None
  if fetch.returncode == 0:
    server, port, startup = start_flink_job_server(
        beam_jobs.jar_path("flink"), os.path.join(logs, "flink_job_server.log"))
  else:
    steps.log(f"engines: make beam-jobs failed:\n{fetch.stdout}{fetch.stderr}")
  figures.append(Figure("engines", "Flink job server start-up (JVM to job "
                        "service up)", startup, "s"))
  try:
    if server:
      endpoint = f"localhost:{port}"
      for parallelism in ENGINE_PARALLELISMS:
        name = f"engines_empty_job_p{parallelism}"
        run = steps.run_step(
            name, [sys.executable, "-m", "bench.beam_components",
                   "--job-endpoint", endpoint, "--parallelism",
                   str(parallelism), "--empty-job"],
            os.path.join(logs, name + ".log"), details)
        found = re.findall(r'^\{"seconds": ([0-9.]+)\}$',
                           steps.tail(os.path.join(logs, name + ".log"), 200),
                           re.MULTILINE)
        empty_job[parallelism] = float(found[-1]) if run and found else None
        runs[f"Flink [local], parallelism {parallelism}"] = [
            "--job-endpoint", endpoint, "--parallelism", str(parallelism)]
    for label, runner_args in runs.items():
      name = "engines_" + re.sub(r"\W+", "_", label).strip("_").lower()
      output_dir = os.path.join(work_dir, "runs", name)
      shutil.rmtree(output_dir, ignore_errors=True)
      run = steps.run_step(
          name, [sys.executable, "-m", "bench.beam_components",
                 "--data-root", data_192, "--output-dir", output_dir,
                 *runner_args],
          os.path.join(logs, name + ".log"), details)
      seconds[label] = (steps.component_times(output_dir)["seconds"]
                        if run else {})
      details[name]["component_seconds"] = seconds[label]
  finally:
    if server:
      server.terminate()
      server.wait()
  for parallelism in ENGINE_PARALLELISMS:
    figures.append(Figure(
        "engines", f"Flink one-element job (mini-cluster and harness "
        f"start-up), parallelism {parallelism}", empty_job.get(parallelism),
        "s"))
  direct_label = next(iter(runs))
  flink_parallelism = {f"Flink [local], parallelism {p}": p
                       for p in ENGINE_PARALLELISMS}
  for node in ("StatisticsGen", "Transform"):
    throughput = {}
    for label in [direct_label, *flink_parallelism]:
      node_seconds = seconds.get(label, {}).get(node)
      throughput[label] = (examples[node] / node_seconds if node_seconds
                           else None)
      figures.append(Figure("engines", f"{node}, {label} "
                            f"({examples[node]} examples)",
                            throughput[label], "examples/s"))
      parallelism = flink_parallelism.get(label)
      fixed = empty_job.get(parallelism)
      if parallelism and node_seconds and fixed is not None:
        work = node_seconds - fixed
        figures.append(Figure(
            "engines", f"{node}, {label}, work only (less the "
            "one-element job)", examples[node] / work if work > 0 else None,
            "examples/s"))
    direct = throughput[direct_label]
    for label, parallelism in flink_parallelism.items():
      flink = throughput[label]
      figures.append(Figure(
          "engines", f"{node}, Flink parallelism {parallelism} / "
          f"{direct_label}", flink / direct if flink and direct else None,
          "x"))
