"""Five JSON records that components hand each other, as dataclasses, and
the one way they are written and read (`_JsonRecord`). Each is written by
one component and read by several, named below:

* `TrainingHistory` (`training_history.json` in the Trainer's ModelRun):
  written by `run_fn` (modules/trainer.py); read by the Pusher's record,
  the Report, the model card and the run summary.
* `ValidationSummary` (`validation_summary.json` in the ImageValidator's
  ExampleAnomalies): written by the ImageValidator; read by the Report, the
  model card and the run summary.
* `GateRecord` (`gate.json` in the Evaluator's ModelEvaluation): the
  gate's verdict and the measurements it rests on, written by the
  Evaluator (pipeline/components/evaluator/gate.py); read through
  pipeline/components/util/evaluation_reader.py by the Pusher's record, the Report,
  the model card and the run summary.
* `LiteEvaluation` (`lite_evaluation.json` in LiteRTExport's LiteModel):
  written by LiteRTExport (pipeline/components/litert/); read by
  LiteRTPusher, the Report, the model card, the run summary and the bench.
* `SplitClassCounts` (`class_counts.json` in ImportExampleGen's
  Examples): written by ImportExampleGen (pipeline/components/
  example_gen/); read by the Trainer and the Tuner (modules/dataset.py).

A reader gets attributes, not key strings, so a renamed field fails where
it is read, at once. A key the dataclass does not know is an error; a
field missing from an older record takes its default.

The other JSON files live beside the code that writes them: the push record
(`push_record.json`, pipeline/components/util/publishing.py), ExampleGen's
`data_check.json` (pipeline/components/example_gen/input_files.py), the
ensemble's ledger (`ensemble.json`, pipeline/components/util/ensemble_servable.py),
the data profile's `label_counts.json` (modules/data_profile.py),
`label_space.json` (settings/label_space.py). `no_baseline.json` (a baseline
task's Model that stands for no model) is named here: NO_BASELINE_FILE.
"""

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Type, TypeVar

from settings import features

VALIDATION_SUMMARY_FILE = "validation_summary.json"
LITE_EVALUATION_FILE = "lite_evaluation.json"
# In the Model a baseline task outputs when it found no baseline (the
# push-record baselines of every runner, pipeline/components/baseline/):
# its reason, under "reason".
NO_BASELINE_FILE = "no_baseline.json"
Record = TypeVar("Record", bound="_JsonRecord")


class _JsonRecord:
  """Writes and reads a dataclass as one JSON file, on any filesystem
  TensorFlow reads."""

  FILE_NAME = ""

  @classmethod
  def from_dict(cls: Type[Record], values: Dict[str, Any]) -> Record:
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
      raise ValueError(f"{cls.FILE_NAME}: unknown keys {unknown}")
    return cls(**values)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def write(self, folder: str) -> str:
    """Writes `<folder>/<FILE_NAME>`; returns its path."""
    # slow import: TensorFlow (3 s); bench/run.py imports this module, and
    # its --help must not load it
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, self.FILE_NAME)
    with tf.io.gfile.GFile(path, "w") as f:
      json.dump(self.to_dict(), f, indent=2)
    return path

  @classmethod
  def read_file(cls: Type[Record], path: str) -> Optional[Record]:
    """The record at `path`, or None when there is no such file."""
    # slow import: TensorFlow (3 s); as in write
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not tf.io.gfile.exists(path):
      return None
    with tf.io.gfile.GFile(path) as f:
      return cls.from_dict(json.load(f))

  @classmethod
  def read(cls: Type[Record], folder: Optional[str]) -> Optional[Record]:
    """The record in an artifact's folder; None without a folder or file."""
    if not folder:
      return None
    return cls.read_file(os.path.join(folder, cls.FILE_NAME))


def no_baseline_reason(model_uri: Optional[str]) -> Optional[str]:
  """Why a baseline Model stands for no model (its NO_BASELINE_FILE), or
  None for a real model (or no folder)."""
  marker = read_json_in(model_uri, NO_BASELINE_FILE)
  return None if marker is None else str(marker.get("reason", ""))


def read_json_in(folder: Optional[str], name: str) -> Optional[Any]:
  """The JSON file `name` in an artifact's `folder` (any filesystem), or
  None where there is no folder or no such file."""
  if not folder:
    return None
  # slow import: TensorFlow (3 s); as in _JsonRecord.write
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(folder, name)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


@dataclasses.dataclass
class TrainingHistory(_JsonRecord):
  """What the Trainer did (`training_history.json`).

  Attributes:
    config: the Trainer's settings (`TrainerSettings.to_dict()`).
    hyperparameters: the Tuner's best values the Trainer used, if any.
    strategy: the distribution strategy's class name.
    replicas: replicas in sync, all workers together.
    workers: worker processes (chief included).
    replicas_per_worker: replicas of each worker.
    label_space: the fingerprint of the class list.
    precision_policy: the Keras precision policy trained with.
    global_batch_size: examples per step, all replicas together.
    steps_per_epoch: training steps of each epoch.
    train_examples: records of the training split.
    class_counts: training records per class (Transform's count).
    class_weights: the loss weight per class, if class weighting was on.
    wall_seconds: the time in Keras's fit, all phases together.
    warm_start: the warm start record (modules/warm_start.py).
    validation: what each epoch's `val_*` scores were computed on (`data`)
      and which choices read them (`used_by`): the selection slice of
      train, or the eval split shown only (modules/trainer.py
      `validation_plan`).
    deterministic: whether TF op determinism was on (`train.deterministic`
      resolved for the device); None in older records.
    epochs: one entry per epoch run: its metrics and seconds.
    phase_seconds: where `run_fn`'s time went: `set_up` (strategy, the
      Transform output, datasets, model build, warm start, compile), `fit`
      (= wall_seconds: the epochs and fit's own start and end) and
      `export` (the SavedModel with its signatures, the warm-start
      weights, the label space). The Trainer component's time beyond
      their sum is TFX's: its launcher and the import of the module file.
      None in older records.
  """
  FILE_NAME = features.TRAINING_HISTORY_FILE

  config: Dict[str, Any] = dataclasses.field(default_factory=dict)
  hyperparameters: Optional[Dict[str, Any]] = None
  strategy: Optional[str] = None
  replicas: Optional[int] = None
  workers: int = 1
  replicas_per_worker: Optional[int] = None
  label_space: Optional[str] = None
  precision_policy: Optional[str] = None
  global_batch_size: Optional[int] = None
  steps_per_epoch: Optional[int] = None
  train_examples: Optional[int] = None
  class_counts: Optional[List[int]] = None
  class_weights: Optional[Any] = None
  wall_seconds: Optional[float] = None
  warm_start: Optional[Dict[str, Any]] = None
  validation: Optional[Dict[str, Any]] = None
  deterministic: Optional[bool] = None
  epochs: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  phase_seconds: Optional[Dict[str, float]] = None

  @property
  def class_names(self) -> List[str]:
    return list(self.config.get("class_names") or [])

  def section(self, name: str) -> Dict[str, Any]:
    """A section of the Trainer's settings ("model", "train", "augment")."""
    return dict(self.config.get(name) or {})


@dataclasses.dataclass
class ValidationSummary(_JsonRecord):
  """What the two validators found (`validation_summary.json`): the
  ImageValidator's findings and those it read from ExampleValidator's anomalies.

  Attributes:
    splits: per split: `num_examples`, `class_counts`, `errors`,
      `warnings`, and with the image scan `records_scanned`, `bad_records`
      and `ids`.
    errors: every error (any stops the run before Transform).
    warnings: every warning.
    max_imbalance_ratio: the class balance threshold the check applied
      (`validation.max_imbalance_ratio`).
    data_files: ExampleGen's file check (records per file, skipped files,
      the spans read).
    drift: the drift check: its baseline (or a note why none) and findings.
    test: the test split's record count and id findings.
    integrity: ids across splits (duplicates, leaks).
    eval_class_coverage: the classes of train that the eval split holds.
    reports: the class count report's files (`table`, `chart`).
  """
  FILE_NAME = VALIDATION_SUMMARY_FILE

  splits: Dict[str, Dict[str, Any]] = dataclasses.field(default_factory=dict)
  errors: List[str] = dataclasses.field(default_factory=list)
  warnings: List[str] = dataclasses.field(default_factory=list)
  max_imbalance_ratio: Optional[float] = None
  data_files: Optional[Dict[str, Any]] = None
  drift: Optional[Dict[str, Any]] = None
  test: Optional[Dict[str, Any]] = None
  integrity: Optional[Dict[str, Any]] = None
  eval_class_coverage: Optional[Dict[str, Any]] = None
  reports: Dict[str, str] = dataclasses.field(default_factory=dict)

  def examples_per_split(self) -> Dict[str, int]:
    return {name: int(split.get("num_examples", 0))
            for name, split in sorted(self.splits.items())}

  def train_class_counts(self) -> Optional[List[int]]:
    return self.splits.get(features.TRAIN_SPLIT, {}).get("class_counts")

  @property
  def spans_read(self) -> Optional[List[int]]:
    """The span numbers ExampleGen read (None in the plain layout)."""
    return (self.data_files or {}).get("spans")


@dataclasses.dataclass
class GateRecord(_JsonRecord):
  """The Evaluator's gate: what it measured and what it decided
  (`gate.json`).

  Intervals are dicts of `modules.bootstrap.Interval` (point, low, high,
  examples, samples, confidence).

  Attributes:
    blessed: the verdict (the blessing artifact says the same).
    rule: `eval.change_rule` ("interval" or "point").
    min_macro_f1: the absolute threshold.
    max_macro_f1_drop: the tolerated drop against the baseline.
    confidence: the intervals' coverage.
    bootstrap_samples: resamples behind each interval.
    candidate_model: the candidate's Model URI.
    macro_f1: the candidate's macro F1 and its interval.
    baseline_model: the served model compared with; None without one.
    baseline_note: which served model, or why there was none.
    baseline_macro_f1: its macro F1 on the same examples, and interval.
    change: candidate minus baseline, and its paired interval.
    checks: one entry per gate: `name` ("absolute", "change"), `passed`,
      and `line`, the sentence the summary and the report print.
  """
  FILE_NAME = "gate.json"

  blessed: bool
  rule: str
  min_macro_f1: float
  max_macro_f1_drop: float
  confidence: float
  bootstrap_samples: int
  candidate_model: str
  macro_f1: Dict[str, Any]
  checks: List[Dict[str, Any]]
  baseline_model: Optional[str] = None
  baseline_note: Optional[str] = None
  baseline_macro_f1: Optional[Dict[str, Any]] = None
  change: Optional[Dict[str, Any]] = None

  @property
  def failures(self) -> List[str]:
    """The failed gates, one readable line each."""
    return [check["line"] for check in self.checks if not check["passed"]]


@dataclasses.dataclass
class LiteEvaluation(_JsonRecord):
  """The device models and how they score (`lite_evaluation.json`).

  Attributes:
    model_uri: the Trainer's model they were converted from.
    input: the input contract: `name`, `dtype`, `shape` (-1: any batch),
      `range`, `channels`.
    output: `name`, `dtype`, `shape` of the probabilities.
    labels_file: the class names, one a line in class index order.
    class_names: the same list.
    min_macro_f1: the absolute threshold each variant must pass.
    eval_examples: eval records scored (those the SavedModel predicted).
    representative: the int8 calibration set: `split` and `examples`.
    interpreter: the runtime scored with (package, version, threads).
    saved_model: the SavedModel's `size_bytes` and `macro_f1` on the
      same eval records.
    variants: one per variant: `variant`, `file`, `size_bytes`,
      `macro_f1`, `macro_f1_drop` (the SavedModel's minus its own),
      `top1_agreement` (share of records whose top class is the
      SavedModel's), `latency_ms` (median per image, batch 1),
      `tolerance`, `passed` (the device gate) and `reasons` (why not).
  """
  FILE_NAME = LITE_EVALUATION_FILE

  model_uri: str = ""
  input: Dict[str, Any] = dataclasses.field(default_factory=dict)
  output: Dict[str, Any] = dataclasses.field(default_factory=dict)
  labels_file: str = ""
  class_names: List[str] = dataclasses.field(default_factory=list)
  min_macro_f1: Optional[float] = None
  eval_examples: int = 0
  representative: Dict[str, Any] = dataclasses.field(default_factory=dict)
  interpreter: Dict[str, Any] = dataclasses.field(default_factory=dict)
  saved_model: Dict[str, Any] = dataclasses.field(default_factory=dict)
  variants: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

  def passed(self) -> List[Dict[str, Any]]:
    """The variants that passed the device gate."""
    return [variant for variant in self.variants if variant.get("passed")]


@dataclasses.dataclass
class SplitClassCounts(_JsonRecord):
  """Examples per class of each split of an Examples artifact
  (`class_counts.json` beside its `Split-*` folders).

  Written by ImportExampleGen's executor (pipeline/components/example_gen/)
  from the records it checks and writes; read by the Trainer and the Tuner
  (modules/dataset.py `read_class_counts`) for steps per epoch and class
  weights, so Transform needs no analysis pass over the training data.

  Attributes:
    splits: split name -> label (as a string: JSON keys) -> records.
    unlabelled: split name -> records without exactly one int64 `class`
      value (the validator reports them; a split of the test folder has
      only these).
  """
  FILE_NAME = "class_counts.json"

  splits: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
  unlabelled: Dict[str, int] = dataclasses.field(default_factory=dict)

  def counts(self, split: str, num_classes: int) -> List[int]:
    """Records of each class 0..num_classes-1 in `split`.

    Raises:
      KeyError: the artifact has no such split.
      ValueError: a label outside [0, num_classes).
    """
    result = [0] * num_classes
    for label, count in self.splits[split].items():
      if not 0 <= int(label) < num_classes:
        raise ValueError(f"split {split!r} has label {label} outside "
                         f"[0, {num_classes})")
      result[int(label)] = count
    return result
