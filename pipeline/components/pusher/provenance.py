"""Provenance for the push record: the code and the data a model came from.

The code: the git commit (when the code runs from a checkout) and a hash of
every file that decides what is trained or pushed (which identifies a build
in the container image, where there is no checkout). The data: ExampleGen's
span and input fingerprint, and the Trainer's class counts and config.
"""

import hashlib
import json
import os
import subprocess
from typing import Any, Dict, List, Optional

from tfx import types

from settings import features
from settings import records
from settings import spans

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
# What decides what is trained and pushed, relative to the project root:
# the settings' defaults and the class list (settings/), the model code
# (modules/), the DAG and its components (pipeline/), the curated schema
# (schema/) and the runners that build the DAG. Their hash identifies a
# build even without a git checkout (in the container image). Every file
# in these folders counts (the class list and the schema are not Python),
# except caches and hidden files, which differ between copies of one build.
SOURCE_PATHS = ("settings", "modules", "pipeline", "schema",
                "local_runner.py", "kubeflow_runner.py")


def _source_files(root: str, paths) -> List[str]:
  """The files of `paths` under `root`, relative, sorted; a path that is
  not there (a runner left out of an image) adds nothing."""
  files = []
  for path in paths:
    if os.path.isfile(os.path.join(root, path)):
      files.append(path)
    for folder, subfolders, names in os.walk(os.path.join(root, path)):
      subfolders[:] = [name for name in subfolders
                       if name != "__pycache__" and not name.startswith(".")]
      files.extend(os.path.relpath(os.path.join(folder, name), root)
                   for name in names
                   if not name.startswith(".") and not name.endswith(".pyc"))
  return sorted(files)


def source_fingerprint(root: str = PROJECT_ROOT,
                       paths=SOURCE_PATHS) -> str:
  """sha256 over the files of `paths` (SOURCE_PATHS): each one's path and
  content."""
  digest = hashlib.sha256()
  for relative in _source_files(root, paths):
    digest.update(relative.encode())
    with open(os.path.join(root, relative), "rb") as f:
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
                     model_run_uri: Optional[str],
                     profile_dir: Optional[str] = None) -> Dict[str, Any]:
  """What identifies the training data, from what the executor was given;
  `profile_dir`: the ImageValidator's profile of the training split, the
  next run's drift reference once this model is served."""
  data: Dict[str, Any] = {"profile_uri": profile_dir}
  if examples is not None:
    fingerprint = (examples.get_string_custom_property("input_fingerprint")
                   if examples.has_custom_property("input_fingerprint")
                   else "")
    data.update({
        "examples_uri": examples.uri,
        "span": (examples.get_int_custom_property("span")
                 if examples.has_custom_property("span") else None),
        # "span 2", "spans 1-2": what the model was trained on; None in the
        # plain layout (settings/spans.py).
        "spans": spans.label_of_examples(examples),
        "version": (examples.get_int_custom_property("version")
                    if examples.has_custom_property("version") else None),
        "input_fingerprint": fingerprint or None,
        "input_fingerprint_sha256": _sha256(fingerprint) if fingerprint
                                    else None,
    })
  history = records.TrainingHistory.read(model_run_uri)
  if history is not None:
    counts = history.class_counts
    data.update({
        "train_examples": history.train_examples,
        # Per-class counts of the training split, as ImportExampleGen counted
        # them (settings/records.py SplitClassCounts).
        "class_counts_sha256": (_sha256(json.dumps(counts))
                                if counts is not None else None),
        "config_sha256": _sha256(json.dumps(history.config,
                                            sort_keys=True)),
        "training_history": os.path.join(model_run_uri,
                                         features.TRAINING_HISTORY_FILE),
    })
  return data
