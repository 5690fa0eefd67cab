"""Which served model is a run's baseline, read from the push records.

Every version the AtomicPusher publishes under the serving folder holds a
`push_record.json` (pipeline/components/pusher/) that names the Trainer's
Model artifact it came from (`model.uri`), the Examples it was trained on
(`data.examples_uri`) and its class list (`label_space.fingerprint`). Read
newest version first, those records answer what TFX's resolvers answer
from ML Metadata, on any orchestrator and without a metadata store:

* the Evaluator's baseline: the newest pushed model of this class list
  other than the candidate (`exclude_model_uri`);
* the drift check's and the warm start's: the newest pushed model of this
  class list not trained on this run's Examples (`exclude_examples_uri`).

A pushed model is a blessed one, so "newest pushed" is "latest blessed"
except for a blessed model whose push failed; a model whose artifact folder
is gone (a cleaned pipeline root) is passed over, with the reason logged.
"""

import dataclasses
import json
import os
from typing import List, Optional

from absl import logging
from tfx.dsl.io import fileio

from pipeline.components.util import publishing


@dataclasses.dataclass(frozen=True)
class PushedBaseline:
  """A served version chosen as a baseline."""
  version_dir: str
  model_uri: str
  examples_uri: Optional[str]
  spans: Optional[str]
  # The ImageValidator's profile of its training data (None in records from
  # before the profile moved there: it is then in the Model artifact).
  profile_uri: Optional[str] = None


def _record(version_dir: str) -> Optional[dict]:
  path = os.path.join(version_dir, publishing.RECORD_FILE)
  if not fileio.exists(path):
    return None
  with fileio.open(path, "r") as record_file:
    try:
      return json.loads(record_file.read())
    except json.JSONDecodeError as error:
      raise ValueError(f"{path}: not a push record: {error}") from error


def _same(uri_a: Optional[str], uri_b: Optional[str]) -> bool:
  return bool(uri_a) and bool(uri_b) and (
      uri_a.rstrip("/") == uri_b.rstrip("/"))


def find_baseline(serving_dir: str, label_space_fingerprint: str,
                  exclude_model_uri: Optional[str] = None,
                  exclude_examples_uri: Optional[str] = None
                  ) -> "tuple[Optional[PushedBaseline], str]":
  """The newest pushed model that may be the baseline, and why (the reason
  there is none, or which version was chosen)."""
  versions: List[int] = (publishing.servable_versions(serving_dir)
                         if fileio.exists(serving_dir) else [])
  passed_over = []
  for version in versions:
    version_dir = os.path.join(serving_dir, str(version))
    record = _record(version_dir)
    if record is None:
      continue  # Pushed by something else: not ours to compare.
    label_space = record.get("label_space") or {}
    if label_space.get("fingerprint") != label_space_fingerprint:
      continue
    model_uri = (record.get("model") or {}).get("uri")
    examples_uri = (record.get("data") or {}).get("examples_uri")
    if _same(model_uri, exclude_model_uri):
      passed_over.append(f"{version} is the candidate itself")
      continue
    if _same(examples_uri, exclude_examples_uri):
      passed_over.append(f"{version} was trained on this run's Examples")
      continue
    if not model_uri or not fileio.exists(model_uri):
      logging.warning("Baseline: version %s's model %s is gone; passed over",
                      version_dir, model_uri)
      passed_over.append(f"{version}'s model artifact {model_uri} is gone")
      continue
    data = record.get("data") or {}
    chosen = PushedBaseline(version_dir, model_uri, examples_uri,
                            data.get("spans"), data.get("profile_uri"))
    return chosen, f"served version {version_dir} (model {model_uri})"
  if passed_over:
    return None, (f"no other model with this class list "
                  f"({label_space_fingerprint}) in {serving_dir}: version "
                  + "; ".join(passed_over))
  return None, (f"no model with this class list ({label_space_fingerprint}) "
                f"pushed to {serving_dir} yet")
