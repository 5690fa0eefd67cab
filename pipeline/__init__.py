"""The pipeline package: the custom components (pipeline/components/),
above them the DAG (the top-level files), and above it what the runners
share (pipeline/runner/) (docs/layout.md).

This file only resolves `pipeline.<ArtifactType>` for Kubeflow's launcher.
"""


def __getattr__(name):
  # Kubeflow's TFX launcher imports a custom artifact type as
  # `pipeline.<TypeName>` (the TYPE_NAMEs in
  # pipeline/components/util/artifact_types.py), a name ML Metadata and
  # compiled specs store. Resolved on first use.
  if name in ("EvaluationReport", "Predictions", "LiteModel",
              "PushedLiteModel"):
    # slow import: TFX and TensorFlow (3 s); every import of a module of
    # pipeline/ runs this file, and a tool importing one helper (the
    # console, the served-model reader) must not load them
    from pipeline.components.util import artifact_types  # pylint: disable=g-import-not-at-top
    return getattr(artifact_types, name)
  raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
