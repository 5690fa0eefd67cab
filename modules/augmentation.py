"""Training-split augmentation: the in-model flip, KerasCV layers, MixUp/CutMix.

The flip runs inside the model that `fit` trains (`training_model`); the
KerasCV image layers and the label mixers run in the training split's
tf.data pipeline (modules/dataset.py). Evaluation and serving never
augment. Every random layer has its own seed, derived from `train.seed`.
"""

import hashlib
from typing import Callable, List, Optional

import keras
import tensorflow as tf

from settings import config as config_lib
from settings import features


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


def training_model(model: keras.Model, config: config_lib.TrainerSettings
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


def augmentation_layers(config: config_lib.TrainerSettings,
                        start_batch: int = 0) -> List:
  """KerasCV's image layers the config switches on, each with its own seed
  (`layer_seed`; the flip is in the model, `RandomFlipLeftRight`, and
  MixUp / CutMix are `make_label_mixer`'s)."""
  # after setup: KerasCV fixes its Keras on import; TF_USE_LEGACY_KERAS first
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
    layers.append(rand_augment(seed))
  return layers


# RandAugment's settings here: two of its operations per image, each at
# magnitude 0.3 (KerasCV's default spread 0.15), skipped at its rate 1/11.
RAND_AUGMENT_OPS_PER_IMAGE = 2
RAND_AUGMENT_MAGNITUDE = 0.3
RAND_AUGMENT_MAGNITUDE_STDDEV = 0.15
RAND_AUGMENT_RATE = 10 / 11


def rand_augment(seed: Callable[[str], int]):
  """KerasCV's RandAugment with a seed of its own for each of its layers.

  `keras_cv.layers.RandAugment(seed=s)` hands the one seed to every
  operation and to both of its own draws (skip or not, which operation), so
  they all draw the same numbers (but RandomColorDegeneration, which drops
  its seed and draws from the global generator). Built here from the same
  public parts instead: the standard policy's operations, each taken from a policy
  built with its own seed, in a RandomAugmentationPipeline whose choice of
  operation has its own seed too.

  Args:
    seed: the seed of a layer name (`layer_seed` of train.seed).
  """
  # after setup: KerasCV fixes its Keras on import; TF_USE_LEGACY_KERAS first
  import keras_cv  # pylint: disable=g-import-not-at-top
  policy = lambda layer_seed_: keras_cv.layers.RandAugment.get_standard_policy(
      (0, 255), RAND_AUGMENT_MAGNITUDE, RAND_AUGMENT_MAGNITUDE_STDDEV,
      geometric=True, seed=layer_seed_)
  count = len(policy(0))
  operations = [policy(seed(f"rand_augment/{index}"))[index]
                for index in range(count)]
  for index, operation in enumerate(operations):
    # KerasCV's RandomColorDegeneration drops its seed and draws from TF's
    # global generator (the one stream every unseeded layer shares).
    # pylint: disable=protected-access
    if operation._random_generator is tf.random.get_global_generator():
      operation._random_generator = tf.random.Generator.from_seed(
          seed(f"rand_augment/{index}"))
    # pylint: enable=protected-access

  class SeededRandAugment(keras_cv.layers.RandomAugmentationPipeline):
    """The pipeline, its choice of operation seeded apart from its skip."""

    def __init__(self, choice_seed: int, **kwargs):
      super().__init__(**kwargs)
      # The parent seeds its RandomChoice with its own seed (the same
      # stream as its skip draw); it is the parent's attribute to replace.
      self._random_choice = keras_cv.layers.RandomChoice(
          layers=self.layers, auto_vectorize=self.auto_vectorize,
          seed=choice_seed)

  return SeededRandAugment(
      choice_seed=seed("rand_augment/choice"), layers=operations,
      augmentations_per_image=RAND_AUGMENT_OPS_PER_IMAGE,
      rate=RAND_AUGMENT_RATE, seed=seed("rand_augment"),
      name="rand_augment")


def make_augmenter(config: config_lib.TrainerSettings, start_batch: int = 0
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


def uses_one_hot_labels(config: config_lib.TrainerSettings) -> bool:
  """Label smoothing, MixUp and CutMix need one-hot (soft) labels."""
  return config.train.label_smoothing > 0 or config.augment.mixes_labels


def make_label_mixer(config: config_lib.TrainerSettings, start_batch: int = 0):
  """KerasCV MixUp / CutMix over (images, one-hot labels) batches, or None."""
  augment = config.augment
  if not augment.mixes_labels:
    return None
  # after setup: KerasCV fixes its Keras on import; TF_USE_LEGACY_KERAS first
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
