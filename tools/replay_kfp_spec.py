"""Replays a compiled Kubeflow (KFP v2) pipeline spec here, task by task.

    python tools/replay_kfp_spec.py --spec flowers_pipeline.json \
        --pipeline-root /tmp/replay/root

`kubeflow_runner.py` compiles the pipeline; this runs what the cluster would
run from that file, without a cluster, to show the spec itself works (its
commands, arguments, module paths, artifact types and wiring), not only the
pipeline object it was compiled from. The replay itself is the package
tools/kfp_replay/ (its docstring names each file's job); replaying again
into the same pipeline root continues from the runs before, as a cluster's
ML Metadata does. docs/kubeflow.md lists what this does not cover.
"""

import argparse
import os
import sys
from typing import Optional, Sequence

if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import kubeflow_runner
from tools.kfp_replay.replayer import REPO_ROOT
from tools.kfp_replay.replayer import ReplayResult
from tools.kfp_replay.replayer import Replayer
from tools.kfp_replay.replayer import image_environment
from tools.kfp_replay.spec import ReplayError
from tools.kfp_replay.spec import load_spec
# pylint: enable=g-import-not-at-top,wrong-import-position


def replay(spec_path: str, pipeline_root: str, image_project_dir: str,
           **kwargs) -> ReplayResult:
  """Replays the spec file; see Replayer for the keyword arguments."""
  kwargs.setdefault("image_env", image_environment(
      kwargs.get("project_dir", REPO_ROOT), image_project_dir,
      os.path.join(kwargs.get("project_dir", REPO_ROOT), "Dockerfile")))
  return Replayer(load_spec(spec_path), pipeline_root, image_project_dir,
                  **kwargs).run()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Run a compiled KFP v2 pipeline spec's tasks on this "
      "machine, as the cluster would (see docs/kubeflow.md for what it does "
      "not cover).")
  parser.add_argument("--spec", required=True,
                      help="the spec kubeflow_runner.py wrote (.json or "
                      ".yaml, schema 2.1.0), compiled with local "
                      "--pipeline-root, --data-root and --serving-dir")
  parser.add_argument("--pipeline-root", required=True,
                      help="local folder for the artifacts and the replay's "
                      "ledger (reuse it for a later run, as a cluster keeps "
                      "its metadata store; the baseline tasks read earlier "
                      "pushes from the spec's --serving-dir, and a resolver "
                      "task, in a spec that has one, reads the ledger)")
  parser.add_argument("--image-project-dir",
                      default=kubeflow_runner.IMAGE_PROJECT_DIR,
                      help="where the image holds the project; mapped to "
                      "this checkout (default: %(default)s)")
  parser.add_argument("--task-timeout", type=float, default=None,
                      help="seconds before a task counts as failed")
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  try:
    result = replay(args.spec, args.pipeline_root, args.image_project_dir,
                    task_timeout_s=args.task_timeout)
  except ReplayError as error:
    print(f"error: {error}", file=sys.stderr)
    return 1
  print(f"replayed {len(result.tasks)} tasks as run {result.run_id} under "
        f"{result.pipeline_root}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
