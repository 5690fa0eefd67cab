"""Publishing a model version so that a model server never sees half of it.

The copy itself (`publish_model`: an atomic rename on local disks, synced
before and after; `saved_model.pb` last on object stores), the clean-up of
what a dead push left (`remove_dead_staging`), and the newest version and
its push record (`newest_push_record`). The version numbers and claims are
claims.py's. TFX-free apart from its file API, so it is unit-tested on its
own; docs/reliability.md lists the guarantees and the tests that show them.
"""

import errno
import json
import os
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from pipeline.components.util import claims as claims_lib
from settings import features

RECORD_FILE = "push_record.json"
SAVED_MODEL_FILE = "saved_model.pb"
# The staging folder of a push on another host is removed once its claim
# is this old: that host's processes cannot be asked whether they live, and
# removing a live push's staging copy mid-copy could publish part of it.
STALE_STAGING_SECONDS = 24 * 3600.0
_STAGING = re.compile(re.escape(claims_lib.STAGING_PREFIX) + r"(\d+)-")
# The Pusher's executor's names from before claims.py took the claims (its
# home).
claim_version = claims_lib.claim_version
wait_for_earlier_claims = claims_lib.wait_for_earlier_claims


def servable_versions(base_directory: str) -> List[int]:
  """The versions a model server loads, newest first: numeric directories
  holding `saved_model.pb` (TF Serving waits for that file)."""
  return sorted((v for v in claims_lib.numbered(base_directory)
                 if fileio.exists(os.path.join(base_directory, str(v),
                                               SAVED_MODEL_FILE))),
                reverse=True)


def remove_dead_staging(base_directory: str,
                        keep_version: Optional[int] = None,
                        stale_seconds: float = STALE_STAGING_SECONDS
                        ) -> List[str]:
  """Removes the staging folders (`.incoming-<version>-*`) of pushes that
  are over; returns their paths.

  A staging folder belongs to the claim of its version (one per version,
  `claims.claim_version`). Its push is over when that claim is gone (a
  pusher removes its claim only after its staging folder is renamed or
  removed) or left behind (`claims.live_claim`: its process on this host
  has ended, e.g. killed with `kill -9`, or the claim is older than
  `stale_seconds`). While the claim's push may run, its folder stays.
  `keep_version`'s is the caller's own. A folder that cannot be removed is
  logged and left.
  """
  if not fileio.exists(base_directory):
    return []
  names = [name.rstrip("/") for name in fileio.listdir(base_directory)]
  claims = claims_lib.claims_by_version(names, base_directory)
  removed = []
  for name in names:
    match = _STAGING.match(name)
    if not match or int(match.group(1)) == keep_version:
      continue
    if any(claims_lib.live_claim(claim, stale_seconds) is not None
           for claim in claims.get(int(match.group(1)), [])):
      continue  # Its owner may still be copying.
    path = os.path.join(base_directory, name)
    try:
      fileio.rmtree(path)
    except fileio.NotFoundError:
      continue  # Removed by another push's clean-up.
    except Exception as error:  # pylint: disable=broad-except
      logging.warning("Could not remove %s, left by a push that is over: %s",
                      path, error)
      continue
    logging.warning("Removed %s, the staging copy of a push that is over "
                    "(its process ended, or its claim is gone or stale)",
                    path)
    removed.append(path)
  return removed


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
  return (not features.is_object_store(path) or
          path.startswith("file://"))


def _sync(path: str) -> None:
  """fsync(2) of a local file, or of a folder (its entries: a rename in it)."""
  descriptor = os.open(path, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  except OSError as error:
    # Some filesystems cannot sync a folder; they then order it themselves.
    if error.errno not in (errno.EINVAL, errno.ENOTSUP):
      raise
  finally:
    os.close(descriptor)


def _sync_tree(directory: str) -> None:
  """fsync(2) of every file and folder under a local `directory`, files
  before their folder."""
  for folder, _, names in os.walk(directory, topdown=False):
    for name in names:
      _sync(os.path.join(folder, name))
    _sync(folder)


def _local_path(path: str) -> str:
  return path[len("file://"):] if path.startswith("file://") else path


def _files_under(directory: str) -> List[str]:
  """Paths relative to `directory` of every file under it."""
  files = []
  for folder, _, names in fileio.walk(directory):
    files.extend(os.path.relpath(os.path.join(folder, name), directory)
                 for name in names)
  return files


def rename_into_place(staging: str, final: str) -> None:
  """Renames a complete staging folder to `final`, durably on a local disk:
  its files and folders are synced before the rename (else a power cut
  after it could leave the version's files empty: the rename can reach the
  disk before their data does), and the parent folder after it (the rename
  itself)."""
  local = has_atomic_rename(final)
  if local:
    _sync_tree(_local_path(staging))
  fileio.rename(staging, final)
  if local:
    _sync(_local_path(os.path.dirname(final.rstrip("/"))))


def publish_model(model_dir: str, final: str, record_text: str,
                  atomic_rename: Optional[bool] = None,
                  extra_files: Optional[Dict[str, str]] = None) -> None:
  """Copies the SavedModel at `model_dir`, the push record and `extra_files`
  (name -> text: the model card) to `final`.

  A model server never sees part of it, and a failure leaves nothing
  servable behind (the error is raised after the clean-up):

  * With an atomic rename (local disks), it is copied to a hidden sibling
    `.incoming-<version>-<random>` and renamed to `final` in one go. Before
    the rename its files and folders are synced to disk, and the parent
    folder after it: a power cut never leaves a version whose files are
    empty. Staging folders of dead pushes are removed first
    (`remove_dead_staging`).
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
    remove_dead_staging(base, int(version) if version.isdigit() else None)
    staging = os.path.join(
        base, f"{claims_lib.STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
      io_utils.copy_dir(model_dir, staging)
      for name, text in texts.items():
        io_utils.write_string_file(os.path.join(staging, name), text)
      rename_into_place(staging, final)
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
