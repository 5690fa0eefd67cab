"""How every custom component receives its settings: its typed view of the
config (settings/config.py, e.g. `ImageValidatorSettings`) as JSON in the
`custom_config` execution property.

That is the name and the form of TFX's own Trainer, Transform and Tuner
(`standard_component_specs.CUSTOM_CONFIG_KEY`, a JSON string), so one
setting travels the same way to every component: a field of a section,
the component's view of it, and its slice in `PipelineConfig`. TFX
fingerprints the property, so a component re-runs exactly when a setting of
its own view changes.
"""

import json
from typing import Any, Dict, Mapping, Type, TypeVar

from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter

KEY = standard_component_specs.CUSTOM_CONFIG_KEY
View = TypeVar("View")


def parameter() -> ExecutionParameter:
  """The spec's entry: `PARAMETERS = {custom_config.KEY: parameter()}`."""
  return ExecutionParameter(type=str)


def encode(settings: Dict[str, Any]) -> str:
  """A slice of the config (`PipelineConfig.image_validator_settings()`...) as
  the property's value; sorted, so the same settings fingerprint alike."""
  return json.dumps(settings, sort_keys=True)


def decode(exec_properties: Mapping[str, Any], view: Type[View]) -> View:
  """The typed view an executor reads back (`ImageValidatorSettings`...)."""
  return view.from_custom_config(json.loads(exec_properties[KEY]))
