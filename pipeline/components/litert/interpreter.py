"""Running a LiteRT flatbuffer as a phone does: `ai_edge_litert`'s Interpreter.

`ai_edge_litert` is the LiteRT runtime's own Python package (pinned in
requirements.txt; it needs only numpy >= 1.23.2 beside our stack), with the
kernels and the default XNNPACK CPU delegate that Android's and iOS's LiteRT
run. TensorFlow's `tf.lite.Interpreter` is the same code at an older
version, kept inside TensorFlow; TFMA's `tf_lite` model type uses that one,
without XNNPACK, and feeds a model's inputs from the raw features, which
here are encoded images (docs/on-device.md says why the gate does not use
it).
"""

import statistics
import time
from typing import List

import numpy as np

from ai_edge_litert import interpreter as litert_interpreter

from pipeline.components.litert import conversion


class LiteModel:
  """One flatbuffer, loaded: `predict` batches of pixels, `latency_ms`."""

  def __init__(self, flatbuffer: bytes, num_threads: int = 1):
    self._interpreter = litert_interpreter.Interpreter(
        model_content=flatbuffer, num_threads=num_threads)
    self._runner = self._interpreter.get_signature_runner(
        conversion.SIGNATURE)
    details = self._runner.get_input_details()[conversion.INPUT_NAME]
    self.input_dtype = details["dtype"]
    self.input_shape = tuple(int(d) for d in details["shape_signature"])

  @property
  def input_size(self) -> int:
    """S of the [N, S, S, 3] pixel input."""
    return self.input_shape[1]

  def predict(self, pixels: np.ndarray) -> np.ndarray:
    """Probabilities [n, classes] of uint8 pixels [n, S, S, 3]."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 4 or pixels.shape[1:] != self.input_shape[1:]:
      raise ValueError(f"pixels of shape {pixels.shape}; the model takes "
                       f"[n, {', '.join(map(str, self.input_shape[1:]))}]")
    return self._runner(**{conversion.INPUT_NAME: pixels.astype(
        self.input_dtype)})[conversion.OUTPUT_NAME]

  def latency_ms(self, image: np.ndarray, runs: int = 30,
                 warmup: int = 3) -> float:
    """The median milliseconds of one image through the model (batch 1,
    the threads it was loaded with), after `warmup` runs."""
    batch = np.asarray(image)[np.newaxis]
    times: List[float] = []
    for index in range(warmup + runs):
      start = time.perf_counter()
      self.predict(batch)
      if index >= warmup:
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
