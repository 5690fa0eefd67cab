"""Fits the curated schema to the class list: the label's domain follows it.

The curated schema (`schema/schema.pbtxt`) describes the features but not the
number of classes: its `class` feature has an `int_domain` without `min` and
`max`, and `schema_for_classes` fills in [0, num_classes - 1] from the class
list. A hand-written schema (`--schema`) may set the domain itself; then it
must be exactly that range, or `SchemaError` names the file and both ranges.
The SchemaGen component (pipeline/components/schema_gen/) calls this inside the
pipeline; reads go through `tf.io.gfile`, so the file may be in the
container image or on gs://.
"""

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from settings import features
from google.protobuf import text_format


class SchemaError(ValueError):
  """The schema file does not fit the features or the class list."""


def load_schema(path: str) -> schema_pb2.Schema:
  """Parses a text-format schema file (local path or any tf.io.gfile URI)."""
  with tf.io.gfile.GFile(path, "r") as f:
    text = f.read()
  try:
    return text_format.Parse(text, schema_pb2.Schema())
  except text_format.ParseError as error:
    raise SchemaError(f"{path}: not a text-format Schema: {error}") from None


def schema_for_classes(schema: schema_pb2.Schema, num_classes: int,
                       source: str = "the schema") -> schema_pb2.Schema:
  """Returns a copy of `schema` whose label domain is [0, num_classes - 1].

  Args:
    schema: the curated or hand-written schema.
    num_classes: the length of the class list.
    source: the schema's file, for error messages.

  Returns:
    The schema with `features.LABEL_KEY`'s int_domain min 0 and max
    num_classes - 1, categorical; with a label outside it, TFDV reports an
    anomaly and ImageValidator stops the run.

  Raises:
    SchemaError: if a Kaggle feature (`id`, `image`, `class`) is missing, or
      the schema sets a label domain other than [0, num_classes - 1].
  """
  if num_classes < 1:
    raise SchemaError(f"num_classes must be positive, got {num_classes}")
  result = schema_pb2.Schema()
  result.CopyFrom(schema)
  by_name = {feature.name: feature for feature in result.feature}
  for key in (features.ID_KEY, features.IMAGE_KEY, features.LABEL_KEY):
    if key not in by_name:
      raise SchemaError(f"{source}: schema has no feature {key!r}")
  label = by_name[features.LABEL_KEY]
  domain = label.int_domain
  expected = (0, num_classes - 1)
  if domain.HasField("min") or domain.HasField("max"):
    # A hand-written domain is a statement about the data: it must agree
    # with the class list, not be silently replaced.
    given = (domain.min if domain.HasField("min") else None,
             domain.max if domain.HasField("max") else None)
    if given != expected:
      raise SchemaError(
          f"{source}: feature {features.LABEL_KEY!r} has int_domain "
          f"[{_bound(given[0])}, {_bound(given[1])}] but the class list has "
          f"{num_classes} classes (labels [0, {num_classes - 1}]); remove "
          "min and max from the schema to let the domain follow the class "
          "list, or fix the class list (--classes)")
  domain.min, domain.max = expected
  domain.is_categorical = True
  return result


def _bound(value) -> str:
  return "unset" if value is None else str(value)
