"""Where the Trainer trains on a cluster: a resource request or a Vertex job.

kubeflow_runner.py's Trainer flags become either a KFP ResourceSpec on the
Trainer node (`--trainer-backend pipeline`: CPU, memory, accelerators of the
Trainer's own task) or the custom_config entries of TFX's Vertex AI Trainer
(`--trainer-backend vertex`: a custom job on a machine type, with
accelerators or a TPU topology; with `--trainer-replicas N`, a chief and
N-1 workers that train data-parallel, docs/multi-worker.md). A flag the
chosen backend does not read is an error naming it.
"""

import argparse

from pipeline.runner import env_flags
from pipeline.runner import kubernetes_quantity
from pipeline.runner.env_flags import DeploymentSettingError

# The node of create_pipeline(...) that gets the resource request.
TRAINER_ID = "Trainer"
# Where the Trainer trains: in its own pipeline task, or in a Vertex AI
# custom job that task launches (machine types, TPU VMs).
TRAINER_BACKENDS = ("pipeline", "vertex")
DEFAULT_VERTEX_MACHINE_TYPE = "n1-standard-8"


def _quantity(parse, flag: str, text: str) -> float:
  try:
    return parse(text)
  except ValueError as error:
    raise DeploymentSettingError(
        f"{flag} (env {env_flags.env_name(flag)}) is {error}") from None


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
  # slow import: kfp (0.4 s); kubeflow_runner.py imports this module, and
  # its --help must not load it
  from kfp.pipeline_spec import pipeline_spec_pb2  # pylint: disable=g-import-not-at-top
  accelerator = _accelerator(args)
  if not (accelerator or args.trainer_cpu or args.trainer_memory):
    return None
  resources = (pipeline_spec_pb2.PipelineDeploymentConfig
               .PipelineContainerSpec.ResourceSpec())
  if args.trainer_cpu:
    resources.cpu_limit = _quantity(kubernetes_quantity.cpu_cores,
                                    "--trainer-cpu", args.trainer_cpu)
    resources.resource_cpu_limit = args.trainer_cpu
  if args.trainer_memory:
    resources.memory_limit = _quantity(kubernetes_quantity.memory_gb,
                                       "--trainer-memory", args.trainer_memory)
    resources.resource_memory_limit = args.trainer_memory
  if accelerator:
    accelerator_type, count = accelerator
    resources.accelerator.type = accelerator_type
    resources.accelerator.count = count
    resources.accelerator.resource_type = accelerator_type
    resources.accelerator.resource_count = str(count)
  return resources


def check_trainer_backend(args: argparse.Namespace) -> None:
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
  replicas = getattr(args, "trainer_replicas", 1)
  if replicas < 1:
    raise DeploymentSettingError(
        "--trainer-replicas (env FLOWERS_TRAINER_REPLICAS) must be at least 1")
  if replicas > 1 and args.trainer_backend != "vertex":
    raise DeploymentSettingError(
        "--trainer-replicas needs --trainer-backend vertex (on Kubeflow "
        "Pipelines, a TFJob runs several workers: docs/multi-worker.md)")
  if replicas > 1 and args.trainer_tpu_topology:
    raise DeploymentSettingError(
        "--trainer-replicas cannot be used with --trainer-tpu-topology: a "
        "TPU slice is one replica of the job, its hosts chosen by the "
        "topology")
  if given:
    raise DeploymentSettingError(
        f"{' and '.join(given)} cannot be used with --trainer-backend "
        f"{args.trainer_backend}: {hint}")


def vertex_training(args: argparse.Namespace, settings, trainer_image: str):
  """The Vertex AI Trainer's custom_config entries: a custom job on the
  chosen machine, running `trainer_image`: one replica, or a chief and
  `--trainer-replicas` - 1 workers on the same machine and accelerators. TFX's Vertex Trainer sets
  the job's command (its run_executor, which calls our run_fn)."""
  # slow import: tfx.v1 and Vertex AI's client (2 s); only
  # --trainer-backend vertex needs them
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
  pool = {"machine_spec": machine,
          "container_spec": {"image_uri": trainer_image}}
  # Vertex AI names pool 0 "chief" and pool 1 "worker" in each replica's
  # TF_CONFIG, which the Trainer reads (modules/strategy.py).
  pools = [dict(pool, replica_count=1)]
  replicas = getattr(args, "trainer_replicas", 1)
  if replicas > 1:
    pools.append(dict(pool, replica_count=replicas - 1))
  return {
      vertex.ENABLE_VERTEX_KEY: True,
      vertex.VERTEX_REGION_KEY: settings.region,
      vertex.TRAINING_ARGS_KEY: {
          "project": settings.project,
          "job_spec": {"worker_pool_specs": pools},
      },
  }


def apply_trainer_resources(dag, resources) -> None:
  """Attaches `resources` to the pipeline's Trainer node (by id), or to each
  ensemble member's (`Trainer-<member>`, pipeline/ensemble_dag.py), so the
  shared create_pipeline(...) stays free of deployment details."""
  trainers = [node for node in dag.components if node.id == TRAINER_ID]
  members = [node for node in dag.components
             if node.id.startswith(TRAINER_ID + "-")]
  if len(trainers) + bool(members) != 1:
    raise DeploymentSettingError(
        f"expected one node with id {TRAINER_ID!r} (or ensemble members "
        f"{TRAINER_ID}-<member>) in the pipeline, found {len(trainers)}")
  for trainer in trainers or members:
    trainer.with_platform_config(resources)
