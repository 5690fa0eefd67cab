"""Top-k classes of image files or URLs, from a served or an on-device model.

    python tools/predict.py flower.jpg other.png --model output/serving/1795822896
    python tools/predict.py *.jpg --model DIR --top-k 3 --format json
    python tools/predict.py https://example.org/rose.jpg \
        --model output/serving_lite/1795822896/model_int8.tflite

Images are files or http(s) URLs; a URL is fetched with a timeout
(`--timeout`) and a size limit (`--max-bytes`). A SavedModel folder gets
the bytes as they are, through its `serving_image_bytes` signature, which
decodes JPEG or PNG of any size and applies the pipeline's own
preprocessing. A `.tflite` model (pipeline/components/litert/, its class
names in `labels.txt` beside it) takes pixels at its input size: the bytes
are decoded and resized here by the Transform graph's own function
(`modules.preprocessing.decode_and_resize`), as an app resizes its bitmap,
and run in the LiteRT interpreter phones run. A file or URL that is
missing, unreadable, too large or not an image gets an error line naming it
(on stderr, and in the JSON output) and the others are still predicted.

Exit status: 0 when every file was predicted, 1 when some failed, 2 when
nothing could run (e.g. the model does not load).
"""

import argparse
import dataclasses
import json
import os
import sys
import urllib.error
import urllib.request
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime

runtime.configure()  # Before TensorFlow is imported.
import numpy as np
import tensorflow as tf

from modules import preprocessing
from settings import features
from pipeline.components.util import serving_model as inference_lib
from pipeline.components.litert import interpreter as litert_interpreter
from pipeline.components.litert import native_output
# pylint: enable=g-import-not-at-top,wrong-import-position

FORMATS = ("table", "json")
URL_SCHEMES = ("http://", "https://")
LITE_SUFFIX = ".tflite"
LABELS_FILE = "labels.txt"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_BYTES = 20 * 2**20
# Content types a server may give an image under: image/*, or no type of
# its own.
_GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream")


@dataclasses.dataclass(frozen=True)
class ClassScore:
  rank: int
  class_index: int
  class_name: str
  probability: float


@dataclasses.dataclass
class FilePrediction:
  """Top-k classes of one file, or why there are none."""
  path: str
  top: List[ClassScore] = dataclasses.field(default_factory=list)
  error: Optional[str] = None

  def to_dict(self):
    if self.error is not None:
      return {"file": self.path, "error": self.error}
    return {"file": self.path,
            "predictions": [dataclasses.asdict(score) for score in self.top]}


def _read_url(url: str, timeout: float,
              max_bytes: int) -> Tuple[Optional[bytes], Optional[str]]:
  """(bytes, None), or (None, reason) for a URL that gives no image."""
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
      content_type = (response.headers.get_content_type()
                      if response.headers.get("Content-Type") else "")
      if content_type and not (content_type.startswith("image/") or
                               content_type in _GENERIC_TYPES):
        return None, f"not an image (Content-Type {content_type})"
      length = response.headers.get("Content-Length")
      if length and length.isdigit() and int(length) > max_bytes:
        return None, (f"larger than the size limit ({length} > {max_bytes} "
                      "bytes, --max-bytes)")
      data = response.read(max_bytes + 1)
  except urllib.error.HTTPError as error:
    return None, f"HTTP {error.code} {error.reason}"
  except urllib.error.URLError as error:
    return None, f"cannot fetch it ({error.reason})"
  except (TimeoutError, OSError) as error:
    # A read that stalls past the timeout raises TimeoutError itself.
    return None, f"cannot fetch it ({error or type(error).__name__})"
  if len(data) > max_bytes:
    return None, f"larger than the size limit ({max_bytes} bytes, --max-bytes)"
  return data, None


def _read_source(source: str, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 max_bytes: int = DEFAULT_MAX_BYTES
                 ) -> Tuple[Optional[bytes], Optional[str]]:
  """A file's or an http(s) URL's bytes, or (None, reason)."""
  if source.lower().startswith(URL_SCHEMES):
    return _read_url(source, timeout, max_bytes)
  return _read_file(source)


def _read_file(path: str) -> Tuple[Optional[bytes], Optional[str]]:
  """(bytes, None), or (None, reason) for a file that cannot be read."""
  try:
    with open(path, "rb") as f:
      return f.read(), None
  except FileNotFoundError:
    return None, "no such file"
  except IsADirectoryError:
    return None, "is a directory, not an image file"
  except OSError as error:
    return None, f"cannot read it ({error.strerror or error})"


def _top_k(probabilities: np.ndarray, class_names: Sequence[str],
           k: int) -> List[ClassScore]:
  # A stable sort keeps ties in class-index order, so output is repeatable.
  order = np.argsort(-probabilities, kind="stable")[:k]
  return [ClassScore(rank + 1, int(i), class_names[i], float(probabilities[i]))
          for rank, i in enumerate(order)]


class LiteClassifier:
  """A `.tflite` model of the pipeline (pipeline/components/litert/) and
  its class names, from `labels.txt` beside it."""

  def __init__(self, path: str):
    labels = os.path.join(os.path.dirname(path), LABELS_FILE)
    if not os.path.isfile(labels):
      raise ValueError(f"no {LABELS_FILE} beside {path}: a device model's "
                       "class names travel in that file")
    with open(path, "rb") as model_file, native_output.to_log(
        "The LiteRT interpreter"):
      # Its XNNPACK notice, printed once at the first call, is no line of
      # ours (stderr has the error lines): one call on a blank image here.
      self.model = litert_interpreter.LiteModel(model_file.read())
      size = self.model.input_size
      self.model.predict(np.zeros((1, size, size, 3), np.uint8))
    with open(labels, encoding="utf-8") as labels_file:
      self.class_names = [line.rstrip("\n") for line in labels_file]
    # A graph, as in the served model: run eagerly, decode_and_resize's
    # map_fn logs "Object was never used" errors when collected.
    self._pixels = tf.function(lambda images: tf.cast(
        preprocessing.decode_and_resize(images, self.model.input_size),
        tf.uint8), input_signature=[tf.TensorSpec([None], tf.string)])

  def probabilities(self, images: Sequence[bytes]) -> np.ndarray:
    """Encoded images -> probabilities; tf.errors.OpError for one that is
    not an image."""
    return self.model.predict(self._pixels(tf.constant(list(images))).numpy())


def load_model(path: str):
  """A `.tflite` file as a LiteClassifier; else a served SavedModel."""
  if path.endswith(LITE_SUFFIX):
    if not os.path.isfile(path):
      raise ValueError(f"no such model file: {path}")
    return LiteClassifier(path)
  return inference_lib.load_serving_model(
      path, [inference_lib.SERVING_DEFAULT,
             inference_lib.SERVING_IMAGE_BYTES])


def predict_files(model, paths: Sequence[str], top_k: int = 5,
                  batch_size: int = 32,
                  timeout: float = DEFAULT_TIMEOUT_SECONDS,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> List[FilePrediction]:
  """Top-k classes of each file or URL, in the order given.

  Args:
    model: `load_model`'s: a loaded served model or a LiteClassifier.
    paths: image files or http(s) URLs (JPEG or PNG, any size).
    top_k: classes to keep per image (at most the number of classes).
    batch_size: images per model call.
    timeout: seconds a URL may take to answer and to send each part.
    max_bytes: the largest image a URL may send.

  Returns:
    One FilePrediction per path; failed ones carry `error` instead.
  """
  if isinstance(model, LiteClassifier):
    class_names, predict = model.class_names, model.probabilities
  else:
    class_names = inference_lib.read_class_names(model)
    signature = model.signatures[inference_lib.SERVING_IMAGE_BYTES]

    def predict(images):
      return signature(image_bytes=tf.constant(list(images)))[
          features.PROBABILITIES_KEY].numpy()
  top_k = min(top_k, len(class_names))
  results = [FilePrediction(path) for path in paths]
  readable = []
  for result in results:
    data, error = _read_source(result.path, timeout, max_bytes)
    if error:
      result.error = error
    else:
      readable.append((result, data))

  def run(batch) -> None:
    probabilities = predict([data for _, data in batch])
    for (result, _), row in zip(batch, probabilities):
      result.top = _top_k(row, class_names, top_k)

  for start in range(0, len(readable), batch_size):
    batch = readable[start:start + batch_size]
    try:
      run(batch)
    except tf.errors.OpError:
      # One file that is not an image fails its whole batch; retry one by
      # one so that only that file fails.
      for item in batch:
        try:
          run([item])
        except tf.errors.OpError as error:
          item[0].error = ("not a readable image: "
                           f"{inference_lib.short_error(error)}")
  return results


def format_table(results: Sequence[FilePrediction]) -> str:
  """Human-readable top-k per file (failed files are left to stderr)."""
  blocks = []
  for result in results:
    if result.error is not None:
      continue
    width = max(len(score.class_name) for score in result.top)
    lines = [result.path]
    for score in result.top:
      lines.append(f"  {score.rank:>2}. {score.class_name:<{width}}  "
                   f"{score.probability:.4f}  (class {score.class_index})")
    blocks.append("\n".join(lines))
  return "\n".join(blocks)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Print the top-k classes of image files or http(s) URLs "
      "(JPEG or PNG, any size) from a served SavedModel's "
      "serving_image_bytes signature or a .tflite device model.",
      epilog="Exit status: 0 every file predicted; 1 some files failed "
      "(each named on stderr); 2 nothing could run.")
  parser.add_argument("images", nargs="+", metavar="IMAGE",
                      help="image files or http(s) URLs to classify")
  parser.add_argument("--model", required=True,
                      help="served SavedModel folder, e.g. "
                      "output/serving/<version> (or an ensemble from "
                      "tools/ensemble.py), or a .tflite device model, e.g. "
                      "output/serving_lite/<version>/model_int8.tflite "
                      "(labels.txt beside it)")
  parser.add_argument("--timeout", type=float,
                      default=DEFAULT_TIMEOUT_SECONDS,
                      help="seconds a URL may take to connect and to send "
                      "each part (default: %(default)s)")
  parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                      help="largest image a URL may send, in bytes "
                      "(default: %(default)s)")
  parser.add_argument("--top-k", type=int, default=5,
                      help="classes to print per image, most probable first "
                      "(default: %(default)s)")
  parser.add_argument("--format", default="table", choices=FORMATS,
                      help="table: one block per image; json: a list with "
                      "one object per image (failed ones carry 'error') "
                      "(default: %(default)s)")
  parser.add_argument("--batch-size", type=int, default=32,
                      help="images per model call (default: %(default)s)")
  args = parser.parse_args(argv)
  if args.top_k < 1:
    parser.error("--top-k must be >= 1")
  if args.batch_size < 1:
    parser.error("--batch-size must be >= 1")
  if args.timeout <= 0:
    parser.error("--timeout must be positive")
  if args.max_bytes < 1:
    parser.error("--max-bytes must be >= 1")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    model = load_model(args.model)
    results = predict_files(model, args.images, args.top_k, args.batch_size,
                            args.timeout, args.max_bytes)
  except (ValueError, OSError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  failed = [result for result in results if result.error is not None]
  for result in failed:
    print(f"error: {result.path}: {result.error}", file=sys.stderr)
  if args.format == "json":
    print(json.dumps([result.to_dict() for result in results], indent=2))
  else:
    table = format_table(results)
    if table:
      print(table)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
