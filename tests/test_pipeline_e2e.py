"""End to end: the real pipeline on tiny TFRecords, as `make run` runs it."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import E2E_EPOCHS
from conftest import TINY
from settings import config as config_lib
from settings import features

pytestmark = pytest.mark.slow


def _pushed_model_dir(output_dir):
  versions = sorted(glob.glob(os.path.join(output_dir, "serving", "*")))
  assert versions, "nothing was pushed"
  return versions[-1]


def _val_examples(data_root, n=3):
  pattern = os.path.join(data_root,
                         features.image_dir_name(TINY["image_size"]), "val",
                         "*.tfrec")
  return [raw.numpy() for raw in
          tf.data.TFRecordDataset(sorted(glob.glob(pattern))).take(n)]


def test_run_blesses_pushes_and_reports(pipeline_run):
  out = pipeline_run["stdout"]
  assert "=== Run summary ===" in out
  assert "verdict            BLESSED" in out
  pushed = _pushed_model_dir(pipeline_run["output_dir"])
  assert f"pushed model       {pushed}" in out
  assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
  for metric in ("macro_f1", "argmax_accuracy", "example_count"):
    assert metric in out
  count_line = [l for l in out.splitlines() if "example_count" in l][0]
  assert int(count_line.split()[-1]) == pipeline_run["counts"]["val"]
  # One process, one replica on this machine; the global batch is the
  # default per-replica batch.
  assert ("trained on         1 worker x 1 replica "
          "(_DefaultDistributionStrategy), global batch "
          f"{config_lib.TrainConfig().per_replica_batch_size}") in out


def test_a_local_run_never_imports_the_cloud_clients(pipeline_run):
  """The runner and the components import TFX's own modules, not `tfx.v1`
  with its cloud extensions: seconds of start-up no local run uses."""
  imported = {line.split("|")[-1].strip()
              for line in pipeline_run["stderr"].splitlines()
              if line.startswith("import time:")}
  assert {"tensorflow", "tfx.orchestration.local.local_dag_runner",
          "tensorflow_model_analysis"} <= imported  # The log is complete.
  cloud = sorted(name for name in imported
                 if name.startswith(("google.cloud.aiplatform", "tfx.v1")))
  assert not cloud, cloud


def test_pushed_model_predicts_a_val_example(pipeline_run):
  model = tf.saved_model.load(_pushed_model_dir(pipeline_run["output_dir"]))
  serialized = _val_examples(pipeline_run["data_root"])
  outputs = model.signatures["serving_default"](
      examples=tf.constant(serialized))
  probabilities = outputs[features.PROBABILITIES_KEY].numpy()
  assert probabilities.shape == (len(serialized), 104)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
  index = outputs[features.CLASS_INDEX_KEY].numpy()
  np.testing.assert_array_equal(index, probabilities.argmax(axis=1))
  names = [n.decode() for n in outputs[features.CLASS_NAME_KEY].numpy()]
  class_names = features.load_class_names()
  assert names == [class_names[i] for i in index]


def test_image_bytes_and_example_signatures_agree(pipeline_run):
  model = tf.saved_model.load(_pushed_model_dir(pipeline_run["output_dir"]))
  serialized = _val_examples(pipeline_run["data_root"])
  jpegs = [tf.train.Example.FromString(s).features.feature[
      features.IMAGE_KEY].bytes_list.value[0] for s in serialized]
  from_examples = model.signatures["serving_default"](
      examples=tf.constant(serialized))[features.PROBABILITIES_KEY]
  from_bytes = model.signatures["serving_image_bytes"](
      image_bytes=tf.constant(jpegs))[features.PROBABILITIES_KEY]
  np.testing.assert_allclose(from_bytes.numpy(), from_examples.numpy(),
                             atol=1e-6)


def test_device_model_is_pushed_beside_and_agrees_with_the_savedmodel(
    pipeline_run):
  """The run pushes a blessed .tflite beside the SavedModel, as its version.

  The float32 variant, loaded in the LiteRT interpreter and fed the sample's
  val split (pixels from the Transform graph's own decode function), scores
  within `lite.float_tolerance` of the SavedModel's macro F1
  (scikit-learn's) and gives the same top class on >= 98% of the images.
  The int8 variant's figures are measured and in the report.
  """
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  from sklearn import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  from modules import preprocessing  # pylint: disable=g-import-not-at-top
  out = pipeline_run["output_dir"]
  saved_dir = _pushed_model_dir(out)
  lite_dir = os.path.join(out, "serving_lite", os.path.basename(saved_dir))
  assert f"device models      {lite_dir} (float32" in pipeline_run["stdout"]
  record = json.load(open(os.path.join(lite_dir, "push_record.json")))
  with open(os.path.join(lite_dir, record["labels_file"])) as f:
    assert f.read().splitlines() == features.load_class_names()
  size = record["input"]["shape"][1]

  pattern = os.path.join(pipeline_run["data_root"],
                         features.image_dir_name(TINY["image_size"]), "val",
                         "*.tfrec")
  serialized = [raw.numpy() for raw in
                tf.data.TFRecordDataset(sorted(glob.glob(pattern)))]
  assert len(serialized) == pipeline_run["counts"]["val"]
  examples = [tf.train.Example.FromString(s).features.feature
              for s in serialized]
  labels = np.array([e[features.LABEL_KEY].int64_list.value[0]
                     for e in examples])
  jpegs = [e[features.IMAGE_KEY].bytes_list.value[0] for e in examples]
  saved = tf.saved_model.load(saved_dir).signatures["serving_default"]
  runner = litert.Interpreter(
      model_path=os.path.join(lite_dir, "model_float32.tflite"),
      num_threads=2).get_signature_runner("serving_default")
  decode = tf.function(lambda images: tf.cast(
      preprocessing.decode_and_resize(images, size), tf.uint8))
  saved_probabilities, lite_probabilities = [], []
  for start in range(0, len(serialized), 64):
    saved_probabilities.append(saved(examples=tf.constant(
        serialized[start:start + 64]))[features.PROBABILITIES_KEY].numpy())
    pixels = decode(tf.constant(jpegs[start:start + 64])).numpy()
    lite_probabilities.append(runner(pixels=pixels)["probabilities"])
  saved_predicted = np.concatenate(saved_probabilities).argmax(axis=1)
  lite_predicted = np.concatenate(lite_probabilities).argmax(axis=1)
  saved_f1 = sk_metrics.f1_score(labels, saved_predicted, average="macro")
  lite_f1 = sk_metrics.f1_score(labels, lite_predicted, average="macro")
  assert saved_f1 - lite_f1 <= config_lib.LiteConfig().float_tolerance
  assert np.mean(lite_predicted == saved_predicted) >= 0.98
  # The pipeline's own figures: the same F1 the test computed, and int8's.
  evaluation = json.load(open(os.path.join(
      _latest(out, "LiteRTExport", "lite_model"), "lite_evaluation.json")))
  assert evaluation["saved_model"]["macro_f1"] == pytest.approx(saved_f1,
                                                                abs=1e-6)
  int8 = [v for v in evaluation["variants"] if v["variant"] == "int8"][0]
  assert int8["size_bytes"] < 0.5 * record["variants"][0]["size_bytes"]
  assert int8["latency_ms"] > 0 and 0 <= int8["top1_agreement"] <= 1
  report = open(os.path.join(_latest(out, "Report", "report"),
                             "report.html")).read()
  assert "On-device models (LiteRT)" in report
  assert f"{int8['macro_f1']:.4f}" in report


def test_training_history_records_the_run(pipeline_run):
  paths = glob.glob(os.path.join(pipeline_run["output_dir"], "pipeline_root",
                                 "Trainer", "model_run", "*",
                                 "training_history.json"))
  assert len(paths) == 1
  history = json.load(open(paths[0]))
  assert len(history["epochs"]) == E2E_EPOCHS
  assert history["replicas"] == 1
  assert sum(history["class_counts"]) == pipeline_run["counts"]["train"]
  assert history["train_examples"] == pipeline_run["counts"]["train"]


def _latest(output_dir, *parts):
  paths = sorted(glob.glob(os.path.join(output_dir, "pipeline_root", *parts,
                                        "*")), key=lambda p: int(
                                            os.path.basename(p)))
  assert paths, f"no {parts} output"
  return paths[-1]


def test_tfxs_example_validator_reports_the_class_imbalance(pipeline_run):
  """The node ExampleValidator is TFX's own component (its execution type
  in ML Metadata), and its artifact holds the tiny data's 12:3 imbalance as
  TFDV custom validation, read with TFDV's reader; the summary the
  ImageValidator wrote names the classes."""
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_data_validation.utils import anomalies_util  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import class_balance  # pylint: disable=g-import-not-at-top
  from settings import records  # pylint: disable=g-import-not-at-top
  output_dir = pipeline_run["output_dir"]
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.join(output_dir, "metadata.sqlite")
  store = metadata_store.MetadataStore(connection)
  type_ids = {e.type_id for e in store.get_executions()}
  names = {t.name for t in store.get_execution_types_by_id(list(type_ids))}
  assert "tfx.components.example_validator.component.ExampleValidator" in names
  anomalies = anomalies_util.load_anomalies_binary(os.path.join(
      _latest(output_dir, "ExampleValidator", "anomalies"), "Split-train",
      "SchemaDiff.pb"))
  rules = {class_balance.rule_name(r) for info in
           anomalies.anomaly_info.values() for r in info.reason}
  assert class_balance.IMBALANCE in rules, anomalies
  summary = records.ValidationSummary.read(
      _latest(output_dir, "ImageValidator", "anomalies"))
  [warning] = [w for w in summary.warnings if "class imbalance" in w]
  assert "ratio is 4.0" in warning


def test_eval_and_serving_paths_never_augment(pipeline_run):
  """Eval batches equal the Transform graph's output; training ones differ."""
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from modules import dataset  # pylint: disable=g-import-not-at-top
  from settings import config as config_lib  # pylint: disable=g-import-not-at-top
  out = pipeline_run["output_dir"]
  tft_output = tft.TFTransformOutput(_latest(out, "Transform",
                                             "transform_graph"))
  examples = _latest(out, "ImportExampleGen", "examples")
  config = config_lib.PipelineConfig().replace(
      augment__rotation=0.3, augment__zoom=0.2, augment__saturation=0.5)
  # One shard, so that both paths read the records in the same order.
  eval_files = sorted(glob.glob(os.path.join(examples, "Split-eval", "*")))[:1]
  first = next(iter(dataset.make_dataset(eval_files, tft_output, 8, config,
                                         training=False)))
  again = next(iter(dataset.make_dataset(eval_files, tft_output, 8, config,
                                         training=False)))
  np.testing.assert_array_equal(first[0].numpy(), again[0].numpy())
  raw = [r.numpy() for r in tf.data.TFRecordDataset(
      eval_files,
      compression_type=features.record_compression(eval_files)).take(8)]
  direct = tft_output.transform_features_layer()(tf.io.parse_example(
      raw, tft_output.raw_feature_spec()))[features.TRANSFORMED_IMAGE_KEY]
  np.testing.assert_allclose(first[0].numpy(), direct.numpy(), atol=1e-4)
  # The same files through the training path are augmented.
  train_config = config.replace(train__shuffle_buffer=1)
  augmented = next(iter(dataset.make_dataset(eval_files, tft_output, 8,
                                             train_config, training=True)))
  assert not np.allclose(augmented[0].numpy(), direct.numpy(), atol=1.0)


def test_non_default_backbone_with_augmentation_and_class_weights(
    tiny_data_root, tmp_path):
  """MobileNetV3Small, every augmentation, two-phase, class weights."""
  from modules import class_weights  # pylint: disable=g-import-not-at-top
  from conftest import run_local_pipeline  # pylint: disable=g-import-not-at-top
  data_root, counts = tiny_data_root
  output_dir = str(tmp_path / "run")
  process = run_local_pipeline(
      data_root, output_dir, "--backbone", "mobilenet_v3_small", "--epochs",
      "2", "--min-macro-f1", "0", "--class-weighting",
      "--set", "model.warmup_epochs=1", "--set", "augment.rotation=0.1",
      "--set", "augment.zoom=0.1", "--set", "augment.shift=0.1",
      "--set", "augment.saturation=0.3", "--set", "augment.rand_augment=true",
      "--set", "augment.mixup_alpha=0.2", "--set", "augment.cutmix_alpha=1.0",
      "--set", "train.label_smoothing=0.1")
  assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-5000:]
  assert "verdict            BLESSED" in process.stdout
  assert "Phase 1: 1 epoch(s) with the backbone frozen" in process.stdout
  assert os.path.exists(os.path.join(_pushed_model_dir(output_dir),
                                     "saved_model.pb"))
  history = json.load(open(os.path.join(
      _latest(output_dir, "Trainer", "model_run"), "training_history.json")))
  assert history["config"]["model"]["backbone"] == "mobilenet_v3_small"
  assert len(history["epochs"]) == 2
  assert history["class_weights"] == pytest.approx(
      class_weights.balanced_class_weights(history["class_counts"]))
  assert max(history["class_weights"]) > min(history["class_weights"])
  assert sum(history["class_counts"]) == counts["train"]
  # The data warning reached the summary: the tiny data is imbalanced.
  assert "data warning" in process.stdout and "class imbalance" in (
      process.stdout)


def test_vertex_custom_job_trains_with_our_run_fn(pipeline_run, tmp_path,
                                                  monkeypatch):
  """--trainer-backend vertex, short of Google Cloud: TFX's Vertex Trainer
  executor runs with the custom_config kubeflow_runner.py compiles; the
  custom job it would submit is captured instead (the API client is the
  only stand-in), and its container command then runs here as the job's
  container would run it (the project as the image's working directory and
  PYTHONPATH), on this session's real pipeline artifacts."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform import runner  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform import training_clients  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform.trainer import executor  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  import kubeflow_runner  # pylint: disable=g-import-not-at-top
  from pipeline.runner import trainer_placement  # pylint: disable=g-import-not-at-top
  from conftest import REPO_ROOT  # pylint: disable=g-import-not-at-top

  args = kubeflow_runner.parse_args([
      "--image", "registry.example/flowers:1", "--pipeline-root",
      "gs://bucket/root", "--data-root", "gs://bucket/data", "--serving-dir",
      "gs://bucket/serving", "--epochs", "1", "--trainer-backend", "vertex",
      "--gcp-project", "test-project", "--gcp-region", "europe-west4",
      "--trainer-image", "registry.example/flowers-gpu:1",
      "--trainer-accelerator-type", "NVIDIA_TESLA_T4"])
  trainer_node = next(node for node in kubeflow_runner.build_pipeline(
      args).components if node.id == trainer_placement.TRAINER_ID)
  # As the component spec serializes them: JSON strings.
  exec_properties = {
      name: trainer_node.exec_properties[name]
      for name in ("custom_config", "run_fn", "train_args", "eval_args")}

  def artifact(artifact_type, uri, **attributes):
    item = artifact_type()
    item.uri = uri
    for name, value in attributes.items():
      setattr(item, name, value)
    return item

  out = pipeline_run["output_dir"]
  input_dict = {
      "examples": [artifact(
          standard_artifacts.Examples,
          _latest(out, "ImportExampleGen", "examples"),
          split_names=artifact_utils.encode_split_names(["train", "eval"]))],
      "transform_graph": [artifact(
          standard_artifacts.TransformGraph,
          _latest(out, "Transform", "transform_graph"))],
      "schema": [artifact(standard_artifacts.Schema,
                          _latest(out, "SchemaGen", "schema"))],
  }
  output_dict = {
      "model": [artifact(standard_artifacts.Model, str(tmp_path / "model"))],
      "model_run": [artifact(standard_artifacts.ModelRun,
                             str(tmp_path / "model_run"))],
  }
  submitted = {}
  monkeypatch.setattr(training_clients.VertexJobClient, "create_client",
                      lambda self: None)
  monkeypatch.setattr(runner, "_launch_cloud_training",
                      lambda **job: submitted.update(job))
  executor.GenericExecutor().Do(input_dict, output_dict, exec_properties)

  assert submitted["project"] == "test-project"
  assert submitted["vertex_region"] == "europe-west4"
  [pool] = submitted["training_job"]["job_spec"]["worker_pool_specs"]
  assert pool["machine_spec"] == {
      "machine_type": trainer_placement.DEFAULT_VERTEX_MACHINE_TYPE,
      "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}
  container = pool["container_spec"]
  assert container["image_uri"] == "registry.example/flowers-gpu:1"
  command = container["command"]
  assert command[:3] == ["python", "-m", "tfx.scripts.run_executor"]
  # The image has the project at /flowers, its WORKDIR and PYTHONPATH.
  env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_USE_LEGACY_KERAS="1")
  process = subprocess.run([sys.executable] + command[1:], cwd=REPO_ROOT,
                           env=env, capture_output=True, text=True,
                           timeout=900, check=False)
  assert process.returncode == 0, process.stderr[-5000:]
  model_dir = os.path.join(tmp_path, "model", "Format-Serving")
  loaded = tf.saved_model.load(model_dir)
  assert "serving_default" in loaded.signatures
  history = json.load(open(os.path.join(tmp_path, "model_run",
                                        "training_history.json")))
  assert len(history["epochs"]) == 1
  assert history["config"]["train"]["epochs"] == 1
