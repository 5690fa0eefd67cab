"""Section input: the Trainer's training input against the notebooks'.

Images/s of the Trainer's training input (`make_dataset`, augmented), the
same without augmentation, and the notebooks' tf.data, on the ExampleGen
output of the 192 and 512 runs, at the pipeline's model input size (64) and
at the data's own size (`bench/input_path.py`). Target: augmentation adds at
most MAX_AUGMENTATION_OVERHEAD_PERCENT to the decode-only time, judged on
CPU time per image: on a shared 2-core machine wall-clock images/s of one
round varied up to 2x, CPU time per image by a few percent (both are
recorded).
"""

import json
import os
import sys
from typing import Any, Dict, List

from bench import steps
from bench.report import Figure, Target
from bench.sizes import Sizes
from settings import features

MAX_AUGMENTATION_OVERHEAD_PERCENT = 25.0


def run(sizes: Sizes, data_roots: Dict[str, str], outputs: Dict[str, str],
        work_dir: str, figures: List[Figure],
        details: Dict[str, Any]) -> None:
  """Section input: Trainer input pipeline against the notebooks'."""
  for size in ("192", "512"):
    root = os.path.join(outputs[size], "pipeline_root")
    examples = steps.latest_dir(os.path.join(root, "ImportExampleGen",
                                             "examples", "*"))
    graph = steps.latest_dir(os.path.join(root, "Transform",
                                          "transform_graph", "*"))
    name = f"input_{size}"
    result = None
    if examples and graph:
      result_path = os.path.join(work_dir, "logs", name + ".json")
      run = steps.run_step(
          name,
          [sys.executable, "-m", "bench.input_path", "--examples-dir",
           examples, "--raw-dir",
           os.path.join(data_roots[size], features.image_dir_name(int(size))),
           "--image-size", size, "--transform-dir", graph,
           "--input-sizes", "64,0", "--rounds", str(sizes.input_rounds),
           "--seconds", str(sizes.input_seconds), "--work-dir", work_dir,
           "--output", result_path],
          os.path.join(work_dir, "logs", name + ".log"), details)
      if run:
        with open(result_path, encoding="utf-8") as f:
          result = json.load(f)
        details[name]["result"] = result
    else:
      details[name] = {"error": f"no pipeline output under {root}"}
    for input_size in ("64", size):
      by_size = (result or {}).get("by_input_size", {}).get(input_size, {})
      ips = by_size.get("images_per_second", {})
      section = f"input {size}->{input_size}"
      layers = ", ".join(by_size.get("augmentation", [])) or "none"
      in_model = ", ".join(by_size.get("model_augmentation", [])) or "none"
      figures.append(Figure(
          section, f"Trainer input, augmented (input pipeline: {layers}; "
          f"in the model: {in_model})", ips.get("augmented"), "images/s"))
      figures.append(Figure(section, "Trainer input, decode only",
                            ips.get("decode_only"), "images/s"))
      figures.append(Figure(section, "notebook tf.data (raw .tfrec)",
                            ips.get("notebook"), "images/s"))
      overhead_wall = by_size.get("augmentation_overhead")
      overhead = by_size.get("augmentation_overhead_cpu")
      notes = []
      if overhead_wall is not None:
        notes.append(f"from wall-clock images/s: {100 * overhead_wall:.0f}%.")
      if overhead is not None and (
          100 * overhead > MAX_AUGMENTATION_OVERHEAD_PERCENT):
        notes.append(
            f"the input pipeline's augmentation ({layers}) runs on float32 "
            "batches at the model's input size (TFT's outputs cannot be "
            "uint8): each layer copies every batch at least once, about as "
            "costly as decoding a JPEG that needs no resize.")
      figures.append(Figure(
          section, f"augmentation time over decode-only, CPU time per "
          f"image ({size}px data, {input_size}px input)",
          None if overhead is None else 100 * overhead, "%",
          Target("<=", MAX_AUGMENTATION_OVERHEAD_PERCENT),
          note=" ".join(notes)))
      on_host = by_size.get("model_flip_on_host_overhead_cpu")
      figures.append(Figure(
          section, "the model's flip run on this CPU, over decode-only, "
          "CPU time per image", None if on_host is None else 100 * on_host,
          "%", note=("what a CPU-only host pays for the flip in its "
                     "training step; on an accelerator it runs there")))
      decode, notebook = ips.get("decode_only"), ips.get("notebook")
      gap = notebook / decode if decode and notebook else None
      cpu = by_size.get("cpu_ms_per_image", {})
      cpu_gap = (cpu["decode_only"] / cpu["notebook"]
                 if cpu.get("decode_only") and cpu.get("notebook") else None)
      figures.append(Figure(
          section, "notebook / Trainer decode-only throughput", gap, "x",
          Target("<=", 1.0),
          note=("" if cpu_gap is None else
                f"from CPU time per image: {cpu_gap:.2f}x. ") + (
                    "the Trainer decodes the images "
                    "of a batch in tf.map_fn (TFT's graph is batched), "
                    "fixed costs per batch that weigh most where a JPEG "
                    "decodes fast; the notebooks decode one record at a "
                    "time"
                    if gap and gap > 1.0 else "")))
