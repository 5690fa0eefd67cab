"""Compiles the pipeline to a KFP v2 pipeline spec (Kubeflow Pipelines or
Vertex AI Pipelines) with KubeflowV2DagRunner.

    python kubeflow_runner.py --image REGISTRY/flowers:TAG \
        --pipeline-root gs://BUCKET/flowers/root --data-root gs://BUCKET/data \
        --serving-dir gs://BUCKET/flowers/serving --output flowers_pipeline.yaml

The pipeline is the same `create_pipeline(...)` the local runner builds; only
physical settings differ, and they come from flags (or the FLOWERS_*
environment variables named in --help), never from source: the image, the
storage paths, the Beam profile and its settings (pipeline/beam.py), and the
Trainer's image and resources (accelerator type and count, CPU, memory),
which are attached to the Trainer node of that pipeline object; or, with
`--trainer-backend vertex`, a Vertex AI custom job (machine type,
accelerators, TPU topology) that the Trainer task launches. Module code reaches
the components through the container image (module paths such as
`modules.trainer.run_fn`, the schema at /flowers/schema/schema.pbtxt), so
nothing in the spec refers to this machine's files.

Output: `.json` is a PipelineJob (pipelineSpec + runtimeConfig), for Vertex
AI Pipelines; `.yaml` is the PipelineSpec alone, the format Kubeflow
Pipelines uploads (Vertex takes it too). Both carry the pipeline root.
"""

import argparse
import dataclasses
import json
import os
import posixpath
import re
import sys
from typing import Optional

from pipeline import runtime

runtime.configure()  # Before TensorFlow is imported.

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
PIPELINE_NAME = "flowers"
# Where the Dockerfile puts the project inside the image.
IMAGE_PROJECT_DIR = "/flowers"
IMAGE_SCHEMA_FILE = posixpath.join(IMAGE_PROJECT_DIR, "schema",
                                   "schema.pbtxt")
# The node of create_pipeline(...) that gets the resource request.
TRAINER_ID = "Trainer"
# Where the Trainer trains: in its own pipeline task, or in a Vertex AI
# custom job that task launches (machine types, TPU VMs).
TRAINER_BACKENDS = ("pipeline", "vertex")
DEFAULT_VERTEX_MACHINE_TYPE = "n1-standard-8"
JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")
PLACEHOLDER_BUCKET = "YOUR_BUCKET"

# Kubernetes quantity suffixes -> bytes; the legacy `memory_limit` field of
# the spec is in GB (10^9 bytes), as KFP's own compiler writes it.
_MEMORY_UNITS = {
    "": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    "Pi": 2**50, "Ei": 2**60,
}


class DeploymentSettingError(ValueError):
  """A flag or environment variable of this runner has an unusable value."""


ENV_PREFIX = "FLOWERS_"


def env_name(flag: str) -> str:
  """`--some-name` -> FLOWERS_SOME_NAME, the variable the flag defaults to."""
  return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


def _add_env_flag(group, flag: str, help_text: str,
                  default: Optional[str] = None, **kwargs) -> None:
  """A physical flag that defaults to its FLOWERS_* variable (read now) and
  names it in its help."""
  env = env_name(flag)
  group.add_argument(flag, default=os.environ.get(env) or default,
                     help=f"{help_text} (env {env})", **kwargs)


def build_parser() -> argparse.ArgumentParser:
  """The flags; each physical one `--some-name` defaults to the environment
  variable FLOWERS_SOME_NAME, read when this is called."""
  from pipeline import beam  # pylint: disable=g-import-not-at-top
  from pipeline import flags  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      description="Compile the flower pipeline to a KFP v2 pipeline spec "
      "(Kubeflow Pipelines, Vertex AI Pipelines).",
      formatter_class=flags.HelpFormatter)
  deploy = parser.add_argument_group("deployment")
  _add_env_flag(deploy, "--image",
                f"container image with the project at {IMAGE_PROJECT_DIR} "
                "and its requirements, built from the Dockerfile",
                default="flowers-pipeline:latest")
  _add_env_flag(deploy, "--pipeline-root", "where component outputs go",
                default=f"gs://{PLACEHOLDER_BUCKET}/flowers/pipeline_root")
  _add_env_flag(deploy, "--data-root",
                "folder holding tfrecords-jpeg-<S>x<S>/",
                default=f"gs://{PLACEHOLDER_BUCKET}/flowers/data")
  _add_env_flag(deploy, "--serving-dir", "where blessed models are pushed",
                default=f"gs://{PLACEHOLDER_BUCKET}/flowers/serving")
  _add_env_flag(deploy, "--output",
                "spec file to write: .json (PipelineJob, for Vertex AI) or "
                ".yaml (PipelineSpec, for Kubeflow Pipelines and Vertex AI)",
                default="flowers_pipeline.json")
  trainer = parser.add_argument_group(
      "Trainer resources",
      "requested for the Trainer only; the Trainer picks the distribution "
      "strategy (TPU, 2+ GPUs, default) from what it sees. An accelerator "
      "needs an image built for it: --trainer-image")
  _add_env_flag(trainer, "--trainer-image",
                "image the Trainer trains in (default: --image); for GPUs or "
                "TPUs the Dockerfile built with --build-arg "
                "ACCELERATOR=gpu or tpu")
  _add_env_flag(trainer, "--trainer-backend",
                "pipeline: train in the Trainer's pipeline task, with the "
                "resources below; vertex: that task launches a Vertex AI "
                "custom job (needs --gcp-project and --gcp-region; machine "
                "types and TPU VMs)",
                default="pipeline", choices=TRAINER_BACKENDS)
  _add_env_flag(trainer, "--trainer-machine-type",
                "vertex: the job's machine type, e.g. n1-standard-8, "
                "a2-highgpu-1g, cloud-tpu, ct5lp-hightpu-4t (default "
                f"{DEFAULT_VERTEX_MACHINE_TYPE})", metavar="TYPE")
  _add_env_flag(trainer, "--trainer-tpu-topology",
                "vertex: TPU slice topology, e.g. 2x2", metavar="TOPOLOGY")
  _add_env_flag(trainer, "--trainer-accelerator-type",
                "Vertex AI: NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100, "
                "TPU_V3 (vertex: TPU_V5_LITEPOD, ...); Kubeflow Pipelines: "
                "the Kubernetes resource, e.g. nvidia.com/gpu",
                metavar="TYPE")
  _add_env_flag(trainer, "--trainer-accelerator-count",
                "accelerators (default 1 when a type is given)", type=int,
                metavar="COUNT")
  _add_env_flag(trainer, "--trainer-cpu",
                "pipeline: CPU limit, cores or millicores as 500m",
                metavar="CPU")
  _add_env_flag(trainer, "--trainer-memory",
                "pipeline: memory limit, a Kubernetes quantity such as 32G "
                "or 30Gi", metavar="MEMORY")
  beam.add_beam_arguments(parser)
  # The same logical flags as local_runner.py, read by the same function.
  flags.add_logical_flags(parser)
  return parser


def parse_args(argv=None) -> argparse.Namespace:
  return build_parser().parse_args(argv)


def _cpu_limit(text: str) -> float:
  if not re.fullmatch(r"([0-9]*[.])?[0-9]+m?", text):
    raise DeploymentSettingError(
        f"--trainer-cpu (env FLOWERS_TRAINER_CPU) must be a number of cores "
        f"or millicores (500m), not {text!r}")
  return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _memory_limit_gb(text: str) -> float:
  match = re.fullmatch(r"([0-9]+(?:[.][0-9]+)?)([KMGTPE]i?)?", text)
  if not match:
    raise DeploymentSettingError(
        f"--trainer-memory (env FLOWERS_TRAINER_MEMORY) must be a Kubernetes "
        f"quantity such as 32G or 30Gi, not {text!r}")
  return float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""] / 10**9


def _accelerator(args: argparse.Namespace):
  """(type, count) of the Trainer's accelerator request, or None."""
  accelerator = args.trainer_accelerator_type
  count = args.trainer_accelerator_count
  if count is not None and not accelerator:
    raise DeploymentSettingError(
        "--trainer-accelerator-count needs --trainer-accelerator-type (env "
        "FLOWERS_TRAINER_ACCELERATOR_TYPE)")
  if not accelerator:
    return None
  count = 1 if count is None else count
  if count < 1:
    raise DeploymentSettingError(
        "--trainer-accelerator-count (env "
        "FLOWERS_TRAINER_ACCELERATOR_COUNT) must be at least 1")
  return accelerator, count


def trainer_resources(args: argparse.Namespace):
  """The Trainer's ResourceSpec from the flags, or None if none was given.

  Each value goes both into the typed field older backends read (cpu_limit,
  memory_limit in GB, accelerator.type/count) and into the `resource_*`
  string field newer ones prefer, as KFP's own compiler writes them.
  """
  from kfp.pipeline_spec import pipeline_spec_pb2  # pylint: disable=g-import-not-at-top
  accelerator = _accelerator(args)
  if not (accelerator or args.trainer_cpu or args.trainer_memory):
    return None
  resources = (pipeline_spec_pb2.PipelineDeploymentConfig
               .PipelineContainerSpec.ResourceSpec())
  if args.trainer_cpu:
    resources.cpu_limit = _cpu_limit(args.trainer_cpu)
    resources.resource_cpu_limit = args.trainer_cpu
  if args.trainer_memory:
    resources.memory_limit = _memory_limit_gb(args.trainer_memory)
    resources.resource_memory_limit = args.trainer_memory
  if accelerator:
    accelerator_type, count = accelerator
    resources.accelerator.type = accelerator_type
    resources.accelerator.count = count
    resources.accelerator.resource_type = accelerator_type
    resources.accelerator.resource_count = str(count)
  return resources


def _check_trainer_backend(args: argparse.Namespace) -> None:
  """Flags that only one backend reads are an error with the other."""
  if args.trainer_backend not in TRAINER_BACKENDS:
    raise DeploymentSettingError(
        f"--trainer-backend (env FLOWERS_TRAINER_BACKEND) must be one of "
        f"{', '.join(TRAINER_BACKENDS)}, not {args.trainer_backend!r}")
  if args.trainer_backend == "vertex":
    wrong = [("--trainer-cpu", args.trainer_cpu),
             ("--trainer-memory", args.trainer_memory)]
    hint = "with --trainer-backend vertex, --trainer-machine-type sets them"
  else:
    wrong = [("--trainer-machine-type", args.trainer_machine_type),
             ("--trainer-tpu-topology", args.trainer_tpu_topology)]
    hint = "they apply to --trainer-backend vertex"
  given = [flag for flag, value in wrong if value]
  if given:
    raise DeploymentSettingError(
        f"{' and '.join(given)} cannot be used with --trainer-backend "
        f"{args.trainer_backend}: {hint}")


def vertex_training(args: argparse.Namespace, settings, trainer_image: str):
  """The Vertex AI Trainer's custom_config entries: a one-replica custom job
  on the chosen machine, running `trainer_image`. TFX's Vertex Trainer sets
  the job's command (its run_executor, which calls our run_fn)."""
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  required = (("--gcp-project (env FLOWERS_GCP_PROJECT)", settings.project),
              ("--gcp-region (env FLOWERS_GCP_REGION)", settings.region))
  missing = [flag for flag, value in required if not value]
  if missing:
    raise DeploymentSettingError(
        f"--trainer-backend vertex needs {' and '.join(missing)}")
  machine = {"machine_type": (args.trainer_machine_type or
                              DEFAULT_VERTEX_MACHINE_TYPE)}
  accelerator = _accelerator(args)
  if accelerator:
    machine["accelerator_type"], machine["accelerator_count"] = accelerator
  if args.trainer_tpu_topology:
    machine["tpu_topology"] = args.trainer_tpu_topology
  return {
      vertex.ENABLE_VERTEX_KEY: True,
      vertex.VERTEX_REGION_KEY: settings.region,
      vertex.TRAINING_ARGS_KEY: {
          "project": settings.project,
          "job_spec": {"worker_pool_specs": [{
              "machine_spec": machine,
              "replica_count": 1,
              "container_spec": {"image_uri": trainer_image},
          }]},
      },
  }


def apply_trainer_resources(pipeline, resources) -> None:
  """Attaches `resources` to the pipeline's Trainer node (by id), so the
  shared create_pipeline(...) stays free of deployment details."""
  trainers = [node for node in pipeline.components if node.id == TRAINER_ID]
  if len(trainers) != 1:
    raise DeploymentSettingError(
        f"expected one node with id {TRAINER_ID!r} in the pipeline, found "
        f"{len(trainers)}")
  trainers[0].with_platform_config(resources)


def _warn_about_paths(args: argparse.Namespace) -> None:
  """The cluster reads these paths; this machine's paths mean nothing there."""
  for flag, value in (("--pipeline-root", args.pipeline_root),
                      ("--data-root", args.data_root),
                      ("--serving-dir", args.serving_dir)):
    if PLACEHOLDER_BUCKET in value:
      print(f"warning: {flag} is still the placeholder {value}",
            file=sys.stderr)
    elif "://" not in value:
      print(f"warning: {flag} {value} is not a URI (gs://...); the "
            "cluster's containers must be able to read it", file=sys.stderr)


def _warn_about_images(args: argparse.Namespace) -> None:
  """An accelerator is only used by an image built for it."""
  if args.trainer_accelerator_type and not args.trainer_image:
    print(f"warning: the Trainer asks for {args.trainer_accelerator_type} "
          f"and trains in --image {args.image}; TensorFlow uses it only if "
          "that image was built with --build-arg ACCELERATOR=gpu (or tpu). "
          "--trainer-image gives the Trainer its own image.",
          file=sys.stderr)


def logical_config(args: argparse.Namespace):
  """The PipelineConfig of the logical flags (pipeline/flags.py).

  Without --image-size (or --set image_size), a local --data-root gives the
  size as it does for local_runner.py; a URI one (gs://...) is not listed
  from here (the compiling machine need not reach the bucket), so the
  config's default size is used and a warning says so.
  """
  from pipeline import features  # pylint: disable=g-import-not-at-top
  from pipeline import flags  # pylint: disable=g-import-not-at-top
  local_root = "://" not in args.data_root
  try:
    config = flags.config_from_args(
        args, data_root=args.data_root if local_root else None)
  except flags.FlagError as error:
    raise DeploymentSettingError(str(error)) from None
  if not local_root and not flags.image_size_given(args):
    print(f"warning: --image-size not given: the cluster reads "
          f"{args.data_root}/{features.image_dir_name(config.image_size)} "
          "(the config's default size; a gs:// data root is not listed from "
          "here)", file=sys.stderr)
  return config


def build_pipeline(args: argparse.Namespace):
  """The shared pipeline with this deployment's physical settings."""
  from pipeline import beam  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top

  config = logical_config(args)
  settings = beam.settings_from_args(args)
  if not settings.image:
    # Beam workers (Dataflow, DOCKER environments) run the pipeline's image.
    settings = dataclasses.replace(settings, image=args.image)
  beam_args = beam.beam_pipeline_args(args.beam_profile, settings)
  _check_trainer_backend(args)
  vertex_args = None
  resources = None
  if args.trainer_backend == "vertex":
    vertex_args = vertex_training(args, settings,
                                  args.trainer_image or args.image)
  else:
    resources = trainer_resources(args)

  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME,
      pipeline_root=args.pipeline_root,
      data_root=args.data_root,
      serving_model_dir=args.serving_dir,
      config=config,
      schema_file=IMAGE_SCHEMA_FILE,
      beam_pipeline_args=beam_args,
      vertex_training=vertex_args)
  if resources is not None:
    apply_trainer_resources(pipeline, resources)
  return pipeline


def task_images(args: argparse.Namespace):
  """The image of every task: --image, and --trainer-image for the Trainer's
  task when it trains there (with --trainer-backend vertex the task only
  launches the job, which runs --trainer-image)."""
  if not args.trainer_image or args.trainer_backend == "vertex":
    return args.image
  from tfx.orchestration.kubeflow.v2 import pipeline_builder  # pylint: disable=g-import-not-at-top
  return {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: args.image,
          TRAINER_ID: args.trainer_image}


def compile_pipeline(args: argparse.Namespace) -> str:
  """Writes the spec file; returns its path."""
  import yaml  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  output = os.path.abspath(args.output)
  if not output.endswith(JSON_SUFFIXES + YAML_SUFFIXES):
    raise DeploymentSettingError(
        f"--output (env FLOWERS_OUTPUT) must end with .json, .yaml or "
        f".yml, not {args.output!r}")
  _warn_about_paths(args)
  _warn_about_images(args)
  pipeline = build_pipeline(args)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=task_images(args)))
  job = runner.run(pipeline, write_out=False)
  # TFX puts the root only in the PipelineJob's runtimeConfig, which a YAML
  # PipelineSpec does not have; defaultPipelineRoot is where Kubeflow
  # Pipelines and Vertex read it from a bare spec.
  job["pipelineSpec"]["defaultPipelineRoot"] = args.pipeline_root
  os.makedirs(os.path.dirname(output), exist_ok=True)
  with open(output, "w", encoding="utf-8") as spec_file:
    if output.endswith(YAML_SUFFIXES):
      spec_file.write(f"# PIPELINE DEFINITION\n# Name: {PIPELINE_NAME}\n")
      yaml.safe_dump(job["pipelineSpec"], spec_file, sort_keys=True)
    else:
      json.dump(job, spec_file, sort_keys=True, indent=1)
  return output


def main(argv=None) -> int:
  from pipeline import beam  # pylint: disable=g-import-not-at-top
  args = parse_args(argv)
  try:
    path = compile_pipeline(args)
  except (DeploymentSettingError, beam.BeamSettingError) as error:
    raise SystemExit(f"error: {error}") from error
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
