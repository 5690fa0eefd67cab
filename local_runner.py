"""Runs the pipeline locally: LocalDagRunner, Beam DirectRunner, SQLite MLMD.

    python local_runner.py --data-root data/sample

Outputs go under --output-dir: `pipeline_root/` (component outputs),
`metadata.sqlite` (ML Metadata), `serving/` (pushed models); the evaluation
report is the Report component's artifact (`pipeline_root/Report/report/<id>/
report.html`). At the end it prints the headline metrics, the Evaluator's
verdict, the pushed model and where the report is.
Logical settings default to `settings/config.py`; the flags below override
them. Physical settings (paths, Beam arguments) live here only.

The terminal shows progress, warnings and errors (`pipeline/runner/console.py`;
--verbose shows every library line). Exit status: 0 the run finished
(blessed or not); 1 a usage, configuration or data error, or a failed run;
2 data validation stopped the run before Transform. An error is the last
line printed, starting with `error:`.
"""

import argparse
import logging
import os
import sys
import time
from typing import List, Optional

# None of these loads TensorFlow or TFX: those load in main, after
# runtime.configure() below.
from pipeline import data_plan
from pipeline.runner import beam
from pipeline.runner import beam_flags
from pipeline.runner import console
from pipeline.runner import flags
from pipeline.runner import known_noise
from pipeline.runner import run_lock
from pipeline.runner import runtime

# Before TensorFlow is imported, hence before the flags are parsed.
runtime.configure(verbose="--verbose" in sys.argv[1:])

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
METADATA_FILE = "metadata.sqlite"


def build_parser() -> argparse.ArgumentParser:
  """The flags: physical ones here, the logical ones of pipeline/runner/flags.py."""
  parser = console.ArgumentParser(
      description="Run the flower-classification TFX pipeline locally.",
      formatter_class=flags.HelpFormatter)
  paths = parser.add_argument_group("physical settings")
  paths.add_argument("--data-root", default=os.path.join("data", "sample"),
                     help="folder holding tfrecords-jpeg-<S>x<S>/"
                     "{train,val,test}/*.tfrec (the Kaggle download or the "
                     "sample data)")
  paths.add_argument("--output-dir", default="output",
                     help="pipeline root, metadata store and serving models "
                     "go here")
  paths.add_argument("--schema",
                     help="curated schema file (default: schema/schema.pbtxt)")
  # --beam-profile and the settings each profile needs (flags defaulting
  # to FLOWERS_* environment variables), shared with kubeflow_runner.py.
  beam_flags.add_beam_arguments(parser)
  paths.add_argument("--cache", action=argparse.BooleanOptionalAction,
                     default=True,
                     help="reuse the outputs of components whose inputs and "
                     "settings are unchanged (default: on; --no-cache re-runs "
                     "every component)")
  paths.add_argument("--verbose", action=argparse.BooleanOptionalAction,
                     default=False,
                     help="print every library line too (by default they "
                     "go to the log file only)")
  flags.add_logical_flags(parser)
  return parser


def parse_args(argv=None) -> argparse.Namespace:
  return build_parser().parse_args(argv)


def config_and_plan(args: argparse.Namespace):
  """The PipelineConfig the flags describe (pipeline/runner/flags.py) and
  the data plan of --data-root (pipeline/data_plan.py), which lists the
  data root, once, and gives the image size unless a flag does.

  Raises:
    ValueError: a flag or the data root is unusable (the message names it).
  """
  config = flags.config_from_args(args)
  plan = data_plan.make_plan(os.path.abspath(args.data_root), config,
                             size_from_data=not flags.image_size_given(args))
  return config.replace(image_size=plan.image_size), plan


def config_from_args(args: argparse.Namespace):
  """The PipelineConfig of `config_and_plan`."""
  return config_and_plan(args)[0]


def preflight(plan) -> List[str]:
  """Checks the files the run reads before the DAG does (each split folder
  as the plan listed it: nothing is listed again); the lines to print.

  Raises:
    input_files.DataCheckError: naming the folder or file at fault.
  """
  # slow import: TensorFlow (3 s); --help must not load it
  from pipeline.components.example_gen import input_files  # pylint: disable=g-import-not-at-top
  lines = []
  for folder in plan.folders:
    report = input_files.check_data_root(
        os.path.dirname(folder), plan.image_size,
        val_folder=plan.val_folder, listed=plan.entries_of(folder))
    lines += report.lines(span=(os.path.basename(os.path.dirname(folder))
                                if plan.selection is not None else ""))
  return lines


def local_pipeline(output_dir: str, data, config,
                   beam_pipeline_args, schema_file: Optional[str] = None,
                   enable_cache: bool = True):
  """The shared pipeline in the local layout under `output_dir`, reading
  `data` (pipeline/data_plan.py's DataPlan of `config`).

  `pipeline_root/` for component outputs, `metadata.sqlite` for ML Metadata,
  `serving/` for pushed models (docs/first-run.md, "Outputs"). The benchmarks build
  their runs with this too.
  """
  # slow import: TFX and TensorFlow (6 s); --help must not load them
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
  output_dir = os.path.abspath(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  return pipeline_lib.create_pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=os.path.join(output_dir, "pipeline_root"),
      data=data,
      serving_model_dir=os.path.join(output_dir, "serving"),
      config=config,
      schema_file=os.path.abspath(schema_file or
                                  pipeline_lib.DEFAULT_SCHEMA_FILE),
      metadata_connection_config=(
          metadata.sqlite_metadata_connection_config(
              os.path.join(output_dir, METADATA_FILE))),
      beam_pipeline_args=beam_pipeline_args,
      enable_cache=enable_cache)


def main(argv=None) -> int:
  args = parse_args(argv)
  # Before the slow imports and before anything is written to the output
  # directory: a second run into it fails at once.
  try:
    run_lock.hold(args.output_dir)
  except run_lock.RunLockedError as error:
    console.print_error(str(error))
    return console.EXIT_ERROR
  # slow import: TFX and TensorFlow (6 s); --help and a locked output
  # directory must not wait for them. TFX's runner module, not `tfx.v1`:
  # its cloud extensions are not used here (tests/test_pipeline_e2e.py
  # checks a run never imports them).
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline.components.schema_gen import class_domain  # pylint: disable=g-import-not-at-top
  from pipeline.components.example_gen import input_files  # pylint: disable=g-import-not-at-top
  from pipeline.runner import summary  # pylint: disable=g-import-not-at-top
  from pipeline.components.image_validator import executor as image_validator  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.local import local_dag_runner  # pylint: disable=g-import-not-at-top

  try:
    # What the run reads, worked out once: printed here, wired into the DAG.
    config, plan = config_and_plan(args)
    beam_settings = beam_flags.settings_from_args(args)
    beam_profile, beam_reason = beam.resolve_local_profile(
        args.beam_profile, beam_settings, plan.input_bytes)
    beam_args = beam.beam_pipeline_args(beam_profile, beam_settings)
    if beam_profile == "local":  # Worker processes: quiet them too.
      beam_args += known_noise.beam_worker_args()
    schema_file = args.schema or pipeline_lib.DEFAULT_SCHEMA_FILE
  except ValueError as error:
    console.print_error(str(error))
    return console.EXIT_ERROR
  for line in plan.lines():
    print(line)
  try:
    for line in preflight(plan):
      print(line)
  except input_files.DataCheckError as error:
    console.print_error(f"{error} (sample data: `make data`)")
    return console.EXIT_ERROR
  if beam_reason:
    print(f"beam: {beam_reason}")

  output_dir = os.path.abspath(args.output_dir)
  metadata_path = os.path.join(output_dir, METADATA_FILE)
  dag = local_pipeline(output_dir, plan, config, beam_args,
                       schema_file=schema_file, enable_cache=args.cache)
  log_file = os.path.join(output_dir, "pipeline.log")
  console.configure_logging(log_file, verbose=args.verbose)
  if beam_reason:
    logging.info("Beam: %s", beam_reason)
  print(f"Running the pipeline; progress below, full log in {log_file}")
  start = time.time()
  try:
    local_dag_runner.LocalDagRunner().run(dag)
  except (input_files.DataCheckError, image_validator.DataValidationError,
          class_domain.SchemaError) as error:
    console.print_error(str(error))
    return console.EXIT_VALIDATION_STOP
  # Without a BatchPrediction node no artifact says why there is no
  # submission: the plan's reason does.
  result = summary.read_summary(metadata_path,
                                no_test_reason=plan.no_test_reason)
  print(result.format(config))
  print(f"  wall time          {time.time() - start:.0f} s")
  return console.EXIT_OK


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(console.run_main(main))
