"""`make gpu-check`: training throughput on one accelerator, in a few minutes.

    python bench/gpu_check.py                      # on a GPU machine
    python bench/gpu_check.py --allow-cpu --backbones simple_cnn \
        --image-size 64 --steps 3                  # the CPU smoke run (tests)

Prints, and writes to `bench/results/gpu-check-<timestamp>.json`:

- the distribution strategy and the Keras precision policy the Trainer
  would choose here (`modules.strategy.resolve_strategy`, `precision_policy`),
  and whether Keras's default `jit_compile="auto"` turns XLA on;
- training images/s of each backbone (default EfficientNetB0 and
  InceptionV3 at 512 px, random weights: ImageNet weights cannot be
  downloaded where this was written, and they do not change the work),
  with and without XLA (`jit_compile`), fed two ways:
  * `tfrecord`: the Trainer's real input path, `modules.dataset.make_dataset`
    over GZIP TFRecords of tf.Examples laid out as ImportExampleGen writes
    them, with a Transform graph of the pipeline's own `preprocessing_fn`
    (decode, resize if needed) and the training augmentation (the flip in
    the model, `modules.augmentation.training_model`, as the Trainer trains);
  * `synthetic`: one random batch held in memory, repeated, so the step
    time is the model's alone (plus the same host-to-device copy);
  the input-bound share is 1 - tfrecord / synthetic images/s;
- the input pipeline alone (images/s with no model), to tell a slow input
  from a slow model;
- an estimate of the fraction of the chip's peak FLOP/s used: the forward
  pass's float operations per image as TensorFlow's profiler counts them
  (`tf.compat.v1.profiler`, multiply-add = 2 FLOPs) x 3 for a training step
  (the forward pass, and about twice that for the gradients with respect to
  activations and to weights), x images/s, over the dense (no sparsity)
  tensor-core peak of the GPU named by `nvidia-smi` (`PEAK_TFLOPS`, each
  with its source).

The data is generated here (`tools/make_sample_data.py`'s drawn flowers at
the chosen size) and the Transform graph is analyzed in-process with
`tensorflow_transform.beam` (the same `preprocessing_fn` and schema the
pipeline's Transform component runs; `bench/input_path.py`), which costs a
few seconds instead of a pipeline run. The first epoch of every run is a
warm-up (tracing, XLA compilation, cuDNN autotuning, filling the input
pipeline) and is reported apart; the images/s is the median of the epochs
after it. A time budget (`--budget-seconds`) skips the runs that would not
fit in the 8 minutes the check is meant to take; skipped runs are recorded
as such.
"""

import argparse
import datetime
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from bench import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.report import Figure, Target  # pylint: disable=g-import-not-at-top,wrong-import-position

MAX_CHECK_SECONDS = 480.0  # issue 15: under 8 minutes on one GPU
FEEDS = ("tfrecord", "synthetic")
RECORD_PREFIX = "gpu-check-"
# What every run in the record carries (tests/test_bench.py checks them).
RUN_FIELDS = ("backbone", "feed", "jit_compile", "dtype_policy", "status",
              "global_batch_size",
              "steps_per_epoch", "warmup_epoch_seconds", "epoch_seconds",
              "images_per_second", "train_tflops_per_second",
              "fraction_of_peak", "peak_device_memory_gib")

# Dense (without structured sparsity) peak TFLOP/s at boost clock, by
# precision, from NVIDIA's data sheets. The data sheets print the tensor-core
# figures "with sparsity"; the dense figure is half of that. Keys are tried
# in order against the `nvidia-smi --query-gpu=name` output, so the more
# specific names come first. float32 training runs convolutions and matmuls
# in TF32 on Ampere and later (TensorFlow's default), FP32 before.
PEAK_TFLOPS = (
    (r"H200 NVL", {"float16": 835.5, "float32": 417.5},
     "NVIDIA H200 NVL data sheet: FP16 Tensor Core 1,671 TFLOPS and TF32 "
     "835 TFLOPS with sparsity"),
    (r"H200", {"float16": 989.5, "float32": 494.5},
     "NVIDIA H200 (SXM) data sheet: FP16 Tensor Core 1,979 TFLOPS and TF32 "
     "989 TFLOPS with sparsity"),
    (r"H100 NVL", {"float16": 835.5, "float32": 417.5},
     "NVIDIA H100 NVL data sheet: FP16 Tensor Core 1,671 TFLOPS and TF32 "
     "835 TFLOPS with sparsity"),
    (r"H100 PCIe", {"float16": 756.5, "float32": 378.0},
     "NVIDIA H100 PCIe data sheet: FP16 Tensor Core 1,513 TFLOPS and TF32 "
     "756 TFLOPS with sparsity"),
    (r"H100", {"float16": 989.5, "float32": 494.5},
     "NVIDIA H100 SXM data sheet: FP16 Tensor Core 1,979 TFLOPS and TF32 "
     "989 TFLOPS with sparsity"),
    (r"A100", {"float16": 312.0, "float32": 156.0},
     "NVIDIA A100 data sheet: FP16 Tensor Core 312 TFLOPS, TF32 156 TFLOPS "
     "(624 and 312 with sparsity); SXM and PCIe alike"),
    (r"\bL4\b", {"float16": 121.0, "float32": 60.0},
     "NVIDIA L4 data sheet: FP16 Tensor Core 242 TFLOPS and TF32 120 TFLOPS "
     "with sparsity"),
    (r"V100", {"float16": 125.0, "float32": 15.7},
     "NVIDIA V100 (SXM2) data sheet: 125 TFLOPS Tensor, FP32 15.7 TFLOPS "
     "(PCIe: 112 and 14)"),
    (r"\bT4\b", {"float16": 65.0, "float32": 8.1},
     "NVIDIA T4 data sheet: mixed precision (FP16/FP32) 65 TFLOPS, FP32 8.1 "
     "TFLOPS"),
)


def log(message: str) -> None:
  print(f"[gpu-check {datetime.datetime.now():%H:%M:%S}] {message}",
        flush=True)


# ---------------------------------------------------------------------------
# The device and its peak.

def nvidia_smi_gpus() -> List[Dict[str, str]]:
  """Name, memory and driver of each GPU `nvidia-smi` lists ([] if none)."""
  try:
    output = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
         "--format=csv,noheader"], capture_output=True, text=True,
        timeout=30, check=True).stdout
  except (OSError, subprocess.SubprocessError):
    return []
  gpus = []
  for line in output.strip().splitlines():
    name, memory, driver = [part.strip() for part in line.split(",")]
    gpus.append({"name": name, "memory": memory, "driver": driver})
  return gpus


def peak_tflops(gpu_name: Optional[str], policy: str) -> Dict[str, Any]:
  """The chip's dense peak for `policy`'s compute type, and where it is from.

  Returns:
    {"tflops": float or None, "precision": "float16" / "float32",
     "source": text}; tflops is None for a device not in `PEAK_TFLOPS`.
  """
  precision = "float16" if policy.startswith("mixed_") else "float32"
  if gpu_name:
    for pattern, peaks, source in PEAK_TFLOPS:
      if re.search(pattern, gpu_name):
        return {"tflops": peaks[precision], "precision": precision,
                "source": source}
  return {"tflops": None, "precision": precision,
          "source": f"no peak figure for {gpu_name or 'this device (no GPU)'}"
                    " in bench/gpu_check.py's PEAK_TFLOPS"}


# ---------------------------------------------------------------------------
# Data and Transform graph.

def make_examples(work_dir: str, image_size: int, count: int, shards: int
                  ) -> List[str]:
  """Writes `count` drawn flowers as GZIP tf.Example shards; returns them.

  The records are the Kaggle features (tools/make_sample_data.py) and the
  files are what ImportExampleGen writes from them (GZIP TFRecords under
  Split-train/), so `make_dataset` reads them as it reads the pipeline's.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tools import make_sample_data  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top

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
  from bench import input_path  # pylint: disable=g-import-not-at-top
  output_dir = tempfile.mkdtemp(prefix="transform-", dir=work_dir)
  return input_path.build_transform_graph(
      files, config, os.path.join(REPO_ROOT, "schema", "schema.pbtxt"),
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


def input_bound_share(tfrecord_ips: Optional[float],
                      synthetic_ips: Optional[float]) -> Optional[float]:
  """Share of the real step time spent waiting for input, in [0, 1].

  Time per image is 1 / images/s; the synthetic feed's is the model's own,
  so 1 - tfrecord / synthetic is the part the input adds (0 when the real
  input keeps up, as it should).
  """
  if not tfrecord_ips or not synthetic_ips:
    return None
  return max(0.0, 1.0 - tfrecord_ips / synthetic_ips)


def check_figures(runs: Sequence[Dict[str, Any]],
                  input_ips: Optional[float],
                  flops: Dict[str, Optional[float]],
                  wall_seconds: float, on_gpu: bool) -> List[Figure]:
  """The record's figures, one section per backbone."""
  where = "" if on_gpu else " [CPU, not a GPU figure]"
  figures = []
  by_key = {(r["backbone"], r["feed"], r["jit_compile"]): r for r in runs}
  for backbone in dict.fromkeys(r["backbone"] for r in runs):
    section = f"gpu {backbone}"
    figures.append(Figure(
        section, "forward pass per image (TF profiler)",
        None if flops.get(backbone) is None else flops[backbone] / 1e9,
        "GFLOP", note="x3 for a training step"))
    for jit in (False, True):
      xla = "XLA" if jit else "no XLA"
      for feed in FEEDS:
        run = by_key.get((backbone, feed, jit), {})
        figures.append(Figure(
            section, f"training, {feed}, {xla}{where}",
            run.get("images_per_second"), "images/s",
            note=run.get("status", "") if run.get("status") != "measured"
            else ""))
      share = input_bound_share(
          by_key.get((backbone, "tfrecord", jit), {}).get(
              "images_per_second"),
          by_key.get((backbone, "synthetic", jit), {}).get(
              "images_per_second"))
      figures.append(Figure(
          section, f"input-bound share of the TFRecord run, {xla}",
          None if share is None else 100 * share, "%",
          note="1 - tfrecord / synthetic images/s"))
      fraction = by_key.get((backbone, "synthetic", jit), {}).get(
          "fraction_of_peak")
      figures.append(Figure(
          section, f"fraction of peak FLOP/s, synthetic feed, {xla}",
          None if fraction is None else 100 * fraction, "%"))
  figures.insert(0, Figure(
      "gpu", f"input pipeline alone (make_dataset, no model){where}",
      input_ips, "images/s"))
  figures.append(Figure("gpu", "gpu check wall time", wall_seconds, "s",
                        Target("<", MAX_CHECK_SECONDS)))
  return figures


def main(argv=None) -> int:
  from pipeline import flags  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=flags.HelpFormatter)
  parser.add_argument("--backbones", default="efficientnet_b0,inception_v3",
                      help="comma-separated, from settings/config.py "
                      "BACKBONES; random weights")
  parser.add_argument("--image-size", type=int, default=512,
                      help="data and model input size, pixels")
  parser.add_argument("--batch-size", type=int, default=32,
                      help="per replica (the pipeline trains with 16, "
                      "sized for CPU runs)")
  parser.add_argument("--steps", type=int, default=40,
                      help="training steps per epoch")
  parser.add_argument("--epochs", type=int, default=2,
                      help="measured epochs after the warm-up epoch")
  parser.add_argument("--examples", type=int, default=256,
                      help="generated training examples (repeated)")
  parser.add_argument("--shards", type=int, default=4)
  parser.add_argument("--precision", default="auto",
                      help="train.mixed_precision: auto (the Trainer's "
                      "choice) or a Keras policy name")
  parser.add_argument("--input-seconds", type=float, default=5.0,
                      help="how long to time the input pipeline alone")
  parser.add_argument("--budget-seconds", type=float, default=360.0,
                      help="start no training run after this (a run takes "
                      "up to about 90 s); the rest are recorded as skipped")
  parser.add_argument("--allow-cpu", action="store_true",
                      help="run without a GPU (smoke test; the figures are "
                      "then CPU figures)")
  parser.add_argument("--work-dir", default=os.path.join(
      tempfile.gettempdir(), "flowers-gpu-check"))
  parser.add_argument("--results-dir",
                      default=os.path.join(REPO_ROOT, "bench", "results"))
  args = parser.parse_args(argv)

  started = datetime.datetime.now()
  wall_start = time.perf_counter()
  from pipeline import runtime  # pylint: disable=g-import-not-at-top
  runtime.configure()  # before TensorFlow is imported, as the runners do
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from bench import input_path  # pylint: disable=g-import-not-at-top
  from modules import augmentation  # pylint: disable=g-import-not-at-top
  from modules import dataset  # pylint: disable=g-import-not-at-top
  from modules import model as model_lib  # pylint: disable=g-import-not-at-top
  from modules import schedules  # pylint: disable=g-import-not-at-top
  from modules import strategy as strategy_lib  # pylint: disable=g-import-not-at-top
  from modules import trainer  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top

  gpus = tf.config.list_physical_devices("GPU")
  smi = nvidia_smi_gpus()
  if not gpus and not args.allow_cpu:
    print("error: TensorFlow sees no GPU"
          f"{' (nvidia-smi lists ' + smi[0]['name'] + ')' if smi else ''}. "
          "Install the GPU wheels (requirements-gpu.txt; `make gpu-check` "
          "does) or pass --allow-cpu for a CPU smoke run.", file=sys.stderr)
    return 2
  gpu_name = None
  if gpus:
    gpu_name = (smi[0]["name"] if smi else
                tf.config.experimental.get_device_details(gpus[0]).get(
                    "device_name"))
  os.makedirs(args.work_dir, exist_ok=True)

  strategy = strategy_lib.resolve_strategy(None)
  policy = strategy_lib.precision_policy(strategy, args.precision)
  keras.mixed_precision.set_global_policy(policy)
  peak = peak_tflops(gpu_name, policy)
  backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
  base = config_lib.PipelineConfig().replace(
      image_size=args.image_size, model__input_size=args.image_size,
      train__per_replica_batch_size=args.batch_size,
      train__mixed_precision=policy)
  base.validate()
  global_batch = args.batch_size * strategy.num_replicas_in_sync
  log(f"device: {gpu_name or 'CPU (no GPU visible: NOT a GPU check)'}; "
      f"strategy {type(strategy).__name__} with "
      f"{strategy.num_replicas_in_sync} replica(s); precision policy "
      f"{policy}; global batch {global_batch}; peak "
      f"{peak['tflops'] or 'unknown'} TFLOP/s ({peak['precision']})")

  log(f"writing {args.examples} {args.image_size}px examples")
  files = make_examples(args.work_dir, args.image_size, args.examples,
                        args.shards)
  log("analyzing the Transform graph (tft_beam, in-process)")
  tft_output = tft.TFTransformOutput(transform_graph(files, base,
                                                     args.work_dir))

  # The input does not depend on the backbone: timed once, alone.
  def real_input():
    return dataset.make_dataset(files, tft_output, global_batch, base,
                                training=True)

  input_ips = round(input_path.measure_throughput(
      real_input, global_batch, seconds=args.input_seconds,
      warmup_seconds=min(3.0, args.input_seconds))["images_per_second"], 1)
  log(f"input pipeline alone: {input_ips:.0f} images/s")

  runs: List[Dict[str, Any]] = []
  flops: Dict[str, Optional[float]] = {}
  auto_jit: Dict[str, bool] = {}
  for backbone in backbones:
    config = base.replace(model__backbone=backbone)
    # FLOPs of the float32 graph: the profiler's statistics are the same
    # whatever the dtype, and float16 kernels have fewer registered. The
    # same model, compiled as the Trainer compiles it, tells what Keras's
    # jit_compile="auto" resolves to here.
    keras.mixed_precision.set_global_policy("float32")
    with strategy.scope():
      probe = model_lib.build_model(config)
      trainer.compile_model(probe, config, 1e-3)
    auto_jit[backbone] = bool(probe.jit_compile)
    flops[backbone] = forward_flops_per_image(probe, args.image_size)
    del probe
    keras.mixed_precision.set_global_policy(policy)
    log(f"{backbone}: {flops[backbone] / 1e9:.2f} GFLOP per image forward; "
        f"Keras's jit_compile='auto' gives XLA "
        f"{'on' if auto_jit[backbone] else 'off'} here")
    makers = {"tfrecord": real_input,
              "synthetic": lambda config=config: synthetic_dataset(
                  global_batch, args.image_size, config.num_classes)}
    # XLA first: it is what the Trainer gets on one GPU (Keras's "auto").
    for jit in (True, False):
      for feed in FEEDS:
        elapsed = time.perf_counter() - wall_start
        if elapsed > args.budget_seconds:
          runs.append(skipped_run(backbone, feed, jit,
                                  f"time budget ({elapsed:.0f} s > "
                                  f"{args.budget_seconds:.0f} s)"))
          log(f"{backbone} {feed} jit={jit}: skipped (time budget)")
          continue
        try:
          run = train_run(backbone, feed, jit, config, strategy,
                          makers[feed], args.steps, args.epochs,
                          flops[backbone], peak)
        except Exception as error:  # pylint: disable=broad-except
          # One failed run (out of memory, an XLA error) must not lose the
          # others' figures: recorded, and the exit status says so.
          runs.append(skipped_run(backbone, feed, jit, "failed"))
          runs[-1]["status"] = f"failed: {type(error).__name__}: {error}"
          log(f"{backbone} {feed} jit={jit}: FAILED: {error}")
          continue
        runs.append(run)
        log(f"{backbone} {feed} jit={jit}: {run['images_per_second']:.0f} "
            f"images/s (warm-up epoch {run['warmup_epoch_seconds']:.1f} s)"
            + (f", {100 * run['fraction_of_peak']:.1f}% of peak"
               if run["fraction_of_peak"] is not None else ""))

  wall = time.perf_counter() - wall_start
  figures = check_figures(runs, input_ips, flops, wall, bool(gpus))
  settings = {
      "backbones": backbones, "image_size": args.image_size,
      "per_replica_batch_size": args.batch_size,
      "global_batch_size": global_batch, "steps_per_epoch": args.steps,
      "measured_epochs": args.epochs, "examples": args.examples,
      "shards": args.shards, "weights": "random (ImageNet weights are not "
      "downloadable here; the work per step is the same)",
  }
  details = {
      "device": {
          "on_gpu": bool(gpus), "gpu_name": gpu_name, "nvidia_smi": smi,
          "tensorflow_gpus": [d.name for d in gpus],
          "tensorflow_version": tf.__version__,
      },
      "strategy": type(strategy).__name__,
      "replicas": strategy.num_replicas_in_sync,
      "precision_policy": policy,
      "keras_auto_jit_compile": auto_jit,
      "peak": peak,
      "forward_flops_per_image": flops,
      "train_flops_per_image": {b: None if f is None else 3 * f
                                for b, f in flops.items()},
      "flops_method": "tf.compat.v1.profiler float_operation of the frozen "
                      "forward pass at batch 1 (multiply-add = 2); training "
                      "= 3 x forward",
      "input_pipeline_images_per_second": input_ips,
      "runs": runs,
      "wall_seconds": round(wall, 1),
  }
  record = report.make_record(
      figures, settings, details, report.git_state(REPO_ROOT),
      report.machine_info(), started, sys.argv if argv is None else argv)
  path = report.write_record(record, args.results_dir, started,
                             prefix=RECORD_PREFIX)
  print()
  if not gpus:
    print("NOT A GPU RUN: no GPU was visible; these are CPU figures.")
  print(f"Strategy {details['strategy']} ({details['replicas']} replica(s)),"
        f" precision policy {policy}, device {gpu_name or 'CPU'}; peak "
        f"{peak['tflops'] or 'n/a'} TFLOP/s ({peak['source']})")
  print(report.format_table(figures))
  print()
  print(f"Targets: {record['summary']}; record: {path}")
  return 0 if all(r["status"] == "measured" for r in runs) else 1


if __name__ == "__main__":
  sys.exit(main())
