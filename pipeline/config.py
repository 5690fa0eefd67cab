"""Typed configuration: every logical setting of the pipeline, in one place.

Logical settings (image size, classes, backbone, epochs, thresholds...) live
here; physical settings (paths, runner arguments, container image) live in the
runners. The config reaches the module files (Transform, Trainer) as a plain
dict through `custom_config` (`to_dict` / `from_dict`), so the module files
never read globals or flags.

The defaults are the ones `make run` uses on the bundled sample data on a
2-core CPU; README.md, "Configuration", lists every field and the settings
for the real Kaggle data.
"""

import dataclasses
import json
from typing import Any, Dict, Optional, Sequence, Tuple

from pipeline import features

# Backbones the Trainer can build (see modules/model.py).
BACKBONES = (
    "simple_cnn",
    "mobilenet_v3_small",
    "inception_v3",
    "densenet201",
    "resnet50_v2",
    "vgg16",
) + tuple(f"efficientnet_b{i}" for i in range(8))

LR_SCHEDULES = ("constant", "cosine", "ramp_sustain_decay")
# The Vertex AI Trainer (tfx.extensions.google_cloud_ai_platform) reads its
# job settings from the Trainer's custom_config, next to this config, under
# keys with this prefix; `from_custom_config` leaves them out.
PLATFORM_KEY_PREFIX = "ai_platform_"
PRECISION_POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
EVAL_SPLIT_SOURCES = ("auto", "val", "holdout")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The network.

  Attributes:
    backbone: one of BACKBONES.
    weights: "imagenet", a path to a local weights file, or None (random).
    input_size: side in pixels the images are resized to before the network;
      0 means the data set's image size.
    dropout: dropout rate before the classification layer (0 disables it).
    fine_tune: train the backbone too (True) or only the head (False).
    warmup_epochs: with fine_tune, first train only the head (backbone
      frozen) for this many of the epochs, then unfreeze: the notebooks'
      two-phase transfer learning. 0 trains everything from the start.
  """
  backbone: str = "simple_cnn"
  weights: Optional[str] = None
  input_size: int = 64
  dropout: float = 0.1
  fine_tune: bool = True
  warmup_epochs: int = 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training loop.

  Attributes:
    epochs: passes over the training split; steps per epoch come from the
      number of training examples that Transform counted.
    per_replica_batch_size: batch per device; the global batch is this times
      the number of replicas of the distribution strategy.
    learning_rate: base (per replica) learning rate; scaled by replicas.
    lr_schedule: one of LR_SCHEDULES.
    label_smoothing: label smoothing of the cross-entropy loss.
    class_weighting: weight the loss by inverse class frequency (the rule of
      `pipeline.validation.class_weights_from_counts`).
    early_stopping_patience: stop after this many epochs without a better
      val_loss, restoring the best weights (0: off).
    reduce_lr_patience: halve the learning rate after this many epochs
      without a better val_loss (0: off; needs lr_schedule "constant", as a
      schedule would overwrite it every epoch).
    mixed_precision: "auto" (bfloat16 on TPU, float16 on GPU, float32 on
      CPU), or a Keras policy name: "float32", "mixed_float16",
      "mixed_bfloat16".
    tpu_address: TPU name or grpc:// address; None detects one.
    seed: seed of weights initialisation, shuffling and augmentation.
    shuffle_buffer: examples in the training shuffle buffer.
  """
  epochs: int = 25
  per_replica_batch_size: int = 16
  learning_rate: float = 3e-3
  lr_schedule: str = "cosine"
  label_smoothing: float = 0.0
  class_weighting: bool = False
  early_stopping_patience: int = 0
  reduce_lr_patience: int = 0
  mixed_precision: str = "auto"
  tpu_address: Optional[str] = None
  seed: int = 42
  shuffle_buffer: int = 2048


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """KerasCV augmentation, applied to the training split only.

  Strengths are fractions as KerasCV takes them; 0 switches a layer off.
  """
  flip: bool = True
  rotation: float = 0.0
  zoom: float = 0.0
  shift: float = 0.0
  saturation: float = 0.0
  rand_augment: bool = False
  mixup_alpha: float = 0.0
  cutmix_alpha: float = 0.0

  @property
  def mixes_labels(self) -> bool:
    """MixUp and CutMix blend labels, so the loss takes one-hot labels."""
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
  """DataValidator (pipeline/validation.py) settings.

  Attributes:
    max_imbalance_ratio: warn when the largest/smallest class count ratio of
      the training split is above this.
    min_class_examples: warn about training classes with fewer examples.
    scan_images: decode every image once and stop on a corrupt one or one of
      the wrong size (costs one pass over the data).
  """
  max_imbalance_ratio: float = 3.0
  min_class_examples: int = 5
  scan_images: bool = True


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """Evaluator gate (overall slice), and where the eval split comes from.

  Attributes:
    min_macro_f1: a model is blessed only if its macro F1 on the eval split
      is at least this.
    max_macro_f1_drop: and only if its macro F1 is at most this much below
      the latest blessed model's (ignored for the first model).
    split: one of EVAL_SPLIT_SOURCES: "val" evaluates on the data root's
      `val` folder; "holdout" on `holdout_percent` % of `train`, chosen by a
      hash of each record's `id`; "auto" uses `val` if that folder exists
      (looked up for a local data root; a gs:// root means "val").
    holdout_percent: with "holdout", the percent of `train` held out.
  """
  min_macro_f1: float = 0.6
  max_macro_f1_drop: float = 0.02
  split: str = "auto"
  holdout_percent: int = features.HOLDOUT_EVAL_PERCENT


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """All logical settings of the pipeline.

  Attributes:
    image_size: side of the Kaggle images to read (selects the
      `tfrecords-jpeg-<S>x<S>` directory).
    class_names: class names in label order; their number is the number of
      classes.
  """
  image_size: int = 192
  class_names: Tuple[str, ...] = dataclasses.field(
      default_factory=lambda: tuple(features.load_class_names()))
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
  eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
  validation: ValidationConfig = dataclasses.field(
      default_factory=ValidationConfig)

  def __post_init__(self):
    object.__setattr__(self, "class_names", tuple(self.class_names))
    self.validate()

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def model_input_size(self) -> int:
    return self.model.input_size or self.image_size

  def validate(self) -> None:
    """Raises ValueError naming the first setting that is out of range."""
    features.check_class_names(self.class_names)
    if self.image_size <= 0:
      raise ValueError(f"image_size must be positive, got {self.image_size}")
    if self.model.backbone not in BACKBONES:
      raise ValueError(
          f"unknown backbone {self.model.backbone!r}; choose from {BACKBONES}")
    if self.model.input_size < 0:
      raise ValueError("model.input_size must be >= 0")
    if not 0.0 <= self.model.dropout < 1.0:
      raise ValueError("model.dropout must be in [0, 1)")
    if self.train.epochs < 1:
      raise ValueError(f"train.epochs must be >= 1, got {self.train.epochs}")
    if self.train.per_replica_batch_size < 1:
      raise ValueError("train.per_replica_batch_size must be >= 1")
    if self.train.learning_rate <= 0:
      raise ValueError("train.learning_rate must be positive")
    if self.train.lr_schedule not in LR_SCHEDULES:
      raise ValueError(f"unknown lr_schedule {self.train.lr_schedule!r}; "
                       f"choose from {LR_SCHEDULES}")
    if not 0.0 <= self.train.label_smoothing < 1.0:
      raise ValueError("train.label_smoothing must be in [0, 1)")
    if self.train.mixed_precision not in PRECISION_POLICIES:
      raise ValueError(f"unknown mixed_precision "
                       f"{self.train.mixed_precision!r}; choose from "
                       f"{PRECISION_POLICIES}")
    if self.train.reduce_lr_patience and self.train.lr_schedule != "constant":
      raise ValueError("train.reduce_lr_patience needs lr_schedule "
                       "'constant' (a schedule resets the rate every epoch)")
    if not 0 <= self.model.warmup_epochs < self.train.epochs:
      raise ValueError("model.warmup_epochs must be in [0, train.epochs)")
    if self.model.warmup_epochs and not self.model.fine_tune:
      raise ValueError("model.warmup_epochs needs model.fine_tune (the "
                       "backbone is unfrozen after the warm-up)")
    for name in ("rotation", "zoom", "shift", "saturation", "mixup_alpha",
                 "cutmix_alpha"):
      if getattr(self.augment, name) < 0:
        raise ValueError(f"augment.{name} must be >= 0")
    if not 0.0 <= self.eval.min_macro_f1 <= 1.0:
      raise ValueError("eval.min_macro_f1 must be in [0, 1]")
    if self.validation.max_imbalance_ratio < 1:
      raise ValueError("validation.max_imbalance_ratio must be >= 1")
    if self.eval.max_macro_f1_drop < 0:
      raise ValueError("eval.max_macro_f1_drop must be >= 0")
    if self.eval.split not in EVAL_SPLIT_SOURCES:
      raise ValueError(f"unknown eval.split {self.eval.split!r}; choose from "
                       f"{EVAL_SPLIT_SOURCES}")
    if not 1 <= self.eval.holdout_percent <= 50:
      raise ValueError("eval.holdout_percent must be in [1, 50]")

  def to_dict(self) -> Dict[str, Any]:
    """A JSON-serialisable dict (what `custom_config` carries)."""
    result = dataclasses.asdict(self)
    result["class_names"] = list(self.class_names)
    return result

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> "PipelineConfig":
    """Inverse of `to_dict`; unknown keys are an error, not ignored."""
    values = dict(values)
    for key, section_cls in _SECTIONS.items():
      if key in values:
        values[key] = section_cls(**values[key])
    return cls(**values)

  @classmethod
  def from_custom_config(cls, custom_config: Dict[str, Any]
                         ) -> "PipelineConfig":
    """The config in a component's `custom_config`, which may also hold the
    Vertex AI Trainer's job settings (keys starting PLATFORM_KEY_PREFIX)."""
    return cls.from_dict({
        key: value for key, value in custom_config.items()
        if not key.startswith(PLATFORM_KEY_PREFIX)})

  def replace(self, **changes) -> "PipelineConfig":
    """A copy with top-level fields or `section__field` values changed.

    Example: `config.replace(image_size=512, train__epochs=20)`.
    """
    top: Dict[str, Any] = {}
    nested: Dict[str, Dict[str, Any]] = {}
    for key, value in changes.items():
      if "__" in key:
        section, field = key.split("__", 1)
        nested.setdefault(section, {})[field] = value
      else:
        top[key] = value
    for section, fields in nested.items():
      top[section] = dataclasses.replace(getattr(self, section), **fields)
    return dataclasses.replace(self, **top)

  def with_overrides(self, overrides: Sequence[str]) -> "PipelineConfig":
    """A copy with `section.field=value` strings applied (for --set flags).

    Values are parsed by the type of the field's current value: booleans
    take true/false/1/0/yes/no, "none" clears an optional string.

    Raises:
      ValueError: naming the override that is malformed or unknown.
    """
    changes: Dict[str, Any] = {}
    for override in overrides:
      key, sep, text = override.partition("=")
      section, dot, field = key.strip().partition(".")
      if not sep or not dot:
        raise ValueError(f"--set {override!r}: expected section.field=value")
      if section not in _SECTIONS:
        raise ValueError(f"--set {override!r}: unknown section {section!r}; "
                         f"choose from {sorted(_SECTIONS)}")
      names = {f.name for f in dataclasses.fields(_SECTIONS[section])}
      if field not in names:
        raise ValueError(f"--set {override!r}: {section} has no field "
                         f"{field!r}; fields: {sorted(names)}")
      current = getattr(getattr(self, section), field)
      changes[f"{section}__{field}"] = _parse_value(override, text.strip(),
                                                    current)
    return self.replace(**changes)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)


_SECTIONS = {
    "model": ModelConfig,
    "train": TrainConfig,
    "augment": AugmentConfig,
    "eval": EvalConfig,
    "validation": ValidationConfig,
}


def _parse_value(override: str, text: str, current: Any) -> Any:
  """Parses `text` as the type of `current` (see with_overrides)."""
  if isinstance(current, bool):
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
      return True
    if lowered in ("false", "0", "no"):
      return False
    raise ValueError(f"--set {override!r}: expected true or false")
  if text.lower() == "none" and not isinstance(current, (int, float)):
    return None
  try:
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
  except ValueError:
    raise ValueError(f"--set {override!r}: expected a "
                     f"{type(current).__name__}") from None
  return text


def add_override_argument(parser) -> None:
  """Adds the runners' repeatable `--set SECTION.FIELD=VALUE` flag.

  Its values go to `PipelineConfig.with_overrides`.
  """
  parser.add_argument("--set", action="append", default=[],
                      metavar="SECTION.FIELD=VALUE",
                      help="override any PipelineConfig field, parsed by its "
                      "type, e.g. --set augment.rotation=0.1 --set "
                      "model.backbone=efficientnet_b7 (repeatable; README, "
                      "Configuration, lists the fields)")
