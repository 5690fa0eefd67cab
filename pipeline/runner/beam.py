"""Beam arguments of the Beam-based components (StatisticsGen, Transform,
Evaluator, and the other executors that take them), by named profile.

- `local` (default): DirectRunner, one worker process per core; run from
  this machine (`local_runner.py`), in the runner's own process instead
  when worker processes cannot pay for themselves (`resolve_local_profile`:
  a small input or few cores), said with its reason.
- `in_memory`: DirectRunner in one process.
- `dataflow`: Google Cloud Dataflow; the workers run the project's image.
- `flink`: Flink through Beam's portable runner: a cluster, or Flink's
  embedded mini-cluster (`--flink-master [local]`).
- `spark`: Spark through Beam's portable runner: a cluster, or a `local[N]`
  master.

What a profile needs (project, cluster addresses, image...) is never written
in source: each setting is a runner flag whose default is an environment
variable (pipeline/runner/beam_flags.py, which gives the `BeamSettings` read
here). A profile that lacks a required setting raises
`MissingBeamSettingError`, naming the flag and the variable. docs/deploy.md,
"Beam profiles", has the table; docs/beam-engines.md how the portable
profiles run, here and on a cluster.
"""

import os
from typing import List, Optional, Tuple

from pipeline.runner import beam_flags
from pipeline.runner.beam_flags import BEAM_PROFILES
from pipeline.runner.beam_flags import BeamSettings
from pipeline.runner.beam_flags import DEFAULT_PROFILE
from pipeline.runner.beam_flags import describe
from pipeline.runner.beam_flags import ENVIRONMENT_TYPES
from settings import features

# Engines inside the job server's own process, not a cluster address.
FLINK_LOCAL_MASTER = "[local]"
SPARK_LOCAL_MASTER_PREFIX = "local"


# When `local` runs the DirectRunner in-process (`resolve_local_profile`).
# Each worker process is a new Python that imports TensorFlow and the
# component's libraries, seconds before its first example; the bench
# measured 2 workers on 2 cores at 0.72x to 0.81x the speed of 1
# (docs/benchmarks.md, section "beam"), so on so few cores they never pay.
# Below SMALL_INPUT_BYTES of TFRecords (about 5,000 images at 192 px, 20 s
# of one process's work at the bench's 240 examples/s) the start-up is
# a large share of the work, on any machine.
FEW_CORES = 2

# TFX's Beam executors package TFX as an sdist for remote workers unless an
# argument already says where the workers' dependencies come from
# (tfx/utils/dependency_utils.py): 1.5 s in every Beam component, and a
# 52 MiB folder in the temp directory that TFX never removes. The local
# profile's worker processes and a LOOPBACK environment's workers run this
# interpreter in this environment, so there is nothing to ship: naming the
# environment the workers run in (a container image, to Beam) says so, and
# neither the DirectRunner nor LOOPBACK starts a container.
SAME_ENVIRONMENT_ARGS = ["--sdk_container_image=this-python-environment"]
SMALL_INPUT_BYTES = 64 * 2**20


class BeamSettingError(ValueError):
  """A Beam setting is unusable; the message names its flag and env var."""


class MissingBeamSettingError(BeamSettingError):
  """A profile lacks a setting it needs; the message names flag and env."""


def _require(profile: str, settings: BeamSettings, *fields: str) -> None:
  missing = [field for field in fields if not getattr(settings, field)]
  if missing:
    raise MissingBeamSettingError(
        f"Beam profile {profile!r} needs "
        + ", ".join(describe(field) for field in missing))


def _dataflow_args(settings: BeamSettings) -> List[str]:
  _require("dataflow", settings, "project", "region", "temp_location",
           "image")
  for field in ("temp_location", "staging_location"):
    value = getattr(settings, field)
    if value and not value.startswith("gs://"):
      raise BeamSettingError(
          f"Beam profile 'dataflow' needs a gs:// folder for "
          f"{describe(field)}, not {value!r}")
  staging = (settings.staging_location or
             settings.temp_location.rstrip("/") + "/staging")
  args = [
      "--runner=DataflowRunner",
      f"--project={settings.project}",
      f"--region={settings.region}",
      f"--temp_location={settings.temp_location}",
      f"--staging_location={staging}",
      # Workers run our image, so the module code (modules.*, pipeline.*)
      # and the pinned TFX stack are there; custom containers need Runner
      # v2, and `--sdk_location=container` uses the image's Beam instead of
      # staging another copy of the SDK.
      f"--sdk_container_image={settings.image}",
      "--sdk_location=container",
      "--experiments=use_runner_v2",
  ]
  if settings.machine_type:
    args.append(f"--machine_type={settings.machine_type}")
  if settings.max_workers:
    args.append(f"--max_num_workers={settings.max_workers}")
  if settings.service_account:
    args.append(f"--service_account_email={settings.service_account}")
  return args


def _environment_args(profile: str, settings: BeamSettings,
                      local_engine: bool) -> List[str]:
  """Where the portable runners' Python workers come from."""
  kind = settings.environment_type or ("LOOPBACK" if local_engine
                                       else "DOCKER")
  if kind not in ENVIRONMENT_TYPES:
    raise BeamSettingError(
        f"unknown Beam environment type {kind!r}; choose from "
        f"{ENVIRONMENT_TYPES} ({describe('environment_type')})")
  if kind == "LOOPBACK":
    return ["--environment_type=LOOPBACK"] + SAME_ENVIRONMENT_ARGS
  if kind == "EXTERNAL":
    _require(profile, settings, "environment_config")
    return ["--environment_type=EXTERNAL",
            f"--environment_config={settings.environment_config}"]
  # DOCKER: the workers run our image (its ENTRYPOINT is Beam's boot).
  if not (settings.environment_config or settings.image):
    raise MissingBeamSettingError(
        f"Beam profile {profile!r} with environment DOCKER needs "
        f"{describe('image')} or {describe('environment_config')}")
  image = settings.environment_config or settings.image
  return ["--environment_type=DOCKER", f"--environment_config={image}"]


def _job_server_jar(profile: str, field: str, settings: BeamSettings,
                    master: str) -> str:
  """The job server jar a local engine needs; Beam would download one."""
  jar = getattr(settings, field)
  if not jar:
    raise MissingBeamSettingError(
        f"Beam profile {profile!r} with master {master!r} needs "
        f"{describe(field)} (`make beam-jobs` fetches it)")
  if not features.is_object_store(jar) and not os.path.isfile(jar):
    # Beam would take a missing path for a URL and fail with less to go on.
    raise BeamSettingError(
        f"{describe(field)}: no job server jar at {jar!r} (`make "
        f"beam-jobs` fetches it)")
  return jar


def _flink_args(settings: BeamSettings) -> List[str]:
  master = settings.flink_master
  local_engine = False
  if settings.job_endpoint:
    args = ["--runner=PortableRunner",
            f"--job_endpoint={settings.job_endpoint}"]
  elif master == FLINK_LOCAL_MASTER or (master and
                                        settings.flink_job_server_jar):
    # Beam starts the job server jar here (`java -jar`), which runs the job
    # in Flink's mini-cluster ([local]) or submits it to the JobManager.
    local_engine = master == FLINK_LOCAL_MASTER
    jar = _job_server_jar("flink", "flink_job_server_jar", settings, master)
    args = ["--runner=FlinkRunner", f"--flink_master={master}",
            f"--flink_job_server_jar={jar}"]
  elif master:
    # Submitting one jar through the JobManager's REST API needs no Java
    # where the component runs (our image has none); Beam fetches the
    # matching job server jar on first use.
    args = ["--runner=FlinkRunner", f"--flink_master={master}",
            "--flink_submit_uber_jar"]
  else:
    raise MissingBeamSettingError(
        f"Beam profile 'flink' needs {describe('flink_master')} or "
        f"{describe('job_endpoint')}")
  args += _environment_args("flink", settings, local_engine)
  if settings.parallelism:
    args.append(f"--parallelism={settings.parallelism}")
  return args


def _spark_args(settings: BeamSettings) -> List[str]:
  master = settings.spark_master_url
  local_engine = False
  if settings.job_endpoint:
    args = ["--runner=PortableRunner",
            f"--job_endpoint={settings.job_endpoint}"]
  elif master and (master.startswith(SPARK_LOCAL_MASTER_PREFIX) or
                   (settings.spark_job_server_jar and
                    not settings.spark_rest_url)):
    # Beam starts the job server jar here, which runs Spark in its own
    # process (local[N]) or as the driver of a spark:// cluster.
    local_engine = master.startswith(SPARK_LOCAL_MASTER_PREFIX)
    jar = _job_server_jar("spark", "spark_job_server_jar", settings, master)
    args = ["--runner=SparkRunner", f"--spark_master_url={master}",
            f"--spark_job_server_jar={jar}"]
  elif master:
    args = ["--runner=SparkRunner", f"--spark_master_url={master}"]
    if settings.spark_rest_url:
      # Without it SparkRunner starts Beam's Java job server in-process.
      args += ["--spark_submit_uber_jar",
               f"--spark_rest_url={settings.spark_rest_url}"]
  else:
    raise MissingBeamSettingError(
        f"Beam profile 'spark' needs {describe('spark_master_url')} or "
        f"{describe('job_endpoint')}")
  return args + _environment_args("spark", settings, local_engine)


def resolve_local_profile(profile: str, settings: BeamSettings,
                          input_bytes: int,
                          cpu_count: Optional[int] = None
                          ) -> Tuple[str, str]:
  """The profile to run on this machine, and why, for a runner that runs
  the components here (`local_runner.py`; not a Kubeflow spec, whose pods
  count their own cores).

  `local` without `--beam-workers` becomes `in_memory` (the DirectRunner
  in the component's own process, no worker processes) when the machine
  has at most FEW_CORES cores or the input is under SMALL_INPUT_BYTES.
  `--beam-workers N` keeps N worker processes; `--beam-profile in_memory`
  or any other profile is kept as given.

  Args:
    profile: the profile asked for (`--beam-profile`).
    settings: the Beam settings (`--beam-workers` is read).
    input_bytes: size of the TFRecords the pipeline reads (the data
      plan's `input_bytes`).
    cpu_count: cores of this machine; None: `os.cpu_count()`.

  Returns:
    (profile, reason): the reason is a sentence naming the measurements
    and the flag that overrides the choice; empty when nothing was chosen.
  """
  if profile != "local" or settings.workers:
    return profile, ""
  cores = cpu_count or os.cpu_count() or 1
  size = f"{input_bytes / 2**20:.1f} MiB of TFRecords"
  if cores <= FEW_CORES:
    why = f"{cores} core(s) (at most {FEW_CORES}), {size}"
  elif input_bytes < SMALL_INPUT_BYTES:
    why = (f"{size} (under {SMALL_INPUT_BYTES // 2**20} MiB), "
           f"{cores} cores")
  else:
    return profile, (f"DirectRunner with one worker process per core: "
                     f"{cores} cores, {size}")
  return "in_memory", (
      f"DirectRunner in-process, no worker processes: {why}; "
      f"{beam_flags.flag_of('workers')} N runs N worker processes")


def beam_pipeline_args(profile: str = DEFAULT_PROFILE,
                       settings: Optional[BeamSettings] = None) -> List[str]:
  """Returns the Beam pipeline arguments of `profile`.

  Args:
    profile: one of BEAM_PROFILES.
    settings: what the profile needs (pipeline/runner/beam_flags.py); None: no
      settings, enough for `local` and `in_memory`.

  Returns:
    Arguments for `create_pipeline(beam_pipeline_args=...)`.

  Raises:
    MissingBeamSettingError: the profile lacks a setting it needs; the
      message names its flag and environment variable.
    BeamSettingError: an unknown profile or an unusable setting.
  """
  settings = settings or BeamSettings()
  if profile == "in_memory":
    # Beam's DirectRunner defaults are this profile (direct_running_mode
    # in_memory, direct_num_workers 1), so it is said with no arguments:
    # TFX's Beam executors, given any, build an sdist of TFX for remote
    # workers (tfx/utils/dependency_utils.py), 1.5 s in every Beam
    # component, for workers this profile does not have.
    args = []
  elif profile == "local":
    # 0 lets Beam count the cores where the component runs (a pod, not the
    # machine that compiled a Kubeflow spec).
    args = ["--direct_running_mode=multi_processing",
            f"--direct_num_workers={settings.workers or 0}"
            ] + SAME_ENVIRONMENT_ARGS
  elif profile == "dataflow":
    args = _dataflow_args(settings)
  elif profile == "flink":
    args = _flink_args(settings)
  elif profile == "spark":
    args = _spark_args(settings)
  else:
    raise BeamSettingError(
        f"unknown Beam profile {profile!r}; choose from {BEAM_PROFILES} "
        f"({beam_flags.PROFILE_FLAG}, env {beam_flags.PROFILE_ENV})")
  return args + list(settings.extra_args)
