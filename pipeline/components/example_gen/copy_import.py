"""The in-process import: ExampleGen's output as copies of the checked input
files, or as a hash split of them, without Beam.

TFX's ImportExampleGen reads every record through Beam, parses it as a
tf.Example, serializes it again and writes it GZIP-compressed: at the
Kaggle set's size (900 MB of JPEG bytes, which GZIP cannot shrink) that is
most of ExampleGen's time (docs/benchmarks.md, the scale section). When
every output split is one input split as it is (the Kaggle layout's
`train` and `val`, TestExampleGen's `test`), nothing needs to change in a
record, so this import copies the files instead: `tf.io.gfile.copy`, a
server-side copy on GCS. The records are checked all the same: the data
check before it (input_files.py) reads each one, checks its checksum and
parses it as a tf.Example, which is what TFX's import checks.

The copies keep the input's uncompressed records and are named
`data_tfrecord-<i>-of-<n>.tfrecord` (settings/features.py
`COPIED_RECORD_SUFFIX`); TFX's readers (Beam's AUTO compression, tfx_bsl's
`detect_compression_type`) and ours (`features.record_compression`) tell
GZIP from uncompressed by the `.gz` name, so the artifact's `file_format`
stays TFX's `tfrecords_gzip`, its one name for TFRecord files.

A split cut by hash of `id` (no `val` folder) routes every record with
TFX's own partition function (`_PartitionFn`: SHA-256 of the serialized
`id` feature, its buckets), so each record lands in the split TFX's import
would put it in, but here in one process, in input order: file by file,
record by record, each output split's records dealt round-robin into as
many files as the input has. TFX's Beam import writes the records in the
order its bundles finish, which changes with the number of Beam workers
and from run to run; the Trainer's seeded shuffle then sees another order
and trains another model. Written in input order, the same data gives the
same files, so the same command gives the same model.
"""

import contextlib
import fnmatch
import itertools
import os
from typing import Dict, List, Mapping, Optional, Sequence

from absl import logging
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2

from modules import record_reader
from pipeline.components.example_gen import record_facts
from settings import features


def copyable(input_config: example_gen_pb2.Input,
             output_config: example_gen_pb2.Output) -> bool:
  """Whether each output split is one input split, record for record: no
  split config, or one input split into one output split."""
  splits = output_config.split_config.splits
  return not splits or (len(input_config.splits) == 1 and len(splits) == 1)


def hash_splittable(input_config: example_gen_pb2.Input,
                    output_config: example_gen_pb2.Output) -> bool:
  """Whether the output is one input split cut by a feature's hash (the
  holdout of `train` by `id`), which `split_by_hash` writes."""
  split_config = output_config.split_config
  return (len(input_config.splits) == 1 and len(split_config.splits) > 1 and
          split_config.HasField("partition_feature_name"))


def _output_file(folder: str, index: int, count: int) -> str:
  return os.path.join(folder, f"data_tfrecord-{index:05d}-of-{count:05d}"
                      f"{features.COPIED_RECORD_SUFFIX}")


def split_by_hash(output_config: example_gen_pb2.Output,
                  files: Sequence[str], split_uri: Dict[str, str],
                  record_counts: Mapping[str, int],
                  labels: Optional[Dict[str, Dict[Optional[int], int]]] = None
                  ) -> Dict[str, int]:
  """Routes every record of `files` to its output split, in input order.

  Args:
    output_config: the split config (`hash_splittable`).
    files: the input split's checked files, in order (`split_files`).
    split_uri: output split name -> the folder to write.
    record_counts: file -> its records (the data check's); files with 0
      records are skipped (the check reported them).
    labels: filled with output split name -> label -> records written
      (`record_facts.example_label`).

  Returns:
    Output split name -> records written.

  Raises:
    ValueError: a record without the partition feature, naming its file and
      index (TFX's import would stop inside Beam, naming neither).
  """
  split_config = output_config.split_config
  names = [split.name for split in split_config.splits]
  buckets = list(itertools.accumulate(
      split.hash_buckets for split in split_config.splits))
  files = [path for path in files if record_counts.get(path, 1)]
  shards = max(1, len(files))
  written = {name: 0 for name in names}
  with contextlib.ExitStack() as stack:
    writers = {}
    for name in names:
      tf.io.gfile.makedirs(split_uri[name])
      writers[name] = [
          stack.enter_context(tf.io.TFRecordWriter(
              _output_file(split_uri[name], index, shards)))
          for index in range(shards)]
    for path in files:
      for index, serialized in enumerate(
          record_reader.serialized_records([path])):
        example = tf.train.Example.FromString(serialized)
        try:
          partition = base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
              example, len(buckets), buckets, split_config)
        except RuntimeError as error:
          raise ValueError(
              f"{path} record {index}: {error} (the eval split is cut by a "
              f"hash of '{split_config.partition_feature_name}', which "
              "every record needs)") from error
        name = names[partition]
        writers[name][written[name] % shards].write(serialized)
        written[name] += 1
        if labels is not None:
          label = record_facts.example_label(example)
          split_labels = labels.setdefault(name, {})
          split_labels[label] = split_labels.get(label, 0) + 1
  for name in names:
    logging.info("Data files: split %s: %d records cut by hash of %s, in "
                 "%d file(s)", name, written[name],
                 split_config.partition_feature_name, shards)
  return written


def split_files(input_base: str, split_patterns: Mapping[str, Sequence[str]],
                checked_files: Sequence[str]) -> Dict[str, List[str]]:
  """Input split name -> the checked files its patterns match, in order
  (span by span, then by name)."""
  result = {}
  for split, patterns in split_patterns.items():
    files = []
    for pattern in patterns:
      directory, file_pattern = os.path.split(
          os.path.join(input_base, pattern))
      files += sorted(path for path in checked_files
                      if os.path.dirname(path) == directory and
                      fnmatch.fnmatch(os.path.basename(path), file_pattern))
    result[split] = files
  return result


def copied_labels(input_config: example_gen_pb2.Input,
                  output_config: example_gen_pb2.Output,
                  files_by_split: Mapping[str, Sequence[str]],
                  file_labels: Mapping[str, Mapping[Optional[int], int]]
                  ) -> Dict[str, Dict[Optional[int], int]]:
  """Output split name -> label -> records, of the files `copy_splits`
  copies, from the data check's count of each file's labels."""
  result = {}
  for split, output_name in zip(
      [s.name for s in input_config.splits],
      example_gen_utils.generate_output_split_names(input_config,
                                                    output_config)):
    counts = result.setdefault(output_name, {})
    for path in files_by_split[split]:
      for label, count in file_labels.get(path, {}).items():
        counts[label] = counts.get(label, 0) + count
  return result


def copy_splits(input_config: example_gen_pb2.Input,
                output_config: example_gen_pb2.Output,
                files_by_split: Mapping[str, Sequence[str]],
                split_uri: Dict[str, str],
                record_counts: Mapping[str, int]) -> Dict[str, int]:
  """Copies each input split's files into its output split's folder.

  Args:
    input_config: ExampleGen's input splits.
    output_config: its output config (`copyable`).
    files_by_split: input split name -> its files (`split_files`).
    split_uri: output split name -> the folder to write.
    record_counts: file -> its records (the data check's); files with 0
      records are not copied (the check reported them).

  Returns:
    Output split name -> records copied.
  """
  output_names = example_gen_utils.generate_output_split_names(
      input_config, output_config)
  copied = {}
  for split, output_name in zip(
      [s.name for s in input_config.splits], output_names):
    files = [f for f in files_by_split[split] if record_counts.get(f, 1)]
    folder = split_uri[output_name]
    tf.io.gfile.makedirs(folder)
    for index, path in enumerate(files):
      tf.io.gfile.copy(path, _output_file(folder, index, len(files)),
                       overwrite=True)
    copied[output_name] = sum(record_counts.get(f, 0) for f in files)
    logging.info("Data files: split %s: copied %d file(s), %d records",
                 output_name, len(files), copied[output_name])
  return copied
