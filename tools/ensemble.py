"""A weighted ensemble of served models, written as ONE served model.

    python tools/ensemble.py --model runs/a/serving/1 --model runs/b/serving/7 \\
        --weights 0.6,0.4 --output runs/ensemble/1
    python tools/ensemble.py --model A --model B --output DIR \\
        --evaluate --data-root data/sample

The ensemble is a SavedModel with the same contract as a pushed model
(`modules.serving.export_serving_model`): signatures `serving_default`
(serialized tf.Examples) and `serving_image_bytes` (JPEG/PNG bytes), and
outputs `probabilities`, `class_index`, `class_name`. Its probabilities are the weighted average of its members'
probabilities; `class_index` and `class_name` are taken from that average.
Each member runs its own signature, hence its own Transform graph, so
members trained at different input sizes or with different backbones mix
freely.

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
import dataclasses
import datetime
import json
import logging
import math
import os
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline import runtime

runtime.configure()  # Before TensorFlow is imported.
import numpy as np
import tensorflow as tf

from modules import serving
from settings import config as config_lib
from settings import features
from pipeline import flags
from pipeline.components import serving_model as inference_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

LEDGER_FILE = os.path.join("assets.extra", "ensemble.json")


# ---------------------------------------------------------------------------
# Weights.

def parse_weights(text: str) -> List[float]:
  """"0.6,0.4" -> [0.6, 0.4]; ValueError naming an item that is no number."""
  weights = []
  for item in text.split(","):
    try:
      weights.append(float(item))
    except ValueError:
      raise ValueError(f"--weights: {item.strip()!r} is not a number "
                       "(expected e.g. 0.6,0.4)") from None
  return weights


def normalise_weights(weights: Optional[Sequence[float]],
                      num_members: int) -> List[float]:
  """Equal weights if None; else checked and scaled to sum to 1.

  Raises:
    ValueError: if the count differs from `num_members`, a weight is
      negative or not finite, or all are 0.
  """
  if weights is None:
    return [1.0 / num_members] * num_members
  if len(weights) != num_members:
    raise ValueError(f"{len(weights)} weights for {num_members} models; "
                     "give one weight per --model")
  for position, weight in enumerate(weights):
    if not math.isfinite(weight) or weight < 0:
      raise ValueError(f"weight {position + 1} is {weight}; weights must be "
                       "finite and non-negative")
  total = math.fsum(weights)
  if total <= 0:
    raise ValueError("at least one weight must be positive")
  return [weight / total for weight in weights]


# ---------------------------------------------------------------------------
# The ensemble module.

class EnsembleModule(tf.Module):
  """Members (loaded SavedModels), their weights and the class names.

  The members are tracked attributes, so saving this module saves their
  variables and functions with it: the written SavedModel needs nothing
  else at serving time.
  """

  def __init__(self, members: Sequence, weights: Sequence[float],
               class_names: Sequence[str]):
    super().__init__()
    if len(members) != len(weights):
      raise ValueError(f"{len(weights)} weights for {len(members)} members")
    self.members = list(members)
    self.member_weights = tf.Variable(
        np.asarray(weights, dtype=np.float32), trainable=False,
        name="member_weights")
    # A variable, not a constant, so clients (and pipeline/components/serving_model.py)
    # can read the names from the loaded model as `model.class_names`.
    self.class_names = tf.Variable(list(class_names), dtype=tf.string,
                                   trainable=False, name="class_names")

  def _combine(self, member_outputs: Sequence[Dict[str, tf.Tensor]]):
    stacked = tf.stack(
        [outputs[features.PROBABILITIES_KEY] for outputs in member_outputs])
    # [members] . [members, batch, classes] -> [batch, classes]
    probabilities = tf.tensordot(self.member_weights, stacked, axes=1)
    return serving.prediction_outputs(probabilities, self.class_names)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, serialized):
    """Serialized tf.Examples -> weighted-average probabilities, class."""
    return self._combine([
        member.signatures[inference_lib.SERVING_DEFAULT](examples=serialized)
        for member in self.members])

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve_image_bytes(self, image_bytes):
    """Encoded images (JPEG or PNG, any size) -> the same outputs."""
    return self._combine([
        member.signatures[inference_lib.SERVING_IMAGE_BYTES](
            image_bytes=image_bytes)
        for member in self.members])


def _check_same_classes(model_dirs: Sequence[str],
                        names_per_member: Sequence[List[str]]) -> None:
  first = names_per_member[0]
  for model_dir, names in zip(model_dirs[1:], names_per_member[1:]):
    if len(names) != len(first):
      raise ValueError(f"{model_dir} has {len(names)} classes, "
                       f"{model_dirs[0]} has {len(first)}; members must "
                       "have the same class names")
    for index, (mine, theirs) in enumerate(zip(first, names)):
      if mine != theirs:
        raise ValueError(f"{model_dir} names class {index} {theirs!r}, "
                         f"{model_dirs[0]} names it {mine!r}; members must "
                         "have the same class names in the same order")


def build_ensemble(model_dirs: Sequence[str], output_dir: str,
                   weights: Optional[Sequence[float]] = None
                   ) -> Dict[str, object]:
  """Writes the ensemble of `model_dirs` as one SavedModel.

  Args:
    model_dirs: two or more served SavedModels (pushed models or ensembles).
    output_dir: where to write; must not exist or be empty.
    weights: one non-negative weight per model (None: equal); normalised.

  Returns:
    The ledger written to `<output_dir>/assets.extra/ensemble.json`.

  Raises:
    ValueError: on fewer than two models, bad weights, members with
      different class names, or a non-empty output folder.
  """
  if len(model_dirs) < 2:
    raise ValueError("an ensemble needs at least two --model folders")
  normalised = normalise_weights(weights, len(model_dirs))
  if os.path.exists(output_dir) and os.listdir(output_dir):
    raise ValueError(f"{output_dir} exists and is not empty; choose a new "
                     "--output folder")
  members = [inference_lib.load_serving_model(d) for d in model_dirs]
  names_per_member = [inference_lib.read_class_names(m) for m in members]
  _check_same_classes(model_dirs, names_per_member)
  module = EnsembleModule(members, normalised, names_per_member[0])
  signatures = {
      inference_lib.SERVING_DEFAULT:
          module.serve_examples.get_concrete_function(),
      inference_lib.SERVING_IMAGE_BYTES:
          module.serve_image_bytes.get_concrete_function(),
  }
  serving.save_servable(module, output_dir, signatures)
  ledger = {
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      "members": [{"model": os.path.abspath(d), "weight": w}
                  for d, w in zip(model_dirs, normalised)],
      "num_classes": len(names_per_member[0]),
  }
  _write_ledger(output_dir, ledger)
  return ledger


def _write_ledger(model_dir: str, ledger: Dict[str, object]) -> None:
  path = os.path.join(model_dir, LEDGER_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(ledger, f, indent=2)


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
    # Imported here: it imports TFMA, which takes seconds.
    from pipeline.components import evaluation as evaluation_lib  # pylint: disable=g-import-not-at-top
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
  # Imported here: TFMA and TFX take seconds to import and only this needs
  # them.
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline.components import evaluation as evaluation_lib  # pylint: disable=g-import-not-at-top

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
  eval_config = pipeline_lib.eval_config(config)
  # rubber_stamp: judged without a baseline, as the pipeline judges its
  # first model; TFMA then drops the change threshold.
  shared_model = tfma.default_eval_shared_model(
      eval_saved_model_path=model_dir, eval_config=eval_config,
      rubber_stamp=True)
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
  return Evaluation(metrics=metrics, passed=bool(result.validation_ok),
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


def _quiet_library_logs() -> None:
  """TFMA, Beam and TensorFlow warn on every run, whatever the input."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.ERROR)
  for name in ("tensorflow", "absl", "apache_beam"):
    logging.getLogger(name).setLevel(logging.ERROR)


def main(argv=None) -> int:
  args = parse_args(argv)
  _quiet_library_logs()
  try:
    weights = parse_weights(args.weights) if args.weights else None
    ledger = build_ensemble(args.models, args.output, weights)
    print(f"wrote the ensemble of {len(args.models)} models to "
          f"{args.output}:")
    for member in ledger["members"]:
      print(f"  weight {member['weight']:.4f}  {member['model']}")
    if not args.evaluate:
      return 0
    image_size = args.image_size or flags.image_size_of(args.data_root)
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
  _write_ledger(args.output, ledger)
  return 0 if result.passed else 1


if __name__ == "__main__":
  sys.exit(main())
