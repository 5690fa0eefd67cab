"""What one decode at 1/8 scale tells of an encoded image, on every core.

The image scan (pipeline/components/image_validator/image_scan.py) and the
data profile (modules/data_profile.py) each decode every training image at
1/8 scale (a JPEG's DCT-scaled decode: each pixel is an 8x8 block's mean,
and every entropy-coded block is still read, so a corrupt JPEG fails). This
module does that decode once per image and returns what both need: the
format, the size from the header, the decode error if any, and the mean
R, G, B.

Why processes: PIL holds the GIL for most of a decode, so threads gain
nothing on two cores (1.0-1.2x, measured); the decodes go to one worker
process per core, `python -m modules.image_facts`, which imports this
module and PIL only: not TensorFlow, and not the caller's `__main__`,
which multiprocessing's `spawn` and `forkserver` would import again in
every worker (local_runner.py's imports, seconds each). Chunks of images go
to the workers in turn over their stdin and the facts come back, pickled,
over their stdout; at most `WINDOW` chunks per worker are in flight, so
memory stays flat whatever the split's size. The caller reads and parses
the records meanwhile. One core (or `processes=1`) decodes inline.
"""

import collections
import dataclasses
import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
from typing import Deque, Iterable, Iterator, List, Optional, Tuple

from PIL import Image, ImageStat


def image_digest(encoded: bytes) -> str:
  """The hash by which two records hold the same image (identical bytes):
  the data check's test ids and the validator's leakage check compare it."""
  return hashlib.sha256(encoded).hexdigest()


# Images per task sent to a worker, and tasks in flight per worker.
CHUNK = 32
WINDOW = 4


@dataclasses.dataclass(frozen=True)
class ImageFacts:
  """One encoded image, as PIL reads it.

  Attributes:
    format: PIL's format name ("JPEG", "PNG", "WEBP"...); None if PIL does
      not recognise the bytes.
    size: (width, height) from the header; None if it does not open.
    error: why it does not open or decode; None if it decodes.
    means: mean (R, G, B) of the decoded image (at 1/8 scale for JPEG);
      None if it does not decode.
  """
  format: Optional[str]
  size: Optional[Tuple[int, int]]
  error: Optional[str]
  means: Optional[Tuple[float, float, float]]


def _why(error: Exception) -> str:
  """PIL's reason, without the address of the buffer it read."""
  reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "",
                  str(error))
  return f"image does not decode ({reason})"


def measure(encoded: bytes) -> ImageFacts:
  """The facts of one encoded image (JPEG at 1/8 scale, others whole)."""
  try:
    image = Image.open(io.BytesIO(encoded))
  except Exception as error:  # pylint: disable=broad-except
    return ImageFacts(None, None, _why(error), None)
  size = image.size
  try:
    image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
    means = ImageStat.Stat(image.convert("RGB")).mean
  except Exception as error:  # pylint: disable=broad-except
    return ImageFacts(image.format, size, _why(error), None)
  return ImageFacts(image.format, size, None,
                    (float(means[0]), float(means[1]), float(means[2])))


def default_processes() -> int:
  """The cores this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # Not Linux.
    return os.cpu_count() or 1


def _start_worker() -> subprocess.Popen:
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ,
             PYTHONPATH=os.pathsep.join(
                 [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  return subprocess.Popen([sys.executable, "-m", __name__],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          env=env, cwd=root)


def measure_all(images: Iterable[bytes],
                processes: Optional[int] = None) -> Iterator[ImageFacts]:
  """The facts of each image, in order, decoded by `processes` workers
  (default: one per core).

  Raises:
    RuntimeError: a worker stopped (its error is on stderr).
  """
  processes = default_processes() if processes is None else processes
  if processes <= 1:
    for encoded in images:
      yield measure(encoded)
    return
  workers = [_start_worker() for _ in range(processes)]
  # (worker, chunk) in the order sent; results come back in that order.
  pending: Deque[subprocess.Popen] = collections.deque()
  sent = 0

  def send(chunk: List[bytes]) -> None:
    nonlocal sent
    worker = workers[sent % len(workers)]
    pickle.dump(chunk, worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
    worker.stdin.flush()
    pending.append(worker)
    sent += 1

  def receive() -> List[ImageFacts]:
    worker = pending.popleft()
    try:
      return [ImageFacts(*facts) for facts in pickle.load(worker.stdout)]
    except EOFError:
      raise RuntimeError(f"image decode worker {worker.pid} stopped with "
                         f"code {worker.wait()}") from None

  try:
    chunk: List[bytes] = []
    for encoded in images:
      chunk.append(encoded)
      if len(chunk) == CHUNK:
        send(chunk)
        chunk = []
        if len(pending) >= processes * WINDOW:
          yield from receive()
    if chunk:
      send(chunk)
    while pending:
      yield from receive()
  finally:
    for worker in workers:
      worker.stdin.close()
    for worker in workers:
      if worker.wait(timeout=60) != 0:
        raise RuntimeError(f"image decode worker {worker.pid} stopped with "
                           f"code {worker.returncode}")


def _worker() -> None:
  """A worker's loop: a pickled chunk of images in, their facts out."""
  while True:
    try:
      chunk = pickle.load(sys.stdin.buffer)
    except EOFError:
      return
    pickle.dump([dataclasses.astuple(measure(e)) for e in chunk],
                sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
  _worker()
