"""The end-of-run summary: headline metrics, blessing and pushed model.

Reads one pipeline run from the ML Metadata store: the executions attributed
to that run's `pipeline_run` context, executed or cached (a cached execution
is recorded in the new run too, with output events to the artifacts it
reuses), and the artifacts they output; then the Evaluator's output.

The run id is the TFX pipeline run id: the name of the run's
`pipeline_run` context in ML Metadata, which executors see as
`self._context.pipeline_run_id` (LocalDagRunner: the run's start time in ISO
format, e.g. 2026-11-29T06:33:06.214256). One id thus names a run's model
(the Trainer execution of that run, executed or cached), its report and its
push record.
"""

import dataclasses
import os
from typing import Dict, Optional, Tuple

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import constants as tfx_constants

from modules import warm_start as warm_start_lib
from pipeline import pipeline as pipeline_lib
from pipeline.components.util import evaluation_reader as evaluation_lib
from settings import records
from settings import spans
from pipeline.components.baseline import executor as baseline_executor
from pipeline.components.batch_inference import executor as inference_executor
from pipeline.components.image_validator import executor as image_validator
from pipeline.components.litert import component as litert_component
from pipeline.components.litert import pusher as litert_pusher
from pipeline.components.pusher import executor as pusher_executor
from pipeline.components.report import component as report_component
from pipeline.components.report import render as report_render


@dataclasses.dataclass
class RunSummary:
  """What a user needs to know after a run."""
  metrics: Dict[str, float]
  blessed: Optional[bool]
  pushed: bool
  pushed_model_dir: Optional[str]
  evaluation_dir: Optional[str]
  model_dir: Optional[str]
  validation: Optional[records.ValidationSummary] = None
  # Why the Pusher refused (its PushedModel's `not_pushed_reason`).
  not_pushed_reason: Optional[str] = None
  # The model already was the newest pushed version (an unchanged re-run).
  already_serving: bool = False
  # report.html of the Report component's artifact.
  report_path: Optional[str] = None
  # The Kaggle submission.csv of BatchPrediction, or why there is none.
  submission: Optional[str] = None
  submission_note: Optional[str] = None
  # The pipeline run id (the module docstring says which id).
  run_id: Optional[str] = None
  # Node id -> "COMPLETE" (ran in this run), "CACHED" (reused), "FAILED"...
  executions: Dict[str, str] = dataclasses.field(default_factory=dict)
  # With train.warm_start: "warm start: from <model> (loaded)" or "cold
  # start: <reason>" (modules/warm_start.py `describe`).
  warm_start: Optional[str] = None
  # Where the Trainer trained: "2 workers x 1 replica (...), global batch 32".
  trained_on: Optional[str] = None
  # Whether the same command gives the same model here ("yes: ...", "no:
  # ..."), from the Trainer's record.
  reproducible: Optional[str] = None
  # Which served model the gate compared with, or why none (the
  # BaselineModel task's note); None when it did not run.
  baseline: Optional[str] = None
  # The gate's checks, one line each (the Evaluator's gate.json).
  gate_lines: Tuple[str, ...] = ()
  # The LiteRT push: "<folder> (float32, int8)", or "none (<reason>)";
  # None without the LiteRT nodes.
  device_models: Optional[str] = None

  def format(self, config) -> str:
    lines = ["", "=== Run summary ==="]
    if self.run_id:
      cached = sorted(node for node, state in self.executions.items()
                      if state == "CACHED")
      lines.append(f"  run                {self.run_id}" + (
          f" (cached: {', '.join(cached)})" if cached else ""))
    if self.validation:
      lines.append("  data               " + ", ".join(
          f"{name}: {count} examples" for name, count in
          self.validation.examples_per_split().items()))
      read_spans = spans.label_of_summary(self.validation)
      if read_spans:
        lines.append(f"  data spans         {read_spans}")
      # Drift warnings get their own line, below, not a second one here.
      drift_messages = (self.validation.drift or {}).get("messages") or []
      for warning in self.validation.warnings:
        if warning not in drift_messages:
          lines.append(f"  data warning       {warning}")
      for message in drift_messages:
        lines.append(f"  data drift         {message}")
      reports = self.validation.reports
      if reports:
        lines.append(f"  class counts       {reports.get('table')}")
        lines.append(f"                     {reports.get('chart')}")
    if self.metrics:
      for name in evaluation_lib.HEADLINE_METRICS:
        if name in self.metrics:
          lines.append(f"  {name:<18} {self.metrics[name]:.4f}"
                       if name != evaluation_lib.EXAMPLE_COUNT else
                       f"  {name:<18} {int(self.metrics[name])}")
    verdict = {True: "BLESSED", False: "NOT BLESSED", None: "not evaluated"}
    lines.append(f"  model              {self.model_dir}")
    if self.trained_on:
      lines.append(f"  trained on         {self.trained_on}")
    if self.warm_start:
      lines.append(f"  training           {self.warm_start}")
    if self.reproducible:
      lines.append(f"  reproducible       {self.reproducible}")
    if self.baseline is not None:
      lines.append(f"  baseline           {self.baseline}")
    for index, line in enumerate(self.gate_lines):
      lines.append(("  gate               " if index == 0 else
                    "                     ") + line)
    lines.append(f"  verdict            {verdict[self.blessed]}" + (
        f" (eval.change_rule={config.eval.change_rule}, tolerated drop "
        f"{config.eval.max_macro_f1_drop:g}; docs/evaluation.md)"
        if self.blessed is not None else ""))
    if self.pushed:
      lines.append(f"  pushed model       {self.pushed_model_dir}" +
                   (" (already the newest version: not copied again)"
                    if self.already_serving else ""))
    else:
      reason = self.not_pushed_reason or "nothing pushed"
      lines.append(f"  pushed model       none (not blessed: {reason})")
    if self.device_models:
      lines.append(f"  device models      {self.device_models}")
    lines.append(f"  evaluation         {self.evaluation_dir}")
    if self.report_path:
      lines.append(f"  report             {self.report_path}")
    if self.submission:
      lines.append(f"  submission         {self.submission}")
    elif self.submission_note:
      lines.append(f"  submission         none ({self.submission_note})")
    return "\n".join(lines)


# The nodes read (pipeline/pipeline.py names them).
EVALUATOR = "Evaluator"
BASELINE_MODEL = pipeline_lib.BASELINE_MODEL_ID
BATCH_PREDICTION = "BatchPrediction"


def _run_context(store, run_id: Optional[str]):
  """The `pipeline_run` context of `run_id`, or the newest run's."""
  if run_id is not None:
    context = store.get_context_by_type_and_name(
        tfx_constants.PIPELINE_RUN_CONTEXT_TYPE_NAME, run_id)
    if context is None:
      raise ValueError(f"no pipeline run {run_id!r} in the metadata store")
    return context
  runs = store.get_contexts_by_type(
      tfx_constants.PIPELINE_RUN_CONTEXT_TYPE_NAME)
  if not runs:
    raise ValueError("the metadata store records no pipeline run")
  return max(runs, key=lambda c: (c.create_time_since_epoch, c.id))


Artifacts = Dict[str, Dict[str, metadata_store_pb2.Artifact]]


def _run_artifacts(store, context) -> "tuple[Dict[str, str], Artifacts, Artifacts]":
  """(node id -> execution state name, node id -> output key -> artifact,
  node id -> input key -> artifact) of the run's executions, executed or
  cached (a cached execution records the same events)."""
  node_type = store.get_context_type(
      tfx_constants.NODE_CONTEXT_TYPE_NAME).id
  states, node_of = {}, {}
  for execution in store.get_executions_by_context(context.id):
    # Node contexts are named "<pipeline>.<node id>".
    nodes = [c.name.rsplit(".", 1)[-1]
             for c in store.get_contexts_by_execution(execution.id)
             if c.type_id == node_type]
    node = nodes[0] if nodes else str(execution.id)
    states[node] = metadata_store_pb2.Execution.State.Name(
        execution.last_known_state)
    node_of[execution.id] = node
  events = store.get_events_by_execution_ids(list(node_of))
  artifacts = {artifact.id: artifact for artifact in store.get_artifacts_by_id(
      sorted({event.artifact_id for event in events}))}
  outputs: Artifacts = {}
  inputs: Artifacts = {}
  for event in sorted(events, key=lambda e: e.artifact_id):
    if not event.path.steps or event.artifact_id not in artifacts:
      continue
    side = {metadata_store_pb2.Event.OUTPUT: outputs,
            metadata_store_pb2.Event.INPUT: inputs}.get(event.type)
    if side is not None:
      side.setdefault(node_of[event.execution_id], {})[
          event.path.steps[0].key] = artifacts[event.artifact_id]
  return states, outputs, inputs


def _custom_int(artifact, name: str) -> Optional[int]:
  if artifact is None or name not in artifact.custom_properties:
    return None
  return artifact.custom_properties[name].int_value


def _training_history(model_run) -> Optional[records.TrainingHistory]:
  return records.TrainingHistory.read(
      model_run.uri if model_run is not None else None)


def _warm_start_line(history: Optional[records.TrainingHistory]
                     ) -> Optional[str]:
  """The warm start line of the Trainer's training history, if any."""
  if history is None:
    return None
  return warm_start_lib.describe(history.warm_start)


def _reproducible_line(history: Optional[records.TrainingHistory]
                       ) -> Optional[str]:
  """Whether the Trainer trained with op determinism, in words."""
  if history is None or history.deterministic is None:
    return None
  setting = history.section("train").get("deterministic")
  seed = history.section("train").get("seed")
  if history.deterministic:
    return (f"yes: op determinism on, seed {seed} (train.deterministic="
            f"{setting}): the same command on the same data gives this "
            "model again")
  why = ("train.deterministic=auto leaves it off on a GPU or TPU"
         if setting == "auto" else f"train.deterministic={setting}")
  return (f"no: op determinism off ({why}): another run may give a "
          "slightly different model")


def _trained_on_line(history: Optional[records.TrainingHistory]
                     ) -> Optional[str]:
  """Workers, replicas per worker, strategy and global batch of a history
  (one worker where an older history does not say)."""
  if history is None or history.replicas is None:
    return None
  workers = history.workers
  per_worker = history.replicas_per_worker or history.replicas
  return (f"{workers} worker{'s' if workers != 1 else ''} x {per_worker} "
          f"replica{'s' if per_worker != 1 else ''} ({history.strategy}), "
          f"global batch {history.global_batch_size}")


def read_summary(metadata_path: str,
                 run_id: Optional[str] = None,
                 no_test_reason: Optional[str] = None) -> RunSummary:
  """Summarises one run recorded in the SQLite store at the path.

  Args:
    metadata_path: the run's metadata.sqlite.
    run_id: the pipeline run id; None: the newest run in the store (the one
      that just finished, as runs into one output directory do not overlap).
    no_test_reason: why the run's data plan has no BatchPrediction node
      (`DataPlan.no_test_reason`), the submission's note when no
      predictions artifact gives one.
  """
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = metadata_path
  connection.sqlite.connection_mode = 1  # READONLY
  store = metadata_store.MetadataStore(connection)
  context = _run_context(store, run_id)
  states, outputs, inputs = _run_artifacts(store, context)
  evaluator_outputs = outputs.get(EVALUATOR, {})
  evaluation = evaluator_outputs.get("evaluation")
  blessing = evaluator_outputs.get("blessing")
  # The candidate is what the Evaluator judged: the Trainer's model, or the
  # Ensemble's.
  model = inputs.get(EVALUATOR, {}).get("model") or outputs.get(
      "Trainer", {}).get("model")
  anomalies = outputs.get(pipeline_lib.IMAGE_VALIDATOR_ID, {}).get("anomalies")
  pushed = outputs.get("Pusher", {}).get("pushed_model")
  report = next(iter(outputs.get(report_component.COMPONENT_ID, {}).values()),
                None)
  test_predictions = outputs.get(BATCH_PREDICTION, {}).get("predictions")
  # The Trainer's run (in an ensemble, the first member's: the one the
  # Report and the Pusher describe).
  model_runs = [artifacts["model_run"] for node, artifacts in
                sorted(outputs.items()) if "model_run" in artifacts]
  history = _training_history(model_runs[0] if model_runs else None)
  submission, submission_note = None, no_test_reason
  if test_predictions is not None:
    properties = test_predictions.custom_properties
    if inference_executor.SUBMISSION_PROPERTY in properties:
      submission = properties[
          inference_executor.SUBMISSION_PROPERTY].string_value
    else:
      submission_note = properties[
          inference_executor.NOT_PREDICTED_REASON].string_value
  blessed_flag = _custom_int(blessing, "blessed")
  pushed_flag = _custom_int(pushed, "pushed")
  destination = None
  if pushed is not None and "pushed_destination" in pushed.custom_properties:
    destination = pushed.custom_properties["pushed_destination"].string_value
  reason = None
  if pushed is not None and "not_pushed_reason" in pushed.custom_properties:
    reason = pushed.custom_properties["not_pushed_reason"].string_value
  metrics, gate_lines = {}, ()
  if evaluation is not None and os.path.exists(evaluation.uri):
    loaded = evaluation_lib.load_evaluation(evaluation.uri)
    metrics = loaded.metrics.get(evaluation_lib.CANDIDATE, {})
    if loaded.gate is not None:
      gate_lines = tuple(check["line"] for check in loaded.gate.checks)
  return RunSummary(
      metrics=metrics,
      blessed=None if blessed_flag is None else bool(blessed_flag),
      pushed=bool(pushed_flag),
      pushed_model_dir=destination if pushed_flag else None,
      evaluation_dir=evaluation.uri if evaluation else None,
      model_dir=model.uri if model else None,
      validation=(image_validator.read_validation_summary(anomalies.uri)
                  if anomalies is not None else None),
      not_pushed_reason=None if pushed_flag else reason,
      already_serving=bool(
          _custom_int(pushed, pusher_executor.ALREADY_SERVING_KEY)),
      run_id=context.name,
      executions=states,
      report_path=(os.path.join(report.uri, report_render.REPORT_FILE)
                   if report is not None else None),
      submission=submission, submission_note=submission_note,
      warm_start=_warm_start_line(history),
      reproducible=_reproducible_line(history),
      baseline=_baseline_line(outputs.get(BASELINE_MODEL, {}).get("model")),
      gate_lines=gate_lines,
      trained_on=_trained_on_line(history),
      device_models=_device_models_line(outputs.get(
          litert_component.PUSHER_ID, {}).get(
              litert_pusher.PUSHED_LITE_MODEL_KEY)))


def _device_models_line(pushed) -> Optional[str]:
  """The LiteRTPusher's outcome in one line (None: no such node)."""
  if pushed is None:
    return None
  properties = pushed.custom_properties
  if _custom_int(pushed, litert_pusher.PUSHED):
    variants = properties[litert_pusher.PUSHED_VARIANTS].string_value
    return (f"{properties[litert_pusher.PUSHED_DESTINATION].string_value} "
            f"({variants.replace(',', ', ')})")
  reason = (properties[litert_pusher.NOT_PUSHED_REASON].string_value
            if litert_pusher.NOT_PUSHED_REASON in properties else "not run")
  return f"none ({reason})"


def _baseline_line(baseline) -> Optional[str]:
  """Which served model the gate compared with, or "none: why"."""
  if baseline is None:
    return None
  properties = baseline.custom_properties
  note = (properties[baseline_executor.NOTE_PROPERTY].string_value
          if baseline_executor.NOTE_PROPERTY in properties else baseline.uri)
  found = _custom_int(baseline, baseline_executor.FOUND_PROPERTY)
  return note if found else f"none: {note}"
