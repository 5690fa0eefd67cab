"""The runners' logical flags, defined once, and the PipelineConfig they give.

`local_runner.py` and `kubeflow_runner.py` both call `add_logical_flags` and
`config_from_args`, so the same flags give the same config (and the same
`custom_config` of every component) whichever runner compiles the DAG.
A flag that is not given keeps the config's default (settings/config.py);
a flag that is given is applied or rejected with a message naming it, never
ignored. docs/configuration.md lists the flags and `--set`.
"""

import argparse
from typing import List

from pipeline.runner import overrides
from settings import config as config_lib
from settings import features

class FlagError(ValueError):
  """A logical flag has an unusable value."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Shows "(default: X)" only where it tells something: not for flags
  without a default (None, False, []), and not where the help text already
  says what the default is."""

  def _get_help_string(self, action):
    text = action.help or ""
    if (action.default in (None, False, [], argparse.SUPPRESS) or
        "default" in text.lower()):
      return text
    return super()._get_help_string(action)


def _positive_int(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"expected a positive integer, not {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(
        f"must be a positive integer, not {value}")
  return value


def _member_list(text: str):
  """"a,b:64" -> ("a", "b:64"); each checked when the config is built."""
  return tuple(part.strip() for part in text.split(",") if part.strip())


# flag, PipelineConfig.replace() key, type, choices, help (without default).
_VALUE_FLAGS = (
    ("--epochs", "train__epochs", _positive_int, None,
     "passes over the training split"),
    ("--batch-size", "train__per_replica_batch_size", _positive_int, None,
     "per-replica batch size"),
    ("--learning-rate", "train__learning_rate", float, None,
     "per-replica learning rate"),
    ("--lr-schedule", "train__lr_schedule", str, config_lib.LR_SCHEDULES,
     "learning-rate schedule"),
    ("--backbone", "model__backbone", str, config_lib.BACKBONES,
     "the network"),
    ("--weights", "model__weights", str, None,
     '"imagenet" or a local weights file (default: none, random '
     "initialisation)"),
    ("--input-size", "model__input_size", int, None,
     "side the images are resized to for the network (0: the data's image "
     "size)"),
    ("--spans", "data__spans", str, None,
     "with span-<N> folders in the data root: latest, N, or A-B (spans A "
     "to B together); auto: latest when span folders exist"),
    ("--ensemble", "ensemble__members", _member_list, None,
     "train an ensemble: BACKBONE[:INPUT_SIZE[:EPOCHS]],... one Trainer "
     "each, weights fitted by the Ensemble component (default: none, one "
     "model; docs/ensembles.md)"),
    ("--min-macro-f1", "eval__min_macro_f1", float, None,
     "Evaluator gate: absolute macro F1 threshold"),
    ("--max-macro-f1-drop", "eval__max_macro_f1_drop", float, None,
     "Evaluator gate: the tolerated drop against the served model (the "
     "paired interval of the change must not lie wholly below minus it)"),
)
# --x / --no-x flags: absent keeps the config's value.
_BOOLEAN_FLAGS = (
    ("--class-weighting", "train__class_weighting",
     "weight the loss by inverse class frequency"),
    ("--warm-start", "train__warm_start",
     "start training from the served model's weights "
     "(docs/configuration.md, \"Warm start\")"),
    ("--tune", "tune__enabled",
     "search hyperparameters with the Tuner first (budget and search "
     "space: --set tune.*)"),
)


def _dest(flag: str) -> str:
  return flag.lstrip("-").replace("-", "_")


def _config_value(config: config_lib.PipelineConfig, key: str):
  section, field = key.split("__")
  return getattr(getattr(config, section), field)


def logical_flag_names() -> List[str]:
  """Every logical flag, as a user types it (both runners have them all)."""
  return (["--image-size", "--classes"] +
          [flag for flag, *_ in _VALUE_FLAGS] +
          [flag for flag, *_ in _BOOLEAN_FLAGS] + ["--set"])


def add_logical_flags(parser: argparse.ArgumentParser) -> None:
  """Adds the logical flags, each defaulting to None ("keep the config's
  value"); the help shows the config's default."""
  defaults = config_lib.PipelineConfig()
  group = parser.add_argument_group(
      "logical settings (override settings/config.py)")
  group.add_argument(
      "--image-size", type=_positive_int, metavar="S",
      help="read tfrecords-jpeg-<S>x<S> under the data root (any positive "
      "size; default: the one such folder there)")
  group.add_argument(
      "--classes", metavar="FILE",
      help="class names file, one per line, line index = label (default: "
      "the 104 Kaggle names)")
  for flag, key, parse, choices, help_text in _VALUE_FLAGS:
    if "(default" not in help_text:
      help_text += f" (default: {_config_value(defaults, key)})"
    group.add_argument(flag, type=parse, choices=choices, help=help_text)
  for flag, key, help_text in _BOOLEAN_FLAGS:
    value = "on" if _config_value(defaults, key) else "off"
    group.add_argument(flag, action=argparse.BooleanOptionalAction,
                       help=f"{help_text} (default: {value})")
  group.add_argument(
      "--set", action="append", default=[], metavar="NAME=VALUE",
      help="override any PipelineConfig setting, parsed by its type: "
      "section.field=value (e.g. augment.rotation=0.1, "
      "model.backbone=efficientnet_b7), image_size=S or classes_file=FILE; "
      "repeatable, applied after the flags; docs/configuration.md lists "
      "them")


def image_size_given(args: argparse.Namespace) -> bool:
  """Whether --image-size or --set image_size=... gives the image size."""
  return args.image_size is not None or any(
      override.partition("=")[0].strip() == "image_size"
      for override in args.set)


def config_from_args(args: argparse.Namespace) -> config_lib.PipelineConfig:
  """The PipelineConfig the logical flags describe.

  Without --image-size or --set image_size, the size is the config's
  default: a runner takes the data's size from its data plan instead
  (pipeline/data_plan.py `make_plan`, `size_from_data`), where the data
  root is listed.

  Args:
    args: parsed flags of a parser that `add_logical_flags` built.

  Raises:
    FlagError: naming the flag whose value is unusable.
  """
  changes = {}
  if args.image_size is not None:
    changes["image_size"] = args.image_size
  if args.classes is not None:
    try:
      changes["class_names"] = tuple(features.load_class_names(args.classes))
    except (OSError, ValueError) as error:
      raise FlagError(f"--classes: {error}") from None
  for flag, key, *_ in _VALUE_FLAGS + _BOOLEAN_FLAGS:
    value = getattr(args, _dest(flag))
    if value is not None:
      changes[key] = value
  try:
    return overrides.apply_overrides(
        config_lib.PipelineConfig().replace(**changes), args.set)
  except ValueError as error:
    raise FlagError(str(error)) from None
