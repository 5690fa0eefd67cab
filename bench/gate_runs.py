"""The gate section's retrains: many models, trained the Trainer's way, and
the gate's verdict on every pair.

    python bench/gate_runs.py PLAN.json RESULT.json

PLAN.json (written by bench/sections/gate.py) names a pipeline run's
ExampleGen output and Transform graph, the Trainer's settings, and the
models to train: each a seed, its epochs and the percent of training labels
corrupted (0 for none). Every model is trained by `modules.trainer.train`,
the function the Trainer's `run_fn` trains with (the export left out), on
the same Examples and Transform graph, and predicts the eval split. A
corrupted run trains on a copy of the training split in which that percent
of the records (drawn with a fixed seed) carry another class.

Then the gate (`pipeline.components.evaluator.gate.decide`, what the
Evaluator runs, at the default settings and with each rule) judges:

* every ordered pair of the plain models (same settings, other seeds) as
  candidate and served model: equivalent models, which it should bless;
* every worse model against every plain model: which it should stop.

RESULT.json holds each model's macro F1 and training seconds, and each
decision (candidate, baseline, change, interval, blessed by each rule).
One process trains them all: TensorFlow's start-up is paid once.
"""

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from pipeline.runner import runtime  # pylint: disable=g-import-not-at-top,wrong-import-position

runtime.configure()

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx.components.trainer import fn_args_utils  # pylint: disable=g-import-not-at-top,wrong-import-position

from modules import bootstrap  # pylint: disable=g-import-not-at-top,wrong-import-position
from modules import dataset as dataset_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from modules import record_reader  # pylint: disable=g-import-not-at-top,wrong-import-position
from modules import trainer  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline.components.evaluator import gate  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from settings import features  # pylint: disable=g-import-not-at-top,wrong-import-position

RULES = config_lib.CHANGE_RULES
CORRUPTION_SEED = 1234


def corrupt_split(train_dir: str, output_dir: str, percent: int,
                  num_classes: int) -> List[str]:
  """A copy of the training split's records with `percent` of them given
  another class (each its true class plus 1 to num_classes - 1); returns
  the copy's file pattern."""
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, "data_tfrecord-00000-of-00001"
                      + features.COPIED_RECORD_SUFFIX)
  files = sorted(tf.io.gfile.glob(os.path.join(train_dir, "*")))
  rng = np.random.default_rng(CORRUPTION_SEED + percent)
  changed = total = 0
  with tf.io.TFRecordWriter(path) as writer:
    for serialized in record_reader.serialized_records(files):
      example = tf.train.Example.FromString(serialized)
      label = example.features.feature[features.LABEL_KEY].int64_list
      if rng.random() < percent / 100:
        label.value[0] = (label.value[0] +
                          int(rng.integers(1, num_classes))) % num_classes
        changed += 1
      total += 1
      writer.write(example.SerializeToString())
  print(f"corrupted {changed} of {total} training labels ({percent}%)",
        flush=True)
  return [os.path.join(output_dir, "*")]


def eval_predictions(model: keras.Model, eval_files: List[str],
                     training: trainer.Training,
                     config) -> Dict[str, np.ndarray]:
  """Labels and probabilities of the eval split, in file order."""
  dataset = dataset_lib.make_dataset(eval_files, training.tft_output, 64,
                                     config, training=False)
  labels, probabilities = [], []
  for images, batch_labels in dataset:
    probabilities.append(model(images, training=False).numpy())
    labels.append(batch_labels.numpy())
  return {"labels": np.concatenate(labels).astype(np.int64),
          "probabilities": np.concatenate(probabilities).astype(np.float32)}


def decide(labels, candidate, baseline, num_classes) -> Dict[str, Any]:
  """The gate's verdict on one pair, by each rule, at the defaults."""
  entry = {}
  for rule in RULES:
    record = gate.decide(labels, candidate, baseline,
                         config_lib.GateSettings(**dict(
                             config_lib.PipelineConfig().gate_settings(),
                             num_classes=num_classes, min_macro_f1=0.0,
                             change_rule=rule)),
                         candidate_model="candidate",
                         baseline_model="baseline")
    entry[rule] = record.blessed
    entry["change"] = record.change
  return entry


def main(plan_path: str, result_path: str) -> int:
  with open(plan_path, encoding="utf-8") as f:
    plan = json.load(f)
  base = config_lib.TrainerSettings.from_custom_config(plan["settings"])
  examples = plan["examples"]
  eval_files = [os.path.join(examples, "Split-eval", "*")]
  corrupted: Dict[int, List[str]] = {}
  models: Dict[str, Dict[str, Any]] = {}
  predictions: Dict[str, Dict[str, np.ndarray]] = {}
  for run in plan["runs"]:
    name = run["name"]
    percent = run.get("corrupt_percent", 0)
    train_files = [os.path.join(examples, "Split-train", "*")]
    if percent:
      if percent not in corrupted:
        corrupted[percent] = corrupt_split(
            os.path.join(examples, "Split-train"),
            os.path.join(plan["work_dir"], f"corrupt-{percent}"), percent,
            base.num_classes)
      train_files = corrupted[percent]
    config = base.__class__.from_dict(dict(
        base.to_dict(), train=dict(base.to_dict()["train"], seed=run["seed"],
                                   epochs=run["epochs"])))
    fn_args = fn_args_utils.FnArgs(
        train_files=train_files, eval_files=eval_files,
        transform_output=plan["transform_graph"], base_model=None)
    start = time.perf_counter()
    training = trainer.train(fn_args, config,
                             os.path.join(plan["work_dir"], "tb", name))
    predictions[name] = eval_predictions(training.model, eval_files,
                                         training, config)
    labels = predictions[name]["labels"]
    macro_f1 = bootstrap.macro_f1(
        labels, predictions[name]["probabilities"].argmax(axis=1),
        base.num_classes)
    models[name] = dict(run, macro_f1=macro_f1,
                        seconds=round(time.perf_counter() - start, 1))
    print(f"{name}: macro F1 {macro_f1:.4f} "
          f"({models[name]['seconds']:.0f} s)", flush=True)
    keras.backend.clear_session()

  labels = next(iter(predictions.values()))["labels"]
  plain = [name for name, run in models.items() if run["kind"] == "seed"]
  worse = [name for name, run in models.items() if run["kind"] != "seed"]
  pairs = []
  for candidate in plain + worse:
    for baseline in plain:
      if candidate == baseline:
        continue
      if not np.array_equal(predictions[candidate]["labels"], labels):
        raise ValueError(f"{candidate}: eval labels in another order")
      pairs.append(dict(
          candidate=candidate, baseline=baseline,
          **decide(labels, predictions[candidate]["probabilities"],
                   predictions[baseline]["probabilities"],
                   base.num_classes)))
  with open(result_path, "w", encoding="utf-8") as f:
    json.dump({"models": models, "pairs": pairs,
               "eval_examples": int(len(labels))}, f, indent=2)
  return 0


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=" ".join(__doc__.split("\n\n")[0].split()))
  parser.add_argument("plan", help="the plan bench/sections/gate.py wrote")
  parser.add_argument("result", help="where to write the models and pairs")
  return parser.parse_args(argv)


if __name__ == "__main__":
  arguments = parse_args()
  sys.exit(main(arguments.plan, arguments.result))
