"""Runs the pipeline locally: LocalDagRunner, Beam DirectRunner, SQLite MLMD.

    python local_runner.py --data-root data/sample

Outputs go under --output-dir: `pipeline_root/` (component outputs),
`metadata.sqlite` (ML Metadata), `serving/` (pushed models), `reports/<model
id>/report.html` (the evaluation report). At the end it prints the headline
metrics, the Evaluator's verdict, the pushed model and the report.
Logical settings default to `pipeline/config.py`; the flags below override
them. Physical settings (paths, Beam arguments) live here only.
"""

import argparse
import logging
import os
import re
import sys
import time
from typing import Optional

from pipeline import runtime

runtime.configure()  # Before TensorFlow is imported.

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
PIPELINE_NAME = "flowers"
METADATA_FILE = "metadata.sqlite"


def parse_args(argv=None) -> argparse.Namespace:
  from pipeline import beam  # pylint: disable=g-import-not-at-top
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipeline import features  # pylint: disable=g-import-not-at-top
  defaults = config_lib.PipelineConfig()
  parser = argparse.ArgumentParser(
      description="Run the flower-classification TFX pipeline locally.",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  paths = parser.add_argument_group("physical settings")
  paths.add_argument("--data-root", default=os.path.join("data", "sample"),
                     help="folder holding tfrecords-jpeg-<S>x<S>/"
                     "{train,val,test}/*.tfrec (the Kaggle download or the "
                     "sample data)")
  paths.add_argument("--output-dir", default="output",
                     help="pipeline root, metadata store and serving models "
                     "go here")
  paths.add_argument("--schema", default=None,
                     help="curated schema file (default: schema/schema.pbtxt)")
  # --beam-profile and the settings each profile needs (flags defaulting
  # to FLOWERS_* environment variables), shared with kubeflow_runner.py.
  beam.add_beam_arguments(parser)
  paths.add_argument("--no-cache", action="store_true",
                     help="re-run every component even if its inputs are "
                     "unchanged")
  logical = parser.add_argument_group(
      "logical settings (override pipeline/config.py)")
  logical.add_argument("--image-size", type=int, default=defaults.image_size,
                       choices=features.KAGGLE_IMAGE_SIZES,
                       help="which tfrecords-jpeg-<S>x<S> folder to read")
  logical.add_argument("--classes", default=features.DEFAULT_CLASSES_FILE,
                       help="class names file, one per line, line index = "
                       "label (default: the 104 Kaggle names)")
  logical.add_argument("--epochs", type=int, default=defaults.train.epochs)
  logical.add_argument("--batch-size", type=int,
                       default=defaults.train.per_replica_batch_size,
                       help="per-replica batch size")
  logical.add_argument("--learning-rate", type=float,
                       default=defaults.train.learning_rate,
                       help="per-replica learning rate")
  logical.add_argument("--lr-schedule", default=defaults.train.lr_schedule,
                       choices=config_lib.LR_SCHEDULES)
  logical.add_argument("--backbone", default=defaults.model.backbone,
                       choices=config_lib.BACKBONES)
  logical.add_argument("--weights", default=defaults.model.weights,
                       help='"imagenet", a local weights file, or omit for '
                       "random initialisation")
  logical.add_argument("--input-size", type=int,
                       default=defaults.model.input_size,
                       help="side the images are resized to for the network "
                       "(0: the data's image size)")
  logical.add_argument("--min-macro-f1", type=float,
                       default=defaults.eval.min_macro_f1,
                       help="Evaluator gate: absolute macro F1 threshold")
  logical.add_argument("--max-macro-f1-drop", type=float,
                       default=defaults.eval.max_macro_f1_drop,
                       help="Evaluator gate: allowed drop against the latest "
                       "blessed model")
  logical.add_argument("--class-weighting", action="store_true",
                       help="weight the loss by inverse class frequency")
  config_lib.add_override_argument(logical)
  return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace):
  """The PipelineConfig the flags describe."""
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipeline import features  # pylint: disable=g-import-not-at-top
  return config_lib.PipelineConfig().replace(
      image_size=args.image_size,
      class_names=tuple(features.load_class_names(args.classes)),
      train__epochs=args.epochs,
      train__per_replica_batch_size=args.batch_size,
      train__learning_rate=args.learning_rate,
      train__lr_schedule=args.lr_schedule,
      model__backbone=args.backbone,
      model__weights=args.weights,
      model__input_size=args.input_size,
      eval__min_macro_f1=args.min_macro_f1,
      eval__max_macro_f1_drop=args.max_macro_f1_drop,
      train__class_weighting=args.class_weighting).with_overrides(args.set)


class _ProgressFilter(logging.Filter):
  """Lets through warnings, component progress and per-epoch lines."""

  _PROGRESS = re.compile(
      r"^(Component \S+ is (running|finished)|epoch \d+:|\d+ training "
      r"examples|Distribution strategy|Precision policy|Class weights|"
      r"Phase \d|Exported the serving model)")

  # Warnings the libraries give on every run, whatever the input.
  _KNOWN_HARMLESS = (
      "ArtifactQuery.property_predicate is not supported",
      "Not using the in-place Transform",
      "SavedModel saved prior to TF 2.5",
      "From ",
  )

  def filter(self, record: logging.LogRecord) -> bool:
    if record.getMessage().startswith(self._KNOWN_HARMLESS):
      return False
    if record.name.startswith("apache_beam"):
      # Beam relays its workers' own warnings; only errors matter here.
      return record.levelno >= logging.ERROR
    return (record.levelno >= logging.WARNING or
            bool(self._PROGRESS.match(record.getMessage())))


def configure_logging(log_file: str) -> None:
  """Everything at INFO to `log_file`; progress and warnings to stdout."""
  root = logging.getLogger()
  for handler in list(root.handlers):
    root.removeHandler(handler)
  root.setLevel(logging.INFO)
  to_file = logging.FileHandler(log_file, mode="w")
  to_file.setFormatter(logging.Formatter(
      "%(asctime)s %(levelname)s %(name)s: %(message)s"))
  to_console = logging.StreamHandler(sys.stdout)
  to_console.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                            datefmt="%H:%M:%S"))
  to_console.addFilter(_ProgressFilter())
  root.addHandler(to_file)
  root.addHandler(to_console)
  logging.getLogger("apache_beam").setLevel(logging.WARNING)
  # TensorFlow's logger prints through its own handler; route it through ours.
  tf_logger = logging.getLogger("tensorflow")
  tf_logger.handlers = []
  tf_logger.propagate = True


def write_run_report(result, output_dir: str):
  """Writes the evaluation report to `<output_dir>/reports/<model id>/`.

  Sets `result.report_path`; returns None, or what went wrong.
  """
  from tools import report  # pylint: disable=g-import-not-at-top
  if result.evaluation_dir is None:
    return None  # The run stopped before the Evaluator.
  try:
    result.report_path = report.write_report(
        result.evaluation_dir,
        os.path.join(output_dir, "reports", str(result.model_id)),
        training_history=result.training_history)
  except Exception as error:  # pylint: disable=broad-except
    # The summary still prints: the run itself finished.
    logging.exception("Writing the evaluation report failed")
    return f"{type(error).__name__}: {error}"
  return None


def local_pipeline(output_dir: str, data_root: str, config,
                   beam_pipeline_args, schema_file: Optional[str] = None,
                   enable_cache: bool = True):
  """The shared pipeline in the local layout under `output_dir`.

  `pipeline_root/` for component outputs, `metadata.sqlite` for ML Metadata,
  `serving/` for pushed models (README, "Outputs"). The benchmarks build
  their runs with this too.
  """
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  output_dir = os.path.abspath(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  return pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME,
      pipeline_root=os.path.join(output_dir, "pipeline_root"),
      data_root=os.path.abspath(data_root),
      serving_model_dir=os.path.join(output_dir, "serving"),
      config=config,
      schema_file=os.path.abspath(schema_file or
                                  pipeline_lib.DEFAULT_SCHEMA_FILE),
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(
              os.path.join(output_dir, METADATA_FILE))),
      beam_pipeline_args=beam_pipeline_args,
      enable_cache=enable_cache)


def main(argv=None) -> int:
  args = parse_args(argv)
  from pipeline import beam  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline import schema_check  # pylint: disable=g-import-not-at-top
  from pipeline import data_check  # pylint: disable=g-import-not-at-top
  from pipeline import summary  # pylint: disable=g-import-not-at-top
  from pipeline import validation  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  try:
    config = config_from_args(args)
    beam_args = beam.beam_pipeline_args(args.beam_profile,
                                        beam.settings_from_args(args))
    schema_file = args.schema or pipeline_lib.DEFAULT_SCHEMA_FILE
  except ValueError as error:
    raise SystemExit(f"error: {error}") from error
  val_folder = pipeline_lib.has_val_folder(args.data_root, config)
  try:
    report = data_check.check_data_root(args.data_root, config.image_size,
                                        val_folder=val_folder)
  except data_check.DataCheckError as error:
    raise SystemExit(f"error: {error}\n(sample data: `make data`)") from None
  for line in report.lines():
    print(line)
  if not val_folder:
    print(f"data: no val folder: evaluating on {config.eval.holdout_percent}% "
          "of train, chosen by a hash of each record's id (eval.split)")

  output_dir = os.path.abspath(args.output_dir)
  metadata_path = os.path.join(output_dir, METADATA_FILE)
  pipeline = local_pipeline(output_dir, args.data_root, config, beam_args,
                            schema_file=schema_file,
                            enable_cache=not args.no_cache)
  log_file = os.path.join(output_dir, "pipeline.log")
  configure_logging(log_file)
  print(f"Running the pipeline; progress below, full log in {log_file}")
  start = time.time()
  try:
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except (validation.DataValidationError, schema_check.SchemaError) as error:
    print(f"\nerror: {error}", file=sys.stderr)
    return 2
  result = summary.read_summary(metadata_path)
  report_error = write_run_report(result, output_dir)
  print(result.format(config))
  if report_error:
    print(f"  report             FAILED: {report_error} (traceback in "
          f"{log_file})")
  print(f"  wall time          {time.time() - start:.0f} s")
  # A missing report is a bug to notice (CI), even though the run's model
  # was evaluated and, if blessed, pushed.
  return 1 if report_error else 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
