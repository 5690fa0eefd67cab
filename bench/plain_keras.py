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
import glob
import json
import math
import os
import re
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_FILE = "plain_keras.json"


def count_data_items(filenames):
  """Examples in Kaggle-named shards (`NN-SxS-<count>.tfrec`), as the
  notebooks count them: from the file names, without reading the data."""
  return sum(int(re.compile(r"-([0-9]*)\.").search(os.path.basename(f))
                 .group(1)) for f in filenames)


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

  import keras  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import f1_score  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from modules import model as model_lib  # pylint: disable=g-import-not-at-top
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipeline import features  # pylint: disable=g-import-not-at-top

  config = config_lib.PipelineConfig().replace(image_size=args.image_size,
                                               train__epochs=args.epochs)
  size = config.model_input_size
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

  class EpochTimer(keras.callbacks.Callback):

    def on_epoch_begin(self, epoch, logs=None):
      self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
      epoch_seconds.append(round(time.perf_counter() - self.start, 3))

    def on_train_end(self, logs=None):
      train_end.append(time.perf_counter())

  fit_start = time.perf_counter()
  history = model.fit(
      train, steps_per_epoch=max(1, num_train // batch_size),
      epochs=args.epochs, validation_data=val, verbose=2,
      callbacks=[keras.callbacks.LearningRateScheduler(lrfn), EpochTimer()])
  fit_seconds = time.perf_counter() - fit_start
  # Between the last callback and fit returning, Keras tears down its data
  # iterators; on this stack that sometimes stalls for seconds to a minute
  # (not in the pipeline's Trainer). Recorded so a slow run can be told
  # apart from slow training.
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
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
