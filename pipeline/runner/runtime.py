"""Process set-up shared by the entry points (runners, tools).

Call `configure()` before TensorFlow is imported:

* TF_USE_LEGACY_KERAS=1: TFT's transform layer (inside every served model)
  and KerasCV follow `tf.keras`, which must be Keras 2 here; our model code
  uses Keras 3 through `import keras`. TFT would set it on import anyway;
  setting it first makes the behaviour independent of import order.
* TF_CPP_MIN_LOG_LEVEL=2: TensorFlow's C++ INFO and WARNING lines (the CPU
  feature guard, "Could not find TensorRT", "Local rendezvous is aborting
  with status: OUT_OF_RANGE" at the end of each finite dataset) stay off
  the terminal; its C++ errors still show. TensorFlow reads the variable
  once, on import, and Beam's worker processes inherit it.
* The libraries' other known noise is silenced by `known_noise`.

A verbose run (`verbose=True`, or FLOWERS_VERBOSE=1) sets none of this but
TF_USE_LEGACY_KERAS, and marks the environment verbose for Beam's workers.
A variable the caller set is never replaced.
"""

import os

from pipeline.runner import console
from pipeline.runner import known_noise


def configure(verbose: bool = False) -> None:
  """Sets the environment defaults and noise filters described above."""
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  if verbose or console.is_verbose():
    os.environ[console.VERBOSE_ENV] = "1"
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  known_noise.silence_known_noise()
