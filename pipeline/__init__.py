"""The pipeline package: the custom components (pipeline/components/),
above them the DAG (the top-level files), and above it what the runners
share (pipeline/runner/) (docs/layout.md).

This file only resolves `pipeline.<ArtifactType>` for Kubeflow's launcher.
"""


def __getattr__(name):
  # Kubeflow's TFX launcher imports a custom artifact type as
  # `pipeline.<TypeName>` (the TYPE_NAMEs in pipeline/components/report/
  # component.py, batch_inference/component.py and litert/component.py), a
  # name ML Metadata and
  # compiled specs store. Resolved on first use, so that a tool importing
  # one helper of pipeline/ (the served-model reader, the console) does not
  # pay for importing TFX.
  if name == "EvaluationReport":
    from pipeline.components.report import component  # pylint: disable=g-import-not-at-top
    return component.EvaluationReport
  if name == "Predictions":
    from pipeline.components.batch_inference import component  # pylint: disable=g-import-not-at-top
    return component.Predictions
  if name in ("LiteModel", "PushedLiteModel"):
    from pipeline.components.litert import component  # pylint: disable=g-import-not-at-top
    return getattr(component, name)
  raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
