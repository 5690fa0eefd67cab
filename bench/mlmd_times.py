"""Per-component times of a pipeline run, from its ML Metadata store.

LocalDagRunner records one execution per component and run: created when the
component starts, last updated when it is published (COMPLETE) or found in
the cache (CACHED). Its node context names the component
(`<pipeline>.<node id>`) and its pipeline_run context the run, so one store
holds the times of every run made into the same output directory.
"""

import dataclasses
from typing import Dict, List, Sequence

from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

# MLMD's Execution.State values (ml_metadata/proto/metadata_store.proto).
_STATE_NAMES = {0: "UNKNOWN", 1: "NEW", 2: "RUNNING", 3: "COMPLETE",
                4: "FAILED", 5: "CACHED", 6: "CANCELED"}


@dataclasses.dataclass(frozen=True)
class ComponentRun:
  """One component's execution in one pipeline run.

  Attributes:
    node_id: the component's id in the pipeline ("Transform").
    state: "COMPLETE", "CACHED", "FAILED"...
    pipeline_run: the run id (LocalDagRunner: the start time, ISO format).
    start_ms: when the execution was created, ms since the epoch.
    end_ms: when it was last updated (published), ms since the epoch.
  """
  node_id: str
  state: str
  pipeline_run: str
  start_ms: int
  end_ms: int

  @property
  def seconds(self) -> float:
    return (self.end_ms - self.start_ms) / 1000.0


def open_store(metadata_path: str):
  """A read-only MetadataStore on the SQLite file at `metadata_path`."""
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = metadata_path
  connection.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
  return metadata_store.MetadataStore(connection)


def read_component_runs(store) -> List[ComponentRun]:
  """Every component execution in `store`, in start order."""
  context_types = {t.id: t.name for t in store.get_context_types()}
  runs = []
  for execution in store.get_executions():
    try:
      contexts = store.get_contexts_by_execution(execution.id)
    except errors.NotFoundError:
      continue  # no contexts: not a pipeline component
    by_type = {context_types.get(c.type_id): c.name for c in contexts}
    node = by_type.get("node")
    if node is None:
      continue  # not a pipeline component
    pipeline_name = by_type.get("pipeline")
    node_id = (node[len(pipeline_name) + 1:]
               if pipeline_name and node.startswith(pipeline_name + ".")
               else node)
    runs.append(ComponentRun(
        node_id=node_id,
        state=_STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
        pipeline_run=by_type.get("pipeline_run", ""),
        start_ms=execution.create_time_since_epoch,
        end_ms=execution.last_update_time_since_epoch))
  return sorted(runs, key=lambda run: (run.start_ms, run.node_id))


def latest_pipeline_run(runs: Sequence[ComponentRun]) -> List[ComponentRun]:
  """The executions of the pipeline run that started last."""
  if not runs:
    return []
  starts: Dict[str, int] = {}
  for run in runs:
    starts[run.pipeline_run] = min(starts.get(run.pipeline_run, run.start_ms),
                                   run.start_ms)
  latest = max(starts, key=starts.get)
  return [run for run in runs if run.pipeline_run == latest]


def component_seconds(runs: Sequence[ComponentRun]) -> Dict[str, float]:
  """node id -> seconds, in start order (one pipeline run's executions)."""
  return {run.node_id: round(run.seconds, 3)
          for run in sorted(runs, key=lambda run: run.start_ms)}


def read_latest_times(metadata_path: str) -> List[ComponentRun]:
  """The component executions of the latest run in the store at the path."""
  return latest_pipeline_run(read_component_runs(open_store(metadata_path)))


@dataclasses.dataclass(frozen=True)
class StartupSplit:
  """A component's time split into a fixed start-up cost and its work.

  Attributes:
    startup_seconds: the time at zero examples (process and Beam worker
      start-up, imports, pipeline construction, publishing): the intercept
      of the line through the two runs' (examples, seconds).
    work_seconds: the rest of the larger run's time, proportional to the
      examples it read.
    seconds_per_example: the slope.
  """
  startup_seconds: float
  work_seconds: float
  seconds_per_example: float


def split_startup(seconds: float, examples: int, small_seconds: float,
                  small_examples: int) -> StartupSplit:
  """Start-up and work of a component, from a run and a smaller one.

  The component takes `startup + examples x seconds_per_example`; two runs
  of the same pipeline on different numbers of examples give both. The
  start-up is not clamped: a negative one means the two times are within
  the machine's noise of each other, and is better seen than hidden.

  Raises:
    ValueError: unless `examples` > `small_examples`.
  """
  if examples <= small_examples:
    raise ValueError(f"need more examples in the larger run ({examples}) "
                     f"than in the smaller ({small_examples})")
  per_example = (seconds - small_seconds) / (examples - small_examples)
  work = per_example * examples
  return StartupSplit(startup_seconds=seconds - work, work_seconds=work,
                      seconds_per_example=per_example)
