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

The parts: the device and its peak, bench/gpu_peak.py; the data, the FLOP
count and one timed training run, bench/gpu_runs.py; here, the runs in
order, the figures and the record.
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from bench import gpu_peak  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import gpu_runs  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import input_path  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.report import Figure, Target  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

MAX_CHECK_SECONDS = 480.0  # issue 15: under 8 minutes on one GPU
FEEDS = ("tfrecord", "synthetic")
RECORD_PREFIX = "gpu-check-"


def log(message: str) -> None:
  print(f"[gpu-check {datetime.datetime.now():%H:%M:%S}] {message}",
        flush=True)


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
  runtime.configure()  # before TensorFlow is imported, as the runners do
  # after setup: TensorFlow loads after runtime.configure()
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from modules import augmentation  # pylint: disable=g-import-not-at-top
  from modules import dataset  # pylint: disable=g-import-not-at-top
  from modules import model as model_lib  # pylint: disable=g-import-not-at-top
  from modules import schedules  # pylint: disable=g-import-not-at-top
  from modules import strategy as strategy_lib  # pylint: disable=g-import-not-at-top
  from modules import trainer  # pylint: disable=g-import-not-at-top

  gpus = tf.config.list_physical_devices("GPU")
  smi = gpu_peak.nvidia_smi_gpus()
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
  peak = gpu_peak.peak_tflops(gpu_name, policy)
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
  files = gpu_runs.make_examples(args.work_dir, args.image_size,
                                 args.examples, args.shards)
  log("analyzing the Transform graph (tft_beam, in-process)")
  tft_output = tft.TFTransformOutput(
      gpu_runs.transform_graph(files, base, args.work_dir))

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
    flops[backbone] = gpu_runs.forward_flops_per_image(probe,
                                                       args.image_size)
    del probe
    keras.mixed_precision.set_global_policy(policy)
    log(f"{backbone}: {flops[backbone] / 1e9:.2f} GFLOP per image forward; "
        f"Keras's jit_compile='auto' gives XLA "
        f"{'on' if auto_jit[backbone] else 'off'} here")
    makers = {"tfrecord": real_input,
              "synthetic": lambda config=config: gpu_runs.synthetic_dataset(
                  global_batch, args.image_size, config.num_classes)}
    # XLA first: it is what the Trainer gets on one GPU (Keras's "auto").
    for jit in (True, False):
      for feed in FEEDS:
        elapsed = time.perf_counter() - wall_start
        if elapsed > args.budget_seconds:
          runs.append(gpu_runs.skipped_run(
              backbone, feed, jit, f"time budget ({elapsed:.0f} s > "
              f"{args.budget_seconds:.0f} s)"))
          log(f"{backbone} {feed} jit={jit}: skipped (time budget)")
          continue
        try:
          run = gpu_runs.train_run(backbone, feed, jit, config, strategy,
                                   makers[feed], args.steps, args.epochs,
                                   flops[backbone], peak)
        except Exception as error:  # pylint: disable=broad-except
          # One failed run (out of memory, an XLA error) must not lose the
          # others' figures: recorded, and the exit status says so.
          runs.append(gpu_runs.skipped_run(backbone, feed, jit, "failed"))
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
