"""Trainer module: `run_fn`, as TFX's GenericExecutor calls it.

Reads every setting from `fn_args.custom_config` (the Trainer's view of the
config, `PipelineConfig.trainer_settings()`, read as `TrainerSettings`),
builds the input pipeline over the ExampleGen TFRecords with the Transform
graph applied on the fly, trains under the resolved distribution strategy
and exports a SavedModel whose signatures apply the Transform graph
themselves (see `export_serving_model`).
"""

import hashlib
import importlib.util
import json
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

from absl import logging
import keras
import tensorflow as tf
import tensorflow_transform as tft

from modules import class_weights as class_weights_lib
from modules import model as model_lib
from pipeline import config as config_lib
from pipeline import features



# ---------------------------------------------------------------------------
# Distribution strategy.

def _has_tpu_runtime() -> bool:
  """Whether libtpu (the TPU VM runtime) is installed."""
  return importlib.util.find_spec("libtpu") is not None


def _on_tpu_vm() -> bool:
  """True on a TPU VM, where the TPU chips are local devices.

  `/dev/accel*` are TPU chips. `/dev/vfio/0` is one on some TPU VMs, but
  any host with a device passed through VFIO (GPU passthrough) has it too,
  so it counts only beside the TPU runtime.
  """
  return os.path.exists("/dev/accel0") or (
      os.path.exists("/dev/vfio/0") and _has_tpu_runtime())


def _tpu_requested(tpu_address: Optional[str]) -> bool:
  """True when a TPU is configured or this looks like a TPU host."""
  return bool(tpu_address or os.environ.get("TPU_NAME") or
              os.environ.get("COLAB_TPU_ADDR") or _on_tpu_vm())


def resolve_strategy(tpu_address: Optional[str] = None,
                     list_gpus=lambda: tf.config.list_logical_devices("GPU")
                     ) -> tf.distribute.Strategy:
  """TPU if there is one, else MirroredStrategy over 2+ GPUs, else default.

  Args:
    tpu_address: TPU name or grpc address; None to detect.
    list_gpus: returns the visible GPUs (a parameter so tests can check the
      selection without hardware).

  Returns:
    The strategy; it is logged with its number of replicas.
  """
  strategy = None
  if _tpu_requested(tpu_address):
    try:
      # On a TPU VM with no name given, the resolver needs "local".
      address = tpu_address or ("local" if _on_tpu_vm() and not
                                os.environ.get("TPU_NAME") else None)
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
          tpu=address)
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
      strategy = tf.distribute.TPUStrategy(resolver)
    except Exception as error:  # pylint: disable=broad-except
      # Whatever stops the TPU (no such TPU, a busy or broken driver, a
      # metadata server that does not answer) must not stop training.
      logging.warning("TPU start-up failed (%s: %s); falling back to GPUs, "
                      "then CPU.", type(error).__name__, error)
  if strategy is None:
    gpus = list_gpus()
    if len(gpus) > 1:
      try:
        strategy = tf.distribute.MirroredStrategy()
      except Exception as error:  # pylint: disable=broad-except
        logging.warning("MirroredStrategy over %d GPUs failed (%s: %s); "
                        "training on one device.", len(gpus),
                        type(error).__name__, error)
    if strategy is None:
      strategy = tf.distribute.get_strategy()
  logging.info("Distribution strategy: %s with %d replica(s).",
               type(strategy).__name__, strategy.num_replicas_in_sync)
  return strategy


def make_deterministic(seed: int) -> None:
  """Same seed, data and hardware: the same model, to the bit (slower).

  Seeds Python's, NumPy's, TensorFlow's and Keras's generators and turns
  on TF op determinism, which also makes tf.data run map functions with
  stateful ops (KerasCV's random layers) one batch at a time. It stays on
  for the rest of the process: TF has no public way to turn it off.
  """
  keras.utils.set_random_seed(seed)
  tf.config.experimental.enable_op_determinism()
  logging.info("Deterministic training: op determinism on, seed %d.", seed)


def precision_policy(strategy: tf.distribute.Strategy, requested: str,
                     list_gpus=lambda: tf.config.list_logical_devices("GPU")
                     ) -> str:
  """The Keras dtype policy: bfloat16 on TPU, float16 on GPU, else float32.

  Args:
    strategy: the resolved strategy.
    requested: `TrainConfig.mixed_precision`; anything but "auto" wins.
    list_gpus: returns the visible GPUs (a parameter for tests).
  """
  if requested != "auto":
    return requested
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return "mixed_bfloat16"
  if list_gpus():
    return "mixed_float16"
  return "float32"


# ---------------------------------------------------------------------------
# Class counts, learning rate.

def read_class_counts(tft_output: tft.TFTransformOutput,
                      num_classes: int) -> List[int]:
  """Training examples per class, as Transform's analyzer counted them.

  Raises:
    ValueError: if a label outside [0, num_classes) was counted.
  """
  path = tft_output.vocabulary_file_by_name(features.CLASS_COUNTS_VOCAB)
  counts = [0] * num_classes
  with tf.io.gfile.GFile(path) as f:
    for line in f:
      if not line.strip():
        continue
      count, label = line.split()
      label = int(label)
      if not 0 <= label < num_classes:
        raise ValueError(
            f"training split has label {label} outside [0, {num_classes})")
      counts[label] = int(count)
  return counts


def learning_rate_for_epoch(config: config_lib.PipelineConfig, epoch: int,
                            replicas: int) -> float:
  """Learning rate at the start of `epoch` (0-based).

  `constant`: learning_rate x replicas. `cosine`: cosine decay from that to
  0 over the epochs. `ramp_sustain_decay`: the seeds' schedule, a linear
  ramp from learning_rate to 5x that x replicas over 5 epochs, then
  exponential decay by 0.8 an epoch down to learning_rate.
  """
  train = config.train
  base = train.learning_rate * replicas
  if train.lr_schedule == "constant":
    return base
  if train.lr_schedule == "cosine":
    return 0.5 * base * (1 + math.cos(math.pi * epoch / train.epochs))
  # ramp_sustain_decay
  start, minimum = train.learning_rate, train.learning_rate
  maximum, ramp_epochs, decay = 5 * base, 5, 0.8
  if epoch < ramp_epochs:
    return (maximum - start) / ramp_epochs * epoch + start
  return (maximum - minimum) * decay ** (epoch - ramp_epochs) + minimum


# ---------------------------------------------------------------------------
# Input pipeline.

def layer_seed(seed: int, layer_name: str, start_batch: int = 0) -> int:
  """The seed of one random layer: its own stream for each layer.

  KerasCV layers draw from `tf.random.Generator.from_seed(seed)`; with one
  seed for all, rotation, zoom and shift would draw the same numbers. A
  new dataset restarts that generator, so a stream continued at
  `start_batch` (a later training phase) seeds it afresh rather than
  replaying the earlier phase's draws.
  """
  digest = hashlib.sha256(
      f"{seed}/{layer_name}/{start_batch}".encode()).digest()
  return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class RandomFlipLeftRight(keras.layers.Layer):
  """Mirrors each training image with probability 1/2, inside the model.

  The training flip runs where the model runs (on the accelerator, in the
  training step), not in the host's input pipeline: flipping means copying
  each float32 batch once more, which on the host cost as much as decoding
  it at the data's own size (bench/input_path.py), and the Transform graph
  cannot hand uint8 over instead (TFT's outputs are float32, int64 or
  strings). One gather of the width axis with a per-image column order: on
  a CPU-only host, where it still runs on the CPU, about half the cost of
  `keras.layers.RandomFlip`, which blends the flipped and the original
  batch over every pixel. Its seed stream (`SeedGenerator`) is model
  state, so a re-run with the same seed flips the same way and a second
  `fit` (phase 2) continues the stream. Inference passes images through.
  """

  def __init__(self, seed: int, **kwargs):
    # float32 whatever the precision policy: pixels in [0, 255].
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, images, training=None):
    if not training:
      return images
    flips = keras.random.uniform([tf.shape(images)[0]],
                                 seed=self.seed_generator) < 0.5
    columns = tf.range(tf.shape(images)[2])
    order = tf.where(flips[:, None], columns[None, ::-1], columns[None, :])
    return tf.gather(images, order, axis=2, batch_dims=1)

  def get_config(self):
    return dict(super().get_config(), seed=self.seed)


def training_model(model: keras.Model, config: config_lib.PipelineConfig
                   ) -> keras.Model:
  """The model `fit` trains: `model` behind the in-model flip, if on.

  Shares `model`'s weights; `model` itself, without the flip, is exported.
  """
  if not config.augment.flip:
    return model
  inputs = keras.Input(shape=model.input_shape[1:],
                       name=features.TRANSFORMED_IMAGE_KEY)
  flipped = RandomFlipLeftRight(layer_seed(config.train.seed, "flip"),
                                name="random_flip")(inputs)
  return keras.Model(inputs, model(flipped), name=f"{model.name}_training")


def augmentation_layers(config: config_lib.PipelineConfig,
                        start_batch: int = 0) -> List:
  """KerasCV's image layers the config switches on, each with its own seed
  (`layer_seed`; the flip is in the model, `RandomFlipLeftRight`, and
  MixUp / CutMix are `make_label_mixer`'s)."""
  import keras_cv  # pylint: disable=g-import-not-at-top
  augment = config.augment
  seed = lambda name: layer_seed(config.train.seed, name, start_batch)
  layers = []
  if augment.rotation:
    layers.append(keras_cv.layers.RandomRotation(augment.rotation,
                                                 seed=seed("rotation")))
  if augment.zoom:
    layers.append(keras_cv.layers.RandomZoom(augment.zoom, seed=seed("zoom")))
  if augment.shift:
    layers.append(keras_cv.layers.RandomTranslation(
        augment.shift, augment.shift, seed=seed("shift")))
  if augment.saturation:
    layers.append(keras_cv.layers.RandomSaturation(
        (0.5 - augment.saturation / 2, 0.5 + augment.saturation / 2),
        seed=seed("saturation")))
  if augment.rand_augment:
    layers.append(keras_cv.layers.RandAugment(
        value_range=(0, 255), augmentations_per_image=2, magnitude=0.3,
        seed=seed("rand_augment")))
  return layers


def make_augmenter(config: config_lib.PipelineConfig, start_batch: int = 0
                   ) -> Optional[Callable[[tf.Tensor], tf.Tensor]]:
  """The input pipeline's augmentation from the config, or None if off.

  Returns a function of a batch of images applying KerasCV's layers
  (`augmentation_layers`); the flip is not here but in the model
  (`training_model`). KerasCV follows `tf.keras` (Keras 2 here, since TFT
  needs TF_USE_LEGACY_KERAS=1), so its layers are applied one after the
  other as plain callables inside tf.data rather than stacked in a Keras 3
  model.
  """
  layers = augmentation_layers(config, start_batch)
  if not layers:
    return None

  def augment_batch(images: tf.Tensor) -> tf.Tensor:
    for layer in layers:
      images = layer(images, training=True)
    return images

  return augment_batch


def read_records(file_patterns: Sequence[str],
                 config: config_lib.PipelineConfig, batch_size: int,
                 training: bool, start_batch: int = 0) -> tf.data.Dataset:
  """Batches of serialized tf.Examples from ExampleGen's GZIP TFRecords.

  Training: files and records shuffled (seeded by train.seed), repeated
  forever, whole batches only; `start_batch` > 0 continues that stream
  after its first `start_batch` batches (skipping serialized records, which
  costs reading them but not decoding their images). Every stage keeps
  tf.data's deterministic order, so a re-run with the same seed sees the
  same batches (the Evaluator compares runs against each other).
  """
  files = sorted(f for pattern in file_patterns
                 for f in tf.io.gfile.glob(pattern))
  if not files:
    raise ValueError(f"no files match {list(file_patterns)}")
  seed = config.train.seed
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if training:
    dataset = dataset.shuffle(len(files), seed=seed)
  dataset = dataset.interleave(
      lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
      cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE)
  if training:
    dataset = dataset.shuffle(config.train.shuffle_buffer, seed=seed)
    dataset = dataset.repeat()
    if start_batch:
      dataset = dataset.skip(start_batch * batch_size)
  options = tf.data.Options()
  options.deterministic = True  # The default, said here as it is relied on.
  return dataset.batch(batch_size, drop_remainder=training).with_options(
      options)


def make_dataset(file_patterns: Sequence[str],
                 tft_output: tft.TFTransformOutput,
                 batch_size: int,
                 config: config_lib.PipelineConfig,
                 training: bool,
                 start_batch: int = 0) -> tf.data.Dataset:
  """(images, labels) batches with the Transform graph applied.

  Args:
    file_patterns: ExampleGen output files (GZIP TFRecords of tf.Examples).
    tft_output: the Transform output.
    batch_size: global batch size.
    config: the pipeline config.
    training: shuffle, repeat and augment (training split only; the flip
      is the model's, `training_model`).
    start_batch: training only: continue the stream (its order and its
      augmentation seeds) after this many batches, as a later training
      phase does.
  """
  dataset = read_records(file_patterns, config, batch_size, training,
                         start_batch)
  raw_spec = tft_output.raw_feature_spec()
  tft_layer = tft_output.transform_features_layer()

  def parse_and_transform(serialized):
    transformed = tft_layer(tf.io.parse_example(serialized, raw_spec))
    return (transformed[features.TRANSFORMED_IMAGE_KEY],
            transformed[features.TRANSFORMED_LABEL_KEY])

  dataset = dataset.map(parse_and_transform,
                        num_parallel_calls=tf.data.AUTOTUNE)
  augmenter = make_augmenter(config, start_batch) if training else None
  if augmenter is not None:
    dataset = dataset.map(lambda x, y: (augmenter(x), y),
                          num_parallel_calls=tf.data.AUTOTUNE)
  if uses_one_hot_labels(config):
    dataset = dataset.map(
        lambda x, y: (x, tf.one_hot(y, config.num_classes)),
        num_parallel_calls=tf.data.AUTOTUNE)
  mixer = make_label_mixer(config, start_batch) if training else None
  if mixer is not None:
    dataset = dataset.map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)


def uses_one_hot_labels(config: config_lib.PipelineConfig) -> bool:
  """Label smoothing, MixUp and CutMix need one-hot (soft) labels."""
  return config.train.label_smoothing > 0 or config.augment.mixes_labels


def make_label_mixer(config: config_lib.PipelineConfig, start_batch: int = 0):
  """KerasCV MixUp / CutMix over (images, one-hot labels) batches, or None."""
  augment = config.augment
  if not augment.mixes_labels:
    return None
  import keras_cv  # pylint: disable=g-import-not-at-top
  layers = []
  if augment.mixup_alpha:
    layers.append(keras_cv.layers.MixUp(
        alpha=augment.mixup_alpha,
        seed=layer_seed(config.train.seed, "mixup", start_batch)))
  if augment.cutmix_alpha:
    layers.append(keras_cv.layers.CutMix(
        alpha=augment.cutmix_alpha,
        seed=layer_seed(config.train.seed, "cutmix", start_batch)))

  def mix(images, labels):
    batch = {"images": images, "labels": tf.cast(labels, tf.float32)}
    for layer in layers:
      batch = layer(batch, training=True)
    return batch["images"], batch["labels"]

  return mix


# ---------------------------------------------------------------------------
# Serving.

def prediction_outputs(probabilities: tf.Tensor,
                       class_names: tf.Variable) -> Dict[str, tf.Tensor]:
  """The prediction signatures' outputs, from class probabilities."""
  index = tf.argmax(probabilities, axis=-1)
  return {
      features.PROBABILITIES_KEY: probabilities,
      features.CLASS_INDEX_KEY: index,
      features.CLASS_NAME_KEY: tf.gather(class_names, index),
  }


class ServingModule(tf.Module):
  """What the exported SavedModel holds: model, Transform graph, class names."""

  def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
               class_names: Sequence[str]):
    super().__init__()
    self.model = model
    self.tft_layer = tft_output.transform_features_layer()
    # A variable (not a captured constant) so that tools can read the class
    # names back from a loaded model as `model.class_names`.
    self.class_names = tf.Variable(list(class_names), trainable=False,
                                   name="class_names")
    spec = tft_output.raw_feature_spec()
    spec.pop(features.LABEL_KEY)
    self._serving_spec = spec

  def _predict(self, raw_features: Dict[str, tf.Tensor]):
    transformed = self.tft_layer(raw_features)
    probabilities = self.model(transformed[features.TRANSFORMED_IMAGE_KEY],
                               training=False)
    return prediction_outputs(probabilities, self.class_names)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(self, serialized):
    """Serialized tf.Examples -> probabilities, class index, class name."""
    return self._predict(tf.io.parse_example(serialized, self._serving_spec))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve_image_bytes(self, image_bytes):
    """Encoded images (JPEG or PNG, any size) -> the same outputs."""
    batch = tf.shape(image_bytes)[0]
    raw = {features.IMAGE_KEY: tf.reshape(image_bytes, [-1, 1]),
           features.ID_KEY: tf.fill([batch, 1], "")}
    return self._predict(raw)


def export_serving_model(model: keras.Model,
                         tft_output: tft.TFTransformOutput,
                         class_names: Sequence[str], export_dir: str) -> None:
  """Writes the SavedModel with its two signatures to `export_dir`.

  TFMA evaluates `serving_default` (pipeline.eval_config) and reads the
  label from the raw examples, so no signature exposes the Transform outputs.
  """
  module = ServingModule(model, tft_output, class_names)
  signatures = {
      "serving_default": module.serve_examples.get_concrete_function(),
      "serving_image_bytes": module.serve_image_bytes.get_concrete_function(),
  }
  tf.saved_model.save(module, export_dir, signatures=signatures)


# ---------------------------------------------------------------------------
# Training.

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


def compile_model(model: keras.Model, config: config_lib.PipelineConfig,
                  learning_rate: float) -> None:
  """Adam, cross-entropy (one-hot when labels are soft), accuracy."""
  if uses_one_hot_labels(config):
    loss = keras.losses.CategoricalCrossentropy(
        label_smoothing=config.train.label_smoothing)
    accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
  else:
    loss = keras.losses.SparseCategoricalCrossentropy()
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
  model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                metrics=[accuracy])


def make_callbacks(config: config_lib.PipelineConfig, replicas: int,
                   log_dir: str, timer: keras.callbacks.Callback
                   ) -> List[keras.callbacks.Callback]:
  """Schedule, TensorBoard, timing, and the optional plateau callbacks."""
  train = config.train
  callbacks = [
      keras.callbacks.LearningRateScheduler(
          lambda epoch, lr: (lr if train.reduce_lr_patience else
                             learning_rate_for_epoch(config, epoch, replicas))),
      keras.callbacks.TensorBoard(log_dir=log_dir),
      timer,
  ]
  if train.early_stopping_patience:
    callbacks.append(keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=train.early_stopping_patience,
        restore_best_weights=True))
  if train.reduce_lr_patience:
    callbacks.append(keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=train.reduce_lr_patience))
  return callbacks


def run_fn(fn_args) -> None:
  """Trains the model and exports it to `fn_args.serving_model_dir`."""
  # Only the Trainer's settings (model, train, augment, classes): the
  # functions below take them as they take a whole PipelineConfig.
  config = config_lib.TrainerSettings.from_custom_config(
      fn_args.custom_config)
  keras.utils.set_random_seed(config.train.seed)
  strategy = resolve_strategy(config.train.tpu_address)
  replicas = strategy.num_replicas_in_sync
  policy = precision_policy(strategy, config.train.mixed_precision)
  keras.mixed_precision.set_global_policy(policy)
  logging.info("Precision policy: %s.", policy)
  if config.train.deterministic:
    make_deterministic(config.train.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)

  class_counts = read_class_counts(tft_output, config.num_classes)
  num_train = sum(class_counts)
  global_batch = config.train.per_replica_batch_size * replicas
  steps_per_epoch = max(1, num_train // global_batch)
  logging.info("%d training examples, global batch %d, %d steps per epoch.",
               num_train, global_batch, steps_per_epoch)
  class_weights = None
  if config.train.class_weighting:
    weights = class_weights_lib.balanced_class_weights(class_counts)
    class_weights = dict(enumerate(weights))
    logging.info("Class weights (balanced: n / (classes x n_c)): min %.3f, "
                 "max %.3f.", min(w for w in weights if w),
                 max(weights))

  train_ds = make_dataset(fn_args.train_files, tft_output, global_batch,
                          config, training=True)
  eval_ds = make_dataset(fn_args.eval_files, tft_output, global_batch,
                         config, training=False)

  warmup = config.model.warmup_epochs
  with strategy.scope():
    model = model_lib.build_model(config)
    if warmup:
      model_lib.set_backbone_trainable(model, False)
    # Trained with the in-model flip; `model` (same weights) is exported.
    fit_model = training_model(model, config)
    compile_model(fit_model, config,
                  learning_rate_for_epoch(config, 0, replicas))

  timer = _EpochTimer(steps_per_epoch * global_batch)
  callbacks = make_callbacks(config, replicas, fn_args.model_run_dir, timer)
  fit_args = dict(steps_per_epoch=steps_per_epoch, validation_data=eval_ds,
                  class_weight=class_weights,
                  verbose=0)  # _EpochTimer logs each epoch.
  start = time.perf_counter()
  if warmup:
    logging.info("Phase 1: %d epoch(s) with the backbone frozen.", warmup)
    phase_1 = fit_model.fit(train_ds, epochs=warmup, callbacks=callbacks,
                            **fit_args)
    with strategy.scope():
      model_lib.set_backbone_trainable(model, True)
      compile_model(fit_model, config,
                    learning_rate_for_epoch(config, warmup, replicas))
    logging.info("Phase 2: backbone unfrozen.")
    # A second fit starts a new iterator, which would replay phase 1's
    # batches: continue the stream after the batches phase 1 drew instead
    # (the flip's seed stream is model state and continues by itself).
    train_ds = make_dataset(
        fn_args.train_files, tft_output, global_batch, config, training=True,
        start_batch=steps_per_epoch * len(phase_1.epoch))
  fit_model.fit(train_ds, epochs=config.train.epochs, initial_epoch=warmup,
                callbacks=callbacks, **fit_args)
  wall_seconds = time.perf_counter() - start

  export_serving_model(model, tft_output, config.class_names,
                       fn_args.serving_model_dir)
  history = {
      "config": config.to_dict(),
      "strategy": type(strategy).__name__,
      "replicas": replicas,
      "precision_policy": policy,
      "global_batch_size": global_batch,
      "steps_per_epoch": steps_per_epoch,
      "train_examples": num_train,
      "class_counts": class_counts,
      "class_weights": (None if class_weights is None else
                        [class_weights[i] for i in range(config.num_classes)]),
      "wall_seconds": round(wall_seconds, 3),
      "epochs": timer.epochs,
  }
  tf.io.gfile.makedirs(fn_args.model_run_dir)
  with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir,
                                      features.TRAINING_HISTORY_FILE),
                         "w") as f:
    json.dump(history, f, indent=2)
  logging.info("Exported the serving model to %s", fn_args.serving_model_dir)
