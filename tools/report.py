"""Writes the evaluation report of any Evaluator output, from the command line.

    python tools/report.py \
        --evaluation output/pipeline_root/Evaluator/evaluation/8 \
        --training-history output/pipeline_root/Trainer/model_run/7/training_history.json \
        --output /tmp/report

writes `report.html`, its PNG figures and `metrics.json` into --output, the
same files the pipeline's Report component writes for every run
(pipeline/components/report/). Use it for an evaluation of an earlier run,
or to compare two evaluations (--baseline-evaluation).
"""

import argparse
import os
import sys
from typing import Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_report(evaluation_dir: str, output_dir: str,
                 baseline_evaluation_dir: Optional[str] = None,
                 training_history: Optional[str] = None) -> str:
  """Reads an Evaluator output and writes the report; returns report.html.

  Args:
    evaluation_dir: the Evaluator's output (ModelEvaluation artifact).
    output_dir: where report.html, its figures and metrics.json go.
    baseline_evaluation_dir: another Evaluator output to compare with
      (default: the baseline the Evaluator itself evaluated, if any).
    training_history: the Trainer's training_history.json (class names and
      training counts).

  Returns:
    The path of report.html.
  """
  # slow import: TFMA (10 s); --help must not load it
  from pipeline.components.report import content  # pylint: disable=g-import-not-at-top
  from pipeline.components.report import render  # pylint: disable=g-import-not-at-top
  data = content.load_report_data(evaluation_dir, baseline_evaluation_dir,
                                  training_history)
  return render.render_report(data, output_dir)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description="Write an HTML evaluation report from an Evaluator output.")
  parser.add_argument("--evaluation", required=True,
                      help="the Evaluator's output folder "
                      "(pipeline_root/Evaluator/evaluation/<id>)")
  parser.add_argument("--baseline-evaluation",
                      help="another Evaluator output to compare with "
                      "(default: the baseline stored in --evaluation)")
  parser.add_argument("--training-history",
                      help="the Trainer's training_history.json (class "
                      "names and training counts)")
  parser.add_argument("--output", required=True,
                      help="folder for report.html, its figures and "
                      "metrics.json")
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  path = write_report(args.evaluation, args.output, args.baseline_evaluation,
                      args.training_history)
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.path.insert(0, REPO_ROOT)
  sys.exit(main())
