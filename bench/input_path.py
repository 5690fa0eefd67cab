"""Throughput of the Trainer's input pipeline against the notebooks' tf.data.

    python -m bench.input_path --examples-dir EXAMPLES --raw-dir RAW \
        --image-size 192 --transform-dir GRAPH --output result.json

For one data set (one image size), measures images/s of four input
pipelines, each at two model input sizes (the pipeline's default, 64, and
the data's own size, as the notebooks train):

- `augmented`: the Trainer's training input, `modules.dataset.make_dataset(
  ..., training=True)` with the config's augmentation: TFRecords from
  ExampleGen (the input's own records, copied), shuffle, batch, parse, the Transform graph (decode, and
  resize unless the size matches), the input pipeline's augmentation
  layers (none by default: the flip runs in the model).
- `decode_only`: the same with every augmentation layer off.
- `model_flip_on_host`: `decode_only` followed by the model's training
  flip (`modules.augmentation.RandomFlipLeftRight`) run on this host's CPU: what
  a CPU-only machine pays for the flip in its training step (on an
  accelerator it runs there instead). With the flip in the input pipeline
  on float32 batches (the choice before), this cost was the input's.
- `notebook`: the Kaggle notebooks' pipeline: `TFRecordDataset` over the raw
  `.tfrec` files, `parse_single_example`, `decode_jpeg`,
  `tf.image.resize`, batch, without ordering guarantees.

The Transform graph at the pipeline's input size is the pipeline's own
(`--transform-dir`); for the other sizes the same `preprocessing_fn` is
analyzed here, in-process, on a few examples (its only analyzer counts
classes, which the input pipeline does not use). Each measurement warms up
first (shuffle buffer, AUTOTUNE), then counts images for a fixed time; the
rounds go through the variants in turn, so that a burst of load from
someone else on the machine hits every variant alike, and the median round
is kept.
"""

import argparse
import functools
import glob
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Sequence

from google.protobuf import text_format
import psutil
from tensorflow_metadata.proto.v0 import schema_pb2

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from pipeline.runner import runtime  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import features  # pylint: disable=g-import-not-at-top,wrong-import-position

VARIANTS = ("augmented", "decode_only", "model_flip_on_host", "notebook")


def augmentation_overhead(augmented_ips: float, decode_only_ips: float
                          ) -> float:
  """Extra time per image that augmentation costs, as a fraction (0.25 = 25%).

  Time per image is 1 / throughput, so this is decode_only / augmented - 1.
  """
  return decode_only_ips / augmented_ips - 1.0


def measure_throughput(make_dataset: Callable, batch_size: int,
                       seconds: float, warmup_seconds: float
                       ) -> Dict[str, float]:
  """Images/s of a (repeating) dataset after a warm-up, and its CPU cost.

  Args:
    make_dataset: returns the tf.data.Dataset of (images, labels) batches.
    batch_size: images per batch (batches are full: drop_remainder or an
      endless repeat).
    seconds: how long to count for, after the warm-up.
    warmup_seconds: how long to run first, uncounted (at least 3 batches),
      so the shuffle buffer is full and AUTOTUNE has settled.

  Returns:
    `images_per_second` (wall clock) and `cpu_ms_per_image` (user + system
    time of this process, all threads): on a machine shared with other
    jobs the second moves less with their load than the first.
  """
  process = psutil.Process()
  iterator = iter(make_dataset())
  start = time.perf_counter()
  batches = 0
  while batches < 3 or time.perf_counter() - start < warmup_seconds:
    next(iterator)
    batches += 1
  cpu_start = sum(process.cpu_times()[:2])
  start = time.perf_counter()
  batches = 0
  while batches < 2 or time.perf_counter() - start < seconds:
    next(iterator)
    batches += 1
  elapsed = time.perf_counter() - start
  cpu = sum(process.cpu_times()[:2]) - cpu_start
  del iterator  # stop its background threads before the next variant
  images = batches * batch_size
  return {"images_per_second": images / elapsed,
          "cpu_ms_per_image": 1000.0 * cpu / images}


def build_transform_graph(examples_files: Sequence[str], config,
                          schema_file: str, output_dir: str,
                          num_examples: int = 32) -> str:
  """Analyzes `preprocessing_fn` with `config` on a few examples.

  Returns:
    `output_dir`, holding a Transform output (transform_fn/,
    transformed_metadata/) that `tft.TFTransformOutput` opens.
  """
  # after setup: TensorFlow loads after runtime.configure() (main)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform.beam as tft_beam  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import dataset_metadata  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import metadata_io  # pylint: disable=g-import-not-at-top
  from modules import preprocessing  # pylint: disable=g-import-not-at-top

  schema = text_format.Parse(open(schema_file, encoding="utf-8").read(),
                             schema_pb2.Schema())
  instances = []
  records = tf.data.TFRecordDataset(
      list(examples_files),
      compression_type=features.record_compression(list(examples_files)))
  for record in records.take(num_examples).as_numpy_iterator():
    feature = tf.train.Example.FromString(record).features.feature
    instances.append({
        features.IMAGE_KEY: [feature[features.IMAGE_KEY].bytes_list.value[0]],
        features.ID_KEY: [feature[features.ID_KEY].bytes_list.value[0]],
        features.LABEL_KEY: [feature[features.LABEL_KEY].int64_list.value[0]],
    })
  metadata = dataset_metadata.DatasetMetadata(schema)
  preprocessing_fn = functools.partial(preprocessing.preprocessing_fn,
                                       custom_config=config.transform_settings())
  with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=output_dir)):
    transform_fn = ((instances, metadata)
                    | tft_beam.AnalyzeDataset(preprocessing_fn))
    _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
  # TFX's Transform also writes the raw schema; the input pipeline parses
  # examples with it (`raw_feature_spec()`).
  metadata_io.write_metadata(
      metadata, os.path.join(output_dir,
                             tft.TFTransformOutput.RAW_METADATA_DIR))
  return output_dir


def notebook_dataset(raw_files: Sequence[str], size: int, batch_size: int):
  """The Kaggle notebooks' input pipeline (no augmentation)."""
  # after setup: TensorFlow loads after runtime.configure() (main)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def read_labeled_tfrecord(example):
    parsed = tf.io.parse_single_example(example, {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    })
    image = tf.image.decode_jpeg(parsed[features.IMAGE_KEY], channels=3)
    return tf.image.resize(image, [size, size]), parsed[features.LABEL_KEY]

  options = tf.data.Options()
  options.deterministic = False
  dataset = tf.data.TFRecordDataset(list(raw_files),
                                    num_parallel_reads=tf.data.AUTOTUNE)
  return (dataset.with_options(options).repeat()
          .map(read_labeled_tfrecord, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch_size, drop_remainder=True)
          .prefetch(tf.data.AUTOTUNE))


def run(examples_dir: str, raw_dir: str, image_size: int, transform_dir: str,
        input_sizes: Sequence[int], rounds: int, seconds: float,
        warmup_seconds: float, work_dir: str, schema_file: str) -> Dict:
  """Measures every variant at every input size; returns the results."""
  # after setup: TensorFlow loads after runtime.configure() (main)
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from modules import augmentation  # pylint: disable=g-import-not-at-top
  from modules import dataset  # pylint: disable=g-import-not-at-top

  train_examples = sorted(glob.glob(os.path.join(examples_dir,
                                                 "Split-train", "*")))
  raw_files = sorted(glob.glob(os.path.join(raw_dir, "train", "*.tfrec")))
  if not train_examples or not raw_files:
    raise SystemExit(f"error: no training files in {examples_dir} or "
                     f"{raw_dir}/train")
  base = config_lib.PipelineConfig().replace(image_size=image_size)
  batch_size = base.train.per_replica_batch_size
  results: Dict = {"image_size": image_size, "batch_size": batch_size,
                   "rounds": rounds, "seconds": seconds, "by_input_size": {}}
  for input_size in input_sizes:
    config = base.replace(model__input_size=input_size)
    if input_size == base.model.input_size and transform_dir:
      graph_dir = transform_dir
    else:
      graph_dir = build_transform_graph(
          train_examples, config, schema_file,
          tempfile.mkdtemp(prefix=f"graph{input_size}-", dir=work_dir))
    tft_output = tft.TFTransformOutput(graph_dir)
    no_augmentation = config.replace(
        augment__flip=False, augment__rotation=0.0, augment__zoom=0.0,
        augment__shift=0.0, augment__saturation=0.0)
    if augmentation.make_augmenter(no_augmentation) is not None:
      raise SystemExit("error: could not switch every augmentation off; "
                       "bench/input_path.py needs updating")
    def model_flip_on_host():
      flip = augmentation.RandomFlipLeftRight(
          augmentation.layer_seed(config.train.seed, "flip"))
      return dataset.make_dataset(
          train_examples, tft_output, batch_size, no_augmentation,
          training=True).map(lambda x, y: (flip(x, training=True), y))

    makers = {
        "augmented": lambda: dataset.make_dataset(
            train_examples, tft_output, batch_size, config, training=True),
        "decode_only": lambda: dataset.make_dataset(
            train_examples, tft_output, batch_size, no_augmentation,
            training=True),
        "model_flip_on_host": model_flip_on_host,
        "notebook": lambda: notebook_dataset(raw_files, input_size,
                                             batch_size),
    }
    samples: Dict[str, List[Dict[str, float]]] = {n: [] for n in VARIANTS}
    for _ in range(rounds):
      for name in VARIANTS:
        samples[name].append(measure_throughput(
            makers[name], batch_size, seconds, warmup_seconds))
    ips = {name: statistics.median(s["images_per_second"] for s in values)
           for name, values in samples.items()}
    cpu = {name: statistics.median(s["cpu_ms_per_image"] for s in values)
           for name, values in samples.items()}
    results["by_input_size"][str(input_size)] = {
        "images_per_second": {k: round(v, 1) for k, v in ips.items()},
        "cpu_ms_per_image": {k: round(v, 3) for k, v in cpu.items()},
        "samples": {k: [{m: round(x, 3) for m, x in s.items()}
                        for s in values] for k, values in samples.items()},
        "augmentation_overhead": round(augmentation_overhead(
            ips["augmented"], ips["decode_only"]), 4),
        # The same from CPU time: 1/cpu is a CPU-bound throughput.
        "augmentation_overhead_cpu": round(augmentation_overhead(
            1 / cpu["augmented"], 1 / cpu["decode_only"]), 4),
        # The model's flip on a CPU-only host, over decode-only.
        "model_flip_on_host_overhead_cpu": round(augmentation_overhead(
            1 / cpu["model_flip_on_host"], 1 / cpu["decode_only"]), 4),
        "augmentation": [name for name in ("flip", "rotation", "zoom",
                                           "shift", "saturation")
                         if name != "flip" and getattr(config.augment, name)],
        "model_augmentation": ["flip"] if config.augment.flip else [],
    }
    print(json.dumps({input_size: {"images_per_second": ips,
                                   "cpu_ms_per_image": cpu}}), flush=True)
  return results


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--examples-dir", required=True,
                      help="an ExampleGen `examples` artifact (Split-train/)")
  parser.add_argument("--raw-dir", required=True,
                      help="the Kaggle tfrecords-jpeg-<S>x<S> folder")
  parser.add_argument("--image-size", type=int, required=True,
                      help="the data's image side (S of tfrecords-jpeg-SxS)")
  parser.add_argument("--transform-dir", default="",
                      help="the pipeline's Transform graph, for the "
                      "config's input size (built here when not given)")
  parser.add_argument("--input-sizes", default="64,0",
                      help="model input sizes, comma-separated (0: the data's "
                      "size) (default: %(default)s)")
  parser.add_argument("--rounds", type=int, default=3,
                      help="rounds through the variants; the median round "
                      "is kept (default: %(default)s)")
  parser.add_argument("--seconds", type=float, default=3.0,
                      help="counting time of one measurement "
                      "(default: %(default)s)")
  parser.add_argument("--warmup-seconds", type=float, default=1.5,
                      help="uncounted warm-up before each measurement "
                      "(default: %(default)s)")
  parser.add_argument("--work-dir", default=tempfile.gettempdir(),
                      help="where the Transform graphs of the other input "
                      "sizes are built (default: %(default)s)")
  parser.add_argument("--schema", default=os.path.join(REPO_ROOT, "schema",
                                                       "schema.pbtxt"),
                      help="schema of the Transform graph built here "
                      "(default: schema/schema.pbtxt)")
  parser.add_argument("--output", required=True, help="JSON file to write")
  args = parser.parse_args(argv)
  runtime.configure()  # Before TensorFlow is imported, as the runners do.
  input_sizes = [int(s) or args.image_size
                 for s in args.input_sizes.split(",")]
  results = run(args.examples_dir, args.raw_dir, args.image_size,
                args.transform_dir, input_sizes, args.rounds, args.seconds,
                args.warmup_seconds, args.work_dir, args.schema)
  with open(args.output, "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
