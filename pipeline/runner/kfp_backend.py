"""Which KFP backend a compiled spec is for, and what that changes in it.

Neither spec has a `resolver` executor, which the open-source KFP v2
backend's Argo compiler rejects ("resolver not implemented yet",
kubeflow/pipelines backend/src/v2/compiler/argocompiler): the baselines are
container tasks that read the push records on every runner
(pipeline/components/baseline/).

* `vertex` (Vertex AI Pipelines): TFX's spec as KubeflowV2DagRunner writes
  it. ImportExampleGen's `lifecycle.preCacheCheck` hook (TFX's driver
  container) resolves the span before the executor runs.
* `kubeflow` (open-source Kubeflow Pipelines): its driver runs no
  `lifecycle` hook, so the hooks are taken out of the spec (`adapt_spec`):
  ExampleGen's executor resolves the span itself when no driver ran
  (pipeline/components/example_gen/span_resolution.py), so the spec does
  the same on a backend that would run a hook as on one that would not.
"""

from typing import Any, Dict, List

KFP_BACKENDS = ("vertex", "kubeflow")
DEFAULT_KFP_BACKEND = "vertex"


def adapt_spec(pipeline_spec: Dict[str, Any], backend: str) -> List[str]:
  """Makes a compiled PipelineSpec fit `backend`, in place; returns the
  executors whose `lifecycle` hooks were taken out."""
  if backend != "kubeflow":
    return []
  removed = []
  for label, executor in sorted(
      pipeline_spec["deploymentSpec"]["executors"].items()):
    if executor.get("container", {}).pop("lifecycle", None) is not None:
      removed.append(label)
  return removed


def resolver_executors(pipeline_spec: Dict[str, Any]) -> List[str]:
  """The executors a KFP driver must run itself (`resolver`, `importer`
  are the driver's own tasks; only `resolver` is refused by open-source
  Kubeflow Pipelines)."""
  return sorted(label for label, executor in
                pipeline_spec["deploymentSpec"]["executors"].items()
                if "resolver" in executor)
