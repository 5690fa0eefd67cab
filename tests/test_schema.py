"""The curated schema agrees with the class names and the feature keys."""

import pytest

from pipeline import config as config_lib
from pipeline import features
from pipeline import pipeline as pipeline_lib
from pipeline import schema_check


def test_schema_matches_default_classes_and_keys():
  schema = schema_check.load_schema(pipeline_lib.DEFAULT_SCHEMA_FILE)
  by_name = {f.name: f for f in schema.feature}
  assert set(by_name) == {features.ID_KEY, features.IMAGE_KEY,
                          features.LABEL_KEY}
  label = by_name[features.LABEL_KEY]
  assert label.int_domain.is_categorical
  assert (label.int_domain.min, label.int_domain.max) == (
      0, config_lib.PipelineConfig().num_classes - 1)
  # The unlabeled test split is valid: no label at serving time.
  assert "SERVING" in label.not_in_environment
  schema_check.check_schema_matches_classes(
      pipeline_lib.DEFAULT_SCHEMA_FILE, config_lib.PipelineConfig().num_classes)


def test_schema_for_other_classes_is_refused():
  with pytest.raises(ValueError, match="5 classes"):
    schema_check.check_schema_matches_classes(
        pipeline_lib.DEFAULT_SCHEMA_FILE, 5)
