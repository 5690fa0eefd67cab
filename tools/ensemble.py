"""A weighted ensemble of served models, written as ONE served model.

    python tools/ensemble.py --model runs/a/serving/1 --model runs/b/serving/7 \\
        --weights 0.6,0.4 --output runs/ensemble/1
    python tools/ensemble.py --model A --model B --output DIR \\
        --evaluate --data-root data/sample

The ensemble is a SavedModel with the same contract as a pushed model,
written by `pipeline/components/util/ensemble_servable.py`, which the pipeline's Ensemble
component shares (`--ensemble`, docs/ensembles.md, fits the weights in the
DAG). Its probabilities are the weighted average of its members'
probabilities; `class_index` and `class_name` are taken from that average.

The members must have the same class names in the same order. Weights
default to equal and are normalised to sum to 1. The members, normalised
weights and (with --evaluate) the evaluation are recorded in
`<output>/assets.extra/ensemble.json`.

`--evaluate` runs `tfma.run_model_analysis` on the val split with the
pipeline's own EvalConfig (`pipeline.pipeline.eval_config`) and reports
macro F1 and whether the absolute threshold passes; there is no baseline,
so, as for the pipeline's first model, the change threshold does not apply.

Exit status: 0 written (and, with --evaluate, thresholds passed); 1 written
but the thresholds failed; 2 error.
"""

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
from typing import Dict, Iterator, Optional

from absl import logging as absl_logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime

runtime.configure()  # Before TensorFlow is imported.
import tensorflow as tf

from settings import config as config_lib
from settings import features
from pipeline import data_listing
from pipeline.components.util import ensemble_servable
from pipeline.components.util import serving_model as inference_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

# The shared part, under the names this tool has always had.
LEDGER_FILE = ensemble_servable.LEDGER_FILE
parse_weights = ensemble_servable.parse_weights
normalise_weights = ensemble_servable.normalise_weights
EnsembleModule = ensemble_servable.EnsembleModule
build_ensemble = ensemble_servable.build_ensemble


# ---------------------------------------------------------------------------
# Evaluation.

@dataclasses.dataclass
class Evaluation:
  """Overall-slice metrics of a TFMA run and whether its thresholds passed."""
  metrics: Dict[str, float]
  passed: bool
  data_location: str
  min_macro_f1: float

  def format(self) -> str:
    # slow import: TFMA (10 s); only an evaluation needs it
    from pipeline.components.util import evaluation_reader as evaluation_lib  # pylint: disable=g-import-not-at-top
    lines = [f"evaluation (TFMA, the pipeline's EvalConfig) on "
             f"{self.data_location}:"]
    for name in evaluation_lib.HEADLINE_METRICS:
      if name in self.metrics:
        value = self.metrics[name]
        lines.append(f"  {name:<18} " + (
            f"{int(value)}" if name == evaluation_lib.EXAMPLE_COUNT
            else f"{value:.4f}"))
    verdict = "PASS" if self.passed else "FAIL"
    lines.append(f"  thresholds         {verdict} (macro_f1 >= "
                 f"{self.min_macro_f1}; no baseline, so the change threshold "
                 "does not apply)")
    return "\n".join(lines)


def evaluate(model_dir: str, data_root: str, image_size: int,
             config: Optional[config_lib.PipelineConfig] = None,
             output_path: Optional[str] = None) -> Evaluation:
  """Evaluates a served model on the val split as the pipeline's Evaluator.

  Args:
    model_dir: a served SavedModel (an ensemble or a pushed model).
    data_root: folder holding `tfrecords-jpeg-<S>x<S>/val/*.tfrec`.
    image_size: S.
    config: the settings whose EvalConfig to use (thresholds, classes);
      default: `PipelineConfig` defaults with the model's class names.
    output_path: where TFMA writes its results (default: a temporary
      folder, removed afterwards).

  Returns:
    Overall-slice metrics (macro F1 among them) and the threshold verdict.
  """
  # slow import: TFMA and TFX (10 s); only an evaluation needs them
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import evaluation_reader as evaluation_lib  # pylint: disable=g-import-not-at-top
  from modules import metrics as metrics_lib  # pylint: disable=g-import-not-at-top

  if config is None:
    model = inference_lib.load_serving_model(model_dir)
    config = config_lib.PipelineConfig(
        image_size=image_size,
        class_names=inference_lib.read_class_names(model))
  data_location = os.path.join(
      data_root, features.image_dir_name(image_size),
      features.KAGGLE_SPLIT_DIRS[features.EVAL_SPLIT],
      features.TFRECORD_PATTERN)
  if not tf.io.gfile.glob(data_location):
    raise ValueError(f"no files match {data_location} (check --data-root "
                     "and --image-size)")
  # TFMA's metrics as the Evaluator computes them; here it runs the model
  # itself (the pipeline's Evaluator reads EvalInference's predictions).
  eval_config = pipeline_lib.eval_config(config)
  shared_model = tfma.default_eval_shared_model(
      eval_saved_model_path=model_dir, eval_config=eval_config)
  with tempfile.TemporaryDirectory() as temporary:
    path = output_path or temporary
    tfma.run_model_analysis(eval_shared_model=shared_model,
                            eval_config=eval_config,
                            data_location=data_location,
                            file_format="tfrecords", output_path=path)
    result = evaluation_lib.load_evaluation(path)
  metrics = {name: value for name, value in
             result.metrics.get(evaluation_lib.CANDIDATE, {}).items()
             if name in evaluation_lib.HEADLINE_METRICS}
  # Judged as the pipeline judges a first model (no served model to
  # compare with): the absolute threshold on the point estimate.
  passed = (metrics.get(metrics_lib.MACRO_F1, 0.0) >=
            config.eval.min_macro_f1)
  return Evaluation(metrics=metrics, passed=passed,
                    data_location=data_location,
                    min_macro_f1=config.eval.min_macro_f1)


# ---------------------------------------------------------------------------
# Command line.

def parse_args(argv=None) -> argparse.Namespace:
  defaults = config_lib.EvalConfig()
  parser = argparse.ArgumentParser(
      description="Write a weighted ensemble of served models as one "
      "SavedModel with the same signatures, optionally evaluated by TFMA.",
      epilog="Exit status: 0 written (and thresholds passed); 1 written, "
      "thresholds failed; 2 error.")
  parser.add_argument("--model", action="append", required=True,
                      dest="models", metavar="DIR",
                      help="a member: served SavedModel folder (repeat, at "
                      "least twice)")
  parser.add_argument("--weights", default=None,
                      help="comma-separated non-negative weights, one per "
                      "--model in order, normalised to sum 1 (default: "
                      "equal)")
  parser.add_argument("--output", required=True,
                      help="folder to write the ensemble SavedModel to "
                      "(must not exist or be empty)")
  evaluation = parser.add_argument_group("evaluation")
  evaluation.add_argument("--evaluate", action="store_true",
                          help="evaluate the ensemble with TFMA on the val "
                          "split (needs --data-root)")
  evaluation.add_argument("--data-root", default=None,
                          help="folder holding tfrecords-jpeg-<S>x<S>/val/"
                          "*.tfrec")
  evaluation.add_argument("--image-size", type=int, default=None,
                          help="which tfrecords-jpeg-<S>x<S> folder to read "
                          "(default: the data root's only one)")
  evaluation.add_argument("--min-macro-f1", type=float,
                          default=defaults.min_macro_f1,
                          help="threshold: macro F1 must be at least this "
                          "(default: %(default)s, the pipeline's)")
  evaluation.add_argument("--eval-output", default=None,
                          help="keep TFMA's results in this folder "
                          "(default: a temporary folder, removed)")
  args = parser.parse_args(argv)
  if args.evaluate and not args.data_root:
    parser.error("--evaluate needs --data-root")
  return args


_NOISY_LOGGERS = ("tensorflow", "absl", "apache_beam")


@contextlib.contextmanager
def _quiet_library_logs() -> Iterator[None]:
  """TFMA, Beam and TensorFlow warn on every run, whatever the input: quiet
  them while the tool works, and give the process its levels back after,
  absl's verbosity included (TensorFlow's SavedModel export re-applies
  that verbosity to the absl logger, so a level left at ERROR here would
  come back at a later save in the same process, and drop its warnings)."""
  verbosity = absl_logging.get_verbosity()
  levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
  absl_logging.set_verbosity(absl_logging.ERROR)
  for name in _NOISY_LOGGERS:
    logging.getLogger(name).setLevel(logging.ERROR)
  try:
    yield
  finally:
    absl_logging.set_verbosity(verbosity)
    for name, level in levels.items():
      logging.getLogger(name).setLevel(level)


def main(argv=None) -> int:
  args = parse_args(argv)
  with _quiet_library_logs():
    return _run(args)


def _run(args: argparse.Namespace) -> int:
  """The tool's work, with the library logs quieted."""
  try:
    weights = parse_weights(args.weights) if args.weights else None
    ledger = build_ensemble(args.models, args.output, weights)
    print(f"wrote the ensemble of {len(args.models)} models to "
          f"{args.output}:")
    for member in ledger["members"]:
      print(f"  weight {member['weight']:.4f}  {member['model']}")
    if not args.evaluate:
      return 0
    image_size = args.image_size or data_listing.image_size_of(args.data_root)
    model = inference_lib.load_serving_model(args.output)
    config = config_lib.PipelineConfig(
        image_size=image_size,
        class_names=inference_lib.read_class_names(model)).replace(
            eval__min_macro_f1=args.min_macro_f1)
    result = evaluate(args.output, args.data_root, image_size, config,
                      args.eval_output)
  except (ValueError, OSError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(result.format())
  ledger["evaluation"] = dataclasses.asdict(result)
  ensemble_servable.write_ledger(args.output, ledger)
  return 0 if result.passed else 1


if __name__ == "__main__":
  sys.exit(main())
