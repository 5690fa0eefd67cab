"""pipeline/runner/beam.py: each profile's Beam arguments, parsed by Beam itself,
and clear errors when a profile lacks a setting."""

import argparse
import dataclasses
import logging
import os
import tempfile

import pytest
from apache_beam.options import pipeline_options
from tfx.dsl.components.base import base_beam_executor

from pipeline.runner import beam
from pipeline.runner import beam_flags

IMAGE = "registry.example/flowers:1"
DATAFLOW = beam.BeamSettings(project="test-project", region="europe-west4",
                             temp_location="gs://bucket/tmp", image=IMAGE)
# Enough for every profile: what a test of "each profile works" needs.
COMPLETE = beam.BeamSettings(
    project="test-project", region="europe-west4",
    temp_location="gs://bucket/tmp", image=IMAGE,
    flink_master="flink-jobmanager:8081",
    spark_master_url="spark://spark-master:7077")


@pytest.fixture(autouse=True)
def no_flowers_env(monkeypatch):
  """The parser reads FLOWERS_* variables; the caller's must not leak in."""
  for name in list(os.environ):
    if name.startswith("FLOWERS_"):
      monkeypatch.delenv(name)


class _BeamExecutor(base_beam_executor.BaseBeamExecutor):
  """What every TFX Beam component's executor is, with nothing to do."""

  def Do(self, input_dict, output_dict, exec_properties):  # pylint: disable=invalid-name
    del input_dict, output_dict, exec_properties


def beam_options(args, caplog):
  """What Beam understands of `args`; fails on any argument it does not."""
  with caplog.at_level(logging.WARNING):
    options = pipeline_options.PipelineOptions(args).get_all_options()
  assert "Discarding" not in caplog.text, caplog.text
  return options


@pytest.mark.parametrize("profile", beam.BEAM_PROFILES)
def test_every_profile_gives_arguments_beam_understands(profile, caplog):
  args = beam.beam_pipeline_args(profile, COMPLETE)
  beam_options(args, caplog)


def test_local_counts_cores_where_it_runs(caplog):
  # 0: Beam counts the cores of the machine that runs the component, not
  # of the one that compiled a Kubeflow spec.
  options = beam_options(beam.beam_pipeline_args(), caplog)
  assert options["direct_running_mode"] == "multi_processing"
  assert options["direct_num_workers"] == 0
  assert options["runner"] is None
  args = beam.beam_pipeline_args("local", beam.BeamSettings(workers=3))
  assert "--direct_num_workers=3" in args


def test_in_memory_is_one_process(caplog):
  options = beam_options(beam.beam_pipeline_args("in_memory"), caplog)
  assert options["direct_running_mode"] == "in_memory"
  assert options["direct_num_workers"] == 1


@pytest.mark.parametrize("profile", ["in_memory", "local"])
def test_tfx_builds_no_sdist_for_workers_of_this_interpreter(
    profile, tmp_path, monkeypatch):
  # TFX's Beam executor, as every Beam component builds it, packages TFX
  # for remote workers (1.5 s a component, and a 52 MiB folder it leaves in
  # the temp directory) unless the arguments say where the workers'
  # dependencies come from. Neither profile's workers are remote.
  scratch = tmp_path / "temp"
  scratch.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(scratch))
  executor = _BeamExecutor(
      base_beam_executor.BaseBeamExecutor.Context(
          beam_pipeline_args=beam.beam_pipeline_args(profile),
          tmp_dir=str(tmp_path), unique_id="1"))
  options = executor._make_beam_pipeline().options  # pylint: disable=protected-access
  assert not options.view_as(pipeline_options.SetupOptions).extra_packages
  assert not list(scratch.glob("*/build/tfx"))
  direct = options.view_as(pipeline_options.DirectOptions)
  assert direct.direct_running_mode == ("in_memory" if profile == "in_memory"
                                        else "multi_processing")


def test_a_loopback_engine_ships_no_sdist(job_server_jar):
  settings = beam.BeamSettings(flink_master="[local]",
                               flink_job_server_jar=job_server_jar)
  args = beam.beam_pipeline_args("flink", settings)
  assert "--environment_type=LOOPBACK" in args
  assert set(beam.SAME_ENVIRONMENT_ARGS) <= set(args)


def test_dataflow_runs_the_image_with_runner_v2(caplog):
  options = beam_options(beam.beam_pipeline_args("dataflow", DATAFLOW),
                         caplog)
  assert options["runner"] == "DataflowRunner"
  assert options["project"] == "test-project"
  assert options["region"] == "europe-west4"
  assert options["temp_location"] == "gs://bucket/tmp"
  assert options["staging_location"] == "gs://bucket/tmp/staging"
  assert options["sdk_container_image"] == IMAGE
  assert options["sdk_location"] == "container"
  assert "use_runner_v2" in options["experiments"]
  for optional in ("machine_type", "max_num_workers",
                   "service_account_email"):
    assert options[optional] is None


def test_dataflow_optional_settings(caplog):
  settings = dataclasses.replace(
      DATAFLOW, staging_location="gs://bucket/staging",
      machine_type="n1-highmem-8", max_workers=20,
      service_account="runner@test-project.iam.gserviceaccount.com")
  options = beam_options(beam.beam_pipeline_args("dataflow", settings),
                         caplog)
  assert options["staging_location"] == "gs://bucket/staging"
  assert options["machine_type"] == "n1-highmem-8"
  assert options["max_num_workers"] == 20
  assert options["service_account_email"] == settings.service_account


@pytest.mark.parametrize("field,flag,env", [
    ("project", "--gcp-project", "FLOWERS_GCP_PROJECT"),
    ("region", "--gcp-region", "FLOWERS_GCP_REGION"),
    ("temp_location", "--beam-temp-location", "FLOWERS_BEAM_TEMP_LOCATION"),
    ("image", "--beam-image", "FLOWERS_BEAM_IMAGE"),
])
def test_dataflow_names_each_missing_setting(field, flag, env):
  settings = dataclasses.replace(DATAFLOW, **{field: None})
  with pytest.raises(beam.MissingBeamSettingError) as error:
    beam.beam_pipeline_args("dataflow", settings)
  message = str(error.value)
  assert "dataflow" in message and flag in message and env in message


def test_dataflow_names_all_missing_settings_at_once():
  with pytest.raises(beam.MissingBeamSettingError) as error:
    beam.beam_pipeline_args("dataflow")
  for setting in ("--gcp-project", "--gcp-region", "--beam-temp-location",
                  "--beam-image"):
    assert setting in str(error.value)


def test_dataflow_needs_cloud_storage():
  settings = dataclasses.replace(DATAFLOW, temp_location="/tmp/beam")
  with pytest.raises(beam.BeamSettingError, match="--beam-temp-location"):
    beam.beam_pipeline_args("dataflow", settings)


def test_flink_master_with_the_image_as_docker_environment(caplog):
  settings = beam.BeamSettings(flink_master="flink-jobmanager:8081",
                               image=IMAGE, parallelism=4)
  options = beam_options(beam.beam_pipeline_args("flink", settings), caplog)
  assert options["runner"] == "FlinkRunner"
  assert options["flink_master"] == "flink-jobmanager:8081"
  assert options["flink_submit_uber_jar"] is True
  assert options["environment_type"] == "DOCKER"
  assert options["environment_config"] == IMAGE
  assert options["parallelism"] == 4


def test_flink_job_server_with_an_external_worker_pool(caplog):
  settings = beam.BeamSettings(job_endpoint="beam-job-server:8099",
                               environment_type="EXTERNAL",
                               environment_config="localhost:50000")
  options = beam_options(beam.beam_pipeline_args("flink", settings), caplog)
  assert options["runner"] == "PortableRunner"
  assert options["job_endpoint"] == "beam-job-server:8099"
  assert options["environment_type"] == "EXTERNAL"
  assert options["environment_config"] == "localhost:50000"


def test_spark_master_loopback_and_rest_submission(caplog):
  settings = beam.BeamSettings(spark_master_url="spark://spark-master:7077",
                               spark_rest_url="http://spark-master:6066",
                               environment_type="LOOPBACK")
  options = beam_options(beam.beam_pipeline_args("spark", settings), caplog)
  assert options["runner"] == "SparkRunner"
  assert options["spark_master_url"] == "spark://spark-master:7077"
  assert options["spark_submit_uber_jar"] is True
  assert options["spark_rest_url"] == "http://spark-master:6066"
  assert options["environment_type"] == "LOOPBACK"
  assert options["environment_config"] is None


@pytest.mark.parametrize("profile,settings,named", [
    ("flink", beam.BeamSettings(image=IMAGE),
     ("--flink-master", "FLOWERS_FLINK_MASTER", "--beam-job-endpoint",
      "FLOWERS_BEAM_JOB_ENDPOINT")),
    ("spark", beam.BeamSettings(image=IMAGE),
     ("--spark-master-url", "FLOWERS_SPARK_MASTER_URL",
      "--beam-job-endpoint")),
    ("flink", beam.BeamSettings(flink_master="jm:8081"),
     ("DOCKER", "--beam-image", "FLOWERS_BEAM_IMAGE")),
    ("spark", beam.BeamSettings(spark_master_url="spark://m:7077",
                                environment_type="EXTERNAL"),
     ("--beam-environment-config", "FLOWERS_BEAM_ENVIRONMENT_CONFIG")),
    # A local engine without a jar: Beam would download one at run time.
    ("flink", beam.BeamSettings(flink_master="[local]"),
     ("--flink-job-server-jar", "FLOWERS_FLINK_JOB_SERVER_JAR",
      "make beam-jobs")),
    ("spark", beam.BeamSettings(spark_master_url="local[4]"),
     ("--spark-job-server-jar", "FLOWERS_SPARK_JOB_SERVER_JAR")),
])
def test_portable_profiles_name_what_is_missing(profile, settings, named):
  with pytest.raises(beam.MissingBeamSettingError) as error:
    beam.beam_pipeline_args(profile, settings)
  for text in named:
    assert text in str(error.value)


def test_unknown_profile_and_environment():
  with pytest.raises(beam.BeamSettingError, match="FLOWERS_BEAM_PROFILE"):
    beam.beam_pipeline_args("dask")
  settings = beam.BeamSettings(flink_master="jm:8081", image=IMAGE,
                               environment_type="PROCESS")
  with pytest.raises(beam.BeamSettingError, match="--beam-environment-type"):
    beam.beam_pipeline_args("flink", settings)


def test_extra_args_are_appended_to_any_profile():
  settings = beam.BeamSettings(extra_args=("--disk_size_gb=100",))
  assert beam.beam_pipeline_args("in_memory", settings)[-1] == (
      "--disk_size_gb=100")


def parse(argv):
  parser = argparse.ArgumentParser()
  beam_flags.add_beam_arguments(parser)
  args = parser.parse_args(argv)
  return args.beam_profile, beam_flags.settings_from_args(args)


def test_flags_default_to_environment_variables(monkeypatch):
  assert parse([]) == ("local", beam.BeamSettings())
  monkeypatch.setenv("FLOWERS_BEAM_PROFILE", "dataflow")
  monkeypatch.setenv("FLOWERS_GCP_PROJECT", "env-project")
  monkeypatch.setenv("FLOWERS_DATAFLOW_MAX_WORKERS", "7")
  monkeypatch.setenv("FLOWERS_BEAM_EXTRA_ARGS", "--a=1 --b='x y'")
  profile, settings = parse(["--gcp-project", "flag-project"])
  assert profile == "dataflow"
  assert settings.project == "flag-project"  # The flag wins.
  assert settings.max_workers == 7
  assert settings.extra_args == ("--a=1", "--b=x y")


def test_every_setting_has_a_flag_and_an_env_variable():
  fields = {field.name for field in dataclasses.fields(beam.BeamSettings)}
  flag_names = set(beam_flags.beam_flag_names())
  for field in fields:
    assert beam_flags.flag_of(field) in flag_names
    assert beam_flags.describe(field) == (
        f"{beam_flags.flag_of(field)} (env FLOWERS_"
        f"{beam_flags.flag_of(field)[2:].upper().replace('-', '_')})")
  # One flag a field, and the profile's: none left without a setting.
  assert len(flag_names) == len(fields) + 1


@pytest.fixture
def job_server_jar(tmp_path):
  """A file where a job server jar would be (its contents are not read)."""
  path = tmp_path / "job-server.jar"
  path.write_bytes(b"")
  return str(path)


def test_flink_local_mini_cluster_runs_the_given_jar_in_loopback(
    job_server_jar, caplog):
  settings = beam.BeamSettings(flink_master="[local]", parallelism=2,
                               flink_job_server_jar=job_server_jar)
  options = beam_options(beam.beam_pipeline_args("flink", settings), caplog)
  assert options["runner"] == "FlinkRunner"
  assert options["flink_master"] == "[local]"
  assert options["flink_job_server_jar"] == job_server_jar
  # A jar started here, not one uploaded (which would need a shaded jar).
  assert options["flink_submit_uber_jar"] is False
  assert options["environment_type"] == "LOOPBACK"
  assert options["parallelism"] == 2


def test_spark_local_master_with_an_external_worker_pool(job_server_jar,
                                                         caplog):
  settings = beam.BeamSettings(spark_master_url="local[2]",
                               spark_job_server_jar=job_server_jar,
                               environment_type="EXTERNAL",
                               environment_config="localhost:50000")
  options = beam_options(beam.beam_pipeline_args("spark", settings), caplog)
  assert options["runner"] == "SparkRunner"
  assert options["spark_master_url"] == "local[2]"
  assert options["spark_job_server_jar"] == job_server_jar
  assert options["spark_submit_uber_jar"] is False
  assert options["environment_type"] == "EXTERNAL"
  assert options["environment_config"] == "localhost:50000"


def test_a_cluster_with_a_local_jar_starts_the_job_server_here(
    job_server_jar, caplog):
  settings = beam.BeamSettings(flink_master="jm:8081", image=IMAGE,
                               flink_job_server_jar=job_server_jar)
  options = beam_options(beam.beam_pipeline_args("flink", settings), caplog)
  assert options["flink_job_server_jar"] == job_server_jar
  assert options["flink_submit_uber_jar"] is False
  assert options["environment_type"] == "DOCKER"  # A cluster's default.
  settings = beam.BeamSettings(spark_master_url="spark://m:7077", image=IMAGE,
                               spark_job_server_jar=job_server_jar)
  options = beam_options(beam.beam_pipeline_args("spark", settings), caplog)
  assert options["spark_job_server_jar"] == job_server_jar
  assert options["environment_type"] == "DOCKER"


def test_a_missing_job_server_jar_is_named(tmp_path):
  missing = str(tmp_path / "nowhere.jar")
  settings = beam.BeamSettings(flink_master="[local]",
                               flink_job_server_jar=missing)
  with pytest.raises(beam.BeamSettingError, match="nowhere.jar"):
    beam.beam_pipeline_args("flink", settings)


def test_local_engine_flags_from_environment(monkeypatch, job_server_jar):
  monkeypatch.setenv("FLOWERS_BEAM_PROFILE", "flink")
  monkeypatch.setenv("FLOWERS_FLINK_MASTER", "[local]")
  monkeypatch.setenv("FLOWERS_FLINK_JOB_SERVER_JAR", job_server_jar)
  monkeypatch.setenv("FLOWERS_BEAM_PARALLELISM", "2")
  profile, settings = parse([])
  assert beam.beam_pipeline_args(profile, settings) == [
      "--runner=FlinkRunner", "--flink_master=[local]",
      f"--flink_job_server_jar={job_server_jar}",
      "--environment_type=LOOPBACK", *beam.SAME_ENVIRONMENT_ARGS,
      "--parallelism=2"]


def test_local_runs_in_process_on_few_cores_or_a_small_input():
  big = 10 * beam.SMALL_INPUT_BYTES
  resolve = lambda settings, size, cores, profile="local": (
      beam.resolve_local_profile(profile, settings, size, cpu_count=cores))
  none = beam.BeamSettings()
  # Few cores: worker processes never pay, whatever the input.
  profile, reason = resolve(none, big, 2)
  assert profile == "in_memory"
  assert "2 core(s)" in reason and "--beam-workers" in reason
  # Many cores, small input: in-process too.
  profile, reason = resolve(none, beam.SMALL_INPUT_BYTES - 1, 16)
  assert profile == "in_memory" and "MiB of TFRecords" in reason
  # Many cores and a large input: worker processes, said so.
  profile, reason = resolve(none, big, 16)
  assert profile == "local" and "one worker process per core" in reason
  # The flags win: --beam-workers N, or any profile asked for by name.
  assert resolve(beam.BeamSettings(workers=2), 0, 2) == ("local", "")
  assert resolve(none, 0, 2, "in_memory") == ("in_memory", "")
  assert resolve(DATAFLOW, 0, 2, "dataflow") == ("dataflow", "")


def test_help_names_each_value_by_its_setting():
  """The flags store under prefixed names; --help must not show them."""
  parser = argparse.ArgumentParser()
  beam_flags.add_beam_arguments(parser)
  text = parser.format_help()
  assert "BEAM_SETTING" not in text
  assert "--beam-workers WORKERS" in text
  assert "--beam-environment-type {DOCKER,EXTERNAL,LOOPBACK}" in text
