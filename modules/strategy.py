"""Where the Trainer computes: distribution strategy, precision, determinism.

`resolve_strategy` picks a TPU, else MirroredStrategy over 2+ GPUs, else the
default strategy; `precision_policy` the matching Keras dtype policy.
"""

import importlib.util
import os
from typing import Optional

from absl import logging
import keras
import tensorflow as tf
# For `_disconnect_from_cluster`: TF has no public way to undo
# `tf.config.experimental_connect_to_cluster`.
from tensorflow.python.eager import context as eager_context

# What a TPU that is not there, busy or broken raises on the way up: the
# resolver (ValueError: no TPU name; OSError: no metadata server), the
# connection and initialize_tpu_system (TF's OpErrors: NotFound,
# Unavailable, DeadlineExceeded...; RuntimeError). Anything else is a bug
# and is raised.
TPU_START_UP_ERRORS = (tf.errors.OpError, ValueError, RuntimeError, OSError)


def _has_tpu_runtime() -> bool:
  """Whether libtpu (the TPU VM runtime) is installed."""
  return importlib.util.find_spec("libtpu") is not None


def _on_tpu_vm() -> bool:
  """True on a TPU VM, where the TPU chips are local devices.

  `/dev/accel*` are TPU chips. `/dev/vfio/0` is one on some TPU VMs, but
  any host with a device passed through VFIO (GPU passthrough) has it too,
  so it counts only beside the TPU runtime.
  """
  return os.path.exists("/dev/accel0") or (
      os.path.exists("/dev/vfio/0") and _has_tpu_runtime())


def _tpu_requested(tpu_address: Optional[str]) -> bool:
  """True when a TPU is configured or this looks like a TPU host."""
  return bool(tpu_address or os.environ.get("TPU_NAME") or
              os.environ.get("COLAB_TPU_ADDR") or _on_tpu_vm())


def _disconnect_from_cluster() -> None:
  """Undoes `experimental_connect_to_cluster` after a failed TPU start.

  Connecting sets the eager context's server def and enters the TPU host's
  device scope for good (tensorflow/python/eager/remote.py), so ops would
  still be placed on the remote host. TF offers no call to clear a server
  def; a new eager context (what TF's own tests use between cases) has
  none, and no device scope. Nothing else lives in the context yet at this
  point (the strategy is resolved before any model is built) but the
  global seed, which is set again.
  """
  seed = eager_context.global_seed()
  eager_context._reset_context()  # pylint: disable=protected-access
  if seed is not None:
    tf.random.set_seed(seed)


def _start_tpu(address: Optional[str]) -> tf.distribute.Strategy:
  """TPUStrategy on the TPU at `address`; on failure, the eager context is
  left as it was (no remote host) and the error raised."""
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
  tf.config.experimental_connect_to_cluster(resolver)
  try:
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  except TPU_START_UP_ERRORS:
    _disconnect_from_cluster()
    raise


def resolve_strategy(tpu_address: Optional[str] = None,
                     list_gpus=lambda: tf.config.list_logical_devices("GPU")
                     ) -> tf.distribute.Strategy:
  """TPU if there is one, else MirroredStrategy over 2+ GPUs, else default.

  Args:
    tpu_address: TPU name or grpc address (`train.tpu_address`, --tpu);
      None to detect one. A TPU asked for by name or address that does not
      start stops the run with the cause; a detected one (TPU_NAME,
      COLAB_TPU_ADDR, a TPU VM) falls back to GPUs, then the CPU, with a
      warning.
    list_gpus: returns the visible GPUs (a parameter so tests can check the
      selection without hardware).

  Returns:
    The strategy; it is logged with its number of replicas.

  Raises:
    RuntimeError: if the TPU at `tpu_address` did not start.
  """
  strategy = None
  if _tpu_requested(tpu_address):
    # On a TPU VM with no name given, the resolver needs "local".
    address = tpu_address or ("local" if _on_tpu_vm() and not
                              os.environ.get("TPU_NAME") else None)
    try:
      strategy = _start_tpu(address)
    except TPU_START_UP_ERRORS as error:
      if tpu_address:
        raise RuntimeError(
            f"the TPU {tpu_address!r} (train.tpu_address) did not start: "
            f"{type(error).__name__}: {error}") from error
      # A detected TPU that does not start (a busy or broken driver, a
      # metadata server that does not answer) must not stop training.
      logging.warning("TPU start-up failed (%s: %s); falling back to GPUs, "
                      "then CPU.", type(error).__name__, error)
  if strategy is None:
    gpus = list_gpus()
    if len(gpus) > 1:
      try:
        strategy = tf.distribute.MirroredStrategy()
      except (tf.errors.OpError, ValueError, RuntimeError) as error:
        logging.warning("MirroredStrategy over %d GPUs failed (%s: %s); "
                        "training on one device.", len(gpus),
                        type(error).__name__, error)
    if strategy is None:
      strategy = tf.distribute.get_strategy()
  logging.info("Distribution strategy: %s with %d replica(s).",
               type(strategy).__name__, strategy.num_replicas_in_sync)
  return strategy


def make_deterministic(seed: int) -> None:
  """Same seed, data and hardware: the same model, to the bit (slower).

  Seeds Python's, NumPy's, TensorFlow's and Keras's generators and turns
  on TF op determinism, which also makes tf.data run map functions with
  stateful ops (KerasCV's random layers) one batch at a time. It stays on
  for the rest of the process: TF has no public way to turn it off.
  """
  keras.utils.set_random_seed(seed)
  tf.config.experimental.enable_op_determinism()
  logging.info("Deterministic training: op determinism on, seed %d.", seed)


def precision_policy(strategy: tf.distribute.Strategy, requested: str,
                     list_gpus=lambda: tf.config.list_logical_devices("GPU")
                     ) -> str:
  """The Keras dtype policy: bfloat16 on TPU, float16 on GPU, else float32.

  Args:
    strategy: the resolved strategy.
    requested: `TrainConfig.mixed_precision`; anything but "auto" wins.
    list_gpus: returns the visible GPUs (a parameter for tests).
  """
  if requested != "auto":
    return requested
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return "mixed_bfloat16"
  if list_gpus():
    return "mixed_float16"
  return "float32"
