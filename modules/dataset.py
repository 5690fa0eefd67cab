"""The Trainer's input: tf.data over ExampleGen's records, Transform applied.

Records are read as serialized tf.Examples, parsed and transformed on the
fly by the same graph the served model carries (Transform does not
materialize), then augmented on the training split (modules/augmentation.py).
"""

import os
from typing import List, Optional, Sequence

from absl import logging
import tensorflow as tf
import tensorflow_transform as tft

from modules import augmentation
from modules import class_weights as class_weights_lib
from modules import fit_slice
from modules import record_reader
from modules import strategy as strategy_lib
from settings import config as config_lib
from settings import features
from settings import records


def examples_folder(split_files: Sequence[str]) -> str:
  """The Examples artifact's folder of a split's file patterns, as TFX's
  Trainer hands them over (`<artifact>/Split-<name>/*`)."""
  return os.path.dirname(os.path.dirname(split_files[0]))


def read_class_counts(split_files: Sequence[str], num_classes: int,
                      split: str = features.TRAIN_SPLIT) -> List[int]:
  """Examples per class of a split, as ImportExampleGen counted them
  (settings/records.py `SplitClassCounts`, beside the split's folder).

  Examples without that record (written before it existed, or by another
  ExampleGen) are counted here, in one pass over the split's labels that
  decodes no image (modules/record_reader.py).

  Raises:
    ValueError: if a label outside [0, num_classes) was counted.
  """
  recorded = records.SplitClassCounts.read(examples_folder(split_files))
  if recorded is not None and split in recorded.splits:
    return recorded.counts(split, num_classes)
  files = sorted(path for pattern in split_files
                 for path in tf.io.gfile.glob(pattern))
  logging.warning("No %s in %s: counting the %s split's labels (%d files).",
                  records.SplitClassCounts.FILE_NAME,
                  examples_folder(split_files), split, len(files))
  counts = [0] * num_classes
  for serialized in record_reader.serialized_records(files):
    values = tf.train.Example.FromString(serialized).features.feature[
        features.LABEL_KEY].int64_list.value
    if len(values) != 1:
      continue
    if not 0 <= values[0] < num_classes:
      raise ValueError(f"split {split!r} has label {values[0]} outside "
                       f"[0, {num_classes})")
    counts[values[0]] += 1
  return counts


# `selection` values of read_records / make_dataset.
WITHOUT_SELECTION = "without"
ONLY_SELECTION = "only"


def read_records(file_patterns: Sequence[str],
                 config: config_lib.TrainerSettings, batch_size: int,
                 training: bool, start_batch: int = 0,
                 selection: Optional[str] = None) -> tf.data.Dataset:
  """Batches of serialized tf.Examples from ExampleGen's TFRecords (GZIP
  or not, by name: settings/features.py `record_compression`).

  Training: files and records shuffled (seeded by train.seed), repeated
  forever, whole batches only; `start_batch` > 0 continues that stream
  after its first `start_batch` batches (skipping serialized records, which
  costs reading them but not decoding their images). Every stage keeps
  tf.data's deterministic order, so a re-run with the same seed sees the
  same batches (the Evaluator compares runs against each other). An
  ensemble member (`fit_slice_percent` > 0) never sees the ensemble's fit
  slice (modules/fit_slice.py). `selection`: WITHOUT_SELECTION leaves the
  selection slice (`train.selection_percent`) out, ONLY_SELECTION reads
  only it (the held-out data early stopping and the Tuner watch).
  """
  files = sorted(f for pattern in file_patterns
                 for f in tf.io.gfile.glob(pattern))
  if not files:
    raise ValueError(f"no files match {list(file_patterns)}")
  compression = features.record_compression(files)
  seed = config.train.seed
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if training:
    dataset = dataset.shuffle(len(files), seed=seed)
  dataset = dataset.interleave(
      lambda f: tf.data.TFRecordDataset(f, compression_type=compression),
      cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE)
  fit_percent = getattr(config, "fit_slice_percent", 0)
  if training and fit_percent:
    dataset = fit_slice.without_fit_slice(dataset, fit_percent)
  if selection == WITHOUT_SELECTION:
    dataset = fit_slice.without_selection_slice(
        dataset, config.train.selection_percent)
  elif selection == ONLY_SELECTION:
    dataset = fit_slice.only_selection_slice(
        dataset, config.train.selection_percent)
  elif selection is not None:
    raise ValueError(f"selection must be {WITHOUT_SELECTION!r}, "
                     f"{ONLY_SELECTION!r} or None, not {selection!r}")
  if training:
    dataset = dataset.shuffle(config.train.shuffle_buffer, seed=seed)
    dataset = dataset.repeat()
    if start_batch:
      dataset = dataset.skip(start_batch * batch_size)
  options = tf.data.Options()
  options.deterministic = True  # The default, said here as it is relied on.
  # No autotuning thread. At the end of `fit`, destroying the iterator
  # waits for that thread's next scheduled wake-up when it misses the
  # cancellation (a period that doubles from 10 ms): 3.5 to 24 s in 3 of
  # the 4 Trainer runs of bench record 20261207-191235, 82 s after the
  # iterator started in the plain Keras runs (docs/benchmarks.md, "The
  # end-of-fit stall"). Without it, AUTOTUNE parallel calls start and stay
  # at one per core (TensorFlow's default) and prefetch buffers still grow
  # on demand (their own autotuner, no thread).
  options.autotune.enabled = False
  task = strategy_lib.cluster_task()
  if task is not None:
    # Several workers: each reads its own files where there are enough of
    # them, else every worker reads all and keeps its share of each batch.
    # Said explicitly (not AUTO) so the choice is known and logged.
    by_file = len(files) >= len(task.workers)
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE if by_file else
        tf.data.experimental.AutoShardPolicy.DATA)
    logging.info("Input sharded across %d workers by %s (%d file(s)).",
                 len(task.workers), "file" if by_file else "data",
                 len(files))
  return dataset.batch(batch_size, drop_remainder=training).with_options(
      options)


def make_dataset(file_patterns: Sequence[str],
                 tft_output: tft.TFTransformOutput,
                 batch_size: int,
                 config: config_lib.TrainerSettings,
                 training: bool,
                 start_batch: int = 0,
                 class_weights: Optional[Sequence[float]] = None,
                 selection: Optional[str] = None
                 ) -> tf.data.Dataset:
  """(images, labels) batches with the Transform graph applied.

  Args:
    file_patterns: ExampleGen output files (TFRecords of tf.Examples).
    tft_output: the Transform output.
    batch_size: global batch size.
    config: the pipeline config.
    training: shuffle, repeat and augment (training split only; the flip
      is the model's, `training_model`).
    start_batch: training only: continue the stream (its order and its
      augmentation seeds) after this many batches, as a later training
      phase does.
    class_weights: training only: weight by class; the batches become
      (images, labels, per-example weights), each weight taken from the
      label after MixUp / CutMix mixed it (`class_weights.example_weights`),
      in place of Keras's `class_weight`, which argmaxes soft labels.
    selection: the selection slice left out or read alone (`read_records`).
  """
  dataset = read_records(file_patterns, config, batch_size, training,
                         start_batch, selection)
  raw_spec = tft_output.raw_feature_spec()
  tft_layer = tft_output.transform_features_layer()

  # Traced as written, without AutoGraph: it has no Python control flow on
  # tensors, and AutoGraph would transpile the tf-keras call machinery of
  # the Transform layer instead, about 7 s of the Trainer's set-up on 2
  # cores (the bench's "Trainer set-up"), against 0.1 s traced plainly.
  @tf.autograph.experimental.do_not_convert
  def parse_and_transform(serialized):
    transformed = tft_layer(tf.io.parse_example(serialized, raw_spec))
    return (transformed[features.TRANSFORMED_IMAGE_KEY],
            transformed[features.TRANSFORMED_LABEL_KEY])

  dataset = dataset.map(parse_and_transform,
                        num_parallel_calls=tf.data.AUTOTUNE)
  augmenter = (augmentation.make_augmenter(config, start_batch)
               if training else None)
  if augmenter is not None:
    dataset = dataset.map(lambda x, y: (augmenter(x), y),
                          num_parallel_calls=tf.data.AUTOTUNE)
  if augmentation.uses_one_hot_labels(config):
    dataset = dataset.map(
        lambda x, y: (x, tf.one_hot(y, config.num_classes)),
        num_parallel_calls=tf.data.AUTOTUNE)
  mixer = (augmentation.make_label_mixer(config, start_batch)
           if training else None)
  if mixer is not None:
    dataset = dataset.map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
  if training and class_weights is not None:
    dataset = dataset.map(
        lambda x, y: (x, y, class_weights_lib.example_weights(
            y, class_weights)), num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)
