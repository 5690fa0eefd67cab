"""`make bench`: the pipeline against the notebook approach, on this machine.

    python bench/run.py            # the full bench (about 33 minutes on 2
                                   # cores, 40 the first time: the scale
                                   # section's data takes 7 to generate)
    python bench/run.py --quick    # smaller sizes, to check it works (8-12)
    python bench/run.py --tiny     # the least that measures every section
    python bench/run.py --sections scale   # only the named sections

Most of either is fixed cost (process and Beam worker start-up, four
pipeline runs), so the times depend more on the machine's load than on the
sizes.

Prints a table of figures, each with its target and MET / MISSED, and writes
the record (commit, machine, settings, every figure, the raw details) to
`bench/results/<timestamp>.json`. This file is the driver: it generates the
data (`bench/sizes.py` has each mode's sizes), runs the sections in order and
writes the record. Each section is a module of `bench/sections/` that says
what it measures and holds its targets; they run their commands through
`bench/steps.py`. In the order they run:

1. e2e (`e2e.py`): `local_runner.py` on a generated 192x192 set (full: 1,640
   train + 584 val = 2,224 images, 10 epochs) against `bench/plain_keras.py`
   (the notebooks' tf.data + Keras, the same model and epochs) on the same
   TFRecords, and the time of each component from the run's ML Metadata
   store. Target: pipeline / plain <= 1.3.
2. cache (`cache.py`): the same `local_runner.py` command again into the
   same output directory, unchanged and then with only the gate changed.
   Targets: <= 10% and <= 30% of the first run.
3. memory (`memory.py`): peak RSS of the process tree (`bench/procmon.py`)
   of the e2e run (target < 8 GiB) and of a run on a generated 512x512 set
   (the same images at 512x512, 2 epochs; target < 16 GiB).
   memory 512 input: peak RSS of a run on the 512x512 set that trains at
   512x512 input (MobileNetV3-Small, random weights, 1 epoch; < 16 GiB).
4. beam (`beam_workers.py`): StatisticsGen, Transform and ImportExampleGen
   throughput as the runner ran them (the e2e run) and with 2 DirectRunner
   worker processes (a partial run of the same pipeline up to them,
   `bench/beam_components.py`).
5. startup (`startup.py`): each Beam component's start-up apart from its
   work, from a run of the same pipeline on a small set (one image per class
   and split) and the e2e run (`mlmd_times.split_startup`;
   docs/benchmarks.md).
6. input (`trainer_input.py`): images/s of the Trainer's training input
   (`make_dataset`, augmented), the same without augmentation, and the
   notebooks' tf.data, on the ExampleGen output of the 192 and 512 runs
   (`bench/input_path.py`). Target: augmentation adds at most 25% to the
   decode-only time, judged on CPU time per image.

7. gate (`gate.py`): on the e2e run's Examples and Transform graph,
   `bench/gate_runs.py` retrains models the Trainer's way (full: 11 seeds
   at the e2e epochs; worse: 6 and 8 epochs, 5%, 10% and 20% of the
   training labels corrupted, 2 seeds each) and runs the Evaluator's gate
   on every pair. Targets: equivalent retrains rejected <= 10%, rejected
   at a true drop of 0.10 >= 90%.

8. scale (`scale.py`): the pipeline at the competition's size: generated
   data at the Kaggle set's size and resolution (full: 12,816 train +
   3,684 val + 7,382 test at 512x512) at 1/8, 1/2 and the whole, one
   1-epoch `local_runner.py` run each, against the limits of a pass over
   the same files (`bench/read_limits.py`). Targets, at the whole size:
   time outside the epoch <= 45 s, each pass over the data >= 50% of its
   limit, peak RSS <= 4 GiB and <= 1.25x the 1/8 run's.

On by default (`--no-engines` leaves it out; `--engines-only` runs it alone):

9. engines (`engines.py`): StatisticsGen and Transform throughput on Flink's
   embedded mini-cluster, parallelism 1 and 2, against the DirectRunner with
   2 workers: the same partial run as the beam section, on one Flink job
   server (`make beam-jobs` fetches it; docs/beam-engines.md).

Ratios come from runs made one after the other in the same bench run. The
machine may be shared: the record keeps the load average before and after
each section, and the input figures use the median of interleaved rounds.
"""

import argparse
import dataclasses
import datetime
import os
import sys
import tempfile
import time
from typing import Any, Dict, List

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from bench import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import sizes as sizes_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.report import Figure  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import beam_workers  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import cache  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import e2e  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import engines  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import gate  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import memory  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import scale  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import startup  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.sections import trainer_input  # pylint: disable=g-import-not-at-top,wrong-import-position

# The sections before the optional engines one, in the order they run
# (report.section_of names each figure's).
PIPELINE_SECTIONS = ("e2e", "cache", "memory", "beam", "startup", "input",
                     "gate")
# Every section, in the order they run; `--sections` picks some.
SECTIONS = PIPELINE_SECTIONS + ("scale", "engines")
# What a pipeline section takes from another one's runs: the e2e run
# (cache, memory, beam, startup, input) and the 512 px run of memory (input).
NEEDS = {"cache": ("e2e",), "memory": ("e2e",), "beam": ("e2e",),
         "startup": ("e2e",), "input": ("e2e", "memory"), "gate": ("e2e",)}
MODES = {"tiny": sizes_lib.TINY, "quick": sizes_lib.QUICK,
         "full": sizes_lib.FULL}


def with_needs(chosen: List[str]) -> List[str]:
  """`chosen` and the sections they take runs from, in SECTIONS order."""
  wanted = set(chosen)
  for name in chosen:
    wanted.update(NEEDS.get(name, ()))
  return [name for name in SECTIONS if name in wanted]


def run_pipeline_sections(sizes: sizes_lib.Sizes, data_roots: Dict[str, str],
                          work_dir: str, figures: List[Figure],
                          details: Dict[str, Any],
                          chosen: List[str]) -> None:
  """The chosen PIPELINE_SECTIONS, in order (with_needs adds what they
  need); each one's module says what it measures."""
  e2e_runs = e2e.run(sizes, data_roots["192"], work_dir, figures, details)
  if "cache" in chosen:
    cache.run(e2e_runs, work_dir, figures, details)
  out_512 = None
  if "memory" in chosen:
    out_512 = memory.run(sizes, data_roots["512"], e2e_runs, work_dir,
                         figures, details)
    memory.run_512_input(data_roots["512"], work_dir, figures, details)
  e2e_seconds = details[e2e.PIPELINE_STEP].get("components", {}).get(
      "seconds", {})
  if "beam" in chosen:
    beam_workers.run(sizes, data_roots["192"], e2e_seconds,
                     steps.beam_choice(os.path.join(
                         work_dir, "logs", e2e.PIPELINE_STEP + ".log")),
                     work_dir, figures, details)
  if "startup" in chosen:
    startup.run(sizes, e2e_seconds, work_dir, figures, details)
  if "input" in chosen:
    trainer_input.run(sizes, data_roots,
                      {"192": e2e_runs.output_dir, "512": out_512}, work_dir,
                      figures, details)
  if "gate" in chosen:
    gate.run(sizes, e2e_runs.output_dir, work_dir, figures, details)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="small data and few epochs: checks that the "
                      "bench works, figures are not representative")
  parser.add_argument("--tiny", action="store_true",
                      help="the smallest data that measures every section "
                      "(tests/test_bench.py): checks that nothing rotted")
  parser.add_argument("--work-dir",
                      default=os.path.join(tempfile.gettempdir(),
                                           "flowers-bench"),
                      help="generated data (kept and reused), pipeline "
                      "outputs and logs (replaced every run) "
                      "(default: %(default)s)")
  parser.add_argument("--engines", action=argparse.BooleanOptionalAction,
                      default=True,
                      help="the engine section: StatisticsGen and "
                      "Transform on Flink (fetches the job server with "
                      "`make beam-jobs`: needs Maven and a JDK) "
                      "(default: on)")
  parser.add_argument("--engines-only", action="store_true",
                      help="run the engine section alone")
  parser.add_argument("--sections", default=",".join(SECTIONS),
                      help="comma-separated sections to run, of "
                      f"{','.join(SECTIONS)}; a section another one takes "
                      "runs from runs too (e2e for cache, memory, beam, gate, "
                      "startup and input) (default: all)")
  parser.add_argument("--results-dir",
                      default=os.path.join(REPO_ROOT, "bench", "results"),
                      help="where the JSON record is written "
                      "(default: bench/results)")
  args = parser.parse_args(argv)

  started = datetime.datetime.now()
  wall_start = time.perf_counter()
  # The code that runs is the code at the start: a commit made while the
  # bench runs must not be named as the figures' source.
  git = report.git_state(REPO_ROOT)
  mode = "tiny" if args.tiny else "quick" if args.quick else "full"
  sizes = MODES[mode]
  work_dir = os.path.abspath(args.work_dir)
  os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
  figures: List[Figure] = []
  details: Dict[str, Any] = {"load_average_start": steps.load_average()}
  steps.log(f"{mode} bench; work dir {work_dir}")

  chosen = [name.strip() for name in args.sections.split(",") if name.strip()]
  unknown = sorted(set(chosen) - set(SECTIONS))
  if unknown:
    parser.error(f"unknown sections {unknown}; the sections are "
                 f"{', '.join(SECTIONS)}")
  if args.engines_only:
    chosen = ["engines"]
  elif not args.engines:
    chosen = [name for name in chosen if name != "engines"]
  sections = with_needs(chosen)
  data_roots = {}
  if "e2e" in sections or "engines" in sections:
    data_roots["192"] = steps.make_data(work_dir, 192, sizes)
  if "memory" in sections:
    data_roots["512"] = steps.make_data(work_dir, 512, sizes)
  if "e2e" in sections:
    run_pipeline_sections(sizes, data_roots, work_dir, figures, details,
                          sections)
  if "scale" in sections:
    scale.run(sizes, work_dir, figures, details)
  if "engines" in sections:
    engines.run(sizes, data_roots["192"], work_dir, figures, details)
  details["load_average_end"] = steps.load_average()
  details["bench_wall_seconds"] = round(time.perf_counter() - wall_start, 1)

  settings = dict(dataclasses.asdict(sizes), mode=mode,
                  split_counts=sizes.split_counts(),
                  work_dir=work_dir, data_roots=data_roots)
  record = report.make_record(
      figures, settings, details, git,
      report.machine_info(), started, sys.argv)
  path = report.write_record(record, args.results_dir, started)
  print()
  print(report.format_table(figures))
  print()
  print(f"Targets: {record['summary']}")
  git = record["git"]
  print(f"Commit {git['short_commit']}"
        f"{' (with uncommitted changes)' if git['uncommitted_changes'] else ''}"
        f"; bench took {details['bench_wall_seconds'] / 60:.1f} min; "
        f"record: {path}")
  # Missed targets are results, not failures; a step that failed, or a
  # section that measured nothing, is.
  failed = report.failures(figures, details, sections)
  for line in failed:
    print(f"FAILED: {line}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
