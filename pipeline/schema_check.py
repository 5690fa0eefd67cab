"""Checks that the curated schema agrees with the classes and feature keys."""

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import features
from google.protobuf import text_format


def load_schema(path: str) -> schema_pb2.Schema:
  """Parses a text-format schema file."""
  with open(path, encoding="utf-8") as f:
    return text_format.Parse(f.read(), schema_pb2.Schema())


def check_schema_matches_classes(path: str, num_classes: int) -> None:
  """Raises ValueError unless the schema fits the features and classes.

  The label's int domain must be exactly [0, num_classes - 1], and the
  schema must describe the Kaggle features `features.ID_KEY`,
  `features.IMAGE_KEY` and `features.LABEL_KEY`.
  """
  schema = load_schema(path)
  by_name = {feature.name: feature for feature in schema.feature}
  for key in (features.ID_KEY, features.IMAGE_KEY, features.LABEL_KEY):
    if key not in by_name:
      raise ValueError(f"{path}: schema has no feature {key!r}")
  domain = by_name[features.LABEL_KEY].int_domain
  if (domain.min, domain.max) != (0, num_classes - 1):
    raise ValueError(
        f"{path}: feature {features.LABEL_KEY!r} has domain "
        f"[{domain.min}, {domain.max}] but there are {num_classes} classes "
        f"(expected [0, {num_classes - 1}]); pass a schema for these classes "
        "with --schema")
