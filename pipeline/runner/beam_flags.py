"""The Beam flags: a profile and the settings it needs, declared like the
runners' other flags, and the `BeamSettings` they give.

Both runners call `add_beam_arguments` and `settings_from_args`. Each
setting is a row of `_SETTING_FLAGS` (flag, `BeamSettings` field, type,
choices, help), the shape of the logical flags' table (pipeline/runner/flags.py),
added with `env_flags.add_env_flag` as kubeflow_runner.py adds its
deployment flags: a flag `--some-name` defaults to the variable
FLOWERS_SOME_NAME, read when the parser is built. pipeline/runner/beam.py turns a
profile and its settings into Beam arguments; its messages name a setting
by its flag and variable (`describe`). docs/deploy.md, "Beam profiles",
has the table.
"""

import argparse
import dataclasses
import shlex
from typing import List, Optional, Sequence

from pipeline.runner import env_flags

BEAM_PROFILES = ("local", "in_memory", "dataflow", "flink", "spark")
DEFAULT_PROFILE = "local"
PROFILE_FLAG = "--beam-profile"
PROFILE_ENV = env_flags.env_name(PROFILE_FLAG)
# How the portable runners (Flink, Spark) start the Python SDK harness:
# DOCKER runs our image next to each task manager / executor, EXTERNAL
# connects to a running worker pool (e.g. a sidecar running the image with
# --worker_pool, or `python -m apache_beam.runners.worker.worker_pool_main`
# on this machine), LOOPBACK runs it inside the process that submitted the
# job. Not given: DOCKER on a cluster, LOOPBACK on a local engine.
ENVIRONMENT_TYPES = ("DOCKER", "EXTERNAL", "LOOPBACK")


@dataclasses.dataclass(frozen=True)
class BeamSettings:
  """What the profiles may need; None means not given.

  Attributes:
    workers: DirectRunner worker processes (`local`); None: one per core of
      the machine that runs the component.
    project: GCP project (`dataflow`).
    region: Dataflow region (`dataflow`).
    temp_location: gs:// folder for Dataflow's temporary files.
    staging_location: gs:// folder for staged files; None:
      `<temp_location>/staging`.
    image: the project's container image; Dataflow workers and the DOCKER
      environment of Flink/Spark run it, so they have the module code.
    machine_type: Dataflow worker machine type.
    max_workers: Dataflow autoscaling limit.
    service_account: service account the Dataflow workers run as.
    flink_master: Flink JobManager REST address, or `[local]` for Flink's
      embedded mini-cluster (`flink`).
    flink_job_server_jar: Beam's Flink job server jar on this machine
      (`make beam-jobs`); Beam runs it with `java -jar`, nothing is
      downloaded.
    spark_master_url: Spark master, e.g. spark://host:7077, or `local[N]`
      (`spark`).
    spark_job_server_jar: Beam's Spark job server jar on this machine.
    spark_rest_url: Spark REST submission URL, e.g. http://host:6066.
    job_endpoint: a running Beam job server (`flink`, `spark`); when set,
      the job goes to it through the PortableRunner.
    environment_type: one of ENVIRONMENT_TYPES (`flink`, `spark`); None:
      LOOPBACK on a local engine, DOCKER on a cluster.
    environment_config: the worker pool address for EXTERNAL; for DOCKER
      the image (default: `image`).
    parallelism: Flink parallelism (also of the `[local]` mini-cluster).
    extra_args: more Beam arguments, appended as given.
  """
  workers: Optional[int] = None
  project: Optional[str] = None
  region: Optional[str] = None
  temp_location: Optional[str] = None
  staging_location: Optional[str] = None
  image: Optional[str] = None
  machine_type: Optional[str] = None
  max_workers: Optional[int] = None
  service_account: Optional[str] = None
  flink_master: Optional[str] = None
  flink_job_server_jar: Optional[str] = None
  spark_master_url: Optional[str] = None
  spark_job_server_jar: Optional[str] = None
  spark_rest_url: Optional[str] = None
  job_endpoint: Optional[str] = None
  environment_type: Optional[str] = None
  environment_config: Optional[str] = None
  parallelism: Optional[int] = None
  extra_args: Sequence[str] = ()



# flag, BeamSettings field, type, choices, help (the variable is appended).
_SETTING_FLAGS = (
    ("--beam-workers", "workers", int, None,
     "local: DirectRunner worker processes (default: one per core of the "
     "machine that runs the component)"),
    ("--gcp-project", "project", str, None,
     "dataflow, and kubeflow_runner.py's --trainer-backend vertex: GCP "
     "project"),
    ("--gcp-region", "region", str, None,
     "dataflow, and kubeflow_runner.py's --trainer-backend vertex: region, "
     "e.g. us-central1"),
    ("--beam-temp-location", "temp_location", str, None,
     "dataflow: gs:// folder for temporary files"),
    ("--beam-staging-location", "staging_location", str, None,
     "dataflow: gs:// folder for staged files (default: <temp "
     "location>/staging)"),
    ("--beam-image", "image", str, None,
     "dataflow, and flink/spark with DOCKER: the project's image, run by the "
     "Beam workers so they have the module code (kubeflow_runner.py: "
     "default --image)"),
    ("--dataflow-machine-type", "machine_type", str, None,
     "dataflow: worker machine type, e.g. n1-highmem-4 (optional)"),
    ("--dataflow-max-workers", "max_workers", int, None,
     "dataflow: autoscaling limit (optional)"),
    ("--dataflow-service-account", "service_account", str, None,
     "dataflow: worker service account e-mail (optional)"),
    ("--flink-master", "flink_master", str, None,
     "flink: JobManager REST address, host:8081, or [local] for Flink's "
     "embedded mini-cluster (or give --beam-job-endpoint)"),
    ("--flink-job-server-jar", "flink_job_server_jar", str, None,
     "flink: Beam's Flink job server jar on this machine (make beam-jobs); "
     "needed for [local]"),
    ("--spark-master-url", "spark_master_url", str, None,
     "spark: master URL, spark://host:7077, or local[N] (or give "
     "--beam-job-endpoint)"),
    ("--spark-job-server-jar", "spark_job_server_jar", str, None,
     "spark: Beam's Spark job server jar on this machine (make beam-jobs); "
     "needed for local[N]"),
    ("--spark-rest-url", "spark_rest_url", str, None,
     "spark: REST submission URL, http://host:6066; submits one jar, so no "
     "Java is needed where the component runs (optional)"),
    ("--beam-job-endpoint", "job_endpoint", str, None,
     "flink/spark: a running Beam job server, host:8099 (PortableRunner)"),
    ("--beam-environment-type", "environment_type", str, ENVIRONMENT_TYPES,
     "flink/spark: how the Python workers start: "
     + ", ".join(ENVIRONMENT_TYPES)
     + " (default: LOOPBACK on a local engine, else DOCKER)"),
    ("--beam-environment-config", "environment_config", str, None,
     "flink/spark: worker pool host:port for EXTERNAL; the image for DOCKER "
     "(default: the Beam image)"),
    ("--beam-parallelism", "parallelism", int, None,
     "flink: parallelism, of a cluster or of [local] (optional)"),
    ("--beam-extra-args", "extra_args", shlex.split, None,
     "more Beam arguments for any profile, appended as given (one "
     "shell-quoted string)"),
)
_FLAG_OF_FIELD = {field: flag for flag, field, *_ in _SETTING_FLAGS}


def beam_flag_names() -> List[str]:
  """Every Beam flag, as a user types it (both runners have them all)."""
  return [PROFILE_FLAG] + [flag for flag, *_ in _SETTING_FLAGS]


def flag_of(field: str) -> str:
  """The flag of a `BeamSettings` field."""
  return _FLAG_OF_FIELD[field]


def describe(field: str) -> str:
  """`--flag (env VAR)` of a `BeamSettings` field, for messages."""
  flag = flag_of(field)
  return f"{flag} (env {env_flags.env_name(flag)})"


def _dest(field: str) -> str:
  # Prefixed: a runner's own flag may share a field's name (kubeflow_runner's
  # --image and --beam-image's `image`), and one would overwrite the other.
  return f"beam_setting_{field}"


def add_beam_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds --beam-profile and every setting, defaulting to their env vars.

  The defaults are read when this is called (at argument parsing), so an
  environment variable set by the caller counts.
  """
  group = parser.add_argument_group(
      "Beam (StatisticsGen, Transform, Evaluator...)",
      "a profile and the settings it needs; each flag defaults to the "
      "environment variable named in its help")
  env_flags.add_env_flag(group, PROFILE_FLAG, "Beam runner preset",
                         default=DEFAULT_PROFILE, choices=BEAM_PROFILES)
  for flag, field, parse, choices, help_text in _SETTING_FLAGS:
    # SUPPRESS (no attribute) rather than None keeps "(default: None)" out
    # of --help; `settings_from_args` reads an absent attribute as None.
    # metavar: --help names the value by the field, not the prefixed dest.
    env_flags.add_env_flag(group, flag, help_text,
                           default=argparse.SUPPRESS, dest=_dest(field),
                           metavar=None if choices else field.upper(),
                           type=parse, choices=choices)


def settings_from_args(args: argparse.Namespace) -> BeamSettings:
  """The BeamSettings of arguments parsed with `add_beam_arguments`."""
  values = {field.name: getattr(args, _dest(field.name), None)
            for field in dataclasses.fields(BeamSettings)}
  values["extra_args"] = tuple(values["extra_args"] or ())
  return BeamSettings(**values)
