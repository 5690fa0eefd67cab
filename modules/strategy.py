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


def resolve_strategy(tpu_address: Optional[str] = None,
                     list_gpus=lambda: tf.config.list_logical_devices("GPU")
                     ) -> tf.distribute.Strategy:
  """TPU if there is one, else MirroredStrategy over 2+ GPUs, else default.

  Args:
    tpu_address: TPU name or grpc address; None to detect.
    list_gpus: returns the visible GPUs (a parameter so tests can check the
      selection without hardware).

  Returns:
    The strategy; it is logged with its number of replicas.
  """
  strategy = None
  if _tpu_requested(tpu_address):
    try:
      # On a TPU VM with no name given, the resolver needs "local".
      address = tpu_address or ("local" if _on_tpu_vm() and not
                                os.environ.get("TPU_NAME") else None)
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
          tpu=address)
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
      strategy = tf.distribute.TPUStrategy(resolver)
    except Exception as error:  # pylint: disable=broad-except
      # Whatever stops the TPU (no such TPU, a busy or broken driver, a
      # metadata server that does not answer) must not stop training.
      logging.warning("TPU start-up failed (%s: %s); falling back to GPUs, "
                      "then CPU.", type(error).__name__, error)
  if strategy is None:
    gpus = list_gpus()
    if len(gpus) > 1:
      try:
        strategy = tf.distribute.MirroredStrategy()
      except Exception as error:  # pylint: disable=broad-except
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
