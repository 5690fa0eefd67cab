"""The pipeline's Beam components on real engines, against the DirectRunner.

The whole pipeline runs once with `--beam-profile flink` on Flink's embedded
mini-cluster (`[local]`, parallelism 2, the job server fetched by
`make beam-jobs`, the SDK harness in LOOPBACK), ending with a pushed model.
Its statistics must equal those of the DirectRunner run of the same data
(conftest's `pipeline_run`), and its Evaluator's macro F1 must equal what
the Evaluator computes for the same model and examples on the DirectRunner.
StatisticsGen alone also runs on Spark (`local[2]`).
docs/beam-engines.md says what this covers and what it does not.
"""

import glob
import json
import os
import re
import subprocess

import pytest

from conftest import REPO_ROOT, run_local_pipeline
from pipeline.runner import beam
from tools import beam_jobs

# `engines`: in `make test`, and alone in `make test-engines` (docs/beam-engines.md).
pytestmark = [pytest.mark.slow, pytest.mark.engines]

FLINK_PARALLELISM = 2
# Enough to train something that the Evaluator scores; the figures under
# test are the engines', not the model's.
FLINK_EPOCHS = 1
SPARK_MASTER = "local[2]"
# The DirectRunner in this process, said explicitly; no TFX sdist for it
# (pipeline/runner/beam.py, SAME_ENVIRONMENT_ARGS).
DIRECT_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1",
               *beam.SAME_ENVIRONMENT_ARGS]


@pytest.fixture(scope="session")
def job_server_jars():
  """`make beam-jobs`, as CI's clean clone needs; the jars by engine."""
  process = subprocess.run(["make", "--no-print-directory", "beam-jobs"],
                           cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=1200, check=False)
  assert process.returncode == 0, process.stdout + process.stderr
  jars = {engine: beam_jobs.jar_path(engine) for engine in beam_jobs.ENGINES}
  for jar in jars.values():
    assert os.path.isfile(jar), jar
  return jars


@pytest.fixture(scope="session")
def flink_run(tiny_data_root, job_server_jars, tmp_path_factory):
  data_root, counts = tiny_data_root
  output_dir = str(tmp_path_factory.mktemp("flink"))
  process = run_local_pipeline(
      data_root, output_dir, "--epochs", str(FLINK_EPOCHS),
      "--min-macro-f1", "0.0", "--beam-profile", "flink",
      "--flink-master", "[local]",
      "--flink-job-server-jar", job_server_jars["flink"],
      "--beam-parallelism", str(FLINK_PARALLELISM))
  assert process.returncode == 0, (
      f"local_runner.py on Flink failed ({process.returncode}):\n"
      f"{process.stdout[-5000:]}\n{process.stderr[-10000:]}")
  return dict(output_dir=output_dir, counts=counts, stdout=process.stdout)


def _latest(output_dir, *parts):
  paths = glob.glob(os.path.join(output_dir, "pipeline_root", *parts, "*"))
  paths = [p for p in paths if os.path.basename(p).isdigit()]
  assert paths, f"no {'/'.join(parts)} output under {output_dir}"
  return max(paths, key=lambda p: int(os.path.basename(p)))


def _statistics(statistics_dir):
  """Each split's statistics, features sorted by name, as protos."""
  from tensorflow_data_validation.utils import stats_util  # pylint: disable=g-import-not-at-top
  by_split = {}
  for split_dir in sorted(glob.glob(os.path.join(statistics_dir, "Split-*"))):
    stats = stats_util.load_stats_binary(
        os.path.join(split_dir, "FeatureStats.pb"))
    for dataset in stats.datasets:
      features = sorted(dataset.features, key=lambda f: f.path.step[:])
      del dataset.features[:]
      dataset.features.extend(features)
    by_split[os.path.basename(split_dir)] = stats
  return by_split


def _assert_same_statistics(engine_dir, direct_dir):
  engine, direct = _statistics(engine_dir), _statistics(direct_dir)
  assert sorted(engine) == sorted(direct) == ["Split-eval", "Split-train"]
  for split in direct:
    # Exact equality: every count, histogram bucket, quantile and top value.
    assert engine[split] == direct[split], split


def _beam_runners(output_dir):
  """The `--runner=` of each Beam executor, as the run's log records them."""
  with open(os.path.join(output_dir, "pipeline.log"), encoding="utf-8") as f:
    log = f.read()
  return set(re.findall(r'beam_pipeline_args: "--runner=(\w+)"', log))


def test_flink_run_pushes_a_blessed_model(flink_run):
  out = flink_run["stdout"]
  assert "verdict            BLESSED" in out
  # The flags reached the components: FlinkRunner has no fallback, so a
  # job that did not run on Flink fails the run.
  assert _beam_runners(flink_run["output_dir"]) == {"FlinkRunner"}
  pushed = sorted(glob.glob(os.path.join(flink_run["output_dir"], "serving",
                                         "*")))
  assert pushed, "nothing was pushed"
  assert os.path.exists(os.path.join(pushed[-1], "saved_model.pb"))
  count_line = [l for l in out.splitlines() if "example_count" in l][0]
  assert int(count_line.split()[-1]) == flink_run["counts"]["val"]


def test_flink_statistics_equal_the_direct_runners(flink_run, pipeline_run):
  _assert_same_statistics(
      _latest(flink_run["output_dir"], "StatisticsGen", "statistics"),
      _latest(pipeline_run["output_dir"], "StatisticsGen", "statistics"))


def _run_executor(executor_module, inputs, output_dir, outputs,
                  exec_properties, beam_args):
  """A TFX component's executor, outside a pipeline, on given artifacts.

  Args:
    executor_module: the component's executor module (has `Executor`).
    inputs: input key -> artifact.
    output_dir: where the outputs and temporary files go.
    outputs: output key -> artifact class; each gets a folder.
    exec_properties: the component's execution properties.
    beam_args: the Beam arguments to run it with.

  Returns:
    Output key -> the artifact's folder.
  """
  from tfx.dsl.components.base import base_beam_executor  # pylint: disable=g-import-not-at-top
  output_dict = {}
  for key, artifact_class in outputs.items():
    artifact = artifact_class()
    artifact.uri = os.path.join(output_dir, key)
    os.makedirs(artifact.uri)
    output_dict[key] = [artifact]
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=beam_args, tmp_dir=os.path.join(output_dir, "tmp"),
      unique_id="engines")
  executor_module.Executor(context).Do(
      {key: [artifact] for key, artifact in inputs.items()}, output_dict,
      exec_properties)
  return {key: artifacts[0].uri for key, artifacts in output_dict.items()}


def _artifact(artifact_class, uri, split_names=None):
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  artifact = artifact_class()
  artifact.uri = uri
  if split_names:
    artifact.split_names = artifact_utils.encode_split_names(split_names)
  return artifact


def _examples(output_dir):
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  return _artifact(standard_artifacts.Examples,
                   _latest(output_dir, "ImportExampleGen", "examples"),
                   [features.TRAIN_SPLIT, features.EVAL_SPLIT])


def test_flink_macro_f1_equals_the_direct_runners(flink_run, tmp_path):
  """The Flink run's Evaluator against the DirectRunner's, same model."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.writers import eval_config_writer  # pylint: disable=g-import-not-at-top
  from tfx.components.evaluator import executor  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_component_specs as specs  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import evaluation_reader as evaluation  # pylint: disable=g-import-not-at-top
  out = flink_run["output_dir"]
  flink_evaluation = _latest(out, "Evaluator", "evaluation")
  # The config the Flink Evaluator ran with, as TFMA recorded it.
  eval_config = eval_config_writer.load_eval_run(flink_evaluation)[0]
  assert isinstance(eval_config, tfma.EvalConfig)
  direct_evaluation = _run_executor(
      executor,
      {specs.EXAMPLES_KEY: _examples(out),
       specs.MODEL_KEY: _artifact(standard_artifacts.Model,
                                  _latest(out, "Trainer", "model"))},
      str(tmp_path),
      {specs.EVALUATION_KEY: standard_artifacts.ModelEvaluation,
       specs.BLESSING_KEY: standard_artifacts.ModelBlessing},
      {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config),
       specs.EXAMPLE_SPLITS_KEY: json.dumps([features.EVAL_SPLIT])},
      DIRECT_ARGS)[specs.EVALUATION_KEY]
  flink = evaluation.load_evaluation(flink_evaluation).metrics[
      evaluation.CANDIDATE]
  direct = evaluation.load_evaluation(direct_evaluation).metrics[
      evaluation.CANDIDATE]
  assert direct["example_count"] == flink_run["counts"]["val"]
  assert flink["example_count"] == direct["example_count"]
  assert flink["macro_f1"] == pytest.approx(direct["macro_f1"], abs=1e-6)
  assert flink["argmax_accuracy"] == pytest.approx(
      direct["argmax_accuracy"], abs=1e-6)


def test_spark_statistics_equal_the_direct_runners(pipeline_run,
                                                   job_server_jars, tmp_path):
  """StatisticsGen alone on Spark local[2], on the DirectRunner run's data."""
  from tfx.components.statistics_gen import executor  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_component_specs as specs  # pylint: disable=g-import-not-at-top
  from pipeline.runner import beam  # pylint: disable=g-import-not-at-top
  out = pipeline_run["output_dir"]
  spark_args = beam.beam_pipeline_args("spark", beam.BeamSettings(
      spark_master_url=SPARK_MASTER,
      spark_job_server_jar=job_server_jars["spark"]))
  assert "--runner=SparkRunner" in spark_args
  statistics = _run_executor(
      executor,
      {specs.EXAMPLES_KEY: _examples(out),
       specs.SCHEMA_KEY: _artifact(standard_artifacts.Schema,
                                   _latest(out, "SchemaGen", "schema"))},
      str(tmp_path), {specs.STATISTICS_KEY: standard_artifacts.ExampleStatistics},
      {specs.EXCLUDE_SPLITS_KEY: "[]"}, spark_args)[specs.STATISTICS_KEY]
  _assert_same_statistics(
      statistics, _latest(out, "StatisticsGen", "statistics"))
