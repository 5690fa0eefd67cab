"""One Trainer process outside a pipeline: a worker of a multi-worker job.

    TF_CONFIG='{"cluster": {...}, "task": {"type": "worker", "index": 1}}' \\
    python tools/train_worker.py \\
        --examples <pipeline_root>/ImportExampleGen/examples/<id> \\
        --transform <pipeline_root>/Transform/transform_graph/<id> \\
        --output gs://BUCKET/flowers/manual-train --epochs 20

Runs the pipeline's own `modules.trainer.run_fn`, as TFX's Trainer calls it,
on one pipeline run's ExampleGen and Transform artifacts, with the logical
flags both runners take (`--epochs`, `--backbone`, `--set KEY=VALUE`, ...).
With `TF_CONFIG` naming several workers (a Kubeflow TFJob sets it), each
process trains one share of every global batch and only the chief writes
`<output>/model/Format-Serving` (the SavedModel), `<output>/model/...` and
`<output>/model_run/training_history.json`: docs/multi-worker.md.
Without `TF_CONFIG` it trains alone.

Exit status: 0 trained (the chief wrote the model), 1 training failed (the
`error:` line names the cause, a worker that stopped included), 2 usage.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime

runtime.configure()  # Before TensorFlow is imported.
from absl import logging

from pipeline.runner import console
from pipeline.runner import flags
# pylint: enable=g-import-not-at-top,wrong-import-position


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--examples", required=True,
                      help="an ImportExampleGen Examples artifact folder "
                      "(holding Split-train/ and Split-eval/)")
  parser.add_argument("--transform", required=True,
                      help="the Transform graph artifact folder of the same "
                      "run")
  parser.add_argument("--output", required=True,
                      help="folder for model/ and model_run/ (any "
                      "tf.io.gfile filesystem)")
  parser.add_argument("--log-file", default="train_worker.log",
                      help="every library line goes here; the terminal gets "
                      "progress, warnings and errors (default: "
                      "%(default)s)")
  flags.add_logical_flags(parser)
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  try:
    config = flags.config_from_args(args)
  except flags.FlagError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  # slow import: TFX and TensorFlow (10 s); --help must not load them
  from tfx.components.trainer import fn_args_utils
  from modules import trainer
  # Each epoch's line on the terminal, as in a pipeline run.
  console.configure_logging(args.log_file)
  try:
    trainer.run_fn(fn_args_utils.FnArgs(
        train_files=[os.path.join(args.examples, "Split-train", "*")],
        eval_files=[os.path.join(args.examples, "Split-eval", "*")],
        transform_output=args.transform,
        transform_graph_path=args.transform,
        serving_model_dir=os.path.join(args.output, "model",
                                       "Format-Serving"),
        model_run_dir=os.path.join(args.output, "model_run"),
        base_model=None, custom_config=config.trainer_settings()))
  except (RuntimeError, ValueError, OSError) as error:
    logging.error("training failed", exc_info=True,
                  extra={"console": False})
    print(f"error: {error}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
