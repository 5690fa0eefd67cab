"""LiteRTExport's executor: converts the Trainer's model and scores each
variant through the LiteRT interpreter.

1. Rebuilds the Keras network from the Trainer's weights
   (conversion.rebuild_keras_model) and converts it, float32 and int8, the
   int8 variant calibrated on `lite.representative_examples` train images
   (pixels.representative_pixels: never eval).
2. Runs every eval record that the SavedModel predicted (EvalInference's
   predictions) through each variant, its pixels from the run's Transform
   graph, and scores it against the SavedModel on those same records
   (gate.score_variant): macro F1, the drop, top-1 agreement.
3. Times one image per variant, batch 1, one thread, as a phone app calls
   the interpreter.

Everything goes into the LiteModel artifact: the flatbuffers, `labels.txt`
and `lite_evaluation.json`. Whether to push is LiteRTPusher's call, on the
Evaluator's blessing and these verdicts.
"""

import importlib.metadata
import os
from typing import Any, Dict, List

from absl import logging
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from modules import image_facts
from pipeline.components.util import custom_config
from pipeline.components.util import predictions as predictions_lib
from pipeline.components.litert import conversion
from pipeline.components.litert import gate
from pipeline.components.litert import interpreter
from pipeline.components.litert import native_output
from pipeline.components.litert import pixels as pixels_lib
from settings import config as config_lib
from settings import features
from settings import records

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
EVAL_PREDICTIONS_KEY = "eval_predictions"
LITE_MODEL_KEY = "lite_model"
LABELS_FILE = "labels.txt"
# Custom property of the LiteModel: the variants that passed, comma-joined.
PASSED_PROPERTY = "passed_variants"
LATENCY_THREADS = 1


def directory_size(path: str) -> int:
  """Bytes of every file under `path`."""
  return sum(tf.io.gfile.stat(os.path.join(folder, name)).length
             for folder, _, names in tf.io.gfile.walk(path)
             for name in names)


def _split_files(examples: List[types.Artifact], split: str) -> List[str]:
  return tf.io.gfile.glob(io_utils.all_files_pattern(
      artifact_utils.get_split_uri(examples, split)))


def score_on_eval(flatbuffers: Dict[str, bytes], eval_files: List[str],
                  saved: predictions_lib.SplitPredictions, pixels,
                  min_macro_f1: float, tolerances: Dict[str, float]
                  ) -> Dict[str, Any]:
  """Each variant's scores on the eval records the SavedModel predicted.

  Returns:
    `eval_examples`, `saved_macro_f1` and `variants` (per variant: the
    gate's scores and `latency_ms`).
  """
  # Eval throughput on every core; the latency below uses one thread.
  models = {variant: interpreter.LiteModel(
      flatbuffer, num_threads=image_facts.default_processes())
            for variant, flatbuffer in flatbuffers.items()}
  row_of = {image_id: row for row, image_id in enumerate(saved.ids)}
  rows: List[int] = []
  probabilities = {variant: [] for variant in models}
  first_image = None
  for ids, raw in pixels_lib.batches(eval_files, row_of.__contains__):
    ids, images = pixels_lib.decode(pixels, ids, raw)
    if not ids:
      continue
    if first_image is None:
      first_image = images[0]
    rows.extend(row_of[image_id] for image_id in ids)
    for variant, model in models.items():
      probabilities[variant].append(model.predict(images))
  if not rows:
    raise ValueError(f"none of the {len(saved)} eval records the SavedModel "
                     f"predicted is in {eval_files[:3]}...")
  labels = saved.labels[rows]
  saved_probabilities = saved.probabilities[rows]
  variants = {}
  for variant, flatbuffer in flatbuffers.items():
    scores = gate.score_variant(
        labels, saved_probabilities, np.concatenate(probabilities[variant]),
        min_macro_f1, tolerances[variant])
    scores["latency_ms"] = round(interpreter.LiteModel(
        flatbuffer, num_threads=LATENCY_THREADS).latency_ms(first_image), 4)
    variants[variant] = scores
  return {"eval_examples": len(rows),
          "saved_macro_f1": gate.macro_f1(
              labels, saved_probabilities.argmax(axis=1),
              saved_probabilities.shape[1]),
          "variants": variants}


class Executor(base_executor.BaseExecutor):
  """Writes the flatbuffers, labels.txt and lite_evaluation.json."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    settings = custom_config.decode(exec_properties, config_lib.LiteSettings)
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    examples = input_dict[EXAMPLES_KEY]
    transform_graph = artifact_utils.get_single_instance(
        input_dict[TRANSFORM_GRAPH_KEY])
    predictions = artifact_utils.get_single_instance(
        input_dict[EVAL_PREDICTIONS_KEY])
    output = artifact_utils.get_single_instance(output_dict[LITE_MODEL_KEY])
    saved = predictions_lib.read_predictions(predictions.uri,
                                             features.EVAL_SPLIT)
    if saved is None:
      raise FileNotFoundError(f"no eval predictions in {predictions.uri}")

    info = conversion.read_model_info(model.uri)
    size = int(info["input_size"])
    class_names = list(info["class_names"])
    pixels = pixels_lib.pixel_function(transform_graph.uri)
    representative = pixels_lib.representative_pixels(
        _split_files(examples, features.TRAIN_SPLIT),
        settings.lite.representative_examples, pixels)
    if representative.shape[1:3] != (size, size):
      raise ValueError(
          f"the Transform graph {transform_graph.uri} makes "
          f"{representative.shape[1]}-pixel images; the model at "
          f"{model.uri} takes {size}: they are not of one run")
    logging.info("Converting %s to LiteRT (int8 calibrated on %d train "
                 "images).", model.uri, len(representative))
    with native_output.to_log("The LiteRT converter"):
      flatbuffers, failures = conversion.convert_each(
          conversion.rebuild_keras_model(model.uri), size, representative)
    for variant, why in failures.items():
      logging.warning("LiteRT %s: the conversion failed: %s", variant, why)

    tf.io.gfile.makedirs(output.uri)
    for variant, flatbuffer in flatbuffers.items():
      with tf.io.gfile.GFile(os.path.join(
          output.uri, conversion.model_file(variant)), "wb") as f:
        f.write(flatbuffer)
    io_utils.write_string_file(os.path.join(output.uri, LABELS_FILE),
                               "".join(f"{name}\n" for name in class_names))

    tolerances = {conversion.FLOAT32: settings.lite.float_tolerance,
                  conversion.INT8: settings.lite.int8_tolerance}
    with native_output.to_log("The LiteRT interpreter"):
      scored = score_on_eval(
          flatbuffers, _split_files(examples, features.EVAL_SPLIT), saved,
          pixels, settings.min_macro_f1, tolerances)
    variants = [dict(variant=variant, file=None, size_bytes=None, ops=[],
                     macro_f1=None, macro_f1_drop=None, top1_agreement=None,
                     latency_ms=None, tolerance=tolerances[variant],
                     passed=False, reasons=[f"conversion failed: {why}"])
                for variant, why in failures.items()]
    for variant, flatbuffer in flatbuffers.items():
      variants.append(dict(
          variant=variant, file=conversion.model_file(variant),
          size_bytes=len(flatbuffer), ops=conversion.op_names(flatbuffer),
          **scored["variants"][variant]))
      logging.info("LiteRT %s: %d bytes, macro_f1 %.4f (SavedModel %.4f), "
                   "top-1 agreement %.4f, %.3f ms per image: %s", variant,
                   len(flatbuffer), variants[-1]["macro_f1"],
                   scored["saved_macro_f1"], variants[-1]["top1_agreement"],
                   variants[-1]["latency_ms"],
                   "passed" if variants[-1]["passed"] else
                   "; ".join(variants[-1]["reasons"]))
    evaluation = records.LiteEvaluation(
        model_uri=model.uri,
        input={"name": conversion.INPUT_NAME, "dtype": "uint8",
               "shape": [-1, size, size, 3], "range": [0, 255],
               "channels": "RGB"},
        output={"name": conversion.OUTPUT_NAME, "dtype": "float32",
                "shape": [-1, len(class_names)]},
        labels_file=LABELS_FILE, class_names=class_names,
        min_macro_f1=settings.min_macro_f1,
        eval_examples=scored["eval_examples"],
        representative={"split": features.TRAIN_SPLIT,
                        "examples": int(len(representative))},
        interpreter={"package": "ai_edge_litert",
                     "version": importlib.metadata.version("ai_edge_litert"),
                     "latency_threads": LATENCY_THREADS},
        saved_model={"size_bytes": directory_size(
            path_utils.serving_model_path(
                model.uri, path_utils.is_old_model_artifact(model))),
                     "macro_f1": round(scored["saved_macro_f1"], 6)},
        variants=variants)
    evaluation.write(output.uri)
    output.set_string_custom_property(
        PASSED_PROPERTY, ",".join(v["variant"] for v in evaluation.passed()))
