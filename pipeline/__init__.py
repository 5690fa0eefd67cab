"""The pipeline package (settings, components, the DAG: docs/layout.md).

This file only resolves `pipeline.<ArtifactType>` for Kubeflow's launcher.
"""


def __getattr__(name):
  # Kubeflow's TFX launcher imports a custom artifact type as
  # `pipeline.<TypeName>` (pipeline/components/report/component.py); resolved
  # lazily so that importing any `pipeline.*` module stays free of TFX.
  if name == "EvaluationReport":
    from pipeline.components.report import component  # pylint: disable=g-import-not-at-top
    return component.EvaluationReport
  if name == "Predictions":
    from pipeline.components.batch_inference import component  # pylint: disable=g-import-not-at-top
    return component.Predictions
  raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
