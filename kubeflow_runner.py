"""Compiles the pipeline to a KFP v2 pipeline spec (Kubeflow Pipelines or
Vertex AI Pipelines) with KubeflowV2DagRunner.

    python kubeflow_runner.py --image REGISTRY/flowers:TAG \
        --pipeline-root gs://BUCKET/flowers --data-root gs://BUCKET/data \
        --serving-dir gs://BUCKET/serving --output flowers_pipeline.json

The pipeline is the same `create_pipeline(...)` the local runner builds; only
physical settings differ, and they come from flags (or the FLOWERS_*
environment variables named in --help), never from source. Module code
reaches the components through the container image (module paths such as
`modules.trainer.run_fn`), so nothing refers to this machine's files.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
PIPELINE_NAME = "flowers"
# Where the Dockerfile puts the project inside the image.
IMAGE_PROJECT_DIR = "/flowers"


def _env(name: str, default: str) -> str:
  return os.environ.get(name, default)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Compile the flower pipeline to a KFP v2 pipeline spec.",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--image",
                      default=_env("FLOWERS_IMAGE", "flowers-pipeline:latest"),
                      help="container image with the project and its "
                      "requirements (env FLOWERS_IMAGE)")
  parser.add_argument("--pipeline-root",
                      default=_env("FLOWERS_PIPELINE_ROOT",
                                   "gs://YOUR_BUCKET/flowers/pipeline_root"),
                      help="where component outputs go "
                      "(env FLOWERS_PIPELINE_ROOT)")
  parser.add_argument("--data-root",
                      default=_env("FLOWERS_DATA_ROOT",
                                   "gs://YOUR_BUCKET/flowers/data"),
                      help="folder holding tfrecords-jpeg-<S>x<S>/ "
                      "(env FLOWERS_DATA_ROOT)")
  parser.add_argument("--serving-dir",
                      default=_env("FLOWERS_SERVING_DIR",
                                   "gs://YOUR_BUCKET/flowers/serving"),
                      help="where blessed models are pushed "
                      "(env FLOWERS_SERVING_DIR)")
  parser.add_argument("--output", default="flowers_pipeline.json",
                      help="pipeline spec file to write (.json or .yaml)")
  parser.add_argument("--image-size", type=int, default=None,
                      help="override the config's image size")
  parser.add_argument("--epochs", type=int, default=None,
                      help="override the config's epochs")
  return parser.parse_args(argv)


def compile_pipeline(args: argparse.Namespace) -> str:
  """Writes the spec file; returns its path."""
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  config = config_lib.PipelineConfig()
  changes = {}
  if args.image_size:
    changes["image_size"] = args.image_size
  if args.epochs:
    changes["train__epochs"] = args.epochs
  config = config.replace(**changes)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME,
      pipeline_root=args.pipeline_root,
      data_root=args.data_root,
      serving_model_dir=args.serving_dir,
      config=config,
      schema_file=os.path.join(IMAGE_PROJECT_DIR, "schema", "schema.pbtxt"),
      beam_pipeline_args=["--direct_running_mode=multi_processing",
                          "--direct_num_workers=0"])
  output = os.path.abspath(args.output)
  os.makedirs(os.path.dirname(output), exist_ok=True)
  if os.path.exists(output):
    os.remove(output)  # The runner refuses to overwrite.
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=args.image),
      output_dir=os.path.dirname(output),
      output_filename=os.path.basename(output))
  runner.run(pipeline, write_out=True)
  return output


def main(argv=None) -> int:
  path = compile_pipeline(parse_args(argv))
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
