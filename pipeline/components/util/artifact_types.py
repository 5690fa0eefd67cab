"""The pipeline's own artifact types, which components hand each other.

One module for all of them, below the components, so that a component that
reads another's output names its type without importing that component
(docs/layout.md: components talk through artifacts). Their TYPE_NAMEs are
what ML Metadata and compiled specs store; they must not change.

On Kubeflow/Vertex, TFX rebuilds an artifact's class from its type name,
imported as `<module>.<class>` (one dot: KFP's schema title), hence the
`pipeline.` names and the lazy attribute in pipeline/__init__.py that
resolves them.
"""

from tfx import types


class Predictions(types.Artifact):
  """Per split `Split-<name>/predictions.npz`, and `submission.csv`
  (predictions.py): BatchInference's and EvalInference's output."""
  TYPE_NAME = "pipeline.Predictions"


class LiteModel(types.Artifact):
  """`model_float32.tflite`, `model_int8.tflite`, `labels.txt` and
  `lite_evaluation.json` (settings/records.py `LiteEvaluation`):
  LiteRTExport's output."""
  TYPE_NAME = "pipeline.LiteModel"


class PushedLiteModel(types.Artifact):
  """The push's `push_record.json`; custom properties `pushed`,
  `pushed_destination`, `pushed_version` as TFX's PushedModel, and
  `not_pushed_reason`: LiteRTPusher's output."""
  TYPE_NAME = "pipeline.PushedLiteModel"


class EvaluationReport(types.Artifact):
  """A folder with report.html, its PNG figures, the model card and
  metrics.json: the Report's output."""
  TYPE_NAME = "pipeline.EvaluationReport"
