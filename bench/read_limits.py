"""The limits of a pass over a data set, measured on its own files.

    python bench/read_limits.py --data-root ROOT --image-size 512 --output F

The bench's scale section (bench/sections/scale.py) compares each
component's images/s with the fastest this machine reads or decodes the same
files, measured here, in the same bench run:

- `read`: one read of the files, TFRecord framing and CRC included, the
  faster of `tf.data.TFRecordDataset` over every `.tfrec` of train and val
  (two parallel reads, batched so Python sees few elements) and
  `modules/record_reader.py` (the framing and CRC in Python): what ExampleGen,
  StatisticsGen and Transform (whose analysis reads the labels only) cannot
  beat;
- `decode_full`: a full-size JPEG decode (`tf.io.decode_jpeg`, two parallel
  calls: both cores), what an inference pass (EvalInference, the Evaluator,
  BatchPrediction) pays before its model;
- `decode_eighth`: a 1/8-scale decode (`tf.io.decode_jpeg(ratio=8)`, two
  parallel calls), what the image scan and the data profile pay;
- `pil_eighth_one_core`: the same 1/8-scale decode through PIL's `draft` on
  one core, as the scan and the profile run it today (information, no
  target).

With `--model-dir` (a pushed model) and `--transform-dir` (its Transform
graph), the work of an inference pass without its component's start-up,
on the val split's records (no target; they split an inference pass's time
per image between its parts):

- `serve`: `serving_default` on the records as EvalInference and
  BatchPrediction call it (pipeline/components/batch_inference/
  batch_predict.py `predict_files`: batches of 64, one per core at once);
- `transform_only`: the Transform graph alone (parse, decode, resize) on
  the same batches, one per core at once: what of `serve` is not the model.

Writes one JSON object of records (images) per second.
"""

import argparse
from concurrent import futures
import glob
import io
import json
import os
import sys
import time
from typing import Dict, List

import numpy as np
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from modules import image_facts  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import features  # pylint: disable=g-import-not-at-top,wrong-import-position

# Images decoded for the decode limits (each measured once, after a warm-up).
DECODE_SAMPLE = 600


def split_files(data_root: str, image_size: int, splits: List[str]
                ) -> List[str]:
  directory = os.path.join(data_root, features.image_dir_name(image_size))
  return sorted(path for split in splits
                for path in glob.glob(os.path.join(directory, split,
                                                   "*.tfrec")))


def measure(files: List[str]) -> Dict[str, float]:
  # slow import: TensorFlow (4 s); --help must not load it
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  records = 0
  for batch in tf.data.TFRecordDataset(
      files, buffer_size=8 << 20, num_parallel_reads=2).batch(512):
    records += int(batch.shape[0])
  read_seconds = time.perf_counter() - start
  # The project's own reader (framing and CRC in Python) reads faster than
  # tf.data hands records over: the limit is the faster of the two.
  # slow import: TensorFlow (4 s); --help must not load it
  from modules import record_reader  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  python_records = sum(1 for _ in record_reader.serialized_records(files, ""))
  python_seconds = time.perf_counter() - start
  if python_records == records:
    read_seconds = min(read_seconds, python_seconds)
  total_bytes = sum(os.path.getsize(path) for path in files)

  images = []
  for raw in tf.data.TFRecordDataset(files).take(DECODE_SAMPLE):
    example = tf.train.Example.FromString(raw.numpy())
    images.append(example.features.feature[
        features.IMAGE_KEY].bytes_list.value[0])

  def decode_rate(ratio: int) -> float:
    dataset = tf.data.Dataset.from_tensor_slices(images).map(
        lambda encoded: tf.shape(tf.io.decode_jpeg(encoded, channels=3,
                                                   ratio=ratio)),
        num_parallel_calls=2).batch(64)
    for _ in dataset.take(1):
      pass  # warm-up: the graph's first run
    begin = time.perf_counter()
    for _ in dataset:
      pass
    return len(images) / (time.perf_counter() - begin)

  def pil_rate() -> float:
    begin = time.perf_counter()
    for encoded in images:
      image = Image.open(io.BytesIO(encoded))
      image.draft("RGB", (image.size[0] // 8, image.size[1] // 8))
      np.asarray(image.convert("RGB")).mean()
    return len(images) / (time.perf_counter() - begin)

  return {
      "records": records,
      "megabytes": round(total_bytes / 1e6, 1),
      "read": round(records / read_seconds, 1),
      "read_megabytes_per_second": round(total_bytes / 1e6 / read_seconds,
                                         1),
      "decode_full": round(decode_rate(1), 1),
      "decode_eighth": round(decode_rate(8), 1),
      "pil_eighth_one_core": round(pil_rate(), 1),
      "decode_sample": len(images),
  }


def serving_rates(model_dir: str, transform_dir: str, files: List[str]
                  ) -> Dict[str, float]:
  """`serve` and `transform_only` images/s on `files` (module docstring)."""
  # slow import: TensorFlow (4 s); --help must not load it
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from modules import record_reader  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import serving_model  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import batch_predict  # pylint: disable=g-import-not-at-top
  records = list(record_reader.serialized_records(files))
  # predict_files' batches: the pipeline's (predict.batch_size).
  size = config_lib.PredictConfig.batch_size
  batches = [records[i:i + size] for i in range(0, len(records), size)]
  model = serving_model.load_serving_model(model_dir)
  model.signatures[serving_model.SERVING_DEFAULT](
      examples=tf.constant(batches[0][:2]))  # warm-up
  begin = time.perf_counter()
  served, _ = batch_predict.predict_files(model, files, size)
  serve = len(served) / (time.perf_counter() - begin)

  output = tft.TFTransformOutput(transform_dir)
  layer = output.transform_features_layer()
  spec = output.raw_feature_spec()
  spec.pop(features.LABEL_KEY, None)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def transform(serialized):
    return layer(tf.io.parse_example(serialized, spec))[
        features.TRANSFORMED_IMAGE_KEY]

  transform(tf.constant(batches[0][:1]))  # warm-up: tracing
  begin = time.perf_counter()
  with futures.ThreadPoolExecutor(image_facts.default_processes()) as pool:
    list(pool.map(lambda b: transform(tf.constant(b)).shape, batches))
  transform_only = len(records) / (time.perf_counter() - begin)
  return {"serve": round(serve, 1), "transform_only": round(transform_only, 1),
          "serve_records": len(served)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data-root", required=True)
  parser.add_argument("--image-size", type=int, required=True)
  parser.add_argument("--output", required=True,
                      help="where the JSON object is written")
  parser.add_argument("--model-dir",
                      help="a pushed model: also measure `serve` and "
                      "`transform_only` on the val split")
  parser.add_argument("--transform-dir",
                      help="the model's Transform graph (with --model-dir)")
  args = parser.parse_args(argv)
  files = split_files(args.data_root, args.image_size, ["train", "val"])
  if not files:
    print(f"no .tfrec files under {args.data_root}", file=sys.stderr)
    return 1
  if bool(args.model_dir) != bool(args.transform_dir):
    parser.error("--model-dir and --transform-dir go together")
  limits = measure(files)
  if args.model_dir:
    limits.update(serving_rates(
        args.model_dir, args.transform_dir,
        split_files(args.data_root, args.image_size, ["val"])))
  with open(args.output, "w", encoding="utf-8") as f:
    json.dump(limits, f, indent=2)
  print(json.dumps(limits))
  return 0


if __name__ == "__main__":
  sys.exit(main())
