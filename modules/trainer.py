"""Trainer module: `run_fn`, as TFX's GenericExecutor calls it.

Reads every setting from `fn_args.custom_config` (the Trainer's view of the
config, `PipelineConfig.trainer_settings()`, read as `TrainerSettings`),
builds the input pipeline over the ExampleGen TFRecords with the Transform
graph applied on the fly, trains under the resolved distribution strategy
and exports a SavedModel whose signatures apply the Transform graph
themselves. This file holds `run_fn` and what it trains with (compile,
callbacks); the pieces it assembles each have a file: strategy.py,
schedules.py, dataset.py, augmentation.py, serving.py (docs/layout.md).
"""

import dataclasses
import os
import tempfile
import time
from typing import Dict, List, Optional

from absl import logging
import keras
import tensorflow as tf
import tensorflow_transform as tft

from modules import augmentation
from modules import class_weights as class_weights_lib
from modules import dataset as dataset_lib
from modules import fit_slice
from modules import hyperparameters
from modules import keras_distributed
from modules import model as model_lib
from modules import schedules
from modules import serving
from modules import strategy as strategy_lib
from modules import warm_start as warm_start_lib
from settings import config as config_lib
from settings import label_space
from settings import records


class _EpochTimer(keras.callbacks.Callback):
  """Records wall time and throughput of each epoch."""

  def __init__(self, images_per_epoch: int):
    super().__init__()
    self.images_per_epoch = images_per_epoch
    self.epochs: List[Dict[str, float]] = []
    self._start = 0.0

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    seconds = time.perf_counter() - self._start
    record = {"epoch": epoch + 1, "seconds": round(seconds, 3),
              "images_per_second": round(self.images_per_epoch / seconds, 1)}
    record.update({k: float(v) for k, v in (logs or {}).items()})
    self.epochs.append(record)
    scores = " ".join(f"{k} {record[k]:.4f}" for k in
                      ("loss", "accuracy", "val_loss", "val_accuracy")
                      if k in record)
    logging.info("epoch %d: %s (%.1f s, %.0f images/s)", epoch + 1, scores,
                 seconds, record["images_per_second"])


def compile_model(model: keras.Model, config: config_lib.TrainerSettings,
                  learning_rate: float) -> None:
  """Adam, cross-entropy (one-hot when labels are soft), accuracy.

  Inside a strategy's scope, each step is the global batch's mean gradient
  whatever the number of replicas (modules/keras_distributed.py).
  """
  if augmentation.uses_one_hot_labels(config):
    loss = keras.losses.CategoricalCrossentropy(
        label_smoothing=config.train.label_smoothing)
    accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
  else:
    loss = keras.losses.SparseCategoricalCrossentropy()
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
  model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                metrics=[accuracy])
  keras_distributed.average_replica_gradients(
      model, tf.distribute.get_strategy().num_replicas_in_sync)


def make_callbacks(config: config_lib.TrainerSettings, replicas: int,
                   log_dir: str, timer: keras.callbacks.Callback
                   ) -> List[keras.callbacks.Callback]:
  """Schedule, TensorBoard, timing, and the optional plateau callbacks."""
  train = config.train
  callbacks = [
      keras.callbacks.LearningRateScheduler(
          lambda epoch, lr: (lr if train.reduce_lr_patience else
                             schedules.learning_rate_for_epoch(
                                 config, epoch, replicas))),
      keras.callbacks.TensorBoard(log_dir=log_dir),
      timer,
  ]
  # Both watch `val_loss`, which run_fn computes on the selection slice
  # of train whenever one of them is on (modules/fit_slice.py).
  if train.early_stopping_patience:
    callbacks.append(keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=train.early_stopping_patience,
        restore_best_weights=True))
  if train.reduce_lr_patience:
    callbacks.append(keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=train.reduce_lr_patience))
  return callbacks


def validation_plan(config: config_lib.TrainerSettings) -> Dict[str, object]:
  """What each epoch's `val_*` scores are computed on, and which choices
  read them (the report and training_history.json say so).

  With early stopping or ReduceLROnPlateau on, the selection slice of
  train, left out of training; else the eval split, shown per epoch only:
  nothing the Trainer does reads it.
  """
  uses = [name for name, on in (
      ("early stopping", config.train.early_stopping_patience),
      ("ReduceLROnPlateau", config.train.reduce_lr_patience)) if on]
  if fit_slice.watches_selection_slice(config):
    percent = config.train.selection_percent
    return {"data": (f"the selection slice: {percent}% of train by a hash "
                     "of id, left out of training"),
            "selection_slice_percent": percent, "used_by": uses}
  return {"data": "the eval split, shown per epoch only",
          "selection_slice_percent": 0, "used_by": []}


@dataclasses.dataclass
class Training:
  """A trained model and what its training record says (`train`)."""
  model: keras.Model
  strategy: tf.distribute.Strategy
  tft_output: tft.TFTransformOutput
  policy: str
  deterministic: bool
  class_counts: List[int]
  num_records: int
  global_batch: int
  steps_per_epoch: int
  class_weights: Optional[List[float]]
  validation: Dict[str, object]
  warm_start: Dict[str, object]
  epochs: List[Dict[str, float]]
  wall_seconds: float
  set_up_seconds: float


def train(fn_args, config: config_lib.TrainerSettings,
          run_dir: str) -> Training:
  """Trains the model `config` describes on `fn_args`' data.

  `run_fn` exports what this returns; the bench's gate section
  (bench/gate_runs.py) calls it to retrain many models the Trainer's way
  without exporting each.

  Args:
    fn_args: TFX's FnArgs (train/eval files, transform output, base model).
    config: the Trainer's settings (with the Tuner's values applied).
    run_dir: where TensorBoard's logs go.
  """
  set_up_start = time.perf_counter()
  keras.utils.set_random_seed(config.train.seed)
  task = strategy_lib.cluster_task()
  strategy = strategy_lib.resolve_strategy(
      config.train.tpu_address,
      worker_timeout_seconds=config.train.worker_timeout_seconds)
  replicas = strategy.num_replicas_in_sync
  policy = strategy_lib.precision_policy(strategy,
                                         config.train.mixed_precision)
  keras.mixed_precision.set_global_policy(policy)
  logging.info("Precision policy: %s.", policy)
  deterministic = strategy_lib.determinism_on(config.train.deterministic,
                                              strategy)
  if deterministic:
    strategy_lib.make_deterministic(config.train.seed)
  else:
    logging.warning(
        "Training is not bit-reproducible here (train.deterministic=%s on "
        "this device): two runs may give slightly different models.",
        config.train.deterministic)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)

  class_counts = dataset_lib.read_class_counts(fn_args.train_files,
                                               config.num_classes)
  validation = validation_plan(config)
  held_out = (getattr(config, "fit_slice_percent", 0) +
              validation["selection_slice_percent"])
  num_records = sum(class_counts)
  # The hash slices held out of training leave about this many examples.
  num_train = num_records * (100 - held_out) // 100
  global_batch = config.train.per_replica_batch_size * replicas
  steps_per_epoch = max(1, num_train // global_batch)
  logging.info("%d training examples, global batch %d, %d steps per epoch.",
               num_train, global_batch, steps_per_epoch)
  class_weights = None
  if config.train.class_weighting:
    # Applied per example by the training dataset, after MixUp / CutMix
    # (dataset.make_dataset), not by fit's class_weight.
    class_weights = weights = class_weights_lib.balanced_class_weights(
        class_counts)
    logging.info("Class weights (balanced: n / (classes x n_c)): min %.3f, "
                 "max %.3f.", min(w for w in weights if w),
                 max(weights))

  selection = (dataset_lib.WITHOUT_SELECTION
               if validation["selection_slice_percent"] else None)
  train_ds = dataset_lib.make_dataset(fn_args.train_files, tft_output,
                                      global_batch, config, training=True,
                                      class_weights=class_weights,
                                      selection=selection)
  if selection:
    val_ds = dataset_lib.make_dataset(
        fn_args.train_files, tft_output, global_batch, config,
        training=False, selection=dataset_lib.ONLY_SELECTION)
  else:
    val_ds = dataset_lib.make_dataset(fn_args.eval_files, tft_output,
                                      global_batch, config, training=False)
  logging.info("Each epoch's val_* scores: %s%s.", validation["data"],
               f" (watched by {', '.join(validation['used_by'])})"
               if validation["used_by"] else "")

  warmup = config.model.warmup_epochs
  with strategy.scope():
    model = model_lib.build_model(config)
    # With train.warm_start: the served model's weights, or a cold start
    # that says why.
    warm_start = warm_start_lib.load_base_weights(model, config,
                                                  fn_args.base_model)
    if warmup:
      model_lib.set_backbone_trainable(model, False)
    # Trained with the in-model flip; `model` (same weights) is exported.
    fit_model = augmentation.training_model(model, config)
    compile_model(fit_model, config,
                  schedules.learning_rate_for_epoch(config, 0, replicas))

  if task is not None:
    keras_distributed.enable_multi_worker(fit_model, strategy)
  timer = _EpochTimer(steps_per_epoch * global_batch)
  callbacks = make_callbacks(config, replicas, run_dir, timer)
  fit_args = dict(steps_per_epoch=steps_per_epoch, validation_data=val_ds,
                  verbose=0)  # _EpochTimer logs each epoch.
  start = time.perf_counter()
  set_up_seconds = start - set_up_start
  try:
    if warmup:
      logging.info("Phase 1: %d epoch(s) with the backbone frozen.", warmup)
      phase_1 = fit_model.fit(train_ds, epochs=warmup, callbacks=callbacks,
                              **fit_args)
      with strategy.scope():
        model_lib.set_backbone_trainable(model, True)
        compile_model(fit_model, config, schedules.learning_rate_for_epoch(
            config, warmup, replicas))
      logging.info("Phase 2: backbone unfrozen.")
      # A second fit starts a new iterator, which would replay phase 1's
      # batches: continue the stream after the batches phase 1 drew instead
      # (the flip's seed stream is model state and continues by itself).
      train_ds = dataset_lib.make_dataset(
          fn_args.train_files, tft_output, global_batch, config,
          training=True, start_batch=steps_per_epoch * len(phase_1.epoch),
          class_weights=class_weights, selection=selection)
    fit_model.fit(train_ds, epochs=config.train.epochs, initial_epoch=warmup,
                  callbacks=callbacks, **fit_args)
  except tf.errors.OpError as error:
    if task is None:
      raise
    raise RuntimeError(
        f"multi-worker training stopped on {task.name}: "
        f"{strategy_lib.name_failed_worker(error, task)}") from error
  wall_seconds = time.perf_counter() - start
  logging.info("Training done in %.1f s.", wall_seconds)
  return Training(
      model=model, strategy=strategy, tft_output=tft_output, policy=policy,
      deterministic=deterministic, class_counts=class_counts,
      num_records=num_records, global_batch=global_batch,
      steps_per_epoch=steps_per_epoch, class_weights=class_weights,
      validation=validation, warm_start=warm_start, epochs=timer.epochs,
      wall_seconds=wall_seconds, set_up_seconds=set_up_seconds)


def run_fn(fn_args) -> None:
  """Trains the model and exports it to `fn_args.serving_model_dir`."""
  # Only the Trainer's settings (model, train, augment, classes): the
  # functions below take them as they take a whole PipelineConfig.
  config = config_lib.TrainerSettings.from_custom_config(
      fn_args.custom_config)
  # With a Tuner upstream: its best trial's values win over the config's.
  best = (fn_args.hyperparameters or {}).get("values")
  config = hyperparameters.apply_hyperparameters(config, best)
  if best:
    logging.info("Training with the Tuner's best hyperparameters: %s", best)
  # With several workers only the chief's files are the Trainer's outputs.
  # Every worker still trains and saves (saving may run collectives, as
  # TensorFlow's multi-worker guide says), the others into a temporary
  # folder that they remove.
  task = strategy_lib.cluster_task()
  chief = task is None or task.is_chief
  scratch = None if chief else tempfile.mkdtemp(
      prefix=f"trainer-{task.task_type}-{task.task_id}-")
  serving_dir = (fn_args.serving_model_dir if chief else
                 os.path.join(scratch, "serving"))
  run_dir = fn_args.model_run_dir if chief else os.path.join(scratch, "run")
  trained = train(fn_args, config, run_dir)
  model = trained.model
  logging.info("Exporting the serving model.")
  export_start = time.perf_counter()
  serving.export_serving_model(model, trained.tft_output, config.class_names,
                               serving_dir)
  # Beside the SavedModel, for the next run's warm start.
  warm_start_lib.save_weights(model, config, serving_dir)
  if not chief:
    tf.io.gfile.rmtree(scratch)
    logging.info("Multi-worker training: %s done; the chief writes the "
                 "model.", task.name)
    strategy_lib.wait_for_chief_export(
        fn_args.serving_model_dir, task, config.train.worker_timeout_seconds)
    return
  # Beside it too: the class list this model's outputs index, by name and
  # fingerprint (its pipeline's name carries the same fingerprint).
  label_space.write_label_space(
      warm_start_lib.model_uri_of(fn_args.serving_model_dir),
      config.class_names)
  export_seconds = time.perf_counter() - export_start
  workers = len(task.workers) if task else 1
  replicas = trained.strategy.num_replicas_in_sync
  records.TrainingHistory(
      config=config.to_dict(),
      hyperparameters=best or None,
      strategy=type(trained.strategy).__name__,
      replicas=replicas,
      workers=workers,
      replicas_per_worker=replicas // workers,
      label_space=label_space.fingerprint(config.class_names),
      precision_policy=trained.policy,
      global_batch_size=trained.global_batch,
      steps_per_epoch=trained.steps_per_epoch,
      train_examples=trained.num_records,
      validation=trained.validation,
      deterministic=trained.deterministic,
      class_counts=trained.class_counts,
      class_weights=trained.class_weights,
      wall_seconds=round(trained.wall_seconds, 3),
      phase_seconds={"set_up": round(trained.set_up_seconds, 3),
                     "fit": round(trained.wall_seconds, 3),
                     "export": round(export_seconds, 3)},
      warm_start=trained.warm_start,
      epochs=trained.epochs,
  ).write(fn_args.model_run_dir)
  logging.info("Exported the serving model to %s", fn_args.serving_model_dir)
