"""The sections of the typed config: one frozen dataclass per part of the
pipeline (data, model, train, augment, validation, eval, predict, tune,
lite),
each field documented, with the values some fields choose from.

settings/config.py puts them together as `PipelineConfig` and slices them
for each component; settings/allowed_values.py says which values are out of range;
docs/configuration.md lists every field.
"""

import dataclasses
from typing import Optional, Tuple


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
# eval.change_rule: how the Evaluator decides that a model is worse than the
# served one (pipeline/components/evaluator/gate.py).
CHANGE_RULES = ("interval", "point")
# train.deterministic: reproducible training (modules/strategy.py).
DETERMINISM = ("auto", "on", "off")


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
      loss on the selection slice (`selection_percent`), restoring the best
      weights (0: off).
    reduce_lr_patience: halve the learning rate after this many epochs
      without a better loss on the selection slice (0: off; needs
      lr_schedule "constant", as a schedule would overwrite it every epoch).
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
    deterministic: reproducible training, one of DETERMINISM: the same
      seed, data and hardware give the same model (TF op determinism on,
      every generator seeded; `modules.strategy.make_deterministic`).
      "auto": on where it costs nothing and always works, on a CPU; off on
      a GPU or TPU, where some kernels have no deterministic form (the run
      summary says the model is not reproducible there). "on": everywhere
      (on a GPU an op without a deterministic kernel then stops the run,
      naming it). "off": never; threads may add floating-point numbers in
      another order.
    selection_percent: the selection slice: this share of `train` (100
      hash buckets of each record's `id`, modules/fit_slice.py) that early
      stopping, ReduceLROnPlateau and the Tuner's objective watch, so that
      no choice is made on the eval split the gate scores. Carved out only
      when one of them is on (the Tuner always), and never trained on there.
    warm_start: start from the weights of the served model (the newest
      pushed model of this class list not trained on this run's Examples:
      the PreviousModel task's output, the Trainer's `base_model`;
      `modules/warm_start.py`) instead of from scratch; without such a
      model, or with one whose weights do not fit, training starts from
      scratch and says why.
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
  deterministic: str = "auto"
  selection_percent: int = 10
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
  """ImageValidator (pipeline/components/image_validator/) settings.

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

  The gate (pipeline/components/evaluator/gate.py, docs/evaluation.md):
  both models' predictions of the same eval examples, and a paired
  bootstrap of the change in macro F1 (modules/bootstrap.py).

  Attributes:
    min_macro_f1: a model is blessed only if its macro F1 on the eval split
      is at least this (the point estimate; its interval is shown beside).
    max_macro_f1_drop: the tolerated drop against the served model (the
      baseline; ignored for the first model of a class list). With
      change_rule "interval", a model is rejected only when the whole
      interval of its change lies below minus this; with "point", when the
      change itself does.
    change_rule: one of CHANGE_RULES. "interval" (the default) tells noise
      from a worse model: a retrain that differs by chance is blessed, a
      model whose drop is larger than the interval's width is stopped
      (`make bench BENCH_ARGS="--sections gate"` measures both rates).
      "point" compares the point estimate alone, as TFMA's change threshold
      does, and rejects equivalent models about as often as the noise
      crosses the tolerated drop.
    confidence: the interval's coverage, in (0, 1).
    bootstrap_samples: resamples of the eval examples behind each interval.
    split: one of EVAL_SPLIT_SOURCES: "val" evaluates on the data root's
      `val` folder; "holdout" on `holdout_percent` % of `train`, chosen by a
      hash of each record's `id`; "auto" uses `val` if that folder exists
      (looked up for a local data root; a gs:// root means "val").
    holdout_percent: with "holdout", the percent of `train` held out.
  """
  min_macro_f1: float = 0.6
  max_macro_f1_drop: float = 0.02
  change_rule: str = "interval"
  confidence: float = 0.95
  bootstrap_samples: int = 1000
  split: str = "auto"
  holdout_percent: int = 15


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
  `epochs_per_trial` epochs each over the choices below, each trained on
  `train` less the selection slice and scored by val_accuracy on that slice
  (`train.selection_percent`), never on the eval split the gate scores;
  the Trainer then trains
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


@dataclasses.dataclass(frozen=True)
class LiteConfig:
  """The on-device LiteRT models beside the SavedModel (LiteRTExport and
  LiteRTPusher, pipeline/components/litert/; docs/on-device.md).

  Each variant (float32, int8) is scored on the eval split through the
  LiteRT interpreter phones run, with the Evaluator's macro F1, and pushed
  only when the SavedModel is blessed, its macro F1 is at least
  `eval.min_macro_f1` and at most its tolerance below the SavedModel's on
  the same examples.

  Attributes:
    enabled: add the LiteRT nodes (an ensemble gets none:
      docs/on-device.md says why).
    float_tolerance: the float32 variant's largest allowed macro F1 drop
      against the SavedModel (it computes the same function, so only
      rounding may move a prediction).
    int8_tolerance: the int8 variant's largest allowed drop: quantization
      moves a few predictions; on the sample's 356 eval images one moved
      prediction changes macro F1 by up to about 0.01 (docs/on-device.md).
    representative_examples: train images (never eval) that calibrate the
      int8 variant's value ranges, drawn by a seeded hash of their ids.
  """
  enabled: bool = True
  float_tolerance: float = 0.01
  int8_tolerance: float = 0.03
  representative_examples: int = 200
