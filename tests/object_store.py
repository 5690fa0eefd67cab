"""An in-memory object store behind TFX's fileio, with injected failures.

It behaves as GCS does through `tf.io.gfile` where it matters to a push:
no directories (a "directory" exists while an object is under its prefix),
an object appears only once written whole, and a rename is a copy and a
delete of each object. Every change can be made to fail (`fail_from`) and
is followed by a call to `observe`, so a test can look at the store the
way a model server polling it would, between any two changes.
"""

import io
import threading
import time
from typing import Callable, Dict, List, Optional

from tfx.dsl.io import filesystem
from tfx.dsl.io import filesystem_registry

SCHEME = "objstore://"


class InjectedFailure(IOError):
  """What a change raises once the store is set to fail."""


class ObjectStore(filesystem.Filesystem):
  """The store's state lives on the class (fileio calls static methods)."""

  SUPPORTED_SCHEMES = [SCHEME]
  objects: Dict[str, bytes] = {}
  changes = 0
  # The change number (0-based) from which changes fail; None: never.
  fail_from: Optional[int] = None
  # Changes after fail_from that fail too (None: all of them).
  fail_count: Optional[int] = 1
  observe: Callable[[Dict[str, bytes]], None] = staticmethod(lambda _: None)
  # Seconds each change takes, to let threads interleave.
  latency = 0.0
  _lock = threading.RLock()

  @classmethod
  def reset(cls) -> None:
    cls.objects = {}
    cls.changes = 0
    cls.fail_from = None
    cls.fail_count = 1
    cls.observe = staticmethod(lambda _: None)
    cls.latency = 0.0

  @classmethod
  def _change(cls, apply: Callable[[], None]) -> None:
    if cls.latency:
      time.sleep(cls.latency)
    with cls._lock:
      number = cls.changes
      cls.changes += 1
      if cls.fail_from is not None and number >= cls.fail_from and (
          cls.fail_count is None or number < cls.fail_from + cls.fail_count):
        raise InjectedFailure(f"injected failure of change {number}")
      apply()
      snapshot = dict(cls.objects)
    cls.observe(snapshot)

  @staticmethod
  def _prefix(path) -> str:
    return str(path).rstrip("/") + "/"

  @staticmethod
  def open(name, mode="r"):
    name = str(name)
    if "w" in mode:
      return _Upload(name, binary="b" in mode)
    if name not in ObjectStore.objects:
      raise filesystem.NotFoundError(f"{name} not found")
    data = ObjectStore.objects[name]
    return io.BytesIO(data) if "b" in mode else io.StringIO(data.decode())

  @staticmethod
  def copy(src, dst, overwrite=False):
    src, dst = str(src), str(dst)
    if src not in ObjectStore.objects:
      raise filesystem.NotFoundError(f"{src} not found")
    if not overwrite and dst in ObjectStore.objects:
      raise OSError(f"{dst} exists")
    data = ObjectStore.objects[src]
    ObjectStore._change(lambda: ObjectStore.objects.__setitem__(dst, data))

  @staticmethod
  def exists(path):
    path = str(path)
    prefix = ObjectStore._prefix(path)
    return path in ObjectStore.objects or any(
        key.startswith(prefix) for key in list(ObjectStore.objects))

  @staticmethod
  def isdir(path):
    prefix = ObjectStore._prefix(path)
    return any(key.startswith(prefix) for key in list(ObjectStore.objects))

  @staticmethod
  def listdir(path):
    prefix = ObjectStore._prefix(path)
    names = set()
    for key in list(ObjectStore.objects):
      if key.startswith(prefix):
        rest = key[len(prefix):]
        # As tf.io.gfile on GCS: sub-directories end in "/".
        names.add(rest.split("/")[0] + "/" if "/" in rest else rest)
    if not names:
      raise filesystem.NotFoundError(f"{path} not found")
    return sorted(names)

  @staticmethod
  def makedirs(path):
    pass  # Object stores have no directories.

  @staticmethod
  def mkdir(path):
    pass

  @staticmethod
  def remove(path):
    path = str(path)
    if path not in ObjectStore.objects:
      raise filesystem.NotFoundError(f"{path} not found")
    ObjectStore._change(lambda: ObjectStore.objects.pop(path))

  @staticmethod
  def rename(src, dst, overwrite=False):
    src, dst = str(src), str(dst)
    if src in ObjectStore.objects:
      moves = [(src, dst)]
    else:
      prefix = ObjectStore._prefix(src)
      moves = [(key, ObjectStore._prefix(dst) + key[len(prefix):])
               for key in sorted(ObjectStore.objects)
               if key.startswith(prefix)]
    for old, new in moves:  # One object at a time, as gsutil mv.
      ObjectStore.copy(old, new, overwrite=overwrite)
      ObjectStore.remove(old)

  @staticmethod
  def rmtree(path):
    prefix = ObjectStore._prefix(path)
    for key in sorted(k for k in list(ObjectStore.objects)
                      if k.startswith(prefix)):
      ObjectStore.remove(key)

  @staticmethod
  def stat(path):
    raise NotImplementedError

  @staticmethod
  def glob(pattern):
    raise NotImplementedError

  @staticmethod
  def walk(top, topdown=True, onerror=None):
    top = str(top).rstrip("/")
    if not ObjectStore.isdir(top):
      return
    names = ObjectStore.listdir(top)
    folders = [n.rstrip("/") for n in names if n.endswith("/")]
    files = [n for n in names if not n.endswith("/")]
    yield top, folders, files
    for folder in folders:
      yield from ObjectStore.walk(f"{top}/{folder}")


class _Upload:
  """A file being written: the object appears, whole, on close."""

  def __init__(self, name: str, binary: bool):
    self._name, self._binary, self._parts = name, binary, []

  def write(self, data):
    self._parts.append(data if self._binary else data.encode())

  def close(self):
    data = b"".join(self._parts)
    ObjectStore._change(
        lambda: ObjectStore.objects.__setitem__(self._name, data))

  def __enter__(self):
    return self

  def __exit__(self, kind, value, traceback):
    if kind is None:
      self.close()  # A failed write uploads nothing.


# The files whose presence makes TensorFlow's loader take a directory for a
# SavedModel (`MaybeSavedModelDirectory`, tensorflow/cc/saved_model/
# loader.h and constants.h: kSavedModelFilenamePb, Cpb, PbTxt), which TF
# Serving's file-system source checks before it loads a version. TF's rule,
# not the pusher's: publishing writes saved_model.pb last, and a version
# that showed one of the other two early would be caught here.
SAVED_MODEL_MARKERS = ("saved_model.pb", "saved_model.cpb",
                       "saved_model.pbtxt")


def servable(objects: Dict[str, bytes], base: str) -> Dict[str, Dict[str,
                                                                     bytes]]:
  """What a model server polling `base` would try to load: {version: {file:
  bytes}} of every numeric sub-directory TF's loader takes for a
  SavedModel (SAVED_MODEL_MARKERS)."""
  prefix = base.rstrip("/") + "/"
  versions: Dict[str, Dict[str, bytes]] = {}
  for key, data in objects.items():
    if key.startswith(prefix):
      version, _, rest = key[len(prefix):].partition("/")
      if version.isdigit() and rest:
        versions.setdefault(version, {})[rest] = data
  return {version: files for version, files in versions.items()
          if any(marker in files for marker in SAVED_MODEL_MARKERS)}


def keys_under(base: str) -> List[str]:
  prefix = base.rstrip("/") + "/"
  return sorted(k[len(prefix):] for k in ObjectStore.objects
                if k.startswith(prefix))


filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(ObjectStore,
                                                         priority=5)
