"""Where the Trainer computes: distribution strategy, precision, determinism.

`resolve_strategy` picks MultiWorkerMirroredStrategy when `TF_CONFIG` names
more than one worker (Vertex AI's multi-replica jobs and Kubeflow's TFJob
set it), else a TPU, else MirroredStrategy over 2+ GPUs, else the default
strategy; `precision_policy` the matching Keras dtype policy.
"""

import dataclasses
import importlib.util
import json
import os
import re
import time
from typing import Dict, List, Mapping, Optional

from absl import logging
import keras
import tensorflow as tf
# For `_multi_worker_strategy`: the bounded waits are class attributes.
from tensorflow.python.distribute import collective_all_reduce_strategy as car  # pylint: disable=g-direct-tensorflow-import
# For `_disconnect_from_cluster`: TF has no public way to undo
# `tf.config.experimental_connect_to_cluster`.
from tensorflow.python.eager import context as eager_context

from settings import sections

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


TF_CONFIG_ENV = "TF_CONFIG"
# The task types that train (a "ps" or "evaluator" task does not).
_TRAINING_TASK_TYPES = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class ClusterTask:
  """This process's place in a multi-worker cluster, from `TF_CONFIG`.

  Attributes:
    task_type: "chief" or "worker".
    task_id: index within its type.
    workers: the training tasks in order (chief first), as
      "chief 0", "worker 0", ...; one per process.
    addresses: each of those tasks' host:port.
  """
  task_type: str
  task_id: int
  workers: List[str]
  addresses: Dict[str, str]

  @property
  def name(self) -> str:
    return f"{self.task_type} {self.task_id}"

  @property
  def chief(self) -> str:
    """The task that writes the outputs: "chief 0", or "worker 0" in a
    cluster without a chief (TensorFlow's rule)."""
    return "chief 0" if "chief 0" in self.workers else "worker 0"

  @property
  def is_chief(self) -> bool:
    return self.name == self.chief

  def describe(self, job: str, task_id: int) -> str:
    """"worker 1 (10.0.0.3:2222)" for a TensorFlow job name and index."""
    name = f"{job} {task_id}"
    address = self.addresses.get(name)
    return f"{name} ({address})" if address else name


def cluster_task(environ: Mapping[str, str] = os.environ
                 ) -> Optional[ClusterTask]:
  """This process's task when `TF_CONFIG` names 2+ training tasks, else None.

  Raises:
    ValueError: if `TF_CONFIG` is set but is not a cluster TensorFlow can
      use; the message names the variable and what is wrong.
  """
  text = environ.get(TF_CONFIG_ENV, "").strip()
  if not text:
    return None
  try:
    tf_config = json.loads(text)
    cluster = tf_config.get("cluster") or {}
    task = tf_config.get("task") or {}
  except (ValueError, AttributeError) as error:
    raise ValueError(f"{TF_CONFIG_ENV} is not a JSON object with 'cluster' "
                     f"and 'task': {error}") from None
  addresses = {}
  for task_type in _TRAINING_TASK_TYPES:
    for index, address in enumerate(cluster.get(task_type) or []):
      addresses[f"{task_type} {index}"] = address
  if len(addresses) < 2:
    return None
  task_type, task_id = task.get("type"), task.get("index", 0)
  if f"{task_type} {task_id}" not in addresses:
    raise ValueError(
        f"{TF_CONFIG_ENV}'s task {task_type!r} {task_id!r} is not one of its "
        f"cluster's training tasks ({', '.join(addresses)})")
  return ClusterTask(task_type, int(task_id), list(addresses), addresses)


_PEER = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")


def name_failed_worker(error: Exception, task: ClusterTask) -> str:
  """A one-line cause for a collective that failed: the peer it names.

  TensorFlow's cluster health check aborts collectives with "cluster check
  alive failed, /job:worker/replica:0/task:1 is down"; other failures name
  the peer the same way, or no peer at all.
  """
  message = getattr(error, "message", None) or str(error)
  peers = [task.describe(job, int(index))
           for job, index in _PEER.findall(message)
           if f"{job} {index}" != task.name]
  # "Collective ops is aborted by: Socket closed" (a peer's connection
  # broke) or the health check's "... is down"; TensorFlow's other lines
  # say where, not what.
  cause = next((line.strip() for line in message.splitlines()
                if "aborted by" in line or " is down" in line),
               type(error).__name__)
  if peers:
    return f"{', '.join(dict.fromkeys(peers))} stopped answering ({cause})"
  return f"a collective with the other workers failed ({cause})"


def wait_for_chief_export(serving_model_dir: str, task: ClusterTask,
                          timeout_seconds: int, poll_seconds: float = 1.0
                          ) -> None:
  """A non-chief worker's last step: wait until the chief's model exists.

  TFX's Trainer executor fails any process whose `run_fn` returns before
  `serving_model_dir` exists ("run_fn failed to generate model"), and on
  Vertex AI every replica runs that executor; the workers finish training
  together (the collectives keep them in step), so the chief's export
  follows within seconds.

  Raises:
    RuntimeError: naming the chief, if its model is not there in time.
  """
  marker = os.path.join(serving_model_dir, "saved_model.pb")
  deadline = time.monotonic() + timeout_seconds
  while not tf.io.gfile.exists(marker):
    if time.monotonic() > deadline:
      raise RuntimeError(
          f"{task.name}: the chief ({task.describe(*task.chief.split(' '))}) "
          f"wrote no model to {serving_model_dir} within {timeout_seconds} "
          "s of the end of training")
    time.sleep(poll_seconds)
  logging.info("Multi-worker training: %s found the chief's model at %s.",
               task.name, serving_model_dir)


def _multi_worker_strategy(task: ClusterTask, timeout_seconds: int
                           ) -> tf.distribute.Strategy:
  """MultiWorkerMirroredStrategy whose every wait is bounded.

  TensorFlow waits for the cluster at start-up with no timeout, and its
  health check (which aborts the collectives when a peer is down) only
  starts after that wait; its class attributes are the only settings for
  either, so they are set here: the start-up wait and each collective are
  bounded by `timeout_seconds`, and a dead peer is noticed within about
  `interval + retries x check timeout` seconds.
  """
  # pylint: disable=protected-access
  extended = car.CollectiveAllReduceExtended
  extended._check_health_initial_timeout = timeout_seconds
  extended._check_health_interval = 5
  extended._check_health_timeout = 5
  extended._check_health_retry_limit = 3
  # pylint: enable=protected-access
  options = tf.distribute.experimental.CommunicationOptions(
      timeout_seconds=timeout_seconds)
  try:
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=options)
  except RuntimeError as error:
    if "Timeout waiting for the cluster" not in str(error):
      raise
    others = [task.describe(*w.split(" ")) for w in task.workers
              if w != task.name]
    raise RuntimeError(
        f"{task.name}: not every worker joined within {timeout_seconds} s "
        f"(train.worker_timeout_seconds); waited for {', '.join(others)}"
        ) from error
  logging.info("Multi-worker training: this is %s of %d workers (%s).",
               task.name, len(task.workers), ", ".join(
                   f"{w} {task.addresses[w]}" for w in task.workers))
  return strategy


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
                     list_gpus=lambda: tf.config.list_logical_devices("GPU"),
                     worker_timeout_seconds: int = (
                         sections.TrainConfig.worker_timeout_seconds)
                     ) -> tf.distribute.Strategy:
  """Multi-worker from TF_CONFIG, else TPU, else 2+ GPUs, else default.

  Args:
    tpu_address: TPU name or grpc address (`train.tpu_address`, --tpu);
      None to detect one. A TPU asked for by name or address that does not
      start stops the run with the cause; a detected one (TPU_NAME,
      COLAB_TPU_ADDR, a TPU VM) falls back to GPUs, then the CPU, with a
      warning.
    list_gpus: returns the visible GPUs (a parameter so tests can check the
      selection without hardware).
    worker_timeout_seconds: with several workers, the longest wait for the
      cluster to start and for each collective.

  Returns:
    The strategy; it is logged with its number of replicas.

  Raises:
    RuntimeError: if the TPU at `tpu_address` did not start.
  """
  strategy = None
  task = cluster_task()
  if task is not None:
    strategy = _multi_worker_strategy(task, worker_timeout_seconds)
  elif _tpu_requested(tpu_address):
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


def determinism_on(setting: str, strategy: tf.distribute.Strategy,
                   list_gpus=lambda: tf.config.list_logical_devices("GPU")
                   ) -> bool:
  """Whether to train with op determinism (`train.deterministic`).

  "auto" turns it on where it is free and cannot fail: on a CPU, where
  TensorFlow's kernels are deterministic once their threads' order is
  fixed. On a GPU or TPU some kernels (scatter-adds in backprop, some
  cuDNN algorithms) have no deterministic form and op determinism would
  stop the run on them, so "auto" leaves it off there and the run says
  the model is not reproducible.
  """
  if setting != "auto":
    return setting == "on"
  return not (isinstance(strategy, tf.distribute.TPUStrategy) or list_gpus())


def make_deterministic(seed: int) -> None:
  """Same seed, data and hardware: the same model, to the bit (slower).

  Seeds Python's, NumPy's, TensorFlow's and Keras's generators and turns
  on TF op determinism, which also makes tf.data run map functions with
  stateful ops (KerasCV's random layers) one batch at a time. It stays on
  for the rest of the process: TF has no public way to turn it off.
  """
  keras.utils.set_random_seed(seed)
  tf.config.experimental.enable_op_determinism()
  # Under op determinism TF refuses `tf.random.get_global_generator()`
  # (which KerasCV's RandAugment and label mixing draw from) until a global
  # generator is set: a seeded one.
  tf.random.set_global_generator(tf.random.Generator.from_seed(seed))
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
