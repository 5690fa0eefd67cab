"""Process set-up shared by the entry points (runners, tools).

Call `configure()` before TensorFlow is imported:

* TF_USE_LEGACY_KERAS=1: TFT's transform layer (inside every served model)
  and KerasCV follow `tf.keras`, which must be Keras 2 here; our model code
  uses Keras 3 through `import keras`. TFT would set it on import anyway;
  setting it first makes the behaviour independent of import order.
* TensorFlow's C++ start-up messages and the libraries' deprecation
  warnings are silenced here and, through the environment, in Beam's worker
  processes (set TF_CPP_MIN_LOG_LEVEL or PYTHONWARNINGS to see them).
"""

import os
import warnings


def configure() -> None:
  """Sets the environment defaults and warning filters described above."""
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("PYTHONWARNINGS",
                        "ignore::FutureWarning,ignore::DeprecationWarning")
  warnings.filterwarnings("ignore", category=FutureWarning)
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  # Keras 3 says this at the end of every finite validation pass.
  warnings.filterwarnings("ignore", message="Your input ran out of data")
