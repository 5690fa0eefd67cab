"""Runs only the pipeline's Beam data components, for the Beam scaling figures.

    python -m bench.beam_components --data-root D --output-dir O --beam-workers 1
    python -m bench.beam_components --data-root D --output-dir O \
        --job-endpoint localhost:8099 --parallelism 2
    python -m bench.beam_components --job-endpoint localhost:8099 --empty-job

Runs StatisticsGen and Transform, and whatever they depend on (ExampleGen,
the schema, the data validation), exactly as `create_pipeline` builds them:
a partial run of the real pipeline (`RunOptions(to_nodes=...)`) on
LocalDagRunner with a SQLite metadata store in `--output-dir`, cache off;
the bench reads each component's time from that store. The Trainer,
Evaluator and Pusher are left out: the figures are about the data
components, and training would add minutes that do not depend on Beam.

With `--job-endpoint` the components run on a running Beam job server (the
bench's engine section starts Flink's), the SDK harness in LOOPBACK;
`--empty-job` instead times a one-element job on it, printed as JSON: the
fixed cost of each job (Flink starts a mini-cluster for every job, the
harness its workers) that the engine section separates from the work.
"""

import argparse
import json
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from pipeline.runner import beam as beam_settings  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline import data_plan  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

# The components whose throughput the bench reports; the partial run runs
# their upstream components too, since they need their outputs.
MEASURED_NODES = ("StatisticsGen", "Transform")


def direct_runner_args(workers: int):
  """DirectRunner with `workers` processes.

  Written out here rather than taken from pipeline/runner/beam.py so that the
  figure always means exactly this many worker processes.
  """
  return ["--direct_running_mode=multi_processing",
          f"--direct_num_workers={workers}",
          *beam_settings.SAME_ENVIRONMENT_ARGS]


def job_server_args(job_endpoint: str, parallelism: int):
  """The `flink` profile's arguments for a running job server."""
  return beam_settings.beam_pipeline_args("flink", beam_settings.BeamSettings(
      job_endpoint=job_endpoint, environment_type="LOOPBACK",
      parallelism=parallelism))


def empty_job_seconds(beam_args) -> float:
  """Wall time of a one-element job: the per-job cost without the work."""
  # slow import: Beam (2 s); --help must not load it
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  with beam.Pipeline(options=pipeline_options.PipelineOptions(
      beam_args)) as pipeline:
    _ = pipeline | beam.Create([1]) | beam.Map(lambda x: x + 1)
  return time.perf_counter() - started


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  # Not required by argparse: --empty-job reads no data.
  parser.add_argument("--data-root",
                      help="folder holding tfrecords-jpeg-<S>x<S>/")
  parser.add_argument("--output-dir",
                      help="the runner's layout goes here (pipeline_root, "
                      "metadata.sqlite)")
  parser.add_argument("--image-size", type=int, default=192,
                      help="which tfrecords-jpeg-<S>x<S> folder to read "
                      "(default: %(default)s)")
  runner = parser.add_mutually_exclusive_group(required=True)
  runner.add_argument("--beam-workers", type=int,
                      help="DirectRunner worker processes")
  runner.add_argument("--job-endpoint",
                      help="a running Beam job server, host:port")
  parser.add_argument("--parallelism", type=int, default=1,
                      help="with --job-endpoint: the job's parallelism "
                      "(default: %(default)s)")
  parser.add_argument("--empty-job", action="store_true",
                      help="with --job-endpoint: time a one-element job "
                      "and print {\"seconds\": ...}")
  args = parser.parse_args(argv)
  runtime.configure()  # Before TensorFlow is imported, as the runners do.
  if args.job_endpoint:
    beam_args = job_server_args(args.job_endpoint, args.parallelism)
    where = (f"on the job server at {args.job_endpoint}, parallelism "
             f"{args.parallelism}")
  else:
    beam_args = direct_runner_args(args.beam_workers)
    where = f"with {args.beam_workers} DirectRunner worker(s)"
  if args.empty_job:
    print(json.dumps({"seconds": empty_job_seconds(beam_args)}), flush=True)
    return 0
  if not (args.data_root and args.output_dir):
    parser.error("--data-root and --output-dir are needed")

  # after setup: TFX and TensorFlow load after runtime.configure()
  from tfx.orchestration import pipeline as pipeline_py  # pylint: disable=g-import-not-at-top
  import local_runner  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  config = config_lib.PipelineConfig().replace(image_size=args.image_size)
  # The runner's own layout (pipeline_root, metadata.sqlite, serving).
  plan = data_plan.make_plan(os.path.abspath(args.data_root), config)
  pipeline = local_runner.local_pipeline(
      args.output_dir, plan, config, beam_args, enable_cache=False)
  print(f"running {', '.join(MEASURED_NODES)} and their upstream components "
        f"{where}", flush=True)
  # A partial run of the real pipeline rather than a smaller pipeline: the
  # components stay exactly create_pipeline's (a pipeline of a subset of them
  # does not compile, they reference their downstream nodes).
  tfx.orchestration.LocalDagRunner().run(
      pipeline, run_options=pipeline_py.RunOptions(
          to_nodes=list(MEASURED_NODES)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
