"""Runs the pipeline locally: LocalDagRunner, Beam DirectRunner, SQLite MLMD.

    python local_runner.py --data-root data/sample

Outputs go under --output-dir: `pipeline_root/` (component outputs),
`metadata.sqlite` (ML Metadata), `serving/` (pushed models). At the end it
prints the headline metrics, the Evaluator's verdict and the pushed model.
Logical settings default to `pipeline/config.py`; the flags below override
them. Physical settings (paths, Beam arguments) live here only.
"""

import argparse
import logging
import os
import re
import sys
import time
import warnings

# TFT switches tf.keras to Keras 2 unless told otherwise; our model code is
# Keras 3 (`import keras`) and only TFT's own layer uses tf.keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Quiet TensorFlow's C++ start-up messages and library deprecation warnings,
# here and in the Beam worker processes (set these variables to see them).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYTHONWARNINGS",
                      "ignore::FutureWarning,ignore::DeprecationWarning")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
# Keras 3 says this at the end of every finite validation pass.
warnings.filterwarnings("ignore", message="Your input ran out of data")

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
PIPELINE_NAME = "flowers"


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
  paths.add_argument("--beam-profile", default="local",
                     choices=beam.BEAM_PROFILES,
                     help="Beam runner preset for StatisticsGen, Transform "
                     "and Evaluator")
  paths.add_argument("--beam-workers", type=int, default=None,
                     help="DirectRunner worker processes (default: one per "
                     "core)")
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
      eval__max_macro_f1_drop=args.max_macro_f1_drop)


def check_data_root(data_root: str, image_size: int) -> None:
  """Fails early, naming what is missing, if the data is not there."""
  from pipeline import features  # pylint: disable=g-import-not-at-top
  directory = os.path.join(data_root, features.image_dir_name(image_size))
  for split_dir in features.KAGGLE_SPLIT_DIRS.values():
    path = os.path.join(directory, split_dir)
    if not os.path.isdir(path):
      raise SystemExit(
          f"error: {path} does not exist. --data-root must hold "
          f"{features.image_dir_name(image_size)}/{{train,val}}/*.tfrec "
          "(generate sample data with `make data`).")
    if not [f for f in os.listdir(path) if f.endswith(".tfrec")]:
      raise SystemExit(f"error: no .tfrec files in {path}")


class _ProgressFilter(logging.Filter):
  """Lets through warnings, component progress and per-epoch lines."""

  _PROGRESS = re.compile(
      r"^(Component \S+ is (running|finished)|epoch \d+:|\d+ training "
      r"examples|Distribution strategy|Exported the serving model)")

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


def main(argv=None) -> int:
  args = parse_args(argv)
  from pipeline import beam  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline import schema_check  # pylint: disable=g-import-not-at-top
  from pipeline import summary  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  try:
    config = config_from_args(args)
    schema_file = args.schema or pipeline_lib.DEFAULT_SCHEMA_FILE
    schema_check.check_schema_matches_classes(schema_file, config.num_classes)
  except ValueError as error:
    raise SystemExit(f"error: {error}") from error
  check_data_root(args.data_root, config.image_size)

  output_dir = os.path.abspath(args.output_dir)
  os.makedirs(output_dir, exist_ok=True)
  metadata_path = os.path.join(output_dir, "metadata.sqlite")
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME,
      pipeline_root=os.path.join(output_dir, "pipeline_root"),
      data_root=os.path.abspath(args.data_root),
      serving_model_dir=os.path.join(output_dir, "serving"),
      config=config,
      schema_file=os.path.abspath(schema_file),
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(
              metadata_path)),
      beam_pipeline_args=beam.beam_pipeline_args(args.beam_profile,
                                                 args.beam_workers),
      enable_cache=not args.no_cache)
  log_file = os.path.join(output_dir, "pipeline.log")
  configure_logging(log_file)
  print(f"Running the pipeline; progress below, full log in {log_file}")
  start = time.time()
  tfx.orchestration.LocalDagRunner().run(pipeline)
  result = summary.read_summary(metadata_path)
  print(result.format(config))
  print(f"  wall time          {time.time() - start:.0f} s")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
