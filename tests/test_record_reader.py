"""modules/record_reader.py against TensorFlow's own TFRecord reader.

The reader reads TFRecords in Python for speed; tf.data is the oracle: the
same records in the same order for good files, plain and GZIP, and
TensorFlow's own error, after the records that precede the damage, for
damaged ones.
"""

import gzip
import os

import pytest
import tensorflow as tf

from modules import record_reader

RECORDS = [os.urandom(n) for n in (0, 1, 7, 300, 5000, 70000, 12)]


def _write(path, records, options=None):
  with tf.io.TFRecordWriter(str(path), options=options) as writer:
    for record in records:
      writer.write(record)
  return str(path)


def _tf_read(paths, compression=""):
  return [r.numpy() for r in tf.data.TFRecordDataset(
      paths, compression_type=compression)]


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_good_files_read_as_tensorflow_reads_them(tmp_path, compression):
  paths = [_write(tmp_path / f"{i}.tfrec", RECORDS[i:] + RECORDS[:i],
                  options=compression or None) for i in range(3)]
  paths.append(_write(tmp_path / "empty.tfrec", [], options=compression or None))
  assert (list(record_reader.serialized_records(paths, compression)) ==
          _tf_read(paths, compression))


def _records_then_error(paths, compression=""):
  """(records read, the error's type) of a read of `paths`."""
  records = []
  with pytest.raises(tf.errors.OpError) as error:
    for record in record_reader.serialized_records(paths, compression,
                                                    batch_size=1):
      records.append(record)
  return records, error.type


def test_a_flipped_byte_stops_at_its_record_with_tensorflows_error(tmp_path):
  path = _write(tmp_path / "a.tfrec", RECORDS)
  data = bytearray(open(path, "rb").read())
  # A byte inside the 5th record's data (after 4 records and its header).
  offset = sum(16 + len(r) for r in RECORDS[:4]) + 12 + 100
  data[offset] ^= 0x01
  open(path, "wb").write(bytes(data))
  with pytest.raises(tf.errors.DataLossError):
    _tf_read([path])
  records, error_type = _records_then_error([path])
  assert records == RECORDS[:4]
  assert issubclass(error_type, tf.errors.DataLossError)


def test_a_truncated_file_and_a_file_of_other_bytes_raise_as_tensorflow(
    tmp_path):
  good = _write(tmp_path / "good.tfrec", RECORDS[:3])
  path = _write(tmp_path / "cut.tfrec", RECORDS)
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) - 10])  # inside the last data
  records, error_type = _records_then_error([good, path])
  assert records == RECORDS[:3] + RECORDS[:-1]
  assert issubclass(error_type, tf.errors.DataLossError)

  # Cut inside the last record's header: TensorFlow reads that as the end.
  open(path, "wb").write(data[:len(data) - 20])
  assert (list(record_reader.serialized_records([path], "")) ==
          _tf_read([path]) == RECORDS[:-1])

  junk = tmp_path / "junk.tfrec"
  junk.write_bytes(gzip.compress(b"this is not a tfrecord file" * 10))
  records, _ = _records_then_error([str(junk)])
  assert records == []


def test_a_broken_gzip_stream_raises_tensorflows_error(tmp_path):
  path = _write(tmp_path / "a.gz", RECORDS, options="GZIP")
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) // 2])
  records, error_type = _records_then_error([path], "GZIP")
  assert issubclass(error_type, tf.errors.OpError)
  assert records == RECORDS[:len(records)]
