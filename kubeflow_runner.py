"""Compiles the pipeline to a KFP v2 pipeline spec (Kubeflow Pipelines or
Vertex AI Pipelines) with KubeflowV2DagRunner.

    python kubeflow_runner.py --image REGISTRY/flowers:TAG \
        --pipeline-root gs://BUCKET/flowers/root --data-root gs://BUCKET/data \
        --serving-dir gs://BUCKET/flowers/serving --output flowers_pipeline.yaml

The pipeline is the same `create_pipeline(...)` the local runner builds; only
physical settings differ, and they come from flags (or the FLOWERS_*
environment variables named in --help), never from source: the image, the
storage paths, the Beam profile and its settings (pipeline/runner/beam.py), and the
Trainer's image and resources (accelerator type and count, CPU, memory),
which are attached to the Trainer node of that pipeline object; or, with
`--trainer-backend vertex`, a Vertex AI custom job (machine type,
accelerators, TPU topology) that the Trainer task launches. Module code reaches
the components through the container image (module paths such as
`modules.trainer.run_fn`, the schema at /flowers/schema/schema.pbtxt), so
nothing in the spec refers to this machine's files.

The image and the three storage paths have no default: a spec is meant to
run, so a compile without one of them stops with one line naming the flag
(and its variable) rather than writing a placeholder a run would use.

Output: `.json` is a PipelineJob (pipelineSpec + runtimeConfig), for Vertex
AI Pipelines; `.yaml` is the PipelineSpec alone, the format Kubeflow
Pipelines uploads (Vertex takes it too). Both carry the pipeline root, and
both are pipeline spec schema 2.1.0, the only version open-source Kubeflow
Pipelines' API server accepts (docs/kubeflow.md, "What the backend
accepts").
"""

import argparse
import dataclasses
import json
import os
import posixpath
import sys

import yaml

# None of these loads TensorFlow or TFX: those load in build_pipeline and
# compile_pipeline, after runtime.configure() below.
from pipeline import data_plan
from pipeline.runner import beam
from pipeline.runner import beam_flags
from pipeline.runner import env_flags
from pipeline.runner import flags
from pipeline.runner import kfp_backend
from pipeline.runner import runtime
from pipeline.runner import trainer_placement
from settings import features
from settings import spans

runtime.configure()  # Before TensorFlow is imported.

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
# Where the Dockerfile puts the project inside the image.
IMAGE_PROJECT_DIR = "/flowers"
IMAGE_SCHEMA_FILE = posixpath.join(IMAGE_PROJECT_DIR, "schema",
                                   "schema.pbtxt")
JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")
# What every spec needs and nothing can guess: (flag, its argparse dest).
REQUIRED_DEPLOYMENT_FLAGS = (("--image", "image"),
                             ("--pipeline-root", "pipeline_root"),
                             ("--data-root", "data_root"),
                             ("--serving-dir", "serving_dir"))


def build_parser() -> argparse.ArgumentParser:
  """The flags; each physical one `--some-name` defaults to the environment
  variable FLOWERS_SOME_NAME, read when this is called."""
  parser = argparse.ArgumentParser(
      description="Compile the flower pipeline to a KFP v2 pipeline spec "
      "(Kubeflow Pipelines, Vertex AI Pipelines).",
      formatter_class=flags.HelpFormatter)
  deploy = parser.add_argument_group("deployment")
  add = env_flags.add_env_flag
  add(deploy, "--image",
      f"required: container image with the project at {IMAGE_PROJECT_DIR} "
      "and its requirements, built from the Dockerfile")
  add(deploy, "--pipeline-root", "required: where component outputs go")
  add(deploy, "--data-root",
      "required: folder holding tfrecords-jpeg-<S>x<S>/")
  add(deploy, "--serving-dir", "required: where blessed models are pushed")
  add(deploy, "--kfp-backend",
      "vertex: Vertex AI Pipelines; kubeflow: open-source Kubeflow "
      "Pipelines, whose driver runs no lifecycle hook (docs/kubeflow.md)",
      default=kfp_backend.DEFAULT_KFP_BACKEND,
      choices=kfp_backend.KFP_BACKENDS)
  add(deploy, "--output",
      "spec file to write: .json (PipelineJob, for Vertex AI) or .yaml "
      "(PipelineSpec, for Kubeflow Pipelines and Vertex AI)",
      default="flowers_pipeline.json")
  trainer = parser.add_argument_group(
      "Trainer resources",
      "requested for the Trainer only; the Trainer picks the distribution "
      "strategy (TPU, 2+ GPUs, default) from what it sees. An accelerator "
      "needs an image built for it: --trainer-image")
  add(trainer, "--trainer-image",
      "image the Trainer trains in (default: --image); for GPUs or TPUs the "
      "Dockerfile built with --build-arg ACCELERATOR=gpu or tpu")
  add(trainer, "--trainer-backend",
      "pipeline: train in the Trainer's pipeline task, with the resources "
      "below; vertex: that task launches a Vertex AI custom job (needs "
      "--gcp-project and --gcp-region; machine types and TPU VMs)",
      default="pipeline", choices=trainer_placement.TRAINER_BACKENDS)
  add(trainer, "--trainer-machine-type",
      "vertex: the job's machine type, e.g. n1-standard-8, a2-highgpu-1g, "
      "cloud-tpu, ct5lp-hightpu-4t (default "
      f"{trainer_placement.DEFAULT_VERTEX_MACHINE_TYPE})", metavar="TYPE")
  add(trainer, "--trainer-tpu-topology",
      "vertex: TPU slice topology, e.g. 2x2", metavar="TOPOLOGY")
  add(trainer, "--trainer-accelerator-type",
      "Vertex AI: NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100, TPU_V3 "
      "(vertex: TPU_V5_LITEPOD, ...); Kubeflow Pipelines: the Kubernetes "
      "resource, e.g. nvidia.com/gpu", metavar="TYPE")
  add(trainer, "--trainer-accelerator-count",
      "accelerators (default 1 when a type is given)", type=int,
      metavar="COUNT")
  add(trainer, "--trainer-replicas",
      "vertex: train data-parallel on this many machines (a chief and "
      "N-1 workers, each with the machine type and accelerators above; "
      "docs/multi-worker.md)", type=int, default=1, metavar="N")
  add(trainer, "--trainer-cpu",
      "pipeline: CPU limit, cores or millicores as 500m", metavar="CPU")
  add(trainer, "--trainer-memory",
      "pipeline: memory limit, a Kubernetes quantity such as 32G or 30Gi",
      metavar="MEMORY")
  beam_flags.add_beam_arguments(parser)
  # The same logical flags as local_runner.py, read by the same function.
  flags.add_logical_flags(parser)
  return parser


def parse_args(argv=None) -> argparse.Namespace:
  return build_parser().parse_args(argv)


def check_deployment_flags(args: argparse.Namespace) -> None:
  """Raises DeploymentSettingError naming every required flag not given.

  A placeholder default (an image tag, a `gs://YOUR_BUCKET/...` path) would
  compile to a spec that uploads fine and fails in its first task, or
  writes where nobody looks; so these have none.
  """
  missing = [f"{flag} (env {env_flags.env_name(flag)})"
             for flag, dest in REQUIRED_DEPLOYMENT_FLAGS
             if not getattr(args, dest, None)]
  if missing:
    raise env_flags.DeploymentSettingError(
        f"{', '.join(missing)} not given: the compiled spec runs with "
        "them and has no placeholder for them (docs/deploy.md, step 3)")


def _warn_about_paths(args: argparse.Namespace) -> None:
  """The cluster reads these paths; this machine's paths mean nothing there."""
  for flag, value in (("--pipeline-root", args.pipeline_root),
                      ("--data-root", args.data_root),
                      ("--serving-dir", args.serving_dir)):
    if not features.is_object_store(value):
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


def config_and_plan(args: argparse.Namespace):
  """The PipelineConfig of the logical flags (pipeline/runner/flags.py) and
  the data plan of --data-root (pipeline/data_plan.py).

  Without --image-size (or --set image_size), a local --data-root gives the
  size, through its plan, as it does for local_runner.py; a URI one
  (gs://...) is not listed from here (the compiling machine need not reach
  the bucket), so the config's default size is used and a warning says so.
  """
  local_root = not features.is_object_store(args.data_root)
  size_given = flags.image_size_given(args)
  try:
    config = flags.config_from_args(args)
    plan = data_plan.make_plan(args.data_root, config,
                               size_from_data=local_root and not size_given)
  except ValueError as error:
    raise env_flags.DeploymentSettingError(str(error)) from None
  if not local_root and not size_given:
    where = features.image_dir_name(config.image_size)
    if spans.parse_setting(config.data.spans) is not None:
      where = f"span-<N>/{where}"
    print(f"warning: --image-size not given: the cluster reads "
          f"{args.data_root}/{where} "
          "(the config's default size; a gs:// data root is not listed from "
          "here)", file=sys.stderr)
  return config.replace(image_size=plan.image_size), plan


def build_pipeline(args: argparse.Namespace):
  """The shared pipeline with this deployment's physical settings."""
  # slow import: TFX and TensorFlow (6 s); --help must not load them
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline.components.example_validator import executor as example_validator_executor  # pylint: disable=g-import-not-at-top

  check_deployment_flags(args)
  config, plan = config_and_plan(args)
  for line in plan.lines():
    print(line)
  settings = beam_flags.settings_from_args(args)
  if not settings.image:
    # Beam workers (Dataflow, DOCKER environments) run the pipeline's image.
    settings = dataclasses.replace(settings, image=args.image)
  beam_args = beam.beam_pipeline_args(args.beam_profile, settings)
  trainer_placement.check_trainer_backend(args)
  vertex_args = None
  resources = None
  if args.trainer_backend == "vertex":
    vertex_args = trainer_placement.vertex_training(
        args, settings, args.trainer_image or args.image)
  else:
    resources = trainer_placement.trainer_resources(args)

  dag = pipeline_lib.create_pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=args.pipeline_root,
      data=plan,
      serving_model_dir=args.serving_dir,
      config=config,
      schema_file=IMAGE_SCHEMA_FILE,
      beam_pipeline_args=beam_args,
      vertex_training=vertex_args)
  # TFX 1.16's V2 compiler refuses ExampleValidator's config as TFX passes
  # it (pipeline/components/example_validator/executor.py).
  example_validator_executor.for_kubeflow_v2(
      next(node for node in dag.components
           if node.id == pipeline_lib.EXAMPLE_VALIDATOR_ID),
      config.example_validator_settings())
  if resources is not None:
    trainer_placement.apply_trainer_resources(dag, resources)
  return dag


def task_images(args: argparse.Namespace):
  """The image of every task: --image, and --trainer-image for the Trainer's
  task when it trains there (with --trainer-backend vertex the task only
  launches the job, which runs --trainer-image)."""
  if not args.trainer_image or args.trainer_backend == "vertex":
    return args.image
  # slow import: TFX's Kubeflow compiler and kfp (0.4 s after the DAG);
  # --help must not load them
  from tfx.orchestration.kubeflow.v2 import pipeline_builder  # pylint: disable=g-import-not-at-top
  return {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: args.image,
          trainer_placement.TRAINER_ID: args.trainer_image}


def compile_pipeline(args: argparse.Namespace) -> str:
  """Writes the spec file; returns its path."""
  check_deployment_flags(args)  # Before the slow imports.
  # slow import: tfx.v1 (8 s); --help and a missing flag must not wait
  # for it
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  output = os.path.abspath(args.output)
  if not output.endswith(JSON_SUFFIXES + YAML_SUFFIXES):
    raise env_flags.DeploymentSettingError(
        f"--output (env FLOWERS_OUTPUT) must end with .json, .yaml or "
        f".yml, not {args.output!r}")
  _warn_about_paths(args)
  _warn_about_images(args)
  dag = build_pipeline(args)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=task_images(args),
          # Schema 2.1.0: open-source Kubeflow Pipelines refuses 2.0.0 at
          # upload, and Vertex AI takes 2.1.0 (docs/kubeflow.md).
          use_pipeline_spec_2_1=True))
  job = runner.run(dag, write_out=False)
  # TFX puts the root only in the PipelineJob's runtimeConfig, which a YAML
  # PipelineSpec does not have; defaultPipelineRoot is where Kubeflow
  # Pipelines and Vertex read it from a bare spec.
  job["pipelineSpec"]["defaultPipelineRoot"] = args.pipeline_root
  kfp_backend.adapt_spec(job["pipelineSpec"], args.kfp_backend)
  os.makedirs(os.path.dirname(output), exist_ok=True)
  with open(output, "w", encoding="utf-8") as spec_file:
    if output.endswith(YAML_SUFFIXES):
      spec_file.write("# PIPELINE DEFINITION\n# Name: "
                      f"{job['pipelineSpec']['pipelineInfo']['name']}\n")
      yaml.safe_dump(job["pipelineSpec"], spec_file, sort_keys=True)
    else:
      json.dump(job, spec_file, sort_keys=True, indent=1)
  return output


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    path = compile_pipeline(args)
  except (env_flags.DeploymentSettingError, beam.BeamSettingError) as error:
    raise SystemExit(f"error: {error}") from error
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
