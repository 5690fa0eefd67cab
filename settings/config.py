"""Typed configuration: every logical setting of the pipeline, in one place.

Logical settings (image size, classes, backbone, epochs, thresholds...) live
here; physical settings (paths, runner arguments, container image) live in the
runners. Each component receives only the settings it reads, so TFX's cache
re-runs only what a change touches: Transform gets `transform_settings()`,
the Trainer `trainer_settings()` (plain dicts through `custom_config`, read
back as the typed `TransformSettings` / `TrainerSettings`), the Evaluator its
gate through the TFMA EvalConfig, the DataValidator its thresholds. The
module files never read globals or flags.

The defaults are the ones `make run` uses on the bundled sample data on a
2-core CPU; docs/configuration.md lists every field and the settings
for the real Kaggle data.
"""

import dataclasses
import json
from typing import Any, Dict, Optional, Sequence, Tuple

from settings import features
from settings import spans

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
PREDICT_TEST_SOURCES = ("auto", "on", "off")
# validation.label_drift_comparator: TFDV's L-infinity distance or
# Jensen-Shannon divergence.
LABEL_DRIFT_COMPARATORS = ("linf", "js")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which data a run reads (settings/spans.py).

  Attributes:
    spans: with `span-<N>/tfrecords-jpeg-<S>x<S>/...` folders in the data
      root, which spans to train on: "latest" (the highest N, found when
      ImportExampleGen runs), "N" (that span), "A-B" (spans A to B
      together); "auto" is "latest" when the data root holds span folders
      (looked up for a local data root) and the plain layout otherwise.
  """
  spans: str = "auto"


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
    class_weighting: weight the loss by class, scikit-learn's "balanced"
      rule n / (classes x n_c) (`modules.class_weights`).
    early_stopping_patience: stop after this many epochs without a better
      val_loss, restoring the best weights (0: off).
    reduce_lr_patience: halve the learning rate after this many epochs
      without a better val_loss (0: off; needs lr_schedule "constant", as a
      schedule would overwrite it every epoch).
    mixed_precision: "auto" (bfloat16 on TPU, float16 on GPU, float32 on
      CPU), or a Keras policy name: "float32", "mixed_float16",
      "mixed_bfloat16".
    tpu_address: TPU name or grpc:// address; None detects one. One given
      here that does not start stops the run; a detected one falls back.
    worker_timeout_seconds: with several workers (`TF_CONFIG`), the longest
      wait for the cluster to start and for each collective; a worker that
      stops is noticed within about 20 s (`modules/strategy.py`).
    seed: seed of weights initialisation, shuffling and augmentation.
    shuffle_buffer: examples in the training shuffle buffer.
    deterministic: reproducible training: the same seed, data and hardware
      give the same model (TF op determinism on, every generator seeded;
      slower, see `modules.trainer.make_deterministic`). Off, two runs may
      differ: threads may add floating-point numbers in another order.
    warm_start: start from the weights of the latest blessed model (the
      Trainer's `base_model`, `modules/warm_start.py`) instead of from
      scratch; without a blessed model, or with one whose weights do not
      fit, training starts from scratch and says why.
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
  worker_timeout_seconds: int = 600
  seed: int = 42
  shuffle_buffer: int = 2048
  deterministic: bool = False
  warm_start: bool = False


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
  """DataValidator (pipeline/components/data_validator/) settings.

  Attributes:
    max_imbalance_ratio: warn when the largest/smallest class count ratio of
      the training split is above this.
    min_class_examples: warn about training classes with fewer examples.
    scan_images: decode every image once and stop on a corrupt one or one of
      the wrong size (costs one pass over the data).
    drift_check: compare the training split with the data the latest
      blessed model was trained on (its profile, stored in the Model by the
      Trainer: label shares, image byte size, height, width, mean R, G, B;
      docs/data-validation.md). Costs one more pass over the training
      split when there is a blessed model to compare with.
    label_drift_comparator: "linf" (L-infinity distance: the largest change
      of a class's share) or "js" (Jensen-Shannon divergence), TFDV's drift
      comparators for the label.
    label_drift_threshold: the label's distance above which it has drifted.
      With "linf" it is the largest change of any class's share of the
      training split: 0.02 is a 2-point move, large where 104 classes share
      the data (a Kaggle class holds 0.1% to 6%; 0.1 would miss even a
      class that vanished).
    image_drift_threshold: the Jensen-Shannon divergence of an image
      feature's histogram above which it has drifted.
    stop_on_drift: drift is an error that stops the run before Transform;
      off, a warning in the summary and the report.
    allow_one_class_eval: let the run go on when the eval split holds
      examples of one class only. Off (the default), that stops the run
      before Transform: the gate's macro F1 over one class is that class's
      F1 alone, which says nothing of the other classes.
  """
  max_imbalance_ratio: float = 3.0
  min_class_examples: int = 5
  scan_images: bool = True
  drift_check: bool = True
  label_drift_comparator: str = "linf"
  label_drift_threshold: float = 0.02
  image_drift_threshold: float = 0.1
  stop_on_drift: bool = False
  allow_one_class_eval: bool = False


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
class PredictConfig:
  """Batch prediction of the unlabelled test split (BatchPrediction node).

  Attributes:
    test_split: "auto" predicts `<data_root>/tfrecords-jpeg-<S>x<S>/test`
      and writes the Kaggle submission.csv when that folder holds *.tfrec
      files (looked up for a local data root; a gs:// root means it does;
      a missing or empty folder skips it, with a note); "on" always (a
      missing folder fails the run); "off" never (no prediction nodes).
    batch_size: records per model call of the BatchInference nodes.
  """
  test_split: str = "auto"
  batch_size: int = 64


@dataclasses.dataclass(frozen=True)
class TuneConfig:
  """Hyperparameter search before training (TFX Tuner with KerasTuner).

  Off by default. On, the Tuner runs `trials` random trials of
  `epochs_per_trial` epochs each over the choices below, scored by
  val_accuracy on the eval split; the Trainer then trains
  `train.epochs` epochs with the best trial's values
  (modules/tuner.py; docs/batch-prediction-and-model-card.md).

  Attributes:
    enabled: add the Tuner node (`--tune`).
    trials: the budget: how many trials.
    epochs_per_trial: the budget: epochs of each trial.
    learning_rates: choices of train.learning_rate.
    dropouts: choices of model.dropout.
    augment_strengths: choices of augmentation strength: augment.rotation,
      .zoom and .shift all take the value.
    backbones: choices of model.backbone (those this machine can train:
      on a CPU the small ones).
  """
  enabled: bool = False
  trials: int = 4
  epochs_per_trial: int = 2
  learning_rates: Tuple[float, ...] = (1e-3, 3e-3)
  dropouts: Tuple[float, ...] = (0.1, 0.3)
  augment_strengths: Tuple[float, ...] = (0.0, 0.1)
  backbones: Tuple[str, ...] = ("simple_cnn", "mobilenet_v3_small")

  def __post_init__(self):
    for name in ("learning_rates", "dropouts", "augment_strengths",
                 "backbones"):
      object.__setattr__(self, name, tuple(getattr(self, name)))


class _DictConvertible:
  """to_dict / from_dict of the config and of the components' views."""

  def to_dict(self) -> Dict[str, Any]:
    """A JSON-serialisable dict (what `custom_config` carries)."""
    result = dataclasses.asdict(self)
    if "class_names" in result:
      result["class_names"] = list(result["class_names"])
    return result

  @classmethod
  def from_dict(cls, values: Dict[str, Any]):
    """Inverse of `to_dict`; unknown keys are an error, not ignored."""
    values = dict(values)
    for key, section_cls in _SECTIONS.items():
      if key in values:
        values[key] = section_cls(**values[key])
    return cls(**values)

  @classmethod
  def from_custom_config(cls, custom_config: Dict[str, Any]):
    """The settings in a component's `custom_config`, which may also hold the
    Vertex AI Trainer's job settings (keys starting PLATFORM_KEY_PREFIX)."""
    return cls.from_dict({
        key: value for key, value in custom_config.items()
        if not key.startswith(PLATFORM_KEY_PREFIX)})


class _ClassesAndSize(_DictConvertible):
  """What PipelineConfig and TrainerSettings derive from their class names,
  image size and model section."""

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def input_size(self) -> int:
    """The network's input side: `model.input_size`, or with 0 the data's
    `image_size`. (`image_size` is always the data's.)"""
    return self.model.input_size or self.image_size


@dataclasses.dataclass(frozen=True)
class TransformSettings(_DictConvertible):
  """What Transform's preprocessing_fn reads (`transform_settings()`).

  Attributes:
    input_size: side in pixels the images are resized to (the model's input
      size, resolved).
  """
  input_size: int

  def __post_init__(self):
    if self.input_size <= 0:
      raise ValueError(f"input_size must be positive, got {self.input_size}")


@dataclasses.dataclass(frozen=True)
class TrainerSettings(_ClassesAndSize):
  """What the Trainer's run_fn reads (`trainer_settings()`): the fields of
  PipelineConfig it needs, under the same names, so model code takes either.
  """
  image_size: int
  class_names: Tuple[str, ...]
  model: ModelConfig
  train: TrainConfig
  augment: AugmentConfig

  def __post_init__(self):
    object.__setattr__(self, "class_names", tuple(self.class_names))
    # The same checks as the whole config's: the other sections' defaults
    # are valid, so only these fields can fail.
    PipelineConfig(**{field.name: getattr(self, field.name)
                      for field in dataclasses.fields(self)})


@dataclasses.dataclass(frozen=True)
class TunerSettings(TrainerSettings):
  """What the Tuner's tuner_fn reads (`tuner_settings()`): the Trainer's
  settings and the search space and budget."""
  tune: "TuneConfig" = None

  def __post_init__(self):
    object.__setattr__(self, "tune", self.tune or TuneConfig())
    super().__post_init__()


@dataclasses.dataclass(frozen=True)
class PipelineConfig(_ClassesAndSize):
  """All logical settings of the pipeline.

  Attributes:
    image_size: side of the Kaggle images to read (selects the
      `tfrecords-jpeg-<S>x<S>` directory).
    class_names: class names in label order; their number is the number of
      classes.
  """
  image_size: int = features.DEFAULT_IMAGE_SIZE
  class_names: Tuple[str, ...] = dataclasses.field(
      default_factory=lambda: tuple(features.load_class_names()))
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
  eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
  validation: ValidationConfig = dataclasses.field(
      default_factory=ValidationConfig)
  predict: PredictConfig = dataclasses.field(default_factory=PredictConfig)
  tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)

  def __post_init__(self):
    object.__setattr__(self, "class_names", tuple(self.class_names))
    self.validate()

  def validate(self) -> None:
    """Raises ValueError naming the first setting that is out of range."""
    features.check_class_names(self.class_names)
    if self.image_size <= 0:
      raise ValueError(f"image_size must be positive, got {self.image_size}")
    spans.parse_setting(self.data.spans)
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
    if self.train.worker_timeout_seconds < 1:
      raise ValueError("train.worker_timeout_seconds must be >= 1")
    if self.train.lr_schedule not in LR_SCHEDULES:
      raise ValueError(f"unknown lr_schedule {self.train.lr_schedule!r}; "
                       f"choose from {LR_SCHEDULES}")
    if not 0.0 <= self.train.label_smoothing < 1.0:
      raise ValueError("train.label_smoothing must be in [0, 1)")
    if self.train.mixed_precision not in PRECISION_POLICIES:
      raise ValueError(f"unknown mixed_precision "
                       f"{self.train.mixed_precision!r}; choose from "
                       f"{PRECISION_POLICIES}")
    for name in ("deterministic", "warm_start"):
      if not isinstance(getattr(self.train, name), bool):
        raise ValueError(f"train.{name} must be true or false, got "
                         f"{getattr(self.train, name)!r}")
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
    if self.validation.label_drift_comparator not in LABEL_DRIFT_COMPARATORS:
      raise ValueError(f"unknown validation.label_drift_comparator "
                       f"{self.validation.label_drift_comparator!r}; choose "
                       f"from {LABEL_DRIFT_COMPARATORS}")
    # Both measures lie in [0, 1] (TFDV's JS divergence uses log base 2).
    for name in ("label_drift_threshold", "image_drift_threshold"):
      if not 0.0 <= getattr(self.validation, name) <= 1.0:
        raise ValueError(f"validation.{name} must be in [0, 1]")
    if self.eval.max_macro_f1_drop < 0:
      raise ValueError("eval.max_macro_f1_drop must be >= 0")
    if self.eval.split not in EVAL_SPLIT_SOURCES:
      raise ValueError(f"unknown eval.split {self.eval.split!r}; choose from "
                       f"{EVAL_SPLIT_SOURCES}")
    if not 1 <= self.eval.holdout_percent <= 50:
      raise ValueError("eval.holdout_percent must be in [1, 50]")
    if self.predict.test_split not in PREDICT_TEST_SOURCES:
      raise ValueError(f"unknown predict.test_split "
                       f"{self.predict.test_split!r}; choose from "
                       f"{PREDICT_TEST_SOURCES}")
    if self.predict.batch_size < 1:
      raise ValueError("predict.batch_size must be >= 1")
    tune = self.tune
    if tune.trials < 1 or tune.epochs_per_trial < 1:
      raise ValueError("tune.trials and tune.epochs_per_trial must be >= 1")
    for name in ("learning_rates", "dropouts", "augment_strengths",
                 "backbones"):
      if not getattr(tune, name):
        raise ValueError(f"tune.{name} needs at least one choice")
    unknown = [b for b in tune.backbones if b not in BACKBONES]
    if unknown:
      raise ValueError(f"unknown tune.backbones {unknown}; choose from "
                       f"{BACKBONES}")
    if any(rate <= 0 for rate in tune.learning_rates):
      raise ValueError("tune.learning_rates must be positive")
    if any(not 0.0 <= rate < 1.0 for rate in tune.dropouts):
      raise ValueError("tune.dropouts must be in [0, 1)")
    if any(strength < 0 for strength in tune.augment_strengths):
      raise ValueError("tune.augment_strengths must be >= 0")

  def transform_settings(self) -> Dict[str, Any]:
    """Transform's custom_config: only what preprocessing_fn reads, so that
    TFX's cache re-runs Transform only when one of these changes."""
    return TransformSettings(input_size=self.input_size).to_dict()

  def trainer_settings(self) -> Dict[str, Any]:
    """The Trainer's custom_config: the model, training and augmentation
    settings and the classes (not the gate, not the validator's thresholds:
    changing those must not retrain)."""
    return TrainerSettings(
        image_size=self.image_size, class_names=self.class_names,
        model=self.model, train=self.train, augment=self.augment).to_dict()

  def tuner_settings(self) -> Dict[str, Any]:
    """The Tuner's custom_config: the Trainer's settings and the search."""
    return TunerSettings(
        image_size=self.image_size, class_names=self.class_names,
        model=self.model, train=self.train, augment=self.augment,
        tune=self.tune).to_dict()

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
    """A copy with `section.field=value` or `field=value` strings applied
    (for --set flags).

    Values are parsed by the type of the field's current value: booleans
    take true/false/1/0/yes/no, "none" clears an optional string. The
    top-level fields are `image_size` and, read from a file of one name a
    line, `classes_file` (it sets `class_names`).

    Raises:
      ValueError: naming the override that is malformed or unknown.
    """
    changes: Dict[str, Any] = {}
    for override in overrides:
      key, sep, text = override.partition("=")
      section, dot, field = key.strip().partition(".")
      text = text.strip()
      if not sep:
        raise ValueError(f"--set {override!r}: expected section.field=value "
                         f"or field=value")
      if not dot:
        changes.update(_top_level_override(override, section, text, self))
        continue
      if section not in _SECTIONS:
        raise ValueError(f"--set {override!r}: unknown section {section!r}; "
                         f"choose from {sorted(_SECTIONS)}")
      names = {f.name for f in dataclasses.fields(_SECTIONS[section])}
      if field not in names:
        raise ValueError(f"--set {override!r}: {section} has no field "
                         f"{field!r}; fields: {sorted(names)}")
      current = getattr(getattr(self, section), field)
      changes[f"{section}__{field}"] = _parse_value(override, text, current)
    return self.replace(**changes)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)


_SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "augment": AugmentConfig,
    "eval": EvalConfig,
    "validation": ValidationConfig,
    "predict": PredictConfig,
    "tune": TuneConfig,
}


# `--set NAME=VALUE` without a section: the top-level fields, and the class
# names through the file that holds them.
CLASSES_FILE_OVERRIDE = "classes_file"
_TOP_LEVEL_OVERRIDES = ("image_size", CLASSES_FILE_OVERRIDE)


def _top_level_override(override: str, name: str, text: str,
                        config: "PipelineConfig") -> Dict[str, Any]:
  """The `replace` changes of a `--set name=value` without a section."""
  if name == CLASSES_FILE_OVERRIDE:
    try:
      return {"class_names": tuple(features.load_class_names(text))}
    except OSError as error:
      raise ValueError(f"--set {override!r}: {error}") from None
  if name not in _TOP_LEVEL_OVERRIDES:
    raise ValueError(
        f"--set {override!r}: unknown setting {name!r}; top-level settings: "
        f"{', '.join(_TOP_LEVEL_OVERRIDES)}; or section.field=value with a "
        f"section from {sorted(_SECTIONS)}")
  return {name: _parse_value(override, text, getattr(config, name))}


def _parse_value(override: str, text: str, current: Any) -> Any:
  """Parses `text` as the type of `current` (see with_overrides); a tuple
  takes comma-separated values of its first element's type."""
  if isinstance(current, tuple):
    return tuple(_parse_value(override, part.strip(), current[0])
                 for part in text.split(",") if part.strip())
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

