"""Members against their ensemble on the eval split, from a finished run.

    python bench/ensemble_members.py --output-dir runs/ens [--json FILE]

Reads the newest pushed ensemble's push record under `<output-dir>/serving`
(its members' URIs and weights), predicts the eval split of the run's
ImportExampleGen output with each member and with the pushed ensemble (the
`serving_default` signature, as BatchInference does), and prints a
Markdown table of macro F1 (scikit-learn's, the gate's metric) and
accuracy, with the weights and the fit-slice macro F1 the Ensemble
component recorded, and, for comparison, the members averaged with equal
weights. docs/ensembles.md's table comes from it; `--json`
writes the same numbers with the machine and the commit.
"""

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.runner import runtime

runtime.configure()  # Before TensorFlow is imported.
import numpy as np
from sklearn import metrics

from pipeline.components.util import serving_model
from pipeline.components.util import batch_predict
from pipeline.components.util import predictions
from settings import config as config_lib
# pylint: enable=g-import-not-at-top,wrong-import-position


def newest_ensemble_push(output_dir: str) -> Dict[str, Any]:
  """The newest push record under `<output_dir>/serving` with an ensemble."""
  records = []
  for path in glob.glob(os.path.join(output_dir, "serving", "*",
                                     "push_record.json")):
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
    if "ensemble" in record:
      records.append((int(record["model_version"]), record))
  if not records:
    raise SystemExit(f"no pushed ensemble under {output_dir}/serving")
  return max(records, key=lambda item: item[0])[1]


def eval_files(output_dir: str) -> List[str]:
  """The newest ImportExampleGen output's eval split files."""
  folders = glob.glob(os.path.join(output_dir, "pipeline_root", "**",
                                   "ImportExampleGen", "examples", "*",
                                   "Split-eval"), recursive=True)
  if not folders:
    raise SystemExit(f"no ImportExampleGen eval split under {output_dir}")
  newest = max(folders, key=lambda folder: int(folder.split(os.sep)[-2]))
  return sorted(glob.glob(os.path.join(newest, "*")))


def predict(model_dir: str, files: List[str]) -> predictions.SplitPredictions:
  result, skipped = batch_predict.predict_files(
      serving_model.load_serving_model(model_dir), files,
      config_lib.PredictConfig.batch_size)
  if skipped:
    raise SystemExit(f"{model_dir}: {len(skipped)} records not predicted")
  return result


def score(labels: np.ndarray, probabilities: np.ndarray) -> Dict[str, float]:
  predicted = probabilities.argmax(axis=1)
  return {"macro_f1": float(metrics.f1_score(labels, predicted,
                                             average="macro")),
          "accuracy": float(np.mean(predicted == labels)),
          "records": len(labels)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output-dir", required=True)
  parser.add_argument("--json", default=None,
                      help="also write the numbers to this file")
  args = parser.parse_args(argv)
  record = newest_ensemble_push(args.output_dir)
  files = eval_files(args.output_dir)
  rows, member_probabilities = [], []
  for member in record["ensemble"]["members"]:
    result = predict(os.path.join(member["uri"], "Format-Serving"), files)
    member_probabilities.append(result.probabilities)
    rows.append(dict(name=member["name"], weight=member["weight"],
                     fit_macro_f1=member["macro_f1"],
                     **score(result.labels, result.probabilities)))
  # For comparison: what equal weights would have scored (not served).
  rows.append(dict(name="equal weights (not fitted)",
                   weight=1.0 / len(member_probabilities),
                   fit_macro_f1=float("nan"),
                   **score(result.labels,
                           np.mean(member_probabilities, axis=0))))
  ensemble = predict(record["serving_dir"], files)
  rows.append(dict(name="ensemble (pushed)", weight=1.0,
                   fit_macro_f1=record["ensemble"]["fit_slice_macro_f1"],
                   **score(ensemble.labels, ensemble.probabilities)))
  print("| model | weight | fit-slice macro F1 | eval macro F1 | "
        "eval accuracy |")
  print("|---|---|---|---|---|")
  for row in rows:
    print(f"| {row['name']} | {row['weight']:.3f} | "
          f"{row['fit_macro_f1']:.4f} | {row['macro_f1']:.4f} | "
          f"{row['accuracy']:.4f} |")
  print(f"\neval records: {rows[-1]['records']}; fit-slice records: "
        f"{record['ensemble']['fit_slice_records']}")
  if args.json:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump({"rows": rows, "serving_dir": record["serving_dir"],
                 "commit": commit, "machine": platform.platform(),
                 "processor": platform.processor(),
                 "cpus": os.cpu_count()}, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
