"""Top-k classes of image files, from a served model.

    python tools/predict.py flower.jpg other.png --model output/serving/1795822896
    python tools/predict.py *.jpg --model DIR --top-k 3 --format json

Sends the files' bytes, as they are, to the model's `serving_image_bytes`
signature, which decodes JPEG or PNG of any size and applies the pipeline's
own preprocessing, so nothing here resizes or normalises. A file that is
missing, unreadable or not an image gets an error line naming it (on stderr,
and in the JSON output) and the other files are still predicted.

Exit status: 0 when every file was predicted, 1 when some failed, 2 when
nothing could run (e.g. the model does not load).
"""

import argparse
import dataclasses
import json
import os
import sys
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline import runtime

runtime.configure()  # Before TensorFlow is imported.
import numpy as np
import tensorflow as tf

from settings import features
from pipeline.components import serving_model as inference_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

FORMATS = ("table", "json")


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


def predict_files(model, paths: Sequence[str], top_k: int = 5,
                  batch_size: int = 32) -> List[FilePrediction]:
  """Top-k classes of each file, in the order given.

  Args:
    model: a loaded served model (`inference_lib.load_serving_model`).
    paths: image files (JPEG or PNG, any size).
    top_k: classes to keep per file (at most the number of classes).
    batch_size: files per model call.

  Returns:
    One FilePrediction per path; failed files carry `error` instead.
  """
  class_names = inference_lib.read_class_names(model)
  top_k = min(top_k, len(class_names))
  signature = model.signatures[inference_lib.SERVING_IMAGE_BYTES]
  results = [FilePrediction(path) for path in paths]
  readable = []
  for result in results:
    data, error = _read_file(result.path)
    if error:
      result.error = error
    else:
      readable.append((result, data))

  def run(batch) -> None:
    outputs = signature(image_bytes=tf.constant([data for _, data in batch]))
    probabilities = outputs[features.PROBABILITIES_KEY].numpy()
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
      description="Print the top-k classes of image files (JPEG or PNG, any "
      "size) from a served model's serving_image_bytes signature.",
      epilog="Exit status: 0 every file predicted; 1 some files failed "
      "(each named on stderr); 2 nothing could run.")
  parser.add_argument("images", nargs="+", metavar="IMAGE",
                      help="image files to classify")
  parser.add_argument("--model", required=True,
                      help="served SavedModel folder, e.g. "
                      "output/serving/<version> (or an ensemble from "
                      "tools/ensemble.py)")
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
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    model = inference_lib.load_serving_model(
        args.model, [inference_lib.SERVING_DEFAULT,
                     inference_lib.SERVING_IMAGE_BYTES])
    results = predict_files(model, args.images, args.top_k, args.batch_size)
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
