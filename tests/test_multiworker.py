"""Training across worker processes: real workers, real gRPC collectives.

The slow tests start the real `run_fn` (through tools/train_worker.py) in
two processes with `TF_CONFIG` naming two workers on 127.0.0.1 ports, on
the session pipeline run's ExampleGen and Transform outputs, and compare
with one process training on the same global batch. The fast tests check
how `TF_CONFIG` is read, against TensorFlow's own rule for the chief.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
from tensorflow.python.distribute import multi_worker_util
from tensorflow.python.training import server_lib

from conftest import REPO_ROOT
from modules import model as model_lib
from modules import strategy as strategy_lib
from modules import warm_start
from pipeline.runner import overrides
from settings import config as config_lib
from settings import features

WORKER = os.path.join(REPO_ROOT, "tools", "train_worker.py")
# Weights of two workers against one process on the same global batch:
# the same sums in another order (float32).
WEIGHT_TOLERANCE = 1e-6
# A killed worker must stop the other within this (TensorFlow's health
# check: 5 s interval, 3 x 5 s retries; a broken connection is at once).
FAILURE_BOUND_SECONDS = 90


# ---------------------------------------------------------------------------
# Fast: reading TF_CONFIG.

def _tf_config(cluster, task_type, index):
  return {strategy_lib.TF_CONFIG_ENV: json.dumps(
      {"cluster": cluster, "task": {"type": task_type, "index": index}})}


@pytest.mark.parametrize("cluster", [
    {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
    {"worker": ["a:1", "b:1", "c:1"]},
    {"chief": ["a:1"], "worker": ["b:1"], "ps": ["p:1"]},
])
def test_the_chief_is_tensorflows_chief(cluster):
  spec = server_lib.ClusterSpec(cluster)
  for task_type in ("chief", "worker"):
    for index in range(len(cluster.get(task_type, []))):
      task = strategy_lib.cluster_task(_tf_config(cluster, task_type, index))
      assert task.is_chief == multi_worker_util.is_chief(
          spec, task_type, index), (task_type, index)
      assert len(task.workers) == sum(len(cluster.get(t, []))
                                      for t in ("chief", "worker"))


def test_one_worker_or_no_tf_config_is_not_a_cluster():
  assert strategy_lib.cluster_task({}) is None
  assert strategy_lib.cluster_task(
      _tf_config({"worker": ["a:1"]}, "worker", 0)) is None


def test_a_broken_tf_config_is_named():
  with pytest.raises(ValueError, match="TF_CONFIG is not a JSON object"):
    strategy_lib.cluster_task({strategy_lib.TF_CONFIG_ENV: "{cluster:"})
  with pytest.raises(ValueError, match="task 'worker' 5 is not one of"):
    strategy_lib.cluster_task(
        _tf_config({"worker": ["a:1", "b:1"]}, "worker", 5))


# ---------------------------------------------------------------------------
# Slow: two worker processes.

def _newest(output_dir, component, name):
  return sorted(glob.glob(os.path.join(output_dir, "pipeline_root", component,
                                       name, "*")),
                key=lambda path: int(os.path.basename(path)))[-1]


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


# Every source of randomness that differs between one and two processes
# off: no dropout or augmentation, and the backbone frozen, since batch
# normalization's statistics are per replica (as on TPUs and GPUs) and
# would see half the batch. Each worker's batch is 8.
SETTINGS = ("model.dropout=0", "model.fine_tune=false", "augment.flip=false",
            "train.lr_schedule=constant", "train.worker_timeout_seconds=60",
            "train.per_replica_batch_size=8", "train.learning_rate=0.003")
# One process, one replica: the same global batch, and the learning rate
# the two replicas get (the base rate scales with replicas).
SINGLE_SETTINGS = ("train.per_replica_batch_size=16",
                   "train.learning_rate=0.006")


def _flags(settings):
  return [arg for setting in settings for arg in ("--set", setting)]


def _start(pipeline_run, tmp_path, name, flags, tf_config=None,
           output_dir=None):
  """Starts one worker process; returns (process, output dir, log path).

  The workers of one job share `output_dir`, as they do on Vertex AI (the
  Model artifact's URI) and in a TFJob (the same flags)."""
  output_dir = output_dir or str(tmp_path / name)
  scratch = tmp_path / f"{name}-tmp"
  scratch.mkdir()
  env = dict(os.environ, PYTHONPATH=REPO_ROOT, TMPDIR=str(scratch))
  env.pop(strategy_lib.TF_CONFIG_ENV, None)
  if tf_config:
    env[strategy_lib.TF_CONFIG_ENV] = json.dumps(tf_config)
  log = tmp_path / f"{name}.log"
  process = subprocess.Popen(  # pylint: disable=consider-using-with
      [sys.executable, WORKER,
       "--examples", _one_file_examples(
           _newest(pipeline_run["output_dir"], "ImportExampleGen",
                   "examples"), tmp_path),
       "--transform", _newest(pipeline_run["output_dir"], "Transform",
                              "transform_graph"),
       "--output", output_dir, "--log-file", str(tmp_path / f"{name}.full.log"),
       *flags],
      env=env, cwd=REPO_ROOT,
      stdout=open(log, "w", encoding="utf-8"),  # pylint: disable=consider-using-with
      stderr=subprocess.STDOUT)
  return process, output_dir, log


def _one_file_examples(examples_dir, tmp_path):
  """A copy of the Examples with each split in one file, so that two
  workers split each batch (DATA sharding) and read what one process
  reads, in its order; with a file each they would read different records
  (FILE sharding, modules/dataset.py). ExampleGen copies the input's
  uncompressed files, and uncompressed TFRecord files concatenate."""
  target = tmp_path / "examples-one-file"
  if target.exists():
    return str(target)
  shutil.copytree(examples_dir, target)
  for split in target.glob("Split-*"):
    files = sorted(split.iterdir())
    assert all(not f.name.endswith(".gz") for f in files), files
    merged = b"".join(f.read_bytes() for f in files)
    for f in files:
      f.unlink()
    (split / "data_tfrecord-00000-of-00001.tfrecord").write_bytes(merged)
  return str(target)


def _start_two_workers(pipeline_run, tmp_path, flags):
  cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
  return [_start(pipeline_run, tmp_path, f"worker{index}", flags,
                 {"cluster": cluster, "task": {"type": "worker",
                                               "index": index}},
                 output_dir=str(tmp_path / "job"))
          for index in range(2)]


def _weights(output_dir, model_dir="model"):
  path = warm_start.weights_path(os.path.join(output_dir, model_dir))
  arrays = {}
  with h5py.File(path, "r") as f:
    f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                 if isinstance(item, h5py.Dataset) else None)
  return arrays


def _wait(process, log, timeout=600):
  code = process.wait(timeout=timeout)
  return code, log.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.multiworker
def test_two_workers_train_as_one_process_with_the_global_batch(
    pipeline_run, tmp_path):
  flags = ["--epochs", "1", *_flags(SETTINGS)]
  workers = _start_two_workers(pipeline_run, tmp_path, flags)
  single = _start(pipeline_run, tmp_path, "single",
                  flags + _flags(SINGLE_SETTINGS))
  results = [_wait(process, log) for process, _, log in workers + [single]]
  for (code, text), name in zip(results, ("worker 0", "worker 1", "single")):
    assert code == 0, f"{name} exited {code}:\n{text[-5000:]}"

  (_, chief_dir, _), _ = workers
  # The chief wrote the model; the other worker trained, saved into its
  # temporary folder, removed it, and waited for the chief's model.
  serving = os.path.join(chief_dir, "model", "Format-Serving")
  assert os.path.isfile(os.path.join(serving, "saved_model.pb"))
  assert os.listdir(tmp_path / "worker1-tmp") == []
  other_log = results[1][1]
  assert "worker 1 done; the chief writes the model" in other_log
  assert "worker 1 found the chief's model at" in other_log
  assert "worker 0 done" not in results[0][1]
  with open(os.path.join(chief_dir, "model_run",
                         features.TRAINING_HISTORY_FILE)) as f:
    history = json.load(f)
  assert history["workers"] == 2 and history["replicas_per_worker"] == 1
  assert history["replicas"] == 2
  assert history["global_batch_size"] == 16
  assert "Input sharded across 2 workers" in results[0][1]

  chief, alone = _weights(chief_dir), _weights(single[1])
  assert chief.keys() == alone.keys()
  trained = [name for name in chief if "dense" in name]
  assert trained, sorted(chief)
  for name in chief:
    np.testing.assert_allclose(chief[name], alone[name],
                               atol=WEIGHT_TOLERANCE, err_msg=name)
  # And training moved the head: equality is not two untouched models.
  settings = config_lib.TrainerSettings.from_custom_config(
      overrides.apply_overrides(config_lib.PipelineConfig(),
          list(SETTINGS)).trainer_settings())
  keras.utils.set_random_seed(settings.train.seed)  # As run_fn does.
  warm_start.save_weights(model_lib.build_model(settings), settings,
                          str(tmp_path / "initial" / "Format-Serving"))
  initial = _weights(str(tmp_path / "initial"), "")
  moved = max(np.abs(chief[name] - initial[name]).max() for name in trained)
  assert moved > 100 * WEIGHT_TOLERANCE, moved


@pytest.mark.slow
@pytest.mark.multiworker
def test_a_worker_killed_mid_training_stops_the_other_naming_it(
    pipeline_run, tmp_path):
  (survivor, _, survivor_log), (victim, _, _) = _start_two_workers(
      pipeline_run, tmp_path, ["--epochs", "50", *_flags(SETTINGS)])
  try:
    deadline = time.monotonic() + 300
    while "epoch 1:" not in survivor_log.read_text(encoding="utf-8"):
      assert survivor.poll() is None, survivor_log.read_text()[-5000:]
      assert time.monotonic() < deadline, "training never started"
      time.sleep(0.5)
    victim.kill()
    killed = time.monotonic()
    code, text = _wait(survivor, survivor_log,
                       timeout=FAILURE_BOUND_SECONDS)
    waited = time.monotonic() - killed
  finally:
    for process in (survivor, victim):
      if process.poll() is None:
        process.kill()
  assert code != 0
  assert waited < FAILURE_BOUND_SECONDS
  line = [l for l in text.splitlines()
          if l.startswith("error: multi-worker training stopped")]
  assert line, text[-5000:]
  assert "worker 1 (127.0.0.1:" in line[-1] and "stopped answering" in line[-1]
