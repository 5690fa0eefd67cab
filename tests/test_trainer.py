"""Trainer building blocks: strategy, schedules, augmentation, model."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from modules import augmentation
from modules import dataset as dataset_lib
from modules import model as model_lib
from modules import schedules
from modules import strategy as strategy_lib
from modules import trainer
from settings import config as config_lib
from settings import features


def test_cpu_resolves_to_the_default_strategy(monkeypatch):
  for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
    monkeypatch.delenv(name, raising=False)
  strategy = strategy_lib.resolve_strategy()
  assert strategy.num_replicas_in_sync == 1
  assert not isinstance(strategy, tf.distribute.MirroredStrategy)


class _FakeMirrored:
  """Stands in for TF's MirroredStrategy, which needs real GPUs."""
  num_replicas_in_sync = 2


def test_two_gpus_select_mirrored_strategy(monkeypatch):
  monkeypatch.setattr(tf.distribute, "MirroredStrategy", _FakeMirrored)
  result = strategy_lib.resolve_strategy(list_gpus=lambda: ["gpu:0", "gpu:1"])
  assert isinstance(result, _FakeMirrored)


def test_one_gpu_keeps_the_default_strategy(monkeypatch):
  monkeypatch.setattr(tf.distribute, "MirroredStrategy",
                      lambda: pytest.fail("one GPU needs no mirroring"))
  strategy = strategy_lib.resolve_strategy(list_gpus=lambda: ["gpu:0"])
  assert strategy.num_replicas_in_sync == 1


def test_learning_rate_schedules():
  config = config_lib.PipelineConfig().replace(
      train__learning_rate=1e-5, train__epochs=20,
      train__lr_schedule="ramp_sustain_decay")
  lr = lambda epoch, replicas=8: schedules.learning_rate_for_epoch(
      config, epoch, replicas)
  # The seeds' schedule on a TPU v3-8: 1e-5 -> 5e-5 x 8 over 5 epochs.
  assert lr(0) == pytest.approx(1e-5)
  assert lr(5) == pytest.approx(4e-4)
  assert lr(6) == pytest.approx((4e-4 - 1e-5) * 0.8 + 1e-5)
  assert lr(100) == pytest.approx(1e-5, rel=1e-3)
  cosine = config.replace(train__lr_schedule="cosine")
  assert schedules.learning_rate_for_epoch(cosine, 0, 1) == pytest.approx(1e-5)
  assert schedules.learning_rate_for_epoch(cosine, 10, 1) == pytest.approx(5e-6)
  constant = config.replace(train__lr_schedule="constant")
  assert schedules.learning_rate_for_epoch(constant, 7, 4) == pytest.approx(
      4e-5)


def test_augmentation_changes_training_images_only_when_on():
  images = tf.random.uniform((4, 32, 32, 3), 0, 255, seed=1)
  # The flip alone is the model's: nothing left for the input pipeline.
  assert augmentation.make_augmenter(config_lib.PipelineConfig()) is None
  on = config_lib.PipelineConfig().replace(augment__rotation=0.2,
                                           augment__saturation=0.5)
  augmented = augmentation.make_augmenter(on)(images)
  assert augmented.shape == images.shape
  assert not np.allclose(augmented.numpy(), images.numpy())


def _flipped_indices(images, out):
  mirrored = images[:, :, ::-1, :]
  flipped = []
  for index, image in enumerate(out):
    if np.array_equal(image, mirrored[index]):
      flipped.append(index)
    else:
      np.testing.assert_array_equal(image, images[index])
  return flipped


def test_flip_mirrors_whole_images_in_training_only():
  images = tf.random.uniform((64, 8, 5, 3), 0, 255, seed=2)
  layer = augmentation.RandomFlipLeftRight(seed=7)
  np.testing.assert_array_equal(layer(images).numpy(), images.numpy())
  first = layer(images, training=True).numpy()
  flipped = _flipped_indices(images.numpy(), first)
  assert 16 <= len(flipped) <= 48  # About half of 64.
  # The stream goes on (phase 2 continues it): other images next batch.
  second = layer(images, training=True).numpy()
  assert _flipped_indices(images.numpy(), second) != flipped
  # The same seed gives the same flips again (a re-run).
  again = augmentation.RandomFlipLeftRight(seed=7)(images,
                                                   training=True).numpy()
  np.testing.assert_array_equal(first, again)


def test_training_model_flips_and_shares_the_exported_model_weights():
  config = config_lib.PipelineConfig().replace(model__backbone="simple_cnn",
                                               model__weights=None)
  model = model_lib.build_model(config)
  fit_model = augmentation.training_model(model, config)
  assert isinstance(fit_model.get_layer("random_flip"),
                    augmentation.RandomFlipLeftRight)
  assert {id(w) for w in model.weights} <= {id(w) for w in fit_model.weights}
  images = np.random.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
  np.testing.assert_allclose(fit_model(images).numpy(), model(images).numpy(),
                             atol=1e-6)
  assert all(not isinstance(layer, augmentation.RandomFlipLeftRight)
             for layer in model.layers)
  off = config.replace(augment__flip=False)
  assert augmentation.training_model(model, off) is model


class _FakeTPUStrategy(tf.distribute.TPUStrategy):
  """A TPUStrategy type without a TPU (only its type is looked at)."""

  def __init__(self):  # pylint: disable=super-init-not-called
    pass


def test_precision_policy_per_device():
  cpu = tf.distribute.get_strategy()
  assert strategy_lib.precision_policy(cpu, "auto", list_gpus=lambda: []) == (
      "float32")
  assert strategy_lib.precision_policy(
      cpu, "auto", list_gpus=lambda: ["g"]) == "mixed_float16"
  assert strategy_lib.precision_policy(_FakeTPUStrategy(), "auto") == (
      "mixed_bfloat16")
  assert strategy_lib.precision_policy(
      cpu, "float32", list_gpus=lambda: ["g"]) == "float32"


def test_mixup_and_cutmix_make_soft_labels():
  config = config_lib.PipelineConfig().replace(
      augment__mixup_alpha=0.4, augment__cutmix_alpha=1.0,
      class_names=tuple(f"c{i}" for i in range(5)))
  assert augmentation.uses_one_hot_labels(config)
  mixer = augmentation.make_label_mixer(config)
  images = tf.random.uniform((8, 32, 32, 3), 0, 255, seed=2)
  labels = tf.one_hot(tf.range(8) % 5, 5)
  mixed_images, mixed_labels = mixer(images, labels)
  assert mixed_images.shape == images.shape
  np.testing.assert_allclose(mixed_labels.numpy().sum(axis=1), 1.0,
                             rtol=1e-5)
  assert (mixed_labels.numpy().max(axis=1) < 1.0).any()
  plain = config_lib.PipelineConfig()
  assert augmentation.make_label_mixer(plain) is None
  assert not augmentation.uses_one_hot_labels(plain)


class _LearningRates(keras.callbacks.Callback):
  """The optimizer's learning rate as each epoch trains with it."""

  def __init__(self):
    super().__init__()
    self.rates = []

  def on_epoch_begin(self, epoch, logs=None):
    self.rates.append(float(keras.ops.convert_to_numpy(
        self.model.optimizer.learning_rate)))


def _fit_with_callbacks(tmp_path, config, epochs, replicas=1):
  """Fits a one-layer model on data it cannot learn from (val_loss stays
  flat) with `make_callbacks`; returns the learning rate of each epoch."""
  model = keras.Sequential([keras.Input((2,)),
                            keras.layers.Dense(2, activation="softmax")])
  model.compile(optimizer=keras.optimizers.Adam(
      schedules.learning_rate_for_epoch(config, 0, replicas)),
                loss="sparse_categorical_crossentropy")
  inputs = np.zeros((8, 2), np.float32)
  labels = np.array([0, 1] * 4)
  recorder = _LearningRates()
  callbacks = trainer.make_callbacks(config, replicas, str(tmp_path),
                                     keras.callbacks.Callback())
  model.fit(inputs, labels, validation_data=(inputs, labels),
            epochs=epochs, verbose=0, callbacks=callbacks + [recorder])
  return recorder.rates


def test_schedule_sets_each_epochs_learning_rate(tmp_path):
  config = config_lib.PipelineConfig().replace(
      train__learning_rate=1e-3, train__epochs=6,
      train__lr_schedule="ramp_sustain_decay")
  rates = _fit_with_callbacks(tmp_path, config, epochs=6, replicas=2)
  assert rates == pytest.approx([
      schedules.learning_rate_for_epoch(config, epoch, 2)
      for epoch in range(6)], rel=1e-5)
  assert rates[5] > rates[0]  # The ramp, not a constant.


def test_plateau_halves_the_rate_and_the_schedule_keeps_it(tmp_path):
  """With a constant schedule and reduce_lr_patience, ReduceLROnPlateau's
  cut survives the next epoch's scheduler call (it must not reset it)."""
  config = config_lib.PipelineConfig().replace(
      train__learning_rate=1e-9, train__lr_schedule="constant",
      train__reduce_lr_patience=1)
  rates = _fit_with_callbacks(tmp_path, config, epochs=4)
  # val_loss cannot improve: from the second epoch's end on (the first
  # sets the best so far), each epoch without improvement halves the rate.
  assert rates == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10], rel=1e-5)
  with pytest.raises(ValueError, match="reduce_lr_patience"):
    config.replace(train__lr_schedule="cosine")


def test_two_phase_freezes_then_unfreezes_the_backbone():
  """Frozen, a training step moves the head only; unfrozen, the backbone
  too."""
  config = config_lib.PipelineConfig().replace(
      model__backbone="simple_cnn", model__input_size=16,
      class_names=("a", "b", "c"))
  model = model_lib.build_model(config)
  images = np.random.default_rng(0).uniform(0, 255, (6, 16, 16, 3))
  labels = np.array([0, 1, 2] * 2)
  backbone = model.get_layer(model_lib.BACKBONE_LAYER_NAME)
  head = model.get_layer(features.PROBABILITIES_KEY)

  def one_step_moves():
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss="sparse_categorical_crossentropy")
    before = (backbone.get_weights(), head.get_weights())
    model.train_on_batch(images, labels)
    after = (backbone.get_weights(), head.get_weights())
    return [any(not np.array_equal(a, b) for a, b in zip(old, new)
                if a.dtype.kind == "f")
            for old, new in zip(before, after)]

  model_lib.set_backbone_trainable(model, False)
  assert one_step_moves() == [False, True]
  model_lib.set_backbone_trainable(model, True)
  assert one_step_moves() == [True, True]


@pytest.mark.parametrize("backbone", config_lib.BACKBONES)
def test_every_backbone_builds_without_weights(backbone):
  config = config_lib.PipelineConfig().replace(
      model__backbone=backbone, model__input_size=75,
      class_names=tuple(f"c{i}" for i in range(7)))
  model = model_lib.build_model(config)
  out = model(np.random.uniform(0, 255, (1, 75, 75, 3)).astype("float32"))
  assert out.shape == (1, 7)
  np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backbone", ["simple_cnn", "mobilenet_v3_small"])
def test_model_builds_and_outputs_probabilities(backbone):
  config = config_lib.PipelineConfig().replace(
      model__backbone=backbone, model__input_size=64,
      class_names=tuple(f"c{i}" for i in range(7)))
  model = model_lib.build_model(config)
  out = model(np.random.uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
  assert out.shape == (2, 7)
  np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, rtol=1e-5)


def _no_tpu_hints(monkeypatch):
  for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
    monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("error", [
    RuntimeError("TPU driver is busy"),
    tf.errors.UnavailableError(None, None, "connection refused"),
    OSError("metadata server did not answer"),
])
def test_a_detected_tpu_that_fails_falls_back_with_a_reason(monkeypatch,
                                                            caplog, error):
  _no_tpu_hints(monkeypatch)
  monkeypatch.setenv("TPU_NAME", "detected-tpu")

  def broken_resolver(tpu=None):
    raise error

  monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                      broken_resolver)
  with caplog.at_level("WARNING", logger="absl"):
    strategy = strategy_lib.resolve_strategy(list_gpus=lambda: [])
  assert strategy.num_replicas_in_sync == 1
  assert not isinstance(strategy, tf.distribute.TPUStrategy)
  assert any("TPU start-up failed" in r.getMessage() and str(error) in
             r.getMessage() for r in caplog.records)


def test_a_tpu_asked_for_by_address_that_fails_stops_the_run(monkeypatch):
  _no_tpu_hints(monkeypatch)

  def broken_resolver(tpu=None):
    raise tf.errors.UnavailableError(None, None, "connection refused")

  monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                      broken_resolver)
  with pytest.raises(RuntimeError, match=r"grpc://10\.0\.0\.2:8470.*"
                     r"UnavailableError: connection refused"):
    strategy_lib.resolve_strategy("grpc://10.0.0.2:8470",
                                  list_gpus=lambda: [])


def test_a_bug_in_tpu_start_up_is_not_swallowed(monkeypatch):
  _no_tpu_hints(monkeypatch)
  monkeypatch.setenv("TPU_NAME", "detected-tpu")

  def buggy_resolver(tpu=None):
    raise TypeError("unexpected keyword")

  monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                      buggy_resolver)
  with pytest.raises(TypeError):
    strategy_lib.resolve_strategy(list_gpus=lambda: [])


# Run in a child process: it resets the eager context.
_PARTIAL_TPU_FAILURE = """
import os, sys
import tensorflow as tf
from tensorflow.python.eager import context
from modules import strategy as strategy_lib

# A real gRPC server that is not a TPU: connecting to it succeeds (and moves
# the default device there), initialize_tpu_system then fails (NotFound).
server = tf.distribute.Server.create_local_server()
real_resolver = tf.distribute.cluster_resolver.TPUClusterResolver
tf.distribute.cluster_resolver.TPUClusterResolver = (
    lambda tpu=None: real_resolver(tpu=server.target))
os.environ["TPU_NAME"] = "detected-tpu"
tf.random.set_seed(7)
strategy = strategy_lib.resolve_strategy(list_gpus=lambda: [])
print("STRATEGY", type(strategy).__name__, strategy.num_replicas_in_sync)
print("DEVICE", tf.constant(1.0).device, tf.Variable(1.0).device)
print("SERVER_DEF", context.get_server_def() is not None)
print("SEED", context.global_seed())
try:
  strategy_lib.resolve_strategy(server.target, list_gpus=lambda: [])
except RuntimeError as error:
  print("EXPLICIT", error)
print("DEVICE_AFTER_EXPLICIT", tf.constant(1.0).device)
"""


def test_a_tpu_that_connects_then_fails_leaves_no_remote_device(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  script = tmp_path / "partial_tpu_failure.py"
  script.write_text(_PARTIAL_TPU_FAILURE)
  env = dict(os.environ, PYTHONPATH=os.getcwd())
  env.pop("COLAB_TPU_ADDR", None)
  done = subprocess.run([sys.executable, str(script)], capture_output=True,
                        text=True, env=env, timeout=300, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = dict(line.split(" ", 1) for line in done.stdout.splitlines()
               if line.split(" ", 1)[0].isupper())
  local = "/job:localhost/replica:0/task:0/device:CPU:0"
  assert lines["DEVICE"] == f"{local} {local}", done.stdout
  assert lines["SERVER_DEF"] == "False"
  assert lines["STRATEGY"] == "_DefaultDistributionStrategy 1"
  assert lines["SEED"] == "7"
  assert "TPUs not found" in lines["EXPLICIT"], done.stdout
  assert lines["DEVICE_AFTER_EXPLICIT"] == local


def test_tpu_failure_falls_back_to_the_gpus(monkeypatch):
  _no_tpu_hints(monkeypatch)
  monkeypatch.setenv("TPU_NAME", "detected-tpu")

  def broken_resolver(tpu=None):
    raise RuntimeError("no TPU")

  monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                      broken_resolver)
  monkeypatch.setattr(tf.distribute, "MirroredStrategy", _FakeMirrored)
  result = strategy_lib.resolve_strategy(list_gpus=lambda: ["gpu:0", "gpu:1"])
  assert isinstance(result, _FakeMirrored)


def test_vfio_alone_is_not_a_tpu(monkeypatch, tmp_path):
  """GPU passthrough hosts have /dev/vfio/0 too."""
  _no_tpu_hints(monkeypatch)
  real_exists = os.path.exists
  monkeypatch.setattr(strategy_lib.os.path, "exists",
                      lambda p: p == "/dev/vfio/0" or (
                          p != "/dev/accel0" and real_exists(p)))
  monkeypatch.setattr(
      tf.distribute.cluster_resolver, "TPUClusterResolver",
      lambda tpu=None: pytest.fail("looked for a TPU on a VFIO host"))
  # This environment has no TPU runtime (libtpu) installed.
  assert not strategy_lib._has_tpu_runtime()  # pylint: disable=protected-access
  assert not strategy_lib._tpu_requested(None)  # pylint: disable=protected-access
  assert strategy_lib.resolve_strategy(
      list_gpus=lambda: []).num_replicas_in_sync
  # With a TPU runtime (a `libtpu` package) importable, the same host is a
  # TPU VM.
  (tmp_path / "libtpu").mkdir()
  (tmp_path / "libtpu" / "__init__.py").write_text("")
  monkeypatch.syspath_prepend(str(tmp_path))
  assert strategy_lib._tpu_requested(None)  # pylint: disable=protected-access


def test_each_augmentation_layer_draws_its_own_numbers():
  config = config_lib.PipelineConfig().replace(
      augment__rotation=0.2, augment__zoom=0.2, augment__shift=0.2,
      augment__saturation=0.5, augment__rand_augment=True)
  layers = augmentation.augmentation_layers(config)
  assert len(layers) == 5
  # pylint: disable-next=protected-access
  draws = [layer._random_generator.uniform([16]).numpy() for layer in layers]
  for i, first in enumerate(draws):
    for second in draws[i + 1:]:
      assert not np.allclose(first, second)
  # Still a function of train.seed: a re-run draws the same numbers.
  again = augmentation.augmentation_layers(config)[0]
  # pylint: disable-next=protected-access
  np.testing.assert_array_equal(again._random_generator.uniform([16]),
                                draws[0])
  # A later phase's new dataset does not replay the first phase's draws.
  later = augmentation.augmentation_layers(config, start_batch=40)[0]
  # pylint: disable-next=protected-access
  assert not np.allclose(later._random_generator.uniform([16]), draws[0])


def test_each_rand_augment_operation_draws_its_own_numbers():
  """KerasCV's own RandAugment gives its 10 operations, its skip and its
  choice one seed: its 12 streams are two (a layer or two turns the seed
  into a generator differently). Ours: 12 streams."""
  import keras_cv  # pylint: disable=g-import-not-at-top
  # pylint: disable=protected-access
  streams = lambda layer: [layer._random_generator,
                           layer._random_choice._random_generator] + [
                               op._random_generator for op in layer.layers]
  stock = keras_cv.layers.RandAugment(value_range=(0, 255), seed=5)
  assert len({tuple(g.uniform([4]).numpy()) for g in streams(stock)}) <= 2
  config = config_lib.PipelineConfig().replace(augment__rand_augment=True)
  ours = augmentation.augmentation_layers(config)[0]
  assert [type(op) for op in ours.layers] == [type(op) for op in stock.layers]
  draws = [tuple(g.uniform([4]).numpy()) for g in streams(ours)]
  assert len(set(draws)) == len(draws) == 12
  # A function of train.seed: a re-run draws the same numbers.
  again = augmentation.augmentation_layers(config)[0]
  assert [tuple(g.uniform([4]).numpy()) for g in streams(again)] == draws
  # pylint: enable=protected-access
  images = tf.random.uniform((4, 32, 32, 3), 0, 255, seed=1)
  out = ours(images, training=True)
  assert out.shape == images.shape
  assert float(tf.reduce_min(out)) >= 0 and float(tf.reduce_max(out)) <= 255


def _write_gzip_records(directory, shards=3, per_shard=10):
  paths = []
  for shard in range(shards):
    path = os.path.join(directory, f"part-{shard}.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
      for record in range(per_shard):
        writer.write(f"{shard}-{record}".encode())
    paths.append(path)
  return paths


def test_a_later_phase_continues_the_training_stream(tmp_path):
  """Phase 2 (a new fit, a new iterator) must not replay phase 1's
  batches: the stream started at batch s is the whole stream from s."""
  files = _write_gzip_records(str(tmp_path))
  config = config_lib.PipelineConfig().replace(train__shuffle_buffer=8)
  whole = [b.numpy().tolist() for b in dataset_lib.read_records(
      files, config, 4, training=True).take(20)]
  continued = [b.numpy().tolist() for b in dataset_lib.read_records(
      files, config, 4, training=True, start_batch=7).take(13)]
  assert continued == whole[7:]
  assert continued[:7] != whole[:7]  # Not a replay.
  # Every record once per pass (30 records: batches 0-6 and 2 of batch 7).
  first_pass = [r for batch in whole for r in batch][:30]
  assert len(set(first_pass)) == 30
  # The eval split is read once, in order, every batch.
  assert [len(b) for b in dataset_lib.read_records(files, config, 4,
                                               training=False)] == (
      [4] * 7 + [2])


def _write_examples_with_ids(path, count):
  with tf.io.TFRecordWriter(path, options="GZIP") as writer:
    for index in range(count):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          features.ID_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[f"img{index:04d}".encode()]))})).SerializeToString())
  return path


def _ids(dataset):
  return [tf.train.Example.FromString(record).features.feature[
      features.ID_KEY].bytes_list.value[0].decode()
          for batch in dataset for record in batch.numpy()]


def test_early_stopping_watches_a_selection_slice_never_trained_on(tmp_path):
  """With early stopping on, the Trainer's val_* scores come from a slice
  of train (by a hash of id) that the training stream never reads; off,
  nothing is held out and the eval split is only shown."""
  files = [_write_examples_with_ids(str(tmp_path / "train.gz"), 400)]
  config = config_lib.PipelineConfig().replace(
      train__early_stopping_patience=2, train__selection_percent=10)
  plan = trainer.validation_plan(config)
  assert plan["selection_slice_percent"] == 10
  assert plan["used_by"] == ["early stopping"]
  # One pass of the (repeated) training stream, and the selection slice.
  trained = set(_ids(dataset_lib.read_records(
      files, config, 10, training=True,
      selection=dataset_lib.WITHOUT_SELECTION).take(40)))
  held_out = _ids(dataset_lib.read_records(
      files, config, 10, training=False,
      selection=dataset_lib.ONLY_SELECTION))
  assert not trained & set(held_out)
  assert len(trained) + len(held_out) == 400
  # About the configured share, and the same ids whatever the file order.
  assert 20 <= len(held_out) <= 60
  buckets = tf.strings.to_hash_bucket_fast(held_out, 100).numpy()
  assert (buckets >= 90).all()
  # The ensemble's fit slice is the first buckets: never the same records.
  assert not (buckets < config_lib.PipelineConfig().ensemble.fit_percent).any()
  off = trainer.validation_plan(config_lib.PipelineConfig())
  assert off["selection_slice_percent"] == 0 and off["used_by"] == []
  assert "eval split" in off["data"]
