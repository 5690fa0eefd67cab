"""AtomicPusher: pushes a blessed model to a versioned serving directory.

A custom component (spec, executor, component) in place of TFX's Pusher,
with the same output (a `PushedModel` artifact whose custom properties
`pushed`, `pushed_destination` and `pushed_version` the run summary reads)
and five differences:

* **Atomic.** A model server polling `<base>` (TF Serving loads numeric
  sub-directories once they hold `saved_model.pb`) never sees half a model,
  and a push that fails half-way leaves nothing it would load. On local
  disks the model is copied into a hidden sibling
  (`<base>/.incoming-<version>-<random>`) and renamed to `<base>/<version>`
  in one `rename(2)`. On object stores (`gs://`, `s3://`), where a rename
  is a copy and delete of each object, the files are written straight to
  `<base>/<version>` with `saved_model.pb` last (`publish_model`).
* **One version per push.** The version number is claimed first
  (`claim_version`), so two pushers at once never write the same one.
* **A record.** `push_record.json` in the version directory (and in the
  PushedModel artifact) says what was pushed: version, model and blessing,
  the Evaluator's metrics (and the change against the baseline model), the
  training data (Trainer's class counts, ExampleGen's span and input
  fingerprint when given the examples) and the code (git commit when the
  code runs from a checkout, and a hash of the project's Python sources).
* **No duplicates.** A blessed model that already is the newest version
  (an unchanged re-run blesses it again) is not copied again: the
  PushedModel points at that version and carries `already_serving`.
* **Strict.** A model without a blessing, or whose blessing is not BLESSED,
  is never pushed; the artifact then carries `not_pushed_reason` (the
  Evaluator's failed thresholds, in words). A blessing of another model is
  a wiring bug: the execution fails and nothing is pushed.

Versions are UNIX timestamps like TFX's Pusher, but never lower than the
highest version already taken, so the newest push is what a server serves
even if clocks disagree.
"""

import datetime
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
from tfx import types
from tfx import version as tfx_version
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter
from tfx.types.system_executions import Deploy
from tfx.utils import io_utils
from tfx.utils import proto_utils

from pipeline import evaluation as evaluation_lib
from pipeline import features

RECORD_FILE = "push_record.json"
STAGING_PREFIX = ".incoming-"
CLAIM_PREFIX = ".claim-"
SAVED_MODEL_FILE = "saved_model.pb"
NOT_PUSHED_REASON_KEY = "not_pushed_reason"
# Set (to 1) on the PushedModel when the model already was the newest
# version, so nothing was copied.
ALREADY_SERVING_KEY = "already_serving"
# Inputs beyond TFX's Pusher: what the record describes.
EVALUATION_KEY = "evaluation"
MODEL_RUN_KEY = "model_run"
EXAMPLES_KEY = "examples"

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The code whose hash identifies a build even without a git checkout (in
# the container image).
SOURCE_DIRS = ("modules", "pipeline")


# ---------------------------------------------------------------------------
# Pure helpers (unit-tested on their own).

def _numbered(base_directory: str, prefix: str = "") -> List[int]:
  """Version numbers named `<prefix><number>[-...]` under `base_directory`."""
  pattern = re.compile(re.escape(prefix) + r"(\d+)(-.*)?$")
  names = (fileio.listdir(base_directory)
           if fileio.exists(base_directory) else [])
  numbers = []
  for name in names:
    match = pattern.match(name.rstrip("/"))
    if match and (prefix or not match.group(2)):
      numbers.append(int(match.group(1)))
  return numbers


def servable_versions(base_directory: str) -> List[int]:
  """The versions a model server loads, newest first: numeric directories
  holding `saved_model.pb` (TF Serving waits for that file)."""
  return sorted((v for v in _numbered(base_directory) if fileio.exists(
      os.path.join(base_directory, str(v), SAVED_MODEL_FILE))), reverse=True)


def next_version(base_directory: str, now: Optional[float] = None) -> int:
  """The UNIX time, or one more than the highest version taken so far.

  Taken: a version directory (even an incomplete one a crashed push left
  behind), a staging directory or a claim.
  """
  now_version = int(time.time() if now is None else now)
  taken = (_numbered(base_directory) +
           _numbered(base_directory, STAGING_PREFIX) +
           _numbered(base_directory, CLAIM_PREFIX))
  return max([now_version] + [v + 1 for v in taken])


def claim_version(base_directory: str, now: Optional[float] = None,
                  attempts: int = 50, pause_seconds: float = 0.2
                  ) -> Tuple[int, str]:
  """Takes a version number that no other pusher can take.

  Object stores (through `tf.io.gfile`) offer no create-if-absent, so a
  pusher writes a claim `<base>/.claim-<version>-<random>` and keeps the
  version only if, listed after its own claim was written, no other claim
  for that version and no version directory exists. Two pushers that both
  kept it would each have listed before the other's claim was written,
  which is impossible when each lists after writing its own (listings are
  strongly consistent on local disks, GCS and S3). Rivals both step aside,
  wait a random moment and try the next free number. A claim a crashed
  pusher left behind only uses up its number (`next_version` skips it).

  Args:
    base_directory: the serving base directory (must exist).
    now: the clock, for tests.
    attempts: claims to try before giving up.
    pause_seconds: the longest random wait after a clash.

  Returns:
    (version, path of the claim to remove once the version is published
    or given up).

  Raises:
    RuntimeError: if every attempt clashed with another pusher.
  """
  token = uuid.uuid4().hex
  owner = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                      "claimed_at": time.time()})
  for _ in range(attempts):
    version = next_version(base_directory, now)
    claim = os.path.join(base_directory, f"{CLAIM_PREFIX}{version}-{token}")
    io_utils.write_string_file(claim, owner)
    prefix = f"{CLAIM_PREFIX}{version}-"
    rivals = [name for name in fileio.listdir(base_directory)
              if name.startswith(prefix) and name.rstrip("/") !=
              os.path.basename(claim)]
    if not rivals and not fileio.exists(
        os.path.join(base_directory, str(version))):
      return version, claim
    fileio.remove(claim)
    time.sleep(random.uniform(0, pause_seconds))
  raise RuntimeError(f"could not claim a version under {base_directory}: "
                     f"{attempts} attempts clashed with other pushers")


def newest_push_record(base_directory: str
                       ) -> Optional[Tuple[str, Dict[str, Any]]]:
  """(version directory, its push record) of the newest servable version
  under `base_directory`; None if there is none, or it has no record."""
  versions = servable_versions(base_directory)
  if not versions:
    return None
  directory = os.path.join(base_directory, str(versions[0]))
  path = os.path.join(directory, RECORD_FILE)
  if not fileio.exists(path):
    return None  # Pushed by something else: not ours to compare.
  with fileio.open(path, "r") as record_file:
    return directory, json.loads(record_file.read())


def has_atomic_rename(path: str) -> bool:
  """Whether renaming a directory at `path` is one atomic operation."""
  return "://" not in path or path.startswith("file://")


def _files_under(directory: str) -> List[str]:
  """Paths relative to `directory` of every file under it."""
  files = []
  for folder, _, names in fileio.walk(directory):
    files.extend(os.path.relpath(os.path.join(folder, name), directory)
                 for name in names)
  return files


def publish_model(model_dir: str, final: str, record_text: str,
                  atomic_rename: Optional[bool] = None) -> None:
  """Copies the SavedModel at `model_dir`, plus the push record, to `final`.

  A model server never sees part of it, and a failure leaves nothing
  servable behind (the error is raised after the clean-up):

  * With an atomic rename (local disks), it is copied to a hidden sibling
    `.incoming-<version>-<random>` and renamed to `final` in one go.
  * On object stores, where a directory rename is a copy and delete of each
    object, it is written straight to `final`, every file first and
    `saved_model.pb` last: a server loads a version only once that file is
    there, and an object appears only once it is written whole.

  Args:
    model_dir: the exported SavedModel.
    final: the version directory, a number claimed with `claim_version`.
    record_text: the push record, written as RECORD_FILE.
    atomic_rename: whether one rename moves a directory atomically
      (default: decided from the path's scheme).

  Raises:
    FileExistsError: if `final` already exists (nothing is written).
  """
  if fileio.exists(final):
    raise FileExistsError(f"{final} already exists")
  if atomic_rename is None:
    atomic_rename = has_atomic_rename(final)
  if atomic_rename:
    base, version = os.path.split(final.rstrip("/"))
    staging = os.path.join(
        base, f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
      io_utils.copy_dir(model_dir, staging)
      io_utils.write_string_file(os.path.join(staging, RECORD_FILE),
                                 record_text)
      fileio.rename(staging, final)
    finally:
      # A failed copy leaves no half model behind, not even hidden.
      if fileio.exists(staging):
        fileio.rmtree(staging)
    return
  files = _files_under(model_dir)
  if SAVED_MODEL_FILE not in files:
    raise FileNotFoundError(f"no {SAVED_MODEL_FILE} in {model_dir}")
  marker = os.path.join(final, SAVED_MODEL_FILE)
  try:
    for name in sorted(files, key=lambda f: f == SAVED_MODEL_FILE):
      if name == SAVED_MODEL_FILE:
        io_utils.write_string_file(os.path.join(final, RECORD_FILE),
                                   record_text)
      target = os.path.join(final, name)
      fileio.makedirs(os.path.dirname(target))
      fileio.copy(os.path.join(model_dir, name), target)
  except BaseException:
    # The marker goes first, so a clean-up cut short leaves nothing a
    # server would load (a rest without it only uses up its number).
    if fileio.exists(marker):
      fileio.remove(marker)
    if fileio.exists(final):
      fileio.rmtree(final)
    raise


def source_fingerprint(root: str = PROJECT_ROOT,
                       directories=SOURCE_DIRS) -> str:
  """sha256 over the project's Python sources (path and content)."""
  digest = hashlib.sha256()
  for directory in directories:
    for folder, subfolders, names in sorted(os.walk(os.path.join(root,
                                                                 directory))):
      subfolders.sort()
      for name in sorted(names):
        if not name.endswith(".py"):
          continue
        path = os.path.join(folder, name)
        digest.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
          digest.update(hashlib.sha256(f.read()).digest())
  return digest.hexdigest()


def git_state(root: str = PROJECT_ROOT) -> Dict[str, Any]:
  """The commit the code runs from and whether it has local changes."""
  try:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
        text=True, timeout=10, check=True).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
        capture_output=True, text=True, timeout=10, check=True).stdout
  except (OSError, subprocess.SubprocessError):
    return {"git_commit": None, "git_dirty": None}  # No git, no checkout.
  return {"git_commit": commit, "git_dirty": bool(status.strip())}


def _sha256(text: str) -> str:
  return hashlib.sha256(text.encode()).hexdigest()


def data_fingerprint(examples: Optional[types.Artifact],
                     model_run_uri: Optional[str]) -> Dict[str, Any]:
  """What identifies the training data, from what the executor was given."""
  data: Dict[str, Any] = {}
  if examples is not None:
    fingerprint = (examples.get_string_custom_property("input_fingerprint")
                   if examples.has_custom_property("input_fingerprint")
                   else "")
    data.update({
        "examples_uri": examples.uri,
        "span": (examples.get_int_custom_property("span")
                 if examples.has_custom_property("span") else None),
        "version": (examples.get_int_custom_property("version")
                    if examples.has_custom_property("version") else None),
        "input_fingerprint": fingerprint or None,
        "input_fingerprint_sha256": _sha256(fingerprint) if fingerprint
                                    else None,
    })
  history_path = (
      os.path.join(model_run_uri, features.TRAINING_HISTORY_FILE)
      if model_run_uri else None)
  if history_path and fileio.exists(history_path):
    with fileio.open(history_path, "r") as f:
      history = json.load(f)
    counts = history.get("class_counts")
    data.update({
        "train_examples": history.get("train_examples"),
        # Per-class counts of the training split, as Transform counted them.
        "class_counts_sha256": (_sha256(json.dumps(counts))
                                if counts is not None else None),
        "config_sha256": _sha256(json.dumps(history.get("config"),
                                            sort_keys=True)),
        "training_history": history_path,
    })
  return data


def not_blessed_reason(blessing: Optional[types.Artifact],
                       evaluation: Optional[evaluation_lib.Evaluation]) -> str:
  """Why a model is not pushed, in words (the Evaluator's failed gates)."""
  if blessing is None:
    return "no model blessing"
  if evaluation is not None and evaluation.failures:
    return "; ".join(evaluation.failures)
  return f"the Evaluator did not bless it ({blessing.uri})"


# ---------------------------------------------------------------------------
# Component.

class AtomicPusherSpec(types.ComponentSpec):
  """Inputs: TFX Pusher's (blessing required) plus what the record needs."""
  PARAMETERS = {
      standard_component_specs.PUSH_DESTINATION_KEY:
          ExecutionParameter(type=pusher_pb2.PushDestination),
  }
  INPUTS = {
      standard_component_specs.MODEL_KEY:
          ChannelParameter(type=standard_artifacts.Model),
      standard_component_specs.MODEL_BLESSING_KEY:
          ChannelParameter(type=standard_artifacts.ModelBlessing),
      EVALUATION_KEY:
          ChannelParameter(type=standard_artifacts.ModelEvaluation,
                           optional=True),
      MODEL_RUN_KEY:
          ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
      EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples, optional=True),
  }
  OUTPUTS = {
      standard_component_specs.PUSHED_MODEL_KEY:
          ChannelParameter(type=standard_artifacts.PushedModel),
  }
  TYPE_ANNOTATION = Deploy


class AtomicPusherExecutor(tfx_pusher_executor.Executor):
  """Copies to a temporary sibling, writes the record, renames."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    pushed_model = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    model = artifact_utils.get_single_instance(
        input_dict[standard_component_specs.MODEL_KEY])
    blessings = input_dict.get(standard_component_specs.MODEL_BLESSING_KEY)
    blessing = (artifact_utils.get_single_instance(blessings)
                if blessings else None)
    evaluation_artifact = _optional_single(input_dict, EVALUATION_KEY)
    evaluation = (evaluation_lib.load_evaluation(evaluation_artifact.uri)
                  if evaluation_artifact is not None else None)

    # TFX's CheckBlessing would push an unvalidated model (with a warning)
    # when no blessing is given; this one never does.
    if blessing is None or not model_utils.is_model_blessed(blessing):
      reason = not_blessed_reason(blessing, evaluation)
      logging.warning("Not pushing %s: %s", model.uri, reason)
      self._MarkNotPushed(pushed_model)
      pushed_model.set_string_custom_property(NOT_PUSHED_REASON_KEY, reason)
      return
    _check_blessing_is_for(blessing, model)

    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
        destination)
    if destination.WhichOneof("destination") != "filesystem":
      raise ValueError("AtomicPusher pushes to a filesystem destination only")
    base = destination.filesystem.base_directory
    fileio.makedirs(base)
    newest_dir, newest = newest_push_record(base) or (None, {})
    if newest.get("model", {}).get("uri") == model.uri:
      # An unchanged re-run re-evaluates the same model against itself
      # (the baseline is now that model) and blesses it again; copying it
      # once more would only add a duplicate version for servers to load.
      logging.info("Model %s is already the newest version, %s: not pushed "
                   "again.", model.uri, newest_dir)
      fileio.makedirs(pushed_model.uri)
      io_utils.write_string_file(os.path.join(pushed_model.uri, RECORD_FILE),
                                 json.dumps(newest, indent=2, sort_keys=True))
      self._MarkPushed(pushed_model, pushed_destination=newest_dir,
                       pushed_version=os.path.basename(newest_dir))
      pushed_model.set_int_custom_property(ALREADY_SERVING_KEY, 1)
      return
    version_number, claim = claim_version(base)
    version = str(version_number)
    final = os.path.join(base, version)
    record = {
        "model_version": version,
        "pushed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "serving_dir": final,
        "model": {"uri": model.uri, "artifact_id": model.id or None},
        "blessing": _blessing_record(blessing),
        "metrics": evaluation.metrics if evaluation else {},
        "evaluation": evaluation_artifact.uri if evaluation_artifact else None,
        "data": data_fingerprint(
            _optional_single(input_dict, EXAMPLES_KEY),
            getattr(_optional_single(input_dict, MODEL_RUN_KEY), "uri",
                    None)),
        "code": dict(git_state(), source_sha256=source_fingerprint()),
        "tfx_version": tfx_version.__version__,
    }
    record_text = json.dumps(record, indent=2, sort_keys=True)
    try:
      publish_model(self.GetModelPath(input_dict), final, record_text)
    finally:
      # Published or cleaned up: either way the claim has done its job (a
      # published version directory keeps the number taken; a left-over
      # claim would only use up a number).
      try:
        fileio.remove(claim)
      except Exception as error:  # pylint: disable=broad-except
        logging.warning("Could not remove the claim %s: %s", claim, error)
    logging.info("Model pushed to %s (version %s).", final, version)

    # The artifact keeps the record, not a second copy of the model: the
    # Trainer's Model artifact is the archive.
    fileio.makedirs(pushed_model.uri)
    io_utils.write_string_file(os.path.join(pushed_model.uri, RECORD_FILE),
                               record_text)
    self._MarkPushed(pushed_model, pushed_destination=final,
                     pushed_version=version)


def _optional_single(input_dict, key) -> Optional[types.Artifact]:
  artifacts = input_dict.get(key)
  return artifact_utils.get_single_instance(artifacts) if artifacts else None


def _check_blessing_is_for(blessing: types.Artifact,
                           model: types.Artifact) -> None:
  """A blessing of another model must not let this one through."""
  if not blessing.has_custom_property("current_model_id") or not model.id:
    return  # Orchestrators that do not number artifacts: nothing to compare.
  blessed_id = blessing.get_int_custom_property("current_model_id")
  if blessed_id and blessed_id != model.id:
    raise ValueError(f"the blessing {blessing.uri} is for model {blessed_id}, "
                     f"not for model {model.id} ({model.uri})")


def _blessing_record(blessing: types.Artifact) -> Dict[str, Any]:
  record = {"uri": blessing.uri, "artifact_id": blessing.id or None}
  for name in ("baseline_model", "baseline_model_id"):
    if blessing.has_custom_property(name):
      record[name] = blessing.get_custom_property(name)
  return record


class AtomicPusher(base_component.BaseComponent):
  """Pushes a blessed model atomically to `<base>/<version>` with a record.

  Example (as in pipeline/pipeline.py):

      AtomicPusher(
          model=trainer.outputs["model"],
          model_blessing=evaluator.outputs["blessing"],
          evaluation=evaluator.outputs["evaluation"],
          model_run=trainer.outputs["model_run"],
          push_destination=tfx.proto.PushDestination(
              filesystem=tfx.proto.PushDestination.Filesystem(
                  base_directory=serving_model_dir)))
  """

  SPEC_CLASS = AtomicPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)

  def __init__(self,
               model: types.BaseChannel,
               model_blessing: types.BaseChannel,
               push_destination: pusher_pb2.PushDestination,
               evaluation: Optional[types.BaseChannel] = None,
               model_run: Optional[types.BaseChannel] = None,
               examples: Optional[types.BaseChannel] = None):
    """Builds the component.

    Args:
      model: the Trainer's model.
      model_blessing: the Evaluator's blessing of that model (required:
        nothing is pushed without one).
      push_destination: a filesystem destination; versions go under its
        `base_directory`.
      evaluation: the Evaluator's output, for the record's metrics and the
        reason a model is not pushed.
      model_run: the Trainer's run folder, for the record's training data
        (class counts, config).
      examples: ExampleGen's output, for the record's span and input
        fingerprint.
    """
    spec = AtomicPusherSpec(
        model=model,
        model_blessing=model_blessing,
        evaluation=evaluation,
        model_run=model_run,
        examples=examples,
        push_destination=push_destination,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel))
    super().__init__(spec=spec)
