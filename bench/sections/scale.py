"""Section scale: the pipeline at the competition's size, and how its cost grows.

Generated data at the Kaggle set's size and resolution (bench/sizes.py
`scale_*`: full mode 12,816 train + 3,684 val + 7,382 test at 512x512) at
each of `scale_fractions` (1/8, 1/2 and the whole), one `local_runner.py`
run of 1 epoch at the default model input for each, and, in the same bench
run, the limits of a pass over the largest set's files
(bench/read_limits.py: one read, a full-size and a 1/8-scale decode).

For each size: every component's time and images/s, the process tree's
peak RSS and the time outside the training epoch. For each pass over the
data, its images/s as a share of its limit (PASSES says which limit).
Targets, on the largest size: time outside the epoch <= MAX_OUTSIDE_SECONDS,
each pass >= MIN_SHARE_OF_LIMIT of its limit, peak RSS <= MAX_PEAK_GIB and
<= MAX_RSS_GROWTH x the smallest size's.
"""

import json
import os
import shutil
import sys
from typing import Any, Dict, List, Optional, Tuple

from bench import reasons
from bench import steps
from bench.report import Figure, Target
from bench.sections import e2e
from bench.sizes import Sizes
from tools import make_sample_data

MAX_OUTSIDE_SECONDS = 45.0
MIN_SHARE_OF_LIMIT = 0.5
MAX_PEAK_GIB = 4.0
MAX_RSS_GROWTH = 1.25
LIMITS_STEP = "scale_limits"
# Each pass over the data: the component, the splits it reads, and the
# limit it is held to (bench/read_limits.py's keys); None for a component
# that reads no image: its time and its line through the sizes are shown,
# with no limit. Transform's analysis reads labels only. The Evaluator reads
# EvalInference's scored examples (labels and probabilities), not the
# images: no model runs in it since issue 37.
PASSES: Tuple[Tuple[str, Tuple[str, ...], Optional[str]], ...] = (
    ("ImportExampleGen", ("train", "val"), "read"),
    ("TestExampleGen", ("test",), "read"),
    ("StatisticsGen", ("train", "val"), "read"),
    # TFX's ExampleValidator reads statistics, no record; the
    # ImageValidator decodes every image.
    ("ExampleValidator", ("train", "val"), None),
    ("ImageValidator", ("train", "val"), "decode_eighth"),
    ("Transform", ("train",), "read"),
    ("EvalInference", ("val",), "decode_full"),
    ("Evaluator", ("val",), None),
    ("BatchPrediction", ("test",), "decode_full"),
)


def scaled_args(sizes: Sizes, fraction: float) -> Dict[str, Any]:
  """make_sample_data.py's counts for `fraction` of the largest set."""
  def part(count: int) -> int:
    return max(1, int(round(count * fraction)))
  return {"head_classes": sizes.scale_head_classes,
          "head_count": part(sizes.scale_head_count),
          "tail_count": part(sizes.scale_tail_count),
          "val_fraction": sizes.scale_val_fraction,
          "test_count": part(sizes.scale_test_count)}


def make_scaled_data(work_dir: str, sizes: Sizes, fraction: float
                     ) -> Tuple[str, Dict[str, int]]:
  """Generates (or reuses) one size; returns (data root, examples/split)."""
  args = scaled_args(sizes, fraction)
  counts = {
      split: len(make_sample_data.split_labels(
          sizes.num_classes, args["head_classes"], args["head_count"],
          args["tail_count"], share))
      for split, share in (("train", 1.0), ("val", args["val_fraction"]))}
  counts["test"] = args["test_count"]
  key = (f"scale-{sizes.scale_image_size}px-hc{args['head_classes']}"
         f"-h{args['head_count']}-t{args['tail_count']}"
         f"-v{args['val_fraction']}-test{args['test_count']}")
  steps.log(f"{fraction:g} of the scale section's set: "
            f"{sum(counts.values())} images")
  return (steps.generate_data(work_dir, key, sizes.scale_image_size, args),
          counts)


def outside_epochs(wall: Optional[float], epochs: List[float]
                   ) -> Optional[float]:
  return wall - sum(epochs) if wall is not None and epochs else None


def slope_per_thousand(points: List[Tuple[int, float]]) -> Optional[float]:
  """Least-squares seconds per 1,000 images through (images, seconds)."""
  fit = line_fit(points)
  return 1000 * fit[1] if fit else None


def line_fit(points: List[Tuple[int, float]]
             ) -> Optional[Tuple[float, float]]:
  """(seconds at 0 images, seconds per image): least squares through
  (images, seconds); None for fewer than two distinct sizes."""
  if len(points) < 2:
    return None
  mean_x = sum(x for x, _ in points) / len(points)
  mean_y = sum(y for _, y in points) / len(points)
  spread = sum((x - mean_x) ** 2 for x, _ in points)
  if not spread:
    return None
  slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
  return mean_y - slope * mean_x, slope


def _memory_note(run_) -> str:
  """Where a run's peak RSS sits: its largest process and the Beam workers
  (each a Python that imports TensorFlow, pipeline/runner/beam.py)."""
  return (f"its largest process {run_.peak_process_rss_bytes / steps.GIB:.2f}"
          f" GiB of the tree's {run_.peak_tree_rss_bytes / steps.GIB:.2f}; "
          f"{run_.beam_workers_started} Beam worker processes started "
          "(pipeline/runner/beam.py)")


def _measured_aside(node: str, seconds: Dict[str, float],
                    limits: Dict[str, float]) -> str:
  """What else this bench run measured that explains `node`'s pass."""
  pil = limits.get("pil_eighth_one_core")
  if node == "ImageValidator" and pil:
    return (f"PIL's 1/8-scale decode on one core measured {pil:.0f} "
            f"images/s here, so two processes reach at most {2 * pil:.0f}")
  asides = []
  serve, transform = limits.get("serve"), limits.get("transform_only")
  if node in ("EvalInference", "BatchPrediction") and (
      serve and transform):
    per_serve, per_transform = 1000 / serve, 1000 / transform
    asides.append(
        f"without a component around it, serving_default takes "
        f"{per_serve:.2f} s per 1,000 val images here, of which the "
        f"Transform graph (parse, decode, resize; "
        f"modules/preprocessing.py) {per_transform:.2f} s and the "
        f"model {per_serve - per_transform:.2f} s (modules/model.py "
        "build_model), one batch per core")
  return "; ".join(asides)


def _run_dir(work_dir: str, fraction: float) -> str:
  """The pipeline output directory of one size's run."""
  return os.path.join(work_dir, "runs", f"scale_{fraction:g}")


def run(sizes: Sizes, work_dir: str, figures: List[Figure],
        details: Dict[str, Any]) -> None:
  """One pipeline run per size, then the limits; the scale figures."""
  logs = os.path.join(work_dir, "logs")
  runs = []
  for fraction in sizes.scale_fractions:
    data_root, counts = make_scaled_data(work_dir, sizes, fraction)
    name = f"scale_{fraction:g}"
    out = _run_dir(work_dir, fraction)
    shutil.rmtree(out, ignore_errors=True)
    run_ = steps.run_step(
        name, steps.local_runner_command(data_root, out,
                                         sizes.scale_image_size, 1),
        os.path.join(logs, name + ".log"), details)
    seconds = steps.component_times(out)["seconds"] if run_ else {}
    epochs = steps.trainer_epoch_seconds(out) if run_ else []
    details[name].update(counts=counts, component_seconds=seconds,
                         epoch_seconds=epochs, data_root=data_root,
                         trainer_phase_seconds=(
                             steps.trainer_phase_seconds(out) if run_
                             else {}))
    runs.append((fraction, counts, run_, seconds, epochs, data_root))

  largest = runs[-1]
  limits_path = os.path.join(work_dir, "runs", "scale_limits.json")
  limits: Dict[str, float] = {}
  # The largest run's pushed model and its Transform graph: their work on
  # val without a component's start-up splits an inference pass's time.
  largest_out = _run_dir(work_dir, largest[0])
  model_dir = steps.latest_dir(os.path.join(largest_out, "serving", "*"))
  transform_dir = steps.latest_dir(os.path.join(
      largest_out, "pipeline_root", "Transform", "transform_graph", "*"))
  serving_args = (["--model-dir", model_dir, "--transform-dir",
                   transform_dir] if model_dir and transform_dir else [])
  if steps.run_step(
      LIMITS_STEP,
      [sys.executable, os.path.join(steps.REPO_ROOT, "bench",
                                    "read_limits.py"),
       "--data-root", largest[5], "--image-size",
       str(sizes.scale_image_size), "--output", limits_path] + serving_args,
      os.path.join(logs, LIMITS_STEP + ".log"), details):
    with open(limits_path, encoding="utf-8") as f:
      limits = json.load(f)
    details[LIMITS_STEP]["limits"] = limits

  # Each pass as its time at 0 images + its time per image, through the
  # sizes: a pass whose fixed cost alone exceeds what the target allows
  # cannot meet it at any speed; and the same line through the time
  # outside the epoch.
  fits = {node: line_fit([(sum(counts[split] for split in split_names),
                           seconds[node])
                          for _, counts, _, seconds, _, _ in runs
                          if node in seconds])
          for node, split_names, _ in PASSES}
  points = [(sum(counts.values()),
             outside_epochs(run_.wall_seconds, epochs))
            for _, counts, run_, _, epochs, _ in runs if run_ and epochs]
  for fraction, counts, run_, seconds, epochs, _ in runs:
    section = f"scale {fraction:g}"
    phases = details[f"scale_{fraction:g}"]["trainer_phase_seconds"]
    wall = run_.wall_seconds if run_ else None
    outside = outside_epochs(wall, epochs)
    is_largest = fraction == largest[0]
    what = (f"{counts['train']} train + {counts['val']} val + "
            f"{counts['test']} test at {sizes.scale_image_size}px, 1 epoch")
    figures.append(Figure(section, f"pipeline wall time ({what})", wall, "s"))
    figures.append(Figure(section, "training epoch",
                          sum(epochs) if epochs else None, "s"))
    why = ""
    if is_largest and outside is not None and outside > MAX_OUTSIDE_SECONDS:
      why = reasons.outside_reason(
          wall, seconds, epochs, MAX_OUTSIDE_SECONDS,
          imports=steps.import_profile(work_dir, details),
          fit=line_fit(points), images=sum(counts.values()),
          trainer_phases=phases)
    figures.append(Figure(
        section, "time outside the training epoch", outside, "s",
        Target("<=", MAX_OUTSIDE_SECONDS) if is_largest else None, note=why))
    peak = run_.peak_tree_rss_bytes / steps.GIB if run_ else None
    figures.append(Figure(
        section, "peak RSS, process tree", peak, "GiB",
        Target("<=", MAX_PEAK_GIB) if is_largest else None,
        note=(_memory_note(run_) if is_largest and peak is not None and
              peak > MAX_PEAK_GIB else "")))
    trainer = seconds.get("Trainer")
    figures.append(Figure(
        section, "Trainer outside the epoch (set-up, export)",
        trainer - sum(epochs) if trainer is not None and epochs else None,
        "s"))
    e2e.trainer_part_figures(figures, section, trainer, epochs, phases)
    for node, split_names, limit_key in PASSES:
      if node not in seconds:
        continue
      examples = sum(counts[split] for split in split_names)
      rate = examples / seconds[node] if seconds[node] else None
      limit = limits.get(limit_key) if limit_key else None
      figures.append(Figure(
          section, f"{node} ({'+'.join(split_names)}, {examples} images)",
          seconds[node], "s",
          note=f"{rate:.0f} images/s" if rate else ""))
      if is_largest and limit_key:
        note = f"{rate:.0f} of {limit:.0f} images/s" if rate and limit else ""
        if rate and limit and rate / limit < MIN_SHARE_OF_LIMIT:
          note += "; " + reasons.pass_reason(
              node, examples, seconds[node], limit, MIN_SHARE_OF_LIMIT,
              fits[node], extra=_measured_aside(node, seconds, limits))
        figures.append(Figure(
            section, f"{node} images/s / its {limit_key} limit",
            rate / limit if rate and limit else None, "x",
            Target(">=", MIN_SHARE_OF_LIMIT), note=note))
  for node, _, _ in PASSES:
    fit = fits[node]
    figures.append(Figure(
        "scale", f"{node}: fixed cost (time at 0 images)",
        fit[0] if fit else None, "s",
        note=(f"and {1000 * fit[1]:.2f} s per 1,000 images"
              if fit else "")))
  smallest_peak = runs[0][2].peak_tree_rss_bytes if runs[0][2] else None
  largest_peak = largest[2].peak_tree_rss_bytes if largest[2] else None
  growth = (largest_peak / smallest_peak if largest_peak and smallest_peak
            else None)
  figures.append(Figure(
      "scale", f"peak RSS, largest / smallest ({largest[0]:g} / "
      f"{runs[0][0]:g})", growth, "x", Target("<=", MAX_RSS_GROWTH),
      note=(f"largest: {_memory_note(largest[2])}; smallest: "
            f"{_memory_note(runs[0][2])}"
            if growth is not None and growth > MAX_RSS_GROWTH else "")))
  figures.append(Figure(
      "scale", "time outside the epoch, growth per 1,000 images",
      slope_per_thousand(points), "s",
      note="least squares through " + ", ".join(
          f"{images} images: {seconds:.0f} s" for images, seconds in points)))
  for key in ("read", "decode_full", "decode_eighth", "pil_eighth_one_core",
              "serve", "transform_only"):
    label = (f"val through {key.replace('_', ' ')}, no component around it"
             if key in ("serve", "transform_only")
             else f"limit: {key.replace('_', ' ')}")
    figures.append(Figure("scale", label,
                          limits.get(key), "images/s",
                          note=(f"{limits.get('read_megabytes_per_second')} "
                                "MB/s" if key == "read" and limits else "")))
