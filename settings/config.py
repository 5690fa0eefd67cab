"""Typed configuration: every logical setting of the pipeline, in one place,
and the slice of it each component receives.

Logical settings (image size, classes, backbone, epochs, thresholds...) live
here, in the sections of settings/sections.py; physical settings (paths,
runner arguments, container image) live in the runners. Each component
receives only the settings it reads, so TFX's cache re-runs only what a
change touches, and every component receives them the same way: one typed
view of the config, as a plain dict in its `custom_config` execution
property, read back with `<View>.from_custom_config`:

| component | view | slice |
|---|---|---|
| Transform | `TransformSettings` | `transform_settings()` |
| Trainer | `TrainerSettings` | `trainer_settings()` |
| Tuner | `TunerSettings` | `tuner_settings()` |
| SchemaGen | `SchemaSettings` | `schema_settings()` |
| ExampleValidator (TFX's) | `ExampleValidatorSettings` | `example_validator_settings()`, as TFDV SQL rules (pipeline/components/util/class_balance.py) |
| ImageValidator | `ImageValidatorSettings` | `image_validator_settings()` |
| EvalInference, BatchPrediction | `InferenceSettings` | `inference_settings()` |
| Evaluator | `GateSettings` | `gate_settings()` |
| LiteRTExport | `LiteSettings` | `lite_settings()` |

The Evaluator also takes TFMA's EvalConfig, the metrics TFMA computes
(pipeline/pipeline.py `eval_config`); its gate's thresholds and rule are
its GateSettings. The module files never read globals or flags.

The defaults are the ones `make run` uses on the bundled sample data on a
2-core CPU; docs/configuration.md lists every field and the settings
for the real Kaggle data.
"""

import dataclasses
from typing import Any, Dict, Tuple

from settings import allowed_values
from settings import ensemble as ensemble_settings
from settings import features
from settings import label_space
# The sections and their choices, re-exported: `config_lib.TrainConfig`.
from settings.sections import (  # pylint: disable=unused-import
    AugmentConfig, BACKBONES, CHANGE_RULES, DataConfig, DETERMINISM,
    EVAL_SPLIT_SOURCES, EvalConfig, LABEL_DRIFT_COMPARATORS, LiteConfig,
    LR_SCHEDULES, ModelConfig, PLATFORM_KEY_PREFIX,
    PRECISION_POLICIES, PREDICT_TEST_SOURCES, PredictConfig, TrainConfig,
    TuneConfig, ValidationConfig)

# The pipeline's name in ML Metadata (and on Vertex AI / Kubeflow) is this
# prefix and the fingerprint of its class list: each label space is a
# pipeline context of its own (settings/label_space.py says who relies on
# it).
PIPELINE_NAME_PREFIX = "flowers"


def pipeline_name(class_names) -> str:
  """"flowers-<fingerprint>": the pipeline of one label space."""
  return f"{PIPELINE_NAME_PREFIX}-{label_space.fingerprint(class_names)}"


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
    for key, section_cls in SECTIONS.items():
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
  # An ensemble member's: the fit slice it leaves out (modules/fit_slice.py).
  fit_slice_percent: int = 0

  def __post_init__(self):
    object.__setattr__(self, "class_names", tuple(self.class_names))
    # The same checks as the whole config's: the other sections' defaults
    # are valid, so only these fields can fail.
    PipelineConfig(**{field.name: getattr(self, field.name)
                      for field in dataclasses.fields(self)
                      if field.name != "fit_slice_percent"})

  def to_dict(self) -> Dict[str, Any]:
    result = super().to_dict()
    # Absent when 0: a single model's custom_config, hence its cache, is
    # what it was before ensembles.
    if not result.get("fit_slice_percent"):
      result.pop("fit_slice_percent", None)
    return result


@dataclasses.dataclass(frozen=True)
class TunerSettings(TrainerSettings):
  """What the Tuner's tuner_fn reads (`tuner_settings()`): the Trainer's
  settings and the search space and budget."""
  tune: "TuneConfig" = None

  def __post_init__(self):
    object.__setattr__(self, "tune", self.tune or TuneConfig())
    super().__post_init__()


@dataclasses.dataclass(frozen=True)
class SchemaSettings(_DictConvertible):
  """What SchemaGen reads (`schema_settings()`).

  Attributes:
    num_classes: the label domain is [0, num_classes - 1].
  """
  num_classes: int


@dataclasses.dataclass(frozen=True)
class ExampleValidatorSettings(_DictConvertible):
  """What TFX's ExampleValidator checks beyond the schema
  (`example_validator_settings()`): the class balance rules, which
  pipeline/components/util/class_balance.py turns into its
  `custom_validation_config`. TFX's component takes no custom_config, so
  this view is read when the DAG is built, not by an executor.

  Attributes:
    num_classes: the classes every split should hold ([0, num_classes-1]).
    max_imbalance_ratio: `validation.max_imbalance_ratio`.
    min_class_examples: `validation.min_class_examples`.
  """
  num_classes: int
  max_imbalance_ratio: float
  min_class_examples: int

  def __post_init__(self):
    if self.num_classes < 1:
      raise ValueError("the class list is empty")
    allowed_values.check_validation(ValidationConfig(
        max_imbalance_ratio=self.max_imbalance_ratio,
        min_class_examples=self.min_class_examples))


@dataclasses.dataclass(frozen=True)
class ImageValidatorSettings(_DictConvertible):
  """What the ImageValidator reads (`image_validator_settings()`): the
  whole validation section, the imbalance fields included (it names the
  classes behind ExampleValidator's class balance anomalies and records the
  threshold for the model card)."""
  image_size: int
  class_names: Tuple[str, ...]
  validation: ValidationConfig

  def __post_init__(self):
    object.__setattr__(self, "class_names", tuple(self.class_names))
    allowed_values.check_validation(self.validation)


@dataclasses.dataclass(frozen=True)
class InferenceSettings(_DictConvertible):
  """What the BatchInference nodes read (`inference_settings()`).

  Attributes:
    batch_size: records per model call (`predict.batch_size`).
  """
  batch_size: int

  def __post_init__(self):
    allowed_values.check_predict(PredictConfig(batch_size=self.batch_size))


@dataclasses.dataclass(frozen=True)
class GateSettings(_DictConvertible):
  """What the Evaluator's gate reads (`gate_settings()`): the `eval`
  section's gate fields (settings/sections.py `EvalConfig` documents each)
  and the class count the macro F1 averages over. Not `eval.split`: where
  the eval split comes from is ExampleGen's business."""
  num_classes: int
  min_macro_f1: float
  max_macro_f1_drop: float
  change_rule: str
  confidence: float
  bootstrap_samples: int

  def __post_init__(self):
    allowed_values.check_eval(EvalConfig(
        min_macro_f1=self.min_macro_f1,
        max_macro_f1_drop=self.max_macro_f1_drop,
        change_rule=self.change_rule, confidence=self.confidence,
        bootstrap_samples=self.bootstrap_samples))


@dataclasses.dataclass(frozen=True)
class LiteSettings(_DictConvertible):
  """What LiteRTExport reads (`lite_settings()`): its section and the
  absolute threshold each variant must pass, as the SavedModel must.

  Attributes:
    min_macro_f1: `eval.min_macro_f1`.
    lite: the `lite` section.
  """
  min_macro_f1: float
  lite: LiteConfig

  def __post_init__(self):
    allowed_values.check_lite(self.lite)


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
  ensemble: ensemble_settings.EnsembleConfig = dataclasses.field(
      default_factory=ensemble_settings.EnsembleConfig)
  lite: LiteConfig = dataclasses.field(default_factory=LiteConfig)

  def __post_init__(self):
    object.__setattr__(self, "class_names", tuple(self.class_names))
    self.validate()

  @property
  def pipeline_name(self) -> str:
    """The run's pipeline name: that of its label space (`pipeline_name`)."""
    return pipeline_name(self.class_names)

  def validate(self) -> None:
    """Raises ValueError naming the first setting that is out of range
    (settings/allowed_values.py)."""
    allowed_values.check_config(self)

  def transform_settings(self) -> Dict[str, Any]:
    """Transform's custom_config: only what preprocessing_fn reads, so that
    TFX's cache re-runs Transform only when one of these changes."""
    return TransformSettings(input_size=self.input_size).to_dict()

  def trainer_settings(self, fit_slice_percent: int = 0) -> Dict[str, Any]:
    """The Trainer's custom_config: the model, training and augmentation
    settings and the classes (not the gate, not the validator's thresholds:
    changing those must not retrain); an ensemble member's also the fit
    slice it leaves out."""
    return TrainerSettings(
        image_size=self.image_size, class_names=self.class_names,
        model=self.model, train=self.train, augment=self.augment,
        fit_slice_percent=fit_slice_percent).to_dict()

  def tuner_settings(self) -> Dict[str, Any]:
    """The Tuner's custom_config: the Trainer's settings and the search."""
    return TunerSettings(
        image_size=self.image_size, class_names=self.class_names,
        model=self.model, train=self.train, augment=self.augment,
        tune=self.tune).to_dict()

  def schema_settings(self) -> Dict[str, Any]:
    """SchemaGen's custom_config: the class count its label domain takes."""
    return SchemaSettings(num_classes=self.num_classes).to_dict()

  def example_validator_settings(self) -> Dict[str, Any]:
    """TFX ExampleValidator's class balance rules: the class count and the
    two balance thresholds (not the image checks: changing those must not
    re-validate the statistics)."""
    return ExampleValidatorSettings(
        num_classes=self.num_classes,
        max_imbalance_ratio=self.validation.max_imbalance_ratio,
        min_class_examples=self.validation.min_class_examples).to_dict()

  def image_validator_settings(self) -> Dict[str, Any]:
    """The ImageValidator's custom_config: the classes, the image size and
    the validation section (not the model: a new backbone must not re-scan
    the data)."""
    return ImageValidatorSettings(
        image_size=self.image_size, class_names=self.class_names,
        validation=self.validation).to_dict()

  def ensemble_settings(self) -> Dict[str, Any]:
    """The Ensemble's custom_config: its members, the fit slice, the batch
    size (settings/ensemble.py)."""
    return ensemble_settings.ensemble_settings(self)

  def gate_settings(self) -> Dict[str, Any]:
    """The Evaluator's custom_config: its gate (not the eval split's source:
    changing the gate re-runs the Evaluator and what follows it only)."""
    return GateSettings(
        num_classes=self.num_classes,
        min_macro_f1=self.eval.min_macro_f1,
        max_macro_f1_drop=self.eval.max_macro_f1_drop,
        change_rule=self.eval.change_rule, confidence=self.eval.confidence,
        bootstrap_samples=self.eval.bootstrap_samples).to_dict()

  def inference_settings(self) -> Dict[str, Any]:
    """EvalInference's and BatchPrediction's custom_config."""
    return InferenceSettings(batch_size=self.predict.batch_size).to_dict()

  def lite_settings(self) -> Dict[str, Any]:
    """LiteRTExport's custom_config: the lite section and the absolute
    threshold (not the model: the model comes as its input)."""
    return LiteSettings(min_macro_f1=self.eval.min_macro_f1,
                        lite=self.lite).to_dict()

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


SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "augment": AugmentConfig,
    "eval": EvalConfig,
    "validation": ValidationConfig,
    "predict": PredictConfig,
    "tune": TuneConfig,
    "ensemble": ensemble_settings.EnsembleConfig,
    "lite": LiteConfig,
}
