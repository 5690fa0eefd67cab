"""Publishing a model version so that a model server never sees half of it.

Version numbers (`next_version`, `claim_version`: two pushers never take the
same one; `wait_for_earlier_claims`: a push of a model decides only once
earlier pushes of it are done) and the copy itself (`publish_model`: an atomic rename on local
disks, `saved_model.pb` last on object stores). TFX-free apart from its file
API, so it is unit-tested on its own.
"""

import json
import os
import random
import re
import socket
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

from tfx.dsl.io import fileio
from tfx.utils import io_utils

RECORD_FILE = "push_record.json"
STAGING_PREFIX = ".incoming-"
CLAIM_PREFIX = ".claim-"
SAVED_MODEL_FILE = "saved_model.pb"
# A claim older than this is a crashed pusher's (publishing takes minutes):
# later pushes of its model stop waiting for it.
STALE_CLAIM_SECONDS = 3600.0


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
                  attempts: int = 50, pause_seconds: float = 0.2,
                  model_uri: Optional[str] = None) -> Tuple[int, str]:
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
    model_uri: the model being pushed, written in the claim so that a later
      push of the same model waits for this one (`wait_for_earlier_claims`).

  Returns:
    (version, path of the claim to remove once the version is published
    or given up).

  Raises:
    RuntimeError: if every attempt clashed with another pusher.
  """
  token = uuid.uuid4().hex
  owner = json.dumps(dict(_this_pusher(), claimed_at=time.time(),
                          model_uri=model_uri))
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


def _this_pusher() -> Dict[str, Any]:
  """Who claims: host, process and thread (a thread pushes one at a time)."""
  return {"host": socket.gethostname(), "pid": os.getpid(),
          "thread": threading.get_ident()}


def _left_behind(owner: Dict[str, Any], stale_seconds: float) -> bool:
  """Whether a claim's pusher is gone: its process on this host has ended,
  this very thread made it (so its push is over: one that could not remove
  its claim, the store being down), or it is older than `stale_seconds`."""
  if time.time() - owner.get("claimed_at", time.time()) >= stale_seconds:
    return True
  me = _this_pusher()
  if owner.get("host") != me["host"] or "pid" not in owner:
    return False
  if owner["pid"] == me["pid"]:
    return owner.get("thread") == me["thread"]
  try:
    os.kill(owner["pid"], 0)  # Signal 0: only asks whether it exists.
  except ProcessLookupError:
    return True
  except PermissionError:
    return False  # Someone else's live process.
  return False


def _read_claim(path: str) -> Optional[Dict[str, Any]]:
  """A claim's owner record; None once it is gone (its push finished)."""
  try:
    with fileio.open(path, "r") as claim_file:
      return json.loads(claim_file.read())
  except fileio.NotFoundError:
    return None
  except json.JSONDecodeError:
    return {}  # Being written (object stores show it whole; disks may not).


def wait_for_earlier_claims(base_directory: str, version: int, model_uri: str,
                            poll_seconds: float = 0.5,
                            stale_seconds: float = STALE_CLAIM_SECONDS
                            ) -> None:
  """Returns once no claim below `version` is pushing `model_uri`.

  A pusher claims its version first and only then decides whether its model
  is already the newest version (`newest_push_record`). Claims are numbered
  in the order they were taken, so of two concurrent pushes of one model,
  the later waits here for the earlier to publish it (or fail), then sees
  it as the newest and pushes nothing. Claims of other models are not
  waited for, nor claims left behind (`_left_behind`: a crashed pusher's,
  one older than `stale_seconds`, or this thread's own from a push that
  could not remove it).
  """
  pattern = re.compile(re.escape(CLAIM_PREFIX) + r"(\d+)-")
  while True:
    pending = []
    for name in fileio.listdir(base_directory):
      match = pattern.match(name)
      if not match or int(match.group(1)) >= version:
        continue
      owner = _read_claim(os.path.join(base_directory, name.rstrip("/")))
      if owner is None:
        continue
      if (owner.get("model_uri") in (model_uri, None) and
          not _left_behind(owner, stale_seconds)):
        pending.append(name)
    if not pending:
      return
    time.sleep(poll_seconds)


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
                  atomic_rename: Optional[bool] = None,
                  extra_files: Optional[Dict[str, str]] = None) -> None:
  """Copies the SavedModel at `model_dir`, the push record and `extra_files`
  (name -> text: the model card) to `final`.

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
    extra_files: more files written beside the record, as it is.

  Raises:
    FileExistsError: if `final` already exists (nothing is written).
  """
  if fileio.exists(final):
    raise FileExistsError(f"{final} already exists")
  if atomic_rename is None:
    atomic_rename = has_atomic_rename(final)
  texts = {RECORD_FILE: record_text, **(extra_files or {})}
  if atomic_rename:
    base, version = os.path.split(final.rstrip("/"))
    staging = os.path.join(
        base, f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
      io_utils.copy_dir(model_dir, staging)
      for name, text in texts.items():
        io_utils.write_string_file(os.path.join(staging, name), text)
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
        for text_name, text in texts.items():
          io_utils.write_string_file(os.path.join(final, text_name), text)
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
