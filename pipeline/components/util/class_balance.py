"""Class balance as TFDV custom validation: the SQL rules that TFX's own
ExampleValidator runs on StatisticsGen's statistics of the label.

With the schema (`class` is an INT with `int_domain { is_categorical: true
}`), StatisticsGen describes the label as a string feature: its
`string_stats.rank_histogram` has one bucket per label value seen, `label`
the value as text and `sample_count` its examples (TFDV keeps up to
`StatsOptions.num_rank_histogram_buckets`, 1000, values). The rules below
read those buckets; a rule whose SQL is false becomes a CUSTOM_VALIDATION
reason on the `class` anomaly, its `short_description` the rule's
description (which starts with the rule's name, `rule_name` reads it back).

What TFDV cannot do here, and why the ImageValidator finishes the job:

* Choose the split. TFX 1.16's ExampleValidator runs one config on every
  split, and StatisticsGen's per-split statistics have an empty dataset
  name, so `FeatureValidation.dataset_name` cannot select `train` (TFDV
  fails: "Dataset train specified in validation config not found in
  statistics"). The rules therefore run on every split; the ImageValidator
  reports the training split's findings, as the hand-written check did
  before (the eval split's class coverage is its own check).
* Run on an empty split, or reach a Kubeflow V2 task as TFX 1.16 passes
  it: example_validator/executor.py says why and what the DAG does.
* Say which classes, or the ratio. A rule is a boolean: its anomaly says
  that the ratio is above the setting, not what it is. The ImageValidator
  names the classes and the ratio from the same statistics.

Here in util/, not in example_validator/: the ImageValidator reads the
rules' verdicts back from ExampleValidator's anomalies by their names
(`rule_name`), and a component imports no other component.
"""

from typing import Any, Dict, List, Optional, Tuple

from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2

from settings import config as config_lib
from settings import features

# The rules' names: each description starts with "<name>: ".
IMBALANCE = "class imbalance"
MISSING = "classes with no examples"
FEW = "classes with few examples"
RULES = (IMBALANCE, MISSING, FEW)
# TFDV's default: a class list longer than this would lose buckets, and the
# missing-class rule would see absent classes that are there.
MAX_CLASSES = 1000

_BUCKETS = "UNNEST(feature.string_stats.rank_histogram.buckets) AS b"


def _count(aggregate: str, where: str = "") -> str:
  return f"(SELECT {aggregate} FROM {_BUCKETS}{where})"


def rules(settings: config_lib.ExampleValidatorSettings
          ) -> List[Tuple[str, str, str]]:
  """(name, SQL, description) of each rule, from the settings.

  MAX and MIN run over the classes present, as the ratio always did; an
  empty split has no buckets, so IFNULL lets it pass here (an empty split
  is its own error). A missing class is one of [0, num_classes-1] with no
  bucket; labels outside the range (their own error) are not counted.
  """
  n, ratio = settings.num_classes, settings.max_imbalance_ratio
  return [
      (IMBALANCE,
       f"IFNULL({_count('MAX(b.sample_count)')} <= {float(ratio)!r} * "
       f"{_count('MIN(b.sample_count)')}, TRUE)",
       f"{IMBALANCE}: the largest/smallest class count ratio is above "
       f"validation.max_imbalance_ratio ({ratio})"),
      (MISSING,
       _count("COUNT(*)", " WHERE SAFE_CAST(b.label AS INT64) BETWEEN 0 AND "
              f"{n - 1}") + f" = {n}",
       f"{MISSING}: fewer than the {n} classes of the class list have "
       "examples"),
      (FEW,
       f"IFNULL({_count('MIN(b.sample_count)')} >= "
       f"{settings.min_class_examples}, TRUE)",
       f"{FEW}: a class has fewer than validation.min_class_examples "
       f"({settings.min_class_examples}) examples"),
  ]


def custom_validation_config(
    settings: Dict[str, Any]
) -> custom_validation_config_pb2.CustomValidationConfig:
  """ExampleValidator's `custom_validation_config`, from
  `PipelineConfig.example_validator_settings()`.

  Every rule is a WARNING, as the balance check always was: the run goes
  on, and the summary and the report show it.
  """
  view = config_lib.ExampleValidatorSettings.from_dict(settings)
  if view.num_classes > MAX_CLASSES:
    raise ValueError(
        f"{view.num_classes} classes: TFDV's rank histogram of the label "
        f"keeps {MAX_CLASSES} values, so the class balance rules "
        "(pipeline/components/util/class_balance.py) cannot see every class")
  config = custom_validation_config_pb2.CustomValidationConfig()
  validation = config.feature_validations.add()
  validation.feature_path.step.append(features.LABEL_KEY)
  for _, sql, description in rules(view):
    rule = validation.validations.add()
    rule.sql_expression = sql
    rule.severity = anomalies_pb2.AnomalyInfo.WARNING
    rule.description = description
  return config


def rule_name(reason: anomalies_pb2.AnomalyInfo.Reason) -> Optional[str]:
  """The rule behind a CUSTOM_VALIDATION reason, or None for another."""
  if reason.type != anomalies_pb2.AnomalyInfo.CUSTOM_VALIDATION:
    return None
  name = reason.short_description.split(":", 1)[0]
  return name if name in RULES else None

