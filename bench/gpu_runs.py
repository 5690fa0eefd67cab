"""What the GPU check measures: its data, a model's FLOPs, a timed training.

`bench/gpu_check.py` writes drawn flowers as the GZIP tf.Example shards
ImportExampleGen writes (`make_examples`), analyzes the pipeline's
Transform graph on them (`transform_graph`), counts a model's forward-pass
FLOPs with TensorFlow's profiler (`forward_flops_per_image`), and trains a
fresh model for a warm-up epoch and the measured ones (`train_run`), fed
the real input or one synthetic batch (`synthetic_dataset`). Each run is a
record of `RUN_FIELDS`; a run that did not happen keeps them all, as None
(`skipped_run`).
"""

import glob
import os
import shutil
import statistics
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from bench import input_path
from settings import features
from tools import make_sample_data

# What every run in the record carries (tests/test_bench.py checks them).
RUN_FIELDS = ("backbone", "feed", "jit_compile", "dtype_policy", "status",
              "global_batch_size",
              "steps_per_epoch", "warmup_epoch_seconds", "epoch_seconds",
              "images_per_second", "train_tflops_per_second",
              "fraction_of_peak", "peak_device_memory_gib")

def make_examples(work_dir: str, image_size: int, count: int, shards: int
                  ) -> List[str]:
  """Writes `count` drawn flowers as GZIP tf.Example shards; returns them.

  The records are the Kaggle features (tools/make_sample_data.py) and the
  files are what ImportExampleGen writes from them (GZIP TFRecords under
  Split-train/), so `make_dataset` reads them as it reads the pipeline's.
  """
  # after setup: TensorFlow loads after runtime.configure() (gpu_check.main)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  directory = os.path.join(work_dir, f"examples-{image_size}px-{count}",
                           "Split-train")
  marker = os.path.join(directory, ".complete")
  if os.path.exists(marker):
    return sorted(glob.glob(os.path.join(directory, "*.gz")))
  shutil.rmtree(directory, ignore_errors=True)
  os.makedirs(directory)
  num_classes = len(features.load_class_names())
  rng = np.random.default_rng(7)
  writers = [tf.io.TFRecordWriter(
      os.path.join(directory, f"data_tfrecord-{i:05d}-of-{shards:05d}.gz"),
      options="GZIP") for i in range(shards)]
  for index in range(count):
    label = index % num_classes
    example = make_sample_data.make_example(
        f"gpu{index:06d}", make_sample_data.encode_jpeg(
            make_sample_data.draw_flower(label, image_size, rng)), label)
    writers[index % shards].write(example.SerializeToString())
  for writer in writers:
    writer.close()
  open(marker, "w", encoding="utf-8").close()
  return sorted(glob.glob(os.path.join(directory, "*.gz")))


def transform_graph(files: Sequence[str], config, work_dir: str) -> str:
  """The pipeline's `preprocessing_fn` analyzed on `files`; its folder."""
  output_dir = tempfile.mkdtemp(prefix="transform-", dir=work_dir)
  return input_path.build_transform_graph(
      files, config,
      os.path.join(input_path.REPO_ROOT, "schema", "schema.pbtxt"),
      output_dir)


# ---------------------------------------------------------------------------
# FLOPs.

def forward_flops_per_image(model, input_size: int) -> float:
  """Float operations of one image's forward pass, per TF's profiler.

  The model's forward function is traced at batch 1, its variables frozen
  into constants, and `tf.compat.v1.profiler` sums the float operations of
  every op with registered statistics (convolutions, matmuls, element-wise
  arithmetic; a multiply-add counts 2). Ops without statistics (batch
  normalisation, pooling, activations) count 0, so this is a slight
  underestimate; convolutions dominate these networks.
  """
  # after setup: TensorFlow loads after runtime.configure() (gpu_check.main)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import

  forward = tf.function(lambda images: model(images, training=False))
  concrete = forward.get_concrete_function(
      tf.TensorSpec([1, input_size, input_size, 3], tf.float32))
  _, graph_def = (
      convert_to_constants.convert_variables_to_constants_v2_as_graph(
          concrete))
  graph = tf.Graph()
  with graph.as_default():
    tf.graph_util.import_graph_def(graph_def, name="")
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
  return float(profile.total_float_ops)


# ---------------------------------------------------------------------------
# Runs.

def synthetic_dataset(global_batch: int, input_size: int, num_classes: int):
  """One random batch of pixels in [0, 255] and labels, repeated forever."""
  # after setup: TensorFlow loads after runtime.configure() (gpu_check.main)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = tf.random.uniform([global_batch, input_size, input_size, 3], 0,
                             255, seed=1)
  labels = tf.random.uniform([global_batch], 0, num_classes, tf.int64, seed=2)
  return (tf.data.Dataset.from_tensors((images, labels)).repeat()
          .prefetch(tf.data.AUTOTUNE))


def train_run(backbone: str, feed: str, jit_compile: bool, config, strategy,
              make_train_dataset, steps: int, epochs: int,
              flops_per_image: Optional[float], peak: Dict[str, Any]
              ) -> Dict[str, Any]:
  """Trains a fresh model for 1 warm-up + `epochs` epochs; its figures."""
  # after setup: TensorFlow loads after runtime.configure() (gpu_check.main)
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from modules import augmentation  # pylint: disable=g-import-not-at-top
  from modules import dataset  # pylint: disable=g-import-not-at-top
  from modules import model as model_lib  # pylint: disable=g-import-not-at-top
  from modules import schedules  # pylint: disable=g-import-not-at-top
  from modules import strategy as strategy_lib  # pylint: disable=g-import-not-at-top
  from modules import trainer  # pylint: disable=g-import-not-at-top

  keras.backend.clear_session()
  # clear_session resets Keras's global state, the dtype policy included.
  keras.mixed_precision.set_global_policy(config.train.mixed_precision)
  replicas = strategy.num_replicas_in_sync
  global_batch = config.train.per_replica_batch_size * replicas
  with strategy.scope():
    # As the Trainer trains it: the training flip is in the model.
    model = augmentation.training_model(model_lib.build_model(config), config)
    trainer.compile_model(
        model, config, schedules.learning_rate_for_epoch(config, 0, replicas))
  # Set after compile_model, which leaves Keras's "auto"; the train
  # function is built at the first fit and reads it then.
  model.jit_compile = jit_compile
  epoch_seconds: List[float] = []

  class EpochTimer(keras.callbacks.Callback):

    def on_epoch_begin(self, epoch, logs=None):
      self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
      # Keras reads the epoch's metrics before this callback, which waits
      # for the device to finish the epoch's steps.
      epoch_seconds.append(time.perf_counter() - self.start)

  gpus = tf.config.list_logical_devices("GPU")
  if gpus:
    tf.config.experimental.reset_memory_stats("GPU:0")
  # steps_per_epoch keeps one iterator over the (repeating) dataset for all
  # epochs, so the measured epochs start with the input pipeline warm.
  model.fit(make_train_dataset(), steps_per_epoch=steps, epochs=1 + epochs,
            verbose=0, callbacks=[EpochTimer()])
  peak_memory = (tf.config.experimental.get_memory_info("GPU:0")["peak"]
                 / 2**30 if gpus else None)
  measured = epoch_seconds[1:]
  ips = steps * global_batch / statistics.median(measured)
  train_tflops = (3 * flops_per_image * ips / 1e12 if flops_per_image
                  else None)
  return {
      "backbone": backbone,
      "feed": feed,
      "jit_compile": bool(model.jit_compile),
      "dtype_policy": model.dtype_policy.name,
      "status": "measured",
      "global_batch_size": global_batch,
      "steps_per_epoch": steps,
      "warmup_epoch_seconds": round(epoch_seconds[0], 3),
      "epoch_seconds": [round(s, 4) for s in measured],
      "images_per_second": round(ips, 1),
      # Four significant digits: a CPU run's TFLOP/s are thousandths.
      "train_tflops_per_second": (None if train_tflops is None
                                  else float(f"{train_tflops:.4g}")),
      "fraction_of_peak": (float(f"{train_tflops / peak['tflops']:.4g}")
                           if train_tflops and peak["tflops"] else None),
      "peak_device_memory_gib": (None if peak_memory is None
                                 else round(peak_memory, 3)),
  }


def skipped_run(backbone: str, feed: str, jit_compile: bool, why: str
                ) -> Dict[str, Any]:
  run = {field: None for field in RUN_FIELDS}
  run.update(backbone=backbone, feed=feed, jit_compile=jit_compile,
             status=f"skipped: {why}")
  return run
