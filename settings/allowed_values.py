"""Which setting values are out of range: `check_config` raises ValueError
naming the first one, one function per section.

`PipelineConfig` runs it when it is built, so a config that exists is a
valid one, wherever it came from (flags, `--set`, a component's
`custom_config`).
"""

from settings import ensemble
from settings import features
from settings import sections
from settings import spans


def check_config(config) -> None:
  """Raises ValueError naming the first setting of `config` (a
  PipelineConfig) that is out of range."""
  features.check_class_names(config.class_names)
  if config.image_size <= 0:
    raise ValueError(f"image_size must be positive, got {config.image_size}")
  spans.parse_setting(config.data.spans)
  check_model(config.model, config.train)
  check_train(config.train)
  check_augment(config.augment)
  check_validation(config.validation)
  check_eval(config.eval)
  check_predict(config.predict)
  check_tune(config.tune)
  check_lite(config.lite)
  ensemble.validate(config.ensemble, sections.BACKBONES)
  if config.ensemble.members and (config.tune.enabled or
                                  config.train.warm_start):
    raise ValueError("ensemble.members: the members train without the "
                     "Tuner and without warm start (docs/ensembles.md)")


def _one_of(name: str, value: str, choices) -> None:
  if value not in choices:
    raise ValueError(f"unknown {name} {value!r}; choose from {choices}")


def check_model(model: sections.ModelConfig,
                train: sections.TrainConfig) -> None:
  _one_of("backbone", model.backbone, sections.BACKBONES)
  if model.input_size < 0:
    raise ValueError("model.input_size must be >= 0")
  if not 0.0 <= model.dropout < 1.0:
    raise ValueError("model.dropout must be in [0, 1)")
  if not 0 <= model.warmup_epochs < max(train.epochs, 1):
    raise ValueError("model.warmup_epochs must be in [0, train.epochs)")
  if model.warmup_epochs and not model.fine_tune:
    raise ValueError("model.warmup_epochs needs model.fine_tune (the "
                     "backbone is unfrozen after the warm-up)")


def check_train(train: sections.TrainConfig) -> None:
  if train.epochs < 1:
    raise ValueError(f"train.epochs must be >= 1, got {train.epochs}")
  if train.per_replica_batch_size < 1:
    raise ValueError("train.per_replica_batch_size must be >= 1")
  if train.learning_rate <= 0:
    raise ValueError("train.learning_rate must be positive")
  if train.worker_timeout_seconds < 1:
    raise ValueError("train.worker_timeout_seconds must be >= 1")
  _one_of("lr_schedule", train.lr_schedule, sections.LR_SCHEDULES)
  if not 0.0 <= train.label_smoothing < 1.0:
    raise ValueError("train.label_smoothing must be in [0, 1)")
  _one_of("mixed_precision", train.mixed_precision,
          sections.PRECISION_POLICIES)
  if not isinstance(train.warm_start, bool):
    raise ValueError(f"train.warm_start must be true or false, got "
                     f"{train.warm_start!r}")
  _one_of("train.deterministic", train.deterministic, sections.DETERMINISM)
  if not 1 <= train.selection_percent <= 50:
    raise ValueError("train.selection_percent must be in [1, 50]")
  if train.reduce_lr_patience and train.lr_schedule != "constant":
    raise ValueError("train.reduce_lr_patience needs lr_schedule "
                     "'constant' (a schedule resets the rate every epoch)")


def check_augment(augment: sections.AugmentConfig) -> None:
  for name in ("rotation", "zoom", "shift", "saturation", "mixup_alpha",
               "cutmix_alpha"):
    if getattr(augment, name) < 0:
      raise ValueError(f"augment.{name} must be >= 0")


def check_validation(validation: sections.ValidationConfig) -> None:
  if validation.max_imbalance_ratio < 1:
    raise ValueError("validation.max_imbalance_ratio must be >= 1")
  _one_of("validation.label_drift_comparator",
          validation.label_drift_comparator, sections.LABEL_DRIFT_COMPARATORS)
  # Both measures lie in [0, 1] (TFDV's JS divergence uses log base 2).
  for name in ("label_drift_threshold", "image_drift_threshold"):
    if not 0.0 <= getattr(validation, name) <= 1.0:
      raise ValueError(f"validation.{name} must be in [0, 1]")


def check_eval(eval_config: sections.EvalConfig) -> None:
  if not 0.0 <= eval_config.min_macro_f1 <= 1.0:
    raise ValueError("eval.min_macro_f1 must be in [0, 1]")
  if eval_config.max_macro_f1_drop < 0:
    raise ValueError("eval.max_macro_f1_drop must be >= 0")
  _one_of("eval.change_rule", eval_config.change_rule, sections.CHANGE_RULES)
  if not 0.0 < eval_config.confidence < 1.0:
    raise ValueError("eval.confidence must be in (0, 1)")
  if eval_config.bootstrap_samples < 100:
    raise ValueError("eval.bootstrap_samples must be >= 100")
  _one_of("eval.split", eval_config.split, sections.EVAL_SPLIT_SOURCES)
  if not 1 <= eval_config.holdout_percent <= 50:
    raise ValueError("eval.holdout_percent must be in [1, 50]")


def check_predict(predict: sections.PredictConfig) -> None:
  _one_of("predict.test_split", predict.test_split,
          sections.PREDICT_TEST_SOURCES)
  if predict.batch_size < 1:
    raise ValueError("predict.batch_size must be >= 1")


def check_tune(tune: sections.TuneConfig) -> None:
  if tune.trials < 1 or tune.epochs_per_trial < 1:
    raise ValueError("tune.trials and tune.epochs_per_trial must be >= 1")
  for name in ("learning_rates", "dropouts", "augment_strengths",
               "backbones"):
    if not getattr(tune, name):
      raise ValueError(f"tune.{name} needs at least one choice")
  unknown = [b for b in tune.backbones if b not in sections.BACKBONES]
  if unknown:
    raise ValueError(f"unknown tune.backbones {unknown}; choose from "
                     f"{sections.BACKBONES}")
  if any(rate <= 0 for rate in tune.learning_rates):
    raise ValueError("tune.learning_rates must be positive")
  if any(not 0.0 <= rate < 1.0 for rate in tune.dropouts):
    raise ValueError("tune.dropouts must be in [0, 1)")
  if any(strength < 0 for strength in tune.augment_strengths):
    raise ValueError("tune.augment_strengths must be >= 0")


def check_lite(lite: sections.LiteConfig) -> None:
  if not isinstance(lite.enabled, bool):
    raise ValueError(f"lite.enabled must be true or false, got "
                     f"{lite.enabled!r}")
  for name in ("float_tolerance", "int8_tolerance"):
    if not 0.0 <= getattr(lite, name) <= 1.0:
      raise ValueError(f"lite.{name} must be in [0, 1]")
  if lite.representative_examples < 1:
    raise ValueError("lite.representative_examples must be >= 1")
