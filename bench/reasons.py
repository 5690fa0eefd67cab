"""Why a target was missed: where the seconds went, and the code that spent them.

A MISSED figure's note comes from here. Every number in it is measured in
the same bench run: component times from ML Metadata, the line through the
scale section's sizes (seconds at 0 images and per image), the limits of
`bench/read_limits.py`, and the import profile of the runner's start-up
(`python -X importtime`, parsed by `import_seconds`). The code it names is
where those seconds run: a library's file where the time is the library's,
ours where it is ours. tests/test_bench.py checks that every file named
here exists in the installed packages or in this repository.

Pure helpers, no TensorFlow.
"""

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

LAUNCHER = ("TFX's launcher around every component: driver, input "
            "resolution, MLMD publication "
            "(tfx/orchestration/portable/launcher.py)")
BEAM = ("a Beam pipeline built and run in-process "
        "(apache_beam/runners/portability/fn_api_runner/fn_runner.py)")
_CHECK_AND_COPY = ("our data check reads every record with its checksums "
                   "(modules/record_reader.py) and parses it as a "
                   "tf.Example (pipeline/components/example_gen/"
                   "input_files.py), then the files are copied "
                   "(pipeline/components/example_gen/copy_import.py)")
_SERVING = ("serving_default on each batch, one batch per core: the "
            "Transform graph's parse, decode and resize "
            "(modules/preprocessing.py) and the model "
            "(pipeline/components/util/batch_predict.py)")
_MODEL_LOAD = ("the SavedModel's load "
               "(tensorflow/python/saved_model/load.py)")
# Where each node's time goes: (its time at 0 images, its time per image).
CODE: Dict[str, Tuple[str, str]] = {
    "ImportExampleGen": (LAUNCHER, _CHECK_AND_COPY),
    "TestExampleGen": (LAUNCHER, _CHECK_AND_COPY),
    "StatisticsGen": (
        f"{LAUNCHER}; {BEAM}; TFDV's statistics pipeline "
        "(tensorflow_data_validation/statistics/stats_impl.py)",
        "tfx_bsl decodes each record into Arrow, the image bytes included "
        "(tfx_bsl/tfxio/tf_example_record.py), and TFDV's generators run "
        "over it (tensorflow_data_validation/statistics/stats_impl.py)"),
    "ExampleValidator": (
        f"{LAUNCHER}; TFDV's validation of each split's statistics against "
        "the schema and its class balance SQL "
        "(tensorflow_data_validation/api/validation_api.py)",
        "none: it reads statistics, not records"),
    "ImageValidator": (
        f"{LAUNCHER}; a worker process per core started "
        "(modules/image_facts.py)",
        "PIL decodes each image at 1/8 scale to name formats and errors the "
        "model would meet (modules/image_facts.py)"),
    "Transform": (
        f"{LAUNCHER}; {BEAM}; TFT traces the preprocessing_fn and writes "
        "the transform graph (tensorflow_transform/beam/impl.py "
        "AnalyzeDataset; no analyzer, so no pass over the records: "
        "modules/preprocessing.py)",
        "tfx_bsl's reader set up over the examples "
        "(tfx_bsl/tfxio/tf_example_record.py)"),
    "EvalInference": (f"{LAUNCHER}; {_MODEL_LOAD}", _SERVING),
    "BatchPrediction": (f"{LAUNCHER}; {_MODEL_LOAD}", _SERVING),
    "Evaluator": (
        f"{LAUNCHER}; {BEAM}; TFMA's model-agnostic evaluation of "
        "EvalInference's scored examples "
        "(tensorflow_model_analysis/api/model_eval_lib.py "
        "ExtractEvaluateAndWriteResults) and the gate's paired bootstrap "
        "(modules/bootstrap.py)",
        "TFMA accumulates the overall slice's MacroF1 with its per-class "
        "scores and the confusion matrix plot, for each model "
        "(modules/metrics.py, tensorflow_model_analysis/metrics/"
        "multi_class_confusion_matrix_plot.py)"),
    "Trainer": (
        "model build, tf.function tracing and the "
        "SavedModel export with its signatures (modules/trainer.py)", ""),
    "LiteRTExport": (
        f"{LAUNCHER}; the Keras model rebuilt and converted twice, float32 "
        "and int8 calibrated on train images "
        "(pipeline/components/litert/conversion.py)",
        "the device gate: each eval image decoded and run through each "
        "variant in the LiteRT interpreter "
        "(pipeline/components/litert/executor.py)"),
    "Report": ("the report page, model card and gallery "
               "(pipeline/components/report/executor.py)", ""),
}
CACHE_LOOKUP = ("TFX's orchestration and cache lookup of each component "
                "in ML Metadata, around its execution "
                "(tfx/orchestration/portable/launcher.py, "
                "tfx/orchestration/portable/cache_utils.py)")
RUNNER = ("local_runner.py's own time: Python start-up and imports, the "
          "pre-flight data checks (local_runner.py)")
RUNNER_NAME = "runner start-up and pre-flight"
TRAINER_NAME = "Trainer outside its epochs"
# The Trainer's time outside its epochs, part by part, where its training
# history has `phase_seconds` (modules/trainer.py): each part's name and
# the code that spends it.
TRAINER_PARTS: Dict[str, str] = {
    "Trainer around run_fn": (
        f"{LAUNCHER}; TFX's Trainer executor imports our module file and "
        "what it imports (tfx/components/trainer/executor.py)"),
    "Trainer set-up": (
        "the strategy, the Transform output, the datasets, the model build, "
        "the warm start and compile (modules/trainer.py)"),
    "Trainer fit outside its epochs": (
        "Keras's fit before its first epoch and after its last "
        "(keras/src/backend/tensorflow/trainer.py)"),
    "Trainer export": (
        "the SavedModel with its signatures (modules/serving.py) and the "
        "warm-start weights (modules/warm_start.py)"),
}
_FILE = re.compile(r"[\w/]+\.py\b")
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_seconds(importtime_stderr: str) -> Dict[str, float]:
  """Seconds each library's own modules took to import, largest first.

  `importtime_stderr` is what `python -X importtime -c "..."` writes: one
  line per module with its self and cumulative microseconds. Self times
  summed by library (the top-level package; in the `google` namespace the
  parts that name one, `google.protobuf`, `google.cloud.aiplatform`) split
  the import between libraries without counting a module twice.
  """
  totals: Dict[str, float] = {}
  for line in importtime_stderr.splitlines():
    match = _IMPORT_LINE.match(line)
    if not match:
      continue
    parts = match.group(4).split(".")
    depth = (3 if parts[:2] == ["google", "cloud"] else
             2 if parts[0] == "google" else 1)
    library = ".".join(parts[:depth])
    if depth == 3:  # google.cloud.aiplatform_v1beta1: google.cloud.aiplatform
      library = re.sub(r"_v\d+\w*$", "", library)
    totals[library] = totals.get(library, 0.0) + int(match.group(1)) / 1e6
  return dict(sorted(totals.items(), key=lambda item: -item[1]))


def describe_imports(seconds: Mapping[str, float], wall: Optional[float],
                     top: int = 4) -> str:
  """The profile in words: the process's wall time (Python's start-up and
  the profiler's own overhead included, so it can exceed the import inside
  a run) and the libraries that took longest."""
  if not seconds:
    return ""
  listed = ", ".join(f"{name} {value:.1f} s"
                     for name, value in list(seconds.items())[:top])
  total = f" {wall:.1f} s" if wall is not None else ""
  return (f"a separate `python -X importtime local_runner.py` up to its "
          f"data plan took{total} (own time by library: {listed})")


_PHASES = ("set_up", "fit", "export")


def fit_outside_epochs(phases: Optional[Mapping[str, float]],
                       epoch_seconds: Sequence[float]) -> Optional[float]:
  """The Trainer's `fit` time outside its epochs (its start, and the
  end-of-fit stall when there is one); None without run_fn phases."""
  if not phases or "fit" not in phases:
    return None
  return phases["fit"] - sum(epoch_seconds)


def trainer_parts(trainer_seconds: float, epoch_seconds: Sequence[float],
                  phases: Optional[Mapping[str, float]]
                  ) -> List[Tuple[str, float]]:
  """The Trainer component's time outside its epochs: part by part
  (TRAINER_PARTS) from its `run_fn` phases, or as one TRAINER_NAME part
  when the history has none."""
  if not phases or not all(key in phases for key in _PHASES):
    return [(TRAINER_NAME, trainer_seconds - sum(epoch_seconds))]
  return [("Trainer around run_fn",
           trainer_seconds - sum(phases[key] for key in _PHASES)),
          ("Trainer set-up", phases["set_up"]),
          ("Trainer fit outside its epochs",
           fit_outside_epochs(phases, epoch_seconds)),
          ("Trainer export", phases["export"])]


def outside_items(wall: float, component_seconds: Mapping[str, float],
                  epoch_seconds: Sequence[float],
                  trainer_phases: Optional[Mapping[str, float]] = None
                  ) -> List[Tuple[str, float]]:
  """What a run's time outside its training epochs consists of, largest
  first: the runner's own time (wall - components), the Trainer outside its
  epochs (part by part when `trainer_phases` has its run_fn phases), and
  every other component."""
  items = [(RUNNER_NAME, wall - sum(component_seconds.values()))]
  for node, seconds in component_seconds.items():
    if node == "Trainer":
      items.extend(trainer_parts(seconds, epoch_seconds, trainer_phases))
    else:
      items.append((node, seconds))
  return sorted(items, key=lambda item: -item[1])


def files_named(text: str) -> List[str]:
  """The source files a reason names, in order, each once."""
  return list(dict.fromkeys(_FILE.findall(text)))


def files_of(name: str) -> str:
  """The files where a part of the time outside the epochs runs."""
  if name == RUNNER_NAME:
    text = RUNNER
  elif name == TRAINER_NAME:
    text = CODE["Trainer"][0]
  elif name in TRAINER_PARTS:
    text = TRAINER_PARTS[name]
  else:
    text = " ".join(CODE.get(name, ("", "")))
  return ", ".join(files_named(text))


def describe_parts(parts: Sequence[Tuple[str, float]], imports: str = "",
                   digits: int = 1) -> List[str]:
  """"name 12.3 s (its files)" for each part; the runner's with the import
  profile `imports` after its files."""
  described = []
  for name, seconds in parts:
    code = files_of(name)
    if name == RUNNER_NAME and imports:
      code = f"{code}; {imports}"
    described.append(f"{name} {seconds:.{digits}f} s ({code})" if code
                     else f"{name} {seconds:.{digits}f} s")
  return described


def outside_reason(wall: float, component_seconds: Mapping[str, float],
                   epoch_seconds: Sequence[float], limit: float,
                   imports: str = "", top: int = 5,
                   fit: Optional[Tuple[float, float]] = None,
                   images: Optional[int] = None,
                   trainer_phases: Optional[Mapping[str, float]] = None
                   ) -> str:
  """A missed "time outside the epochs": its largest parts, each with the
  files its time runs in (CODE has the longer story of each).

  `fit` (seconds at 0 images, seconds per image, through the scale sizes)
  and `images` (this run's) split the total into what no data size removes
  and what grows with the data.
  """
  items = outside_items(wall, component_seconds, epoch_seconds,
                        trainer_phases)
  parts = describe_parts(items[:top], imports)
  rest = sum(seconds for _, seconds in items[top:])
  line = (f"over {limit:g} s; its largest parts: "
          + "; ".join(parts) + f"; the other {len(items) - top} parts "
          f"{rest:.1f} s")
  if fit is not None and images:
    line += (f". Through the sizes: {fit[0]:.1f} s at 0 images (what no "
             "data size removes"
             f"{', alone over the target' if fit[0] > limit else ''}) and "
             f"{1000 * fit[1]:.2f} s per 1,000 images ({fit[1] * images:.0f} "
             f"s for these {images})")
  return line


def pass_reason(node: str, images: int, seconds: float,
                limit_images_per_second: float, min_share: float,
                fit: Optional[Tuple[float, float]] = None,
                extra: str = "") -> str:
  """A pass over the data below `min_share` of its limit: how far its time
  is over what the target allows, split into its time at 0 images and its
  time per image, each with the code that spends it."""
  allowed = images / (min_share * limit_images_per_second)
  fixed_code, per_image_code = CODE.get(node, ("", ""))
  line = (f"{seconds:.1f} s for {images} images where {min_share:g}x of the "
          f"limit allows {allowed:.1f} s")
  if fit is None:
    return line + (f"; {extra}" if extra else "")
  fixed, per_image = fit
  if per_image <= 0:  # The sizes' times differ by less than their noise.
    return line + (f"; the fit through the sizes puts all of it at 0 images "
                   f"(no time per image above the noise): {fixed_code}"
                   + (f"; {extra}" if extra else ""))
  if fixed > 0:
    line += (f"; {fixed:.1f} s of it at 0 images"
             f"{' (alone over the allowance)' if fixed > allowed else ''}: "
             f"{fixed_code}")
  else:
    line += "; its time at 0 images is within the noise of the fit"
  slower = per_image * limit_images_per_second
  line += (f"; per image {1000 * per_image:.2f} s per 1,000, {slower:.1f}x "
           f"the limit's time per image"
           + (f": {per_image_code}" if per_image_code else ""))
  return line + (f"; {extra}" if extra else "")


def rerun_reason(wall: float, component_seconds: Mapping[str, float],
                 executed: Sequence[str], first_wall: float, limit: float,
                 imports: str = "") -> str:
  """A re-run over `limit` percent of the first run: its own time, its
  cached components' lookups and the components that executed again."""
  runner = wall - sum(component_seconds.values())
  again = sum(component_seconds.get(node, 0.0) for node in executed)
  cached = sum(component_seconds.values()) - again
  allowed = first_wall * limit / 100
  line = (f"{wall:.1f} s where {limit:g}% of the first run's "
          f"{first_wall:.1f} s allows {allowed:.1f} s: {runner:.1f} s of it "
          f"outside the components' executions ({RUNNER}; {CACHE_LOOKUP}"
          + (f"; {imports}" if imports else "") + f"), {cached:.1f} s "
          "inside the cached components' executions")
  if executed:
    line += "; executed again: " + ", ".join(describe_parts(
        [(node, component_seconds.get(node, 0.0)) for node in executed]))
  return line
