"""PipelineConfig: defaults, validation, round trip through custom_config."""

import json

import pytest

from pipeline import config as config_lib
from pipeline import features


def test_defaults_are_valid_and_have_the_kaggle_classes():
  config = config_lib.PipelineConfig()
  assert config.num_classes == len(features.load_class_names()) == 104
  assert config.class_names[0] == "pink primrose"
  assert config.class_names[-1] == "wild rose"


def test_round_trip_through_json():
  config = config_lib.PipelineConfig().replace(
      image_size=512, train__epochs=3, model__backbone="densenet201",
      class_names=("a", "b", "c"))
  again = config_lib.PipelineConfig.from_dict(
      json.loads(json.dumps(config.to_dict())))
  assert again == config
  assert again.num_classes == 3


def test_input_size_zero_means_the_data_size():
  config = config_lib.PipelineConfig().replace(image_size=331,
                                               model__input_size=0)
  assert config.model_input_size == 331


@pytest.mark.parametrize("changes, message", [
    (dict(model__backbone="alexnet"), "backbone"),
    (dict(train__epochs=0), "epochs"),
    (dict(train__lr_schedule="step"), "lr_schedule"),
    (dict(eval__min_macro_f1=1.5), "min_macro_f1"),
    (dict(class_names=("only one",)), "at least 2"),
    (dict(class_names=("a", "a")), "unique"),
])
def test_invalid_settings_are_rejected(changes, message):
  with pytest.raises(ValueError, match=message):
    config_lib.PipelineConfig().replace(**changes)


def test_unknown_keys_are_an_error():
  values = config_lib.PipelineConfig().to_dict()
  values["train"]["epoch"] = 3
  with pytest.raises(TypeError):
    config_lib.PipelineConfig.from_dict(values)


def test_custom_config_may_carry_the_vertex_trainer_settings():
  config = config_lib.PipelineConfig().replace(train__epochs=3)
  custom_config = {**config.to_dict(),
                   config_lib.PLATFORM_KEY_PREFIX + "training_args": {
                       "project": "p"},
                   config_lib.PLATFORM_KEY_PREFIX + "enable_vertex": True}
  assert config_lib.PipelineConfig.from_custom_config(custom_config) == (
      config)
  # Anything else is still an unknown key.
  with pytest.raises(TypeError, match="vertex_region"):
    config_lib.PipelineConfig.from_custom_config(
        {**config.to_dict(), "vertex_region": "us-central1"})


def test_class_names_file(tmp_path):
  path = tmp_path / "classes.txt"
  path.write_text("rose\ntulip\ndaisy\n")
  assert features.load_class_names(str(path)) == ["rose", "tulip", "daisy"]
  path.write_text("rose\n\ndaisy\n")
  with pytest.raises(ValueError, match="blank"):
    features.load_class_names(str(path))
  path.write_text("rose\nrose\n")
  with pytest.raises(ValueError, match="repeated"):
    features.load_class_names(str(path))


def test_set_overrides_parse_by_field_type():
  config = config_lib.PipelineConfig().with_overrides([
      "augment.rotation=0.1", "train.class_weighting=yes",
      "train.epochs=3", "model.weights=none", "train.tpu_address=grpc://t"])
  assert config.augment.rotation == 0.1
  assert config.train.class_weighting is True
  assert config.train.epochs == 3
  assert config.model.weights is None
  assert config.train.tpu_address == "grpc://t"
  for bad, message in [("train.epoch=3", "no field 'epoch'"),
                       ("nothing.x=1", "unknown section"),
                       ("train.epochs=three", "expected a int"),
                       ("train.class_weighting=maybe", "true or false"),
                       ("epochs=3", "section.field=value")]:
    with pytest.raises(ValueError, match=message):
      config_lib.PipelineConfig().with_overrides([bad])
