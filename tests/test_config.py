"""PipelineConfig: defaults, validation, round trip through custom_config."""

import re
import json

import pytest

from pipeline.runner import overrides
from settings import config as config_lib
from settings import features
from settings import label_space


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
  assert config.input_size == 331


@pytest.mark.parametrize("changes, message", [
    (dict(model__backbone="alexnet"), "backbone"),
    (dict(train__epochs=0), "epochs"),
    (dict(train__lr_schedule="step"), "lr_schedule"),
    (dict(eval__min_macro_f1=1.5), "min_macro_f1"),
    (dict(class_names=("only one",)), "at least 2"),
    (dict(class_names=("a", "a")), "unique"),
    # A hand-edited custom_config's "false" string is not a boolean.
    (dict(train__warm_start="false"), "train.warm_start must be true or"),
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
  custom_config = {**config.trainer_settings(),
                   config_lib.PLATFORM_KEY_PREFIX + "training_args": {
                       "project": "p"},
                   config_lib.PLATFORM_KEY_PREFIX + "enable_vertex": True}
  settings = config_lib.TrainerSettings.from_custom_config(custom_config)
  assert settings.train.epochs == 3
  assert settings.to_dict() == config.trainer_settings()
  # Anything else is still an unknown key.
  with pytest.raises(TypeError, match="vertex_region"):
    config_lib.TrainerSettings.from_custom_config(
        {**config.trainer_settings(), "vertex_region": "us-central1"})


def test_each_component_gets_only_the_settings_it_reads():
  """The gate and the validator's thresholds are not in Transform's or the
  Trainer's custom_config (so changing them cannot re-run those), and an
  augmentation setting is not in Transform's."""
  base = config_lib.PipelineConfig()
  for changed in (base.replace(eval__min_macro_f1=0.1,
                               eval__max_macro_f1_drop=0.5),
                  base.replace(validation__max_imbalance_ratio=10.0,
                               validation__scan_images=False)):
    assert changed.transform_settings() == base.transform_settings()
    assert changed.trainer_settings() == base.trainer_settings()
  augmented = base.replace(augment__rotation=0.2)
  assert augmented.transform_settings() == base.transform_settings()
  assert augmented.trainer_settings() != base.trainer_settings()
  assert set(base.trainer_settings()) == {
      "image_size", "class_names", "model", "train", "augment"}
  assert base.transform_settings() == {"input_size": base.input_size}


def test_example_validator_gets_the_balance_rules_only():
  """TFX's ExampleValidator receives the class count and the two balance
  thresholds: an image or drift setting cannot re-validate the statistics;
  a threshold changes the SQL rule TFDV runs."""
  from pipeline.components.util import class_balance  # pylint: disable=g-import-not-at-top
  base = config_lib.PipelineConfig()
  assert base.example_validator_settings() == {
      "num_classes": 104, "max_imbalance_ratio": 3.0,
      "min_class_examples": 5}
  images = base.replace(validation__scan_images=False,
                        validation__stop_on_drift=True, image_size=331)
  assert images.example_validator_settings() == (
      base.example_validator_settings())
  rules = lambda config: [rule.sql_expression for rule in
                          class_balance.custom_validation_config(
                              config.example_validator_settings()
                          ).feature_validations[0].validations]
  assert rules(base.replace(validation__max_imbalance_ratio=5.0))[0] != (
      rules(base)[0])
  with pytest.raises(ValueError, match="max_imbalance_ratio"):
    base.replace(validation__max_imbalance_ratio=0.5
                 ).example_validator_settings()


def test_settings_views_are_typed_and_checked():
  config = config_lib.PipelineConfig().replace(
      image_size=331, model__input_size=0, class_names=("a", "b", "c"))
  settings = config_lib.TrainerSettings.from_custom_config(
      json.loads(json.dumps(config.trainer_settings())))
  assert settings.input_size == 331 and settings.num_classes == 3
  assert settings.model == config.model and settings.train == config.train
  assert config_lib.TransformSettings.from_custom_config(
      config.transform_settings()).input_size == 331
  values = config.trainer_settings()
  values["train"]["epochs"] = 0
  with pytest.raises(ValueError, match="epochs"):
    config_lib.TrainerSettings.from_dict(values)
  with pytest.raises(TypeError, match="eval"):
    config_lib.TrainerSettings.from_dict({**config.trainer_settings(),
                                          "eval": {}})
  with pytest.raises(TypeError, match="image_size"):
    config_lib.TransformSettings.from_dict({"input_size": 64,
                                            "image_size": 64})


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
  config = overrides.apply_overrides(config_lib.PipelineConfig(), [
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
                       ("epochs=3", "unknown setting 'epochs'"),
                       ("train.epochs", "section.field=value"),
                       ("image_size=big", "expected a int"),
                       ("classes_file=/nonexistent.txt", "nonexistent")]:
    with pytest.raises(ValueError, match=message):
      overrides.apply_overrides(config_lib.PipelineConfig(), [bad])


def test_set_reaches_the_top_level_fields(tmp_path):
  path = tmp_path / "classes.txt"
  path.write_text("".join(f"class {i}\n" for i in range(10)))
  config = overrides.apply_overrides(config_lib.PipelineConfig(),
      ["image_size=64", f"classes_file={path}", "train.epochs=2"])
  assert config.image_size == 64
  assert config.class_names == tuple(f"class {i}" for i in range(10))
  assert config.train.epochs == 2


def test_each_class_list_is_a_pipeline_of_its_own():
  """Names and order both make the label space; the name is one Vertex AI
  and Kubeflow Pipelines accept (lower case, digits, hyphens)."""
  from settings import features  # pylint: disable=g-import-not-at-top
  names = ["rose", "tulip", "daisy"]
  ours = config_lib.pipeline_name(names)
  assert ours == config_lib.pipeline_name(list(names))
  assert ours != config_lib.pipeline_name(["tulip", "rose", "daisy"])
  assert ours != config_lib.pipeline_name(["rose", "tulip"])
  assert ours != config_lib.pipeline_name(["rose", "tulip", "Daisy"])
  assert re.fullmatch(r"[a-z][-a-z0-9]{0,127}", ours), ours
  assert label_space.label_space(names)["num_classes"] == 3
