"""The ensemble's settings (`PipelineConfig.ensemble`) and its members.

`ensemble.members` lists the members as `BACKBONE[:INPUT_SIZE[:EPOCHS]]`
(e.g. `simple_cnn,efficientnet_b0:224:12`): each member is a Trainer of its
own in the DAG, trained with the config's settings except these, which it
may set for itself (0 or absent: the config's `model.input_size` /
`train.epochs`). Empty (the default), the DAG trains one model as always.

The Ensemble component fits the members' weights on a fit slice: the train
records whose `id` falls in the first `fit_percent` of 100 hash buckets
(`modules/fit_slice.py`); every member's Trainer leaves those records out,
and the Evaluator's eval split never holds them, so the gate is never
judged on the data the weights were fitted on (docs/ensembles.md).
"""

import dataclasses
import re
from typing import Any, Dict, Sequence, Tuple

# Members an Ensemble component takes (one input channel each).
MAX_MEMBERS = 8
_MEMBER = re.compile(r"([a-z0-9_]+)(?::(\d+))?(?::(\d+))?")


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
  """Ensembles inside the pipeline (docs/ensembles.md).

  Attributes:
    members: `BACKBONE[:INPUT_SIZE[:EPOCHS]]` of each member; empty: no
      ensemble, one Trainer.
    fit_percent: percent of the 100 hash buckets of `id` carved from the
      train split as the fit slice (members never train on it).
  """
  members: Tuple[str, ...] = ()
  fit_percent: int = 10

  def __post_init__(self):
    object.__setattr__(self, "members", tuple(self.members))


@dataclasses.dataclass(frozen=True)
class Member:
  """One member, parsed: its backbone and its own input size and epochs (0:
  the config's)."""
  backbone: str
  input_size: int = 0
  epochs: int = 0

  @property
  def name(self) -> str:
    """A name that tells members apart: `simple_cnn`, `simple_cnn_32`,
    `simple_cnn_32_e2`."""
    return "_".join([self.backbone] +
                    ([str(self.input_size)] if self.input_size else []) +
                    ([f"e{self.epochs}"] if self.epochs else []))

  @property
  def trainer_id(self) -> str:
    """The member's Trainer node: `Trainer-simple-cnn-32-e2`. A node id is
    a KFP task name, which Kubeflow Pipelines' Argo backend reads as
    letters, digits and `-` only; `_` -> `-` is one to one, so no two
    members share an id."""
    return "Trainer-" + self.name.replace("_", "-")


def parse_member(text: str) -> Member:
  """`BACKBONE[:INPUT_SIZE[:EPOCHS]]` -> Member; ValueError naming it."""
  match = _MEMBER.fullmatch(text.strip())
  if not match:
    raise ValueError(f"ensemble member {text!r}: expected "
                     "BACKBONE[:INPUT_SIZE[:EPOCHS]], e.g. simple_cnn:64:3")
  backbone, size, epochs = match.groups()
  return Member(backbone, int(size or 0), int(epochs or 0))


def parse_members(members: Sequence[str]) -> Tuple[Member, ...]:
  return tuple(parse_member(member) for member in members)


def validate(ensemble: EnsembleConfig, backbones: Sequence[str]) -> None:
  """Raises ValueError naming the first unusable ensemble setting."""
  if not 1 <= ensemble.fit_percent <= 50:
    raise ValueError("ensemble.fit_percent must be in [1, 50]")
  if not ensemble.members:
    return
  members = parse_members(ensemble.members)
  if not 2 <= len(members) <= MAX_MEMBERS:
    raise ValueError(f"ensemble.members: an ensemble has 2 to {MAX_MEMBERS} "
                     f"members, got {len(members)}")
  for member in members:
    if member.backbone not in backbones:
      raise ValueError(f"ensemble member {member.name!r}: unknown backbone "
                       f"{member.backbone!r}; choose from {tuple(backbones)}")
  names = [member.name for member in members]
  duplicates = sorted({name for name in names if names.count(name) > 1})
  if duplicates:
    raise ValueError(f"ensemble.members: {duplicates} given twice")


def member_config(config, member: Member):
  """The PipelineConfig a member trains with: `config` with the member's
  backbone, and its input size and epochs where it sets them."""
  return config.replace(
      model__backbone=member.backbone,
      model__input_size=member.input_size or config.model.input_size,
      train__epochs=member.epochs or config.train.epochs)


@dataclasses.dataclass(frozen=True)
class EnsembleSettings:
  """What the Ensemble component reads (`PipelineConfig.ensemble_settings()`).

  Attributes:
    members: per member, in its input's order (`member_1`...): `name`,
      `backbone`, and the `input_size` and `epochs` it trained with.
    fit_percent: the fit slice (`ensemble.fit_percent`).
    batch_size: records per model call (`predict.batch_size`).
  """
  members: Tuple[Dict[str, Any], ...]
  fit_percent: int
  batch_size: int

  def __post_init__(self):
    object.__setattr__(self, "members", tuple(self.members))

  def to_dict(self) -> Dict[str, Any]:
    return dict(dataclasses.asdict(self), members=list(self.members))

  @classmethod
  def from_custom_config(cls, values: Dict[str, Any]) -> "EnsembleSettings":
    return cls(**values)


def ensemble_settings(config) -> Dict[str, Any]:
  """The Ensemble's custom_config, from a PipelineConfig."""
  described = []
  for member in parse_members(config.ensemble.members):
    resolved = member_config(config, member)
    described.append(dict(name=member.name, backbone=member.backbone,
                          input_size=resolved.input_size,
                          epochs=resolved.train.epochs))
  return EnsembleSettings(members=tuple(described),
                          fit_percent=config.ensemble.fit_percent,
                          batch_size=config.predict.batch_size).to_dict()
