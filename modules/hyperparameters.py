"""The Tuner's hyperparameters as config settings: names and how they apply.

`HP_FIELDS` names the search space that modules/tuner.py searches and the
config fields each name sets; `apply_hyperparameters` gives the Trainer's
(or a trial's) settings with a trial's values, re-validated like any config.
"""

import dataclasses
from typing import Dict, Optional

# Hyperparameter name -> the config fields its value sets ("section__field").
# "augment.strength" sets three.
HP_FIELDS = {
    "train.learning_rate": ("train__learning_rate",),
    "model.dropout": ("model__dropout",),
    "augment.strength": ("augment__rotation", "augment__zoom",
                         "augment__shift"),
    "model.backbone": ("model__backbone",),
}
# Hyperparameter name -> the `tune` field that lists its choices.
SEARCH_CHOICES = {
    "train.learning_rate": "learning_rates",
    "model.dropout": "dropouts",
    "augment.strength": "augment_strengths",
    "model.backbone": "backbones",
}


def apply_hyperparameters(config, values: Optional[Dict[str, object]]):
  """`config` with a Tuner trial's values (KerasTuner's `values` dict).

  Raises:
    ValueError: on a name outside HP_FIELDS (a Tuner of other code).
  """
  if not values:
    return config
  unknown = sorted(set(values) - set(HP_FIELDS))
  if unknown:
    raise ValueError(f"unknown hyperparameters {unknown}; this trainer "
                     f"takes {sorted(HP_FIELDS)}")
  sections: Dict[str, Dict[str, object]] = {}
  for name, value in values.items():
    for field in HP_FIELDS[name]:
      section, attribute = field.split("__")
      sections.setdefault(section, {})[attribute] = value
  # dataclasses.replace re-validates: a value out of range fails here.
  return dataclasses.replace(config, **{
      section: dataclasses.replace(getattr(config, section), **fields)
      for section, fields in sections.items()})
