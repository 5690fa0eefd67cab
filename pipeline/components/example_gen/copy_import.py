"""The copy import: ExampleGen's output as copies of the checked input files.

TFX's ImportExampleGen reads every record through Beam, parses it as a
tf.Example, serializes it again and writes it GZIP-compressed: at the
Kaggle set's size (900 MB of JPEG bytes, which GZIP cannot shrink) that is
most of ExampleGen's time (docs/benchmarks.md, the scale section). When
every output split is one input split as it is (the Kaggle layout's
`train` and `val`, TestExampleGen's `test`), nothing needs to change in a
record, so this import copies the files instead: `tf.io.gfile.copy`, a
server-side copy on GCS. The records are checked all the same: the data
check before it (data_check.py) reads each one, checks its checksum and
parses it as a tf.Example, which is what TFX's import checks.

The copies keep the input's uncompressed records and are named
`data_tfrecord-<i>-of-<n>.tfrecord` (settings/features.py
`COPIED_RECORD_SUFFIX`); TFX's readers (Beam's AUTO compression, tfx_bsl's
`detect_compression_type`) and ours (`features.record_compression`) tell
GZIP from uncompressed by the `.gz` name, so the artifact's `file_format`
stays TFX's `tfrecords_gzip`, its one name for TFRecord files. A split cut
by hash of `id` (no `val` folder) needs every record routed, and goes
through TFX's Beam import as before (executor.py).
"""

import fnmatch
import os
from typing import Dict, List, Mapping, Sequence

from absl import logging
import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2

from settings import features


def copyable(input_config: example_gen_pb2.Input,
             output_config: example_gen_pb2.Output) -> bool:
  """Whether each output split is one input split, record for record: no
  split config, or one input split into one output split."""
  splits = output_config.split_config.splits
  return not splits or (len(input_config.splits) == 1 and len(splits) == 1)


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
      target = os.path.join(
          folder, f"data_tfrecord-{index:05d}-of-{len(files):05d}"
          f"{features.COPIED_RECORD_SUFFIX}")
      tf.io.gfile.copy(path, target, overwrite=True)
    copied[output_name] = sum(record_counts.get(f, 0) for f in files)
    logging.info("Data files: split %s: copied %d file(s), %d records",
                 output_name, len(files), copied[output_name])
  return copied
