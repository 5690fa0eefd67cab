"""The file check of the data folder, in the DAG and in the local pre-flight.

The same cases run through `input_files.check_data_root` (local_runner.py's
pre-flight) and through CheckedImportExampleGen's executor (the DAG), which
must stop with the same message before Beam reads the files.
"""

import gzip
import json
import os

from google.protobuf import message
import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from pipeline.components.example_gen import input_files
from pipeline.components.util import data_check
from settings import features
from pipeline import data_plan
from pipeline.components.example_gen import component as example_gen_component
from pipeline.components.example_gen import executor as example_gen_executor
from tools import make_sample_data

SIZE = features.DEFAULT_IMAGE_SIZE


@pytest.fixture
def data_root(tmp_path):
  make_sample_data.make_sample_data(
      str(tmp_path / "data"), num_classes=104, head_classes=0, head_count=1,
      tail_count=1, val_fraction=1.0, test_count=3, seed=5)
  return tmp_path / "data"


def _base(root):
  return root / features.image_dir_name(SIZE)


def _exec_properties(component):
  """A component's exec properties as the launcher hands them over."""
  return {key: (proto_utils.proto_to_json(value)
                if isinstance(value, message.Message) else value)
          for key, value in component.exec_properties.items()}


def _run_example_gen(input_base, output_dir, holdout_percent=None):
  """Runs CheckedImportExampleGen's executor as the launcher would; with
  `holdout_percent`, on `train` alone, cut by a hash of `id` (no `val`)."""
  if holdout_percent is None:
    component = example_gen_component.CheckedImportExampleGen(
        input_base=str(input_base), input_config=data_plan.input_config())
  else:
    component = example_gen_component.CheckedImportExampleGen(
        input_base=str(input_base),
        input_config=data_plan.input_config(val_folder=False),
        output_config=data_plan.output_config(False, holdout_percent))
  exec_properties = _exec_properties(component)
  examples = standard_artifacts.Examples()
  examples.uri = str(output_dir)
  example_gen_executor.Executor().Do({}, {"examples": [examples]},
                                     exec_properties)
  return examples


def _truncate(root):
  path = sorted((_base(root) / "train").glob("*.tfrec"))[0]
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  return str(path), "unreadable at record"


def _not_a_tfrecord(root):
  path = _base(root) / "val" / "99-192x192-1.tfrec"
  path.write_bytes(gzip.compress(b"this is not a tfrecord file" * 10))
  return str(path), "unreadable at record 0"


def _not_an_example(root):
  path = _base(root) / "train" / "98-192x192-1.tfrec"
  with tf.io.TFRecordWriter(str(path)) as writer:
    writer.write(b"\xff\xff\xff")  # A good record, but no protocol buffer.
  return str(path), "record 0 is not a tf.Example"


def _no_files(root):
  for path in (_base(root) / "val").glob("*.tfrec"):
    path.rename(str(path) + ".bak")
  return str(_base(root) / "val"), "no *.tfrec files"


def _zero_records(root):
  for path in (_base(root) / "val").glob("*.tfrec"):
    path.write_bytes(b"")
  return str(_base(root) / "val"), "the split is empty (0 records)"


def _missing_folder(root):
  tf.io.gfile.rmtree(str(_base(root) / "train"))
  return str(_base(root) / "train"), "does not exist"


@pytest.mark.parametrize("damage", [
    _truncate, _not_a_tfrecord, _not_an_example, _no_files, _zero_records,
    _missing_folder])
def test_dag_and_preflight_stop_with_the_same_message(data_root, tmp_path,
                                                      damage):
  named, words = damage(data_root)
  with pytest.raises(input_files.DataCheckError) as preflight:
    input_files.check_data_root(str(data_root), SIZE)
  with pytest.raises(input_files.DataCheckError) as in_dag:
    _run_example_gen(_base(data_root), tmp_path / "examples")
  assert str(in_dag.value) == str(preflight.value)
  assert named in str(in_dag.value) and words in str(in_dag.value)
  # Stopped before Beam wrote anything.
  assert not (tmp_path / "examples").exists()


def test_empty_shard_and_stray_files_are_counted_and_named(data_root,
                                                           tmp_path):
  base = _base(data_root)
  (base / "train" / "README.txt").write_text("notes")
  (base / "val" / "07-192x192-0.tfrec").write_bytes(b"")  # Failed upload.
  report = input_files.check_data_root(str(data_root), SIZE)
  assert report.records == {"train": 104, "val": 104}
  assert report.empty_files == [str(base / "val" / "07-192x192-0.tfrec")]
  lines = "\n".join(report.lines())
  assert f"skipped 1 file(s) that do not match *.tfrec: " \
         f"{base / 'train' / 'README.txt'}" in lines
  assert ("1 *.tfrec file(s) with 0 records (a failed upload?): "
          f"{base / 'val' / '07-192x192-0.tfrec'}") in lines

  # The DAG's check writes the same findings, and the test ids and image
  # hashes, beside ImportExampleGen's output.
  examples = _run_example_gen(base, tmp_path / "examples")
  written = data_check.read_report(examples.uri)
  assert written["warnings"] == report.warnings()
  assert written["records"] == {"train": 104, "val": 104}
  assert written["file_records"][str(base / "val" / "07-192x192-0.tfrec")] \
      == 0
  assert len(written["test_records"]) == 3
  test_id, digest = written["test_records"][0]
  assert test_id.startswith("test") and len(digest) == 64
  assert tf.io.gfile.glob(os.path.join(examples.uri, "Split-train", "*"))


def _without_val_and_an_id(root, record=5):
  """No val folder (the eval split is then cut from train by a hash of
  `id`), and one train record without its `id`; returns (file, record)."""
  tf.io.gfile.rmtree(str(_base(root) / "val"))
  path = sorted((_base(root) / "train").glob("*.tfrec"))[-1]
  examples = [tf.train.Example.FromString(raw.numpy())
              for raw in tf.data.TFRecordDataset(str(path))]
  del examples[record].features.feature[features.ID_KEY]
  with tf.io.TFRecordWriter(str(path)) as writer:
    for example in examples:
      writer.write(example.SerializeToString())
  return str(path), record


def test_a_record_without_id_is_named_when_eval_is_cut_by_hash(data_root,
                                                               tmp_path):
  """TFX alone stops inside Beam ("Feature name `id` does not exist"),
  naming no file; the pre-flight and the DAG's check name the record."""
  path, record = _without_val_and_an_id(data_root)
  with pytest.raises(input_files.DataCheckError) as preflight:
    input_files.check_data_root(str(data_root), SIZE, val_folder=False)
  with pytest.raises(input_files.DataCheckError) as in_dag:
    _run_example_gen(_base(data_root), tmp_path / "examples",
                     holdout_percent=15)
  assert str(in_dag.value) == str(preflight.value)
  assert str(in_dag.value).startswith(
      f"{path}: record {record} has no 'id' feature")
  assert not (tmp_path / "examples").exists()


def test_the_runner_names_a_record_without_id_before_the_pipeline(
    data_root, tmp_path):
  from conftest import run_local_pipeline  # pylint: disable=g-import-not-at-top
  path, record = _without_val_and_an_id(data_root)
  process = run_local_pipeline(str(data_root), str(tmp_path / "out"))
  assert process.returncode != 0
  assert f"error: {path}: record {record} has no 'id' feature" in (
      process.stdout + process.stderr)
  assert not (tmp_path / "out" / "pipeline.log").exists()


def _tfx_import(input_base, output_dir, output_config=None):
  """TFX's own ImportExampleGen executor (Beam, re-encoded, GZIP)."""
  from tfx.components.example_gen.import_example_gen import executor as import_executor  # pylint: disable=g-import-not-at-top
  component = tfx.components.ImportExampleGen(
      input_base=str(input_base), input_config=data_plan.input_config(),
      output_config=output_config)
  exec_properties = _exec_properties(component)
  examples = standard_artifacts.Examples()
  examples.uri = str(output_dir)
  import_executor.Executor().Do({}, {"examples": [examples]}, exec_properties)
  return examples


def _split_examples(examples, split):
  files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
  return files, sorted(
      tf.train.Example.FromString(raw.numpy()).SerializeToString(
          deterministic=True)
      for raw in tf.data.TFRecordDataset(
          files, compression_type=features.record_compression(files)))


def test_copy_import_holds_what_tfx_import_writes(data_root, tmp_path):
  """The copy import's Examples against TFX's own import of the same files:
  the same records per split and the same artifact properties, read through
  TFX's own reader (tfxio) as StatisticsGen and Transform read them."""
  from tfx.components.util import tfxio_utils  # pylint: disable=g-import-not-at-top
  (_base(data_root) / "val" / "07-192x192-0.tfrec").write_bytes(b"")
  ours = _run_example_gen(_base(data_root), tmp_path / "ours")
  theirs = _tfx_import(_base(data_root), tmp_path / "theirs")
  assert ours.split_names == theirs.split_names == '["train", "eval"]'
  for name in ("payload_format", "file_format"):
    assert (ours.get_string_custom_property(name) ==
            theirs.get_string_custom_property(name) != "")
  for split, count in (("train", 104), ("eval", 104)):
    our_files, our_records = _split_examples(ours, split)
    their_files, their_records = _split_examples(theirs, split)
    assert len(our_records) == count and our_records == their_records
    # Copies of the input files, uncompressed; TFX's are GZIP.
    assert all(f.endswith(features.COPIED_RECORD_SUFFIX) for f in our_files)
    assert all(f.endswith(features.GZIP_SUFFIX) for f in their_files)
    # The empty file is not copied (the check counted it).
    assert len(our_files) == len(list((_base(data_root) / (
        "train" if split == "train" else "val")).glob("*.tfrec"))) - (
            split == "eval")
    batches = tfxio_utils.make_tfxio(
        os.path.join(ours.uri, f"Split-{split}", "*"),
        payload_format=ours.get_string_custom_property("payload_format"),
        file_format=ours.get_string_custom_property("file_format"),
        telemetry_descriptors=["test"]).BeamSource()
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    from apache_beam.testing import util as beam_util  # pylint: disable=g-import-not-at-top
    with beam.Pipeline() as pipeline:
      rows = (pipeline | batches
              | beam.Map(lambda batch: batch.num_rows)
              | beam.CombineGlobally(sum))
      beam_util.assert_that(rows, beam_util.equal_to([count]))


def test_a_split_cut_by_hash_goes_through_tfx_import(data_root, tmp_path):
  """Without a val folder the records are routed by hash of id: TFX's own
  import writes them, as TFX's import alone would."""
  plan_output = data_plan.output_config(False, 15)
  component = example_gen_component.CheckedImportExampleGen(
      input_base=str(_base(data_root)),
      input_config=data_plan.input_config(val_folder=False),
      output_config=plan_output)
  exec_properties = _exec_properties(component)
  ours = standard_artifacts.Examples()
  ours.uri = str(tmp_path / "ours")
  example_gen_executor.Executor().Do({}, {"examples": [ours]},
                                     exec_properties)
  from tfx.components.example_gen.import_example_gen import executor as import_executor  # pylint: disable=g-import-not-at-top
  theirs = standard_artifacts.Examples()
  theirs.uri = str(tmp_path / "theirs")
  import_executor.Executor().Do({}, {"examples": [theirs]},
                                dict(exec_properties, custom_config=None))
  for split in ("train", "eval"):
    assert _split_examples(ours, split)[1] == _split_examples(theirs, split)[1]


def test_test_split_keys_come_from_its_one_pass(data_root):
  """TestExampleGen reads the test folder as its split: the ids and image
  hashes are the ones the train/val check reads beside it, and a stray
  file is listed once."""
  (_base(data_root) / "test" / "notes.txt").write_text("notes")
  beside = input_files.check_input_base(
      str(_base(data_root)), input_files.kaggle_split_patterns())
  as_split = input_files.check_input_base(
      str(_base(data_root)), {features.TEST_SPLIT: "test/*.tfrec"})
  assert len(as_split.test_records) == 3
  assert as_split.test_records == beside.test_records
  assert as_split.records == {"test": 3}
  assert as_split.skipped_files == [str(_base(data_root) / "test" /
                                        "notes.txt")]


def test_unreadable_test_file_is_a_counted_warning(data_root, tmp_path):
  path = sorted((_base(data_root) / "test").glob("*.tfrec"))[0]
  data = path.read_bytes()
  path.write_bytes(data[:len(data) - 10])
  report = input_files.check_input_base(
      str(_base(data_root)), input_files.kaggle_split_patterns())
  assert len(report.test_records) == 2
  assert report.test_warnings == [
      f"{path}: unreadable from record 2 on (truncated or not a TFRecord "
      "file; left out of the test id and leakage checks)"]


# The DAG runs below go in a fresh Python process each: the real
# LocalDagRunner, as a runner would call it, unaffected by what earlier tests
# imported or configured in pytest's process.
_DAG_RUN = """
import json, sys
sys.path.insert(0, {repo!r})
from pipeline.runner import runtime
runtime.configure()
from tfx import v1 as tfx
from pipeline.components.example_gen import input_files
{build}
try:
  tfx.orchestration.LocalDagRunner().run(pipeline)
except input_files.DataCheckError as error:
  print(json.dumps({{"error": "DataCheckError", "message": str(error)}}))
else:
  print(json.dumps({{"error": None}}))
"""


def _run_dag(build: str) -> dict:
  """Runs the pipeline that `build` assigns to `pipeline` in a new process;
  returns {"error": None} or the DataCheckError it stopped with."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  process = subprocess.run(
      [sys.executable, "-c", _DAG_RUN.format(repo=repo, build=build)],
      cwd=repo, capture_output=True, text=True, timeout=900, check=False)
  assert process.returncode == 0, process.stderr[-5000:]
  return json.loads(process.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_truncated_tfrecord_stops_the_dag_run(data_root, tmp_path):
  """The real LocalDagRunner, without local_runner.py's pre-flight."""
  named, _ = _truncate(data_root)
  output = tmp_path / "out"
  result = _run_dag(f"""
import local_runner
from settings import config as config_lib
from pipeline import data_plan
config = config_lib.PipelineConfig().replace(image_size={SIZE})
pipeline = local_runner.local_pipeline(
    {str(output)!r}, data_plan.make_plan({str(data_root)!r}, config), config,
    [])
""")
  assert result["error"] == "DataCheckError"
  assert named in result["message"]
  assert "unreadable at record" in result["message"]
  assert not (output / "pipeline_root" / "StatisticsGen").exists()


def test_kubeflow_spec_runs_the_check_in_import_example_gen(tmp_path):
  """The compiled KFP v2 spec runs the checking executor, driver intact."""
  import kubeflow_runner  # pylint: disable=g-import-not-at-top
  args = kubeflow_runner.parse_args([
      "--image", "registry.example/flowers:1", "--pipeline-root",
      "gs://bucket/root", "--data-root", "gs://bucket/data", "--serving-dir",
      "gs://bucket/serving", "--output", str(tmp_path / "spec.json")])
  with open(kubeflow_runner.compile_pipeline(args), encoding="utf-8") as f:
    spec = json.load(f)["pipelineSpec"]
  container = spec["deploymentSpec"]["executors"]["ImportExampleGen_executor"][
      "container"]
  executor_class = container["args"][container["args"].index(
      "--executor_class_path") + 1]
  assert executor_class == "pipeline.components.example_gen.executor.Executor"
  # ExampleGen's driver still fingerprints the input files before the cache
  # lookup, so the check re-runs whenever they change.
  assert "preCacheCheck" in container["lifecycle"]
  assert "ImportExampleGen" in spec["root"]["dag"]["tasks"]


@pytest.mark.slow
def test_check_reruns_when_a_file_changes_after_a_cached_good_run(data_root,
                                                                 tmp_path):
  """With the cache on, a file truncated after a good run is still caught.

  A check with only constant inputs would be served from TFX's cache here;
  inside ImportExampleGen it re-runs because the file fingerprint changed.
  """
  build = f"""
from pipeline import data_plan
from pipeline.components.example_gen import component as example_gen_component
example_gen = example_gen_component.CheckedImportExampleGen(
    input_base={str(_base(data_root))!r},
    input_config=data_plan.input_config())
pipeline = tfx.dsl.Pipeline(
    pipeline_name="check", pipeline_root={str(tmp_path / "root")!r},
    components=[example_gen], enable_cache=True,
    metadata_connection_config=(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(
            {str(tmp_path / "metadata.sqlite")!r})),
    beam_pipeline_args=[])
"""
  assert _run_dag(build) == {"error": None}
  named, _ = _truncate(data_root)
  result = _run_dag(build)
  assert result["error"] == "DataCheckError"
  assert named in result["message"]


def _labels_by_split(examples_uri):
  """Split name -> label -> records, read back from the written splits."""
  result = {}
  for folder in tf.io.gfile.glob(os.path.join(examples_uri, "Split-*")):
    counts = result.setdefault(os.path.basename(folder)[len("Split-"):], {})
    for raw in tf.data.TFRecordDataset(
        tf.io.gfile.glob(os.path.join(folder, "*"))):
      label = tf.train.Example.FromString(raw.numpy()).features.feature[
          features.LABEL_KEY].int64_list.value[0]
      counts[str(label)] = counts.get(str(label), 0) + 1
  return result


@pytest.mark.parametrize("val_folder", [True, False])
def test_the_import_counts_each_splits_classes_as_written(data_root,
                                                          tmp_path,
                                                          val_folder):
  """What Transform's analyzer used to count, the import counts: each
  output split's records per class, read back from the written files;
  the Trainer's reader returns them in class order."""
  from modules import dataset  # pylint: disable=g-import-not-at-top
  from settings import records  # pylint: disable=g-import-not-at-top
  if not val_folder:
    tf.io.gfile.rmtree(str(_base(data_root) / "val"))
  examples = _run_example_gen(_base(data_root), tmp_path / "examples",
                              holdout_percent=None if val_folder else 30)
  written = records.SplitClassCounts.read(examples.uri)
  assert written.splits == _labels_by_split(examples.uri)
  assert set(written.splits) == {"train", "eval"}
  assert written.unlabelled == {"train": 0, "eval": 0}
  train_files = [os.path.join(examples.uri, "Split-train", "*")]
  counts = dataset.read_class_counts(train_files, 104)
  assert counts == [written.splits["train"].get(str(label), 0)
                    for label in range(104)]
  # Examples without the record (an older run's): counted from the files.
  os.remove(os.path.join(examples.uri, records.SplitClassCounts.FILE_NAME))
  assert dataset.read_class_counts(train_files, 104) == counts
