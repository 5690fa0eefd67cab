"""Notebook-style baseline: plain tf.data and Keras over the Kaggle TFRecords.

    python bench/plain_keras.py --data-root D --image-size 192 --epochs 10 \
        --output-dir O

What the Kaggle "Flower Classification with TPUs" notebooks do, on the same
data and with the same model as the pipeline, so that the bench can put the
two side by side: `TFRecordDataset` over the raw `.tfrec` files,
`parse_single_example`, `decode_jpeg`, resize, a random flip, shuffle,
batch, `model.fit` with validation every epoch, `model.save`, and the macro
F1 on the val split with scikit-learn. The model is `build_model(config)`
and the settings (input size, batch, learning rate and cosine schedule,
epochs, seed) are the pipeline's defaults, so the training work is the
same; what differs is everything around it. Writes `<output-dir>/model.keras`
and `<output-dir>/plain_keras.json` (times and macro F1).
"""

import argparse
import faulthandler
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from settings import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import features  # pylint: disable=g-import-not-at-top,wrong-import-position

RESULT_FILE = "plain_keras.json"


def count_data_items(filenames):
  """Examples in Kaggle-named shards (`NN-SxS-<count>.tfrec`), as the
  notebooks count them: from the file names, without reading the data."""
  return sum(int(re.compile(r"-([0-9]*)\.").search(os.path.basename(f))
                 .group(1)) for f in filenames)


STALL_STACKS_FILE = "fit_teardown_stacks.txt"
# How long after the last callback fit may take to return before the
# watchdog records where the process is.
STALL_SECONDS = 5.0


class TeardownWatchdog:
  """Records where the process waits if `fit` stalls after its last callback.

  Armed in `on_train_end`; if fit has not returned `STALL_SECONDS` later,
  writes every Python thread's stack (faulthandler) and, where gdb is
  installed, every native thread's stack to `path`. Between Keras's last
  callback and fit's return nothing runs but the freeing of fit's locals,
  the training tf.data iterator among them, so the native stacks say what
  that waits for (docs/benchmarks.md, "The end-of-fit stall").
  """

  def __init__(self, path: str):
    self.path = path
    self.returned = threading.Event()
    self.dumped = False

  def arm(self) -> threading.Thread:
    thread = threading.Thread(target=self._watch, daemon=True)
    thread.start()
    return thread

  def _watch(self) -> None:
    if self.returned.wait(STALL_SECONDS):
      return
    self.dumped = True
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    with open(self.path, "w", encoding="utf-8") as f:
      f.write(f"fit has not returned {STALL_SECONDS:g} s after "
              "on_train_end\n\n== Python threads ==\n")
      f.flush()
      faulthandler.dump_traceback(file=f, all_threads=True)
      if shutil.which("gdb"):
        f.write("\n== native threads (gdb) ==\n")
        f.flush()
        subprocess.run(["gdb", "-p", str(os.getpid()), "-batch", "-ex",
                        "thread apply all bt 30"], stdout=f,
                       stderr=subprocess.STDOUT, timeout=120, check=False)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data-root", required=True,
                      help="folder holding tfrecords-jpeg-<S>x<S>/")
  parser.add_argument("--output-dir", required=True,
                      help="where the figures (JSON) are written")
  parser.add_argument("--image-size", type=int, default=192,
                      help="which tfrecords-jpeg-<S>x<S> folder to read "
                      "(default: %(default)s)")
  parser.add_argument("--epochs", type=int, required=True,
                      help="training epochs")
  args = parser.parse_args(argv)

  # slow import: TensorFlow (4 s); --help must not load it
  import keras  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import f1_score  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from modules import model as model_lib  # pylint: disable=g-import-not-at-top

  config = config_lib.PipelineConfig().replace(image_size=args.image_size,
                                               train__epochs=args.epochs)
  size = config.input_size
  batch_size = config.train.per_replica_batch_size
  auto = tf.data.AUTOTUNE
  directory = os.path.join(args.data_root,
                           features.image_dir_name(args.image_size))
  train_files = sorted(glob.glob(os.path.join(directory, "train", "*.tfrec")))
  val_files = sorted(glob.glob(os.path.join(directory, "val", "*.tfrec")))
  if not train_files or not val_files:
    raise SystemExit(f"error: no train/val .tfrec files under {directory}")
  num_train = count_data_items(train_files)
  keras.utils.set_random_seed(config.train.seed)

  def read_labeled_tfrecord(example):
    parsed = tf.io.parse_single_example(example, {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    })
    image = tf.image.decode_jpeg(parsed[features.IMAGE_KEY], channels=3)
    # Float pixels in [0, 255] at the model's input size: the model's
    # contract, as the pipeline's Transform graph produces it.
    image = tf.image.resize(image, [size, size])
    return image, parsed[features.LABEL_KEY]

  def data_augment(image, label):
    return tf.image.random_flip_left_right(image), label

  def load_dataset(filenames, ordered):
    options = tf.data.Options()
    options.deterministic = ordered  # the notebooks' ignore_order
    dataset = tf.data.TFRecordDataset(filenames, num_parallel_reads=auto)
    dataset = dataset.with_options(options)
    return dataset.map(read_labeled_tfrecord, num_parallel_calls=auto)

  train = load_dataset(train_files, ordered=False)
  if config.augment.flip:
    train = train.map(data_augment, num_parallel_calls=auto)
  train = (train.repeat().shuffle(config.train.shuffle_buffer)
           .batch(batch_size).prefetch(auto))
  # No .cache() on the validation set, which the notebooks often add: the
  # pipeline decodes the val split every epoch too, and the comparison is
  # about the same work.
  val = load_dataset(val_files, ordered=True).batch(batch_size).prefetch(auto)

  model = model_lib.build_model(config)
  base_lr = config.train.learning_rate
  model.compile(
      optimizer=keras.optimizers.Adam(base_lr),
      loss=keras.losses.SparseCategoricalCrossentropy(),
      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

  def lrfn(epoch):
    # The pipeline's default schedule (cosine to 0 over the epochs), written
    # inline as the notebooks write theirs.
    return 0.5 * base_lr * (1 + math.cos(math.pi * epoch / args.epochs))

  epoch_seconds = []
  train_end = []
  watchdog = TeardownWatchdog(os.path.join(args.output_dir,
                                           STALL_STACKS_FILE))

  class EpochTimer(keras.callbacks.Callback):

    def on_epoch_begin(self, epoch, logs=None):
      self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
      epoch_seconds.append(round(time.perf_counter() - self.start, 3))

    def on_train_end(self, logs=None):
      train_end.append(time.perf_counter())
      watchdog.arm()

  fit_start = time.perf_counter()
  history = model.fit(
      train, steps_per_epoch=max(1, num_train // batch_size),
      epochs=args.epochs, validation_data=val, verbose=2,
      callbacks=[keras.callbacks.LearningRateScheduler(lrfn), EpochTimer()])
  fit_seconds = time.perf_counter() - fit_start
  watchdog.returned.set()
  # Between the last callback and fit returning, fit's locals are freed,
  # the training tf.data iterator among them; that has stalled for 30-35 s
  # in some bench runs, each time until 83.05 s after fit started
  # (docs/benchmarks.md, "The end-of-fit stall"). Recorded so a slow run
  # can be told apart from slow training.
  teardown_seconds = time.perf_counter() - train_end[0] if train_end else None

  os.makedirs(args.output_dir, exist_ok=True)
  save_start = time.perf_counter()
  model.save(os.path.join(args.output_dir, "model.keras"))
  save_seconds = time.perf_counter() - save_start

  labels, predictions = [], []
  for images, batch_labels in val:
    predictions.append(model.predict_on_batch(images).argmax(axis=-1))
    labels.append(batch_labels.numpy())
  macro_f1 = f1_score([l for b in labels for l in b],
                      [p for b in predictions for p in b], average="macro")

  result = {
      "train_examples": num_train,
      "epochs": args.epochs,
      "input_size": size,
      "batch_size": batch_size,
      "fit_seconds": round(fit_seconds, 3),
      "epoch_seconds": epoch_seconds,
      "fit_teardown_seconds": (None if teardown_seconds is None else
                               round(teardown_seconds, 3)),
      # Seconds from fit's start to its last callback: a stall that ends
      # at the same time after the start in every run points at a timer.
      "fit_seconds_to_train_end": (None if not train_end else
                                   round(train_end[0] - fit_start, 3)),
      "fit_teardown_stacks": watchdog.path if watchdog.dumped else None,
      "save_seconds": round(save_seconds, 3),
      "val_accuracy": float(history.history["val_accuracy"][-1]),
      "macro_f1": round(float(macro_f1), 4),
  }
  with open(os.path.join(args.output_dir, RESULT_FILE), "w",
            encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result))
  return 0


if __name__ == "__main__":
  sys.exit(main())
