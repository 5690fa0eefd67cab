"""The curated schema, and SchemaGen fitting its class domain to the classes."""

import os

import pytest
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from settings import config as config_lib
from pipeline.components.util import custom_config
from pipeline import data_plan
from settings import features
from pipeline import pipeline as pipeline_lib
from pipeline.components.schema_gen import class_domain
from pipeline.components.schema_gen import component as schema_gen_component
from pipeline.components.schema_gen import executor as schema_gen_executor


def test_curated_schema_has_the_keys_and_no_class_count():
  schema = class_domain.load_schema(pipeline_lib.DEFAULT_SCHEMA_FILE)
  by_name = {f.name: f for f in schema.feature}
  assert set(by_name) == {features.ID_KEY, features.IMAGE_KEY,
                          features.LABEL_KEY}
  label = by_name[features.LABEL_KEY]
  assert label.int_domain.is_categorical
  # The count comes from the class list, so no data set needs its own file.
  assert not label.int_domain.HasField("min")
  assert not label.int_domain.HasField("max")
  # The unlabeled test split is valid: no label at serving time.
  assert "SERVING" in label.not_in_environment


@pytest.mark.parametrize("num_classes", [
    2, 10, config_lib.PipelineConfig().num_classes])
def test_domain_follows_the_class_count(num_classes):
  schema = class_domain.schema_for_classes(
      class_domain.load_schema(pipeline_lib.DEFAULT_SCHEMA_FILE), num_classes)
  label = {f.name: f for f in schema.feature}[features.LABEL_KEY]
  assert (label.int_domain.min, label.int_domain.max) == (0, num_classes - 1)
  assert label.int_domain.is_categorical


def _hand_written(tmp_path, domain):
  text = open(pipeline_lib.DEFAULT_SCHEMA_FILE, encoding="utf-8").read()
  text = text.replace("int_domain { is_categorical: true }",
                      f"int_domain {{ {domain} is_categorical: true }}")
  path = tmp_path / "my_schema.pbtxt"
  path.write_text(text)
  return str(path)


def test_hand_written_domain_that_agrees_is_kept(tmp_path):
  path = _hand_written(tmp_path, "min: 0 max: 9")
  schema = class_domain.schema_for_classes(class_domain.load_schema(path), 10,
                                           source=path)
  label = {f.name: f for f in schema.feature}[features.LABEL_KEY]
  assert (label.int_domain.min, label.int_domain.max) == (0, 9)


@pytest.mark.parametrize("domain, named", [
    ("min: 0 max: 103", "[0, 103]"),
    ("max: 9", "[unset, 9]"),
    ("min: 1 max: 10", "[1, 10]"),
])
def test_hand_written_domain_that_disagrees_names_both(tmp_path, domain,
                                                       named):
  path = _hand_written(tmp_path, domain)
  with pytest.raises(class_domain.SchemaError) as raised:
    class_domain.schema_for_classes(class_domain.load_schema(path), 10,
                                    source=path)
  message = str(raised.value)
  assert path in message
  assert named in message
  assert "10 classes" in message and "[0, 9]" in message


def test_schema_without_the_label_is_refused(tmp_path):
  path = tmp_path / "no_label.pbtxt"
  path.write_text('feature { name: "id" type: BYTES }\n'
                  'feature { name: "image" type: BYTES }\n')
  with pytest.raises(class_domain.SchemaError, match="no feature 'class'"):
    class_domain.schema_for_classes(class_domain.load_schema(str(path)), 3,
                                    source=str(path))


def test_not_a_schema_names_the_file(tmp_path):
  path = tmp_path / "broken.pbtxt"
  path.write_text("feature { name: ")
  with pytest.raises(class_domain.SchemaError, match="broken.pbtxt"):
    class_domain.load_schema(str(path))


def _run_executor(tmp_path, schema_file, num_classes):
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / "schema_out")
  os.makedirs(schema.uri)
  schema_gen_executor.Executor().Do(
      {}, {"schema": [schema]},
      {"schema_file": schema_file, custom_config.KEY: custom_config.encode(
          config_lib.SchemaSettings(num_classes=num_classes).to_dict())})
  return schema


def test_executor_writes_a_schema_artifact_for_the_classes(tmp_path):
  artifact = _run_executor(tmp_path, pipeline_lib.DEFAULT_SCHEMA_FILE, 10)
  # What StatisticsGen, ImageValidator, Transform and Trainer read.
  schema = io_utils.SchemaReader().read(
      io_utils.get_only_uri_in_dir(artifact.uri))
  label = {f.name: f for f in schema.feature}[features.LABEL_KEY]
  assert (label.int_domain.min, label.int_domain.max) == (0, 9)
  assert set(schema.default_environment) == {"TRAINING", "SERVING"}


def test_executor_stops_on_a_disagreeing_schema(tmp_path):
  path = _hand_written(tmp_path, "min: 0 max: 103")
  with pytest.raises(class_domain.SchemaError, match=r"\[0, 103\]"):
    _run_executor(tmp_path, path, 10)
  assert not os.listdir(tmp_path / "schema_out")


def test_pipeline_passes_the_class_count_and_the_file():
  config = config_lib.PipelineConfig(class_names=("a", "b", "c"))
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name="p", pipeline_root="/tmp/root",
      data=data_plan.make_plan("gs://b/data", config),
      serving_model_dir="/tmp/serving", config=config,
      schema_file="/flowers/schema/schema.pbtxt")
  (node,) = [c for c in pipeline.components if c.id == "SchemaGen"]
  assert isinstance(node, schema_gen_component.SchemaGen)
  assert node.exec_properties["schema_file"] == "/flowers/schema/schema.pbtxt"
  assert custom_config.decode(node.exec_properties,
                              config_lib.SchemaSettings).num_classes == 3
