"""Version numbers and the claims on them: which number a push takes, and
whether another push is still under way.

`next_version` and `claim_version`: two pushers never take the same number.
`wait_for_earlier_claims`: a push of a model decides whether to push only
once earlier pushes of it are done. `live_claim`: whether a claim's push may
still run (publishing.py removes the staging folders of pushes that are
over). TFX-free apart from its file API, so it is unit-tested on its own;
docs/reliability.md lists the guarantees and the tests that show them.
"""

import json
import math
import os
import random
import re
import socket
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
from tfx.dsl.io import fileio
from tfx.utils import io_utils

STAGING_PREFIX = ".incoming-"
CLAIM_PREFIX = ".claim-"
# A claim older than this is a crashed pusher's (publishing takes minutes):
# later pushes of its model stop waiting for it.
STALE_CLAIM_SECONDS = 3600.0
# A claim that cannot be read is being written (a local disk shows the file
# before its bytes) or its write failed; once its file is this old, no
# write is under way, and it holds up nothing.
UNREADABLE_CLAIM_GRACE_SECONDS = 60.0
# A waiting push says whom it waits for this often.
WAIT_LOG_SECONDS = 5.0
_CLAIM = re.compile(re.escape(CLAIM_PREFIX) + r"(\d+)-")


def numbered(base_directory: str, prefix: str = "") -> List[int]:
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


def next_version(base_directory: str, now: Optional[float] = None) -> int:
  """The UNIX time, or one more than the highest version taken so far.

  Taken: a version directory (even an incomplete one a crashed push left
  behind), a staging directory or a claim.
  """
  now_version = int(time.time() if now is None else now)
  taken = (numbered(base_directory) +
           numbered(base_directory, STAGING_PREFIX) +
           numbered(base_directory, CLAIM_PREFIX))
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
  pusher left behind only uses up its number (`next_version` skips it). A
  claim whose write fails (a full disk) is removed before the error is
  raised: left as an empty file, it would hold up later pushes.

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
    try:
      io_utils.write_string_file(claim, owner)
    except BaseException:
      _remove_failed_claim(claim)
      raise
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


def _remove_failed_claim(claim: str) -> None:
  """Removes a claim whose write failed; if that fails too (the store is
  down), the unreadable claim goes stale after a grace period."""
  try:
    if fileio.exists(claim):
      fileio.remove(claim)
  except Exception as error:  # pylint: disable=broad-except
    logging.warning("Could not remove the failed claim %s: %s", claim, error)


def _file_age(path: str) -> float:
  """Seconds since `path` was last written; infinite where the store has no
  modification times (there an object appears whole: an unreadable claim
  is not one being written)."""
  try:
    stat = fileio.stat(path)
  except Exception:  # pylint: disable=broad-except
    return math.inf
  mtime_nsec = getattr(stat, "mtime_nsec", None)
  if mtime_nsec is None:
    mtime_nsec = getattr(stat, "st_mtime_ns", None)
  return math.inf if mtime_nsec is None else time.time() - mtime_nsec / 1e9


def _left_behind(path: str, owner: Dict[str, Any],
                 stale_seconds: float) -> bool:
  """Whether the push of the claim at `path` (`owner`, its record) is over.

  It is when the claim cannot be read and its file is older than
  UNREADABLE_CLAIM_GRACE_SECONDS (a failed write), its process on this host
  has ended, this very thread made it (so its push is over: one that could
  not remove its claim, the store being down), or it is older than
  `stale_seconds` (its `claimed_at`, else its file's time).
  """
  if not owner:
    return _file_age(path) >= UNREADABLE_CLAIM_GRACE_SECONDS
  claimed_at = owner.get("claimed_at")
  age = (time.time() - claimed_at if isinstance(claimed_at, (int, float))
         else _file_age(path))
  if age >= stale_seconds:
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
  """A claim's owner record; {} while it cannot be read (being written, or
  its write failed); None once it is gone (its push finished)."""
  try:
    with fileio.open(path, "r") as claim_file:
      owner = json.loads(claim_file.read())
  except fileio.NotFoundError:
    return None
  except (json.JSONDecodeError, UnicodeDecodeError):
    return {}
  return owner if isinstance(owner, dict) else {}


def live_claim(path: str, stale_seconds: float
               ) -> Optional[Dict[str, Any]]:
  """The owner record of the claim at `path` while its push may still run;
  None once that push is over (`_left_behind`) or the claim is gone."""
  owner = _read_claim(path)
  if owner is None or _left_behind(path, owner, stale_seconds):
    return None
  return owner


def _describe_claim(path: str, owner: Dict[str, Any]) -> str:
  """Who holds a claim, for a waiting push's log line."""
  if not owner:
    return f"{path} (not readable yet: being written)"
  claimed_at = owner.get("claimed_at")
  since = (f", claimed {time.time() - claimed_at:.0f} s ago"
           if isinstance(claimed_at, (int, float)) else "")
  return (f"{path} (process {owner.get('pid')} on {owner.get('host')}"
          f"{since})")


def wait_for_earlier_claims(base_directory: str, version: int, model_uri: str,
                            poll_seconds: float = 0.5,
                            stale_seconds: float = STALE_CLAIM_SECONDS,
                            log_seconds: float = WAIT_LOG_SECONDS) -> None:
  """Returns once no claim below `version` is pushing `model_uri`.

  A pusher claims its version first and only then decides whether its model
  is already the newest version (`newest_push_record`). Claims are numbered
  in the order they were taken, so of two concurrent pushes of one model,
  the later waits here for the earlier to publish it (or fail), then sees
  it as the newest and pushes nothing. Claims of other models are not
  waited for, nor claims left behind (`_left_behind`: a failed claim, a
  crashed pusher's, one older than `stale_seconds`, or this thread's own
  from a push that could not remove it). While it waits, it logs the
  claims it waits for every `log_seconds`.
  """
  said_at = None
  while True:
    pending = {}
    for name in fileio.listdir(base_directory):
      match = _CLAIM.match(name)
      if not match or int(match.group(1)) >= version:
        continue
      path = os.path.join(base_directory, name.rstrip("/"))
      owner = live_claim(path, stale_seconds)
      if owner is not None and owner.get("model_uri") in (model_uri, None):
        pending[path] = owner
    if not pending:
      return
    if said_at is None or time.monotonic() - said_at >= log_seconds:
      logging.warning(
          "Waiting for an earlier push of %s to finish before deciding "
          "whether to push it: %s", model_uri,
          "; ".join(_describe_claim(path, owner)
                    for path, owner in sorted(pending.items())))
      said_at = time.monotonic()
    time.sleep(poll_seconds)


def claims_by_version(names: List[str], base_directory: str
                      ) -> Dict[int, List[str]]:
  """version -> paths of its claims, among the entry `names` of
  `base_directory`."""
  claims: Dict[int, List[str]] = {}
  for name in names:
    match = _CLAIM.match(name)
    if match:
      claims.setdefault(int(match.group(1)), []).append(
          os.path.join(base_directory, name))
  return claims
