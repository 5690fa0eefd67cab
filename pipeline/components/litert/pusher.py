"""LiteRTPusher's executor: pushes the device variants that passed, beside
the SavedModel, only when the Evaluator blessed it.

Where: `<serving dir>_lite/<version>` (`lite_serving_dir`: locally
`output/serving_lite/<version>`), with the version of the SavedModel the
Pusher pushed, so `serving_lite/<v>` is the device build of `serving/<v>`.
It holds `model_float32.tflite` and/or `model_int8.tflite`, `labels.txt`
and `push_record.json` (variants, sizes, macro F1 and the drop against the
SavedModel, input spec, labels).

As the Pusher's, a push is never half visible (`publish_files`): on local
disks the files go into a hidden sibling (the Pusher's
`claims.STAGING_PREFIX`) renamed into place at once; on object stores
every file is written before `push_record.json`, the file that marks a
version complete.

Nothing is pushed when the blessing is not BLESSED, when the Pusher pushed
nothing, or when no variant passed the device gate; the output then
carries `not_pushed_reason`.
"""

import datetime
import json
import os
import uuid
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils

from pipeline.components.util import blessing as blessing_lib
from pipeline.components.util import claims
from pipeline.components.util import publishing
from settings import label_space
from settings import records

LITE_MODEL_KEY = "lite_model"
MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
PUSHED_MODEL_KEY = "pushed_model"
PUSHED_LITE_MODEL_KEY = "pushed_lite_model"
BASE_DIRECTORY_KEY = "base_directory"
# TFX's PushedModel properties (the Pusher's executor sets the same).
PUSHED = "pushed"
PUSHED_DESTINATION = "pushed_destination"
PUSHED_VERSION = "pushed_version"
NOT_PUSHED_REASON = "not_pushed_reason"
PUSHED_VARIANTS = "pushed_variants"
LITE_SUFFIX = "_lite"


def lite_serving_dir(serving_model_dir: str) -> str:
  """Where device versions go: beside the SavedModel's serving folder."""
  return serving_model_dir.rstrip("/") + LITE_SUFFIX


def publish_files(files: Dict[str, str], final: str, record_text: str,
                  atomic_rename: Optional[bool] = None) -> None:
  """Copies `files` (name -> source path) and the push record to `final`,
  never half visible (see the module docstring).

  Raises:
    FileExistsError: if `final` already exists (nothing is written).
  """
  if fileio.exists(final):
    raise FileExistsError(f"{final} already exists")
  if atomic_rename is None:
    atomic_rename = publishing.has_atomic_rename(final)
  if atomic_rename:
    base, version = os.path.split(final.rstrip("/"))
    target = os.path.join(base, f"{claims.STAGING_PREFIX}{version}-"
                          f"{uuid.uuid4().hex[:8]}")
  else:
    target = final
  try:
    fileio.makedirs(target)
    for name, source in files.items():
      fileio.copy(source, os.path.join(target, name))
    io_utils.write_string_file(
        os.path.join(target, publishing.RECORD_FILE), record_text)
    if atomic_rename:
      # Synced before and after, as the SavedModel's push is.
      publishing.rename_into_place(target, final)
  finally:
    if atomic_rename and fileio.exists(target):
      fileio.rmtree(target)
  # On object stores a failure part-way leaves files without a record: not
  # a version (readers look for push_record.json), and the next push of
  # this version finds the folder and says so.


def read_push_record(directory: str) -> Optional[Dict[str, Any]]:
  path = os.path.join(directory, publishing.RECORD_FILE)
  if not fileio.exists(path):
    return None
  with fileio.open(path, "r") as record_file:
    return json.loads(record_file.read())


def _push_record(evaluation: records.LiteEvaluation,
                 passed: List[Dict[str, Any]], model: types.Artifact,
                 blessing: types.Artifact, pushed_model: types.Artifact,
                 version: str, final: str) -> Dict[str, Any]:
  keys = ("variant", "file", "size_bytes", "macro_f1", "macro_f1_drop",
          "top1_agreement", "latency_ms", "tolerance")
  return {
      "model_version": version,
      "pushed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      "serving_dir": final,
      "saved_model": dict(
          evaluation.saved_model,
          serving_dir=pushed_model.get_string_custom_property(
              PUSHED_DESTINATION)),
      "model": {"uri": model.uri, "artifact_id": model.id or None},
      "blessing": blessing_lib.blessing_record(blessing),
      "variants": [{key: variant[key] for key in keys} for variant in passed],
      "not_pushed": [{"variant": v["variant"], "reasons": v["reasons"]}
                     for v in evaluation.variants if not v["passed"]],
      "min_macro_f1": evaluation.min_macro_f1,
      "eval_examples": evaluation.eval_examples,
      "input": evaluation.input,
      "output": evaluation.output,
      "labels_file": evaluation.labels_file,
      "class_names": evaluation.class_names,
      "label_space": label_space.read_label_space(model.uri),
      "interpreter": evaluation.interpreter,
  }


class Executor(base_executor.BaseExecutor):
  """Publishes the passed variants, or says why not."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    output = artifact_utils.get_single_instance(
        output_dict[PUSHED_LITE_MODEL_KEY])
    lite_model = artifact_utils.get_single_instance(
        input_dict[LITE_MODEL_KEY])
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    blessing = artifact_utils.get_single_instance(
        input_dict[MODEL_BLESSING_KEY])
    pushed_model = artifact_utils.get_single_instance(
        input_dict[PUSHED_MODEL_KEY])

    def not_pushed(reason: str) -> None:
      logging.info("Not pushing the LiteRT models: %s", reason)
      output.set_int_custom_property(PUSHED, 0)
      output.set_string_custom_property(NOT_PUSHED_REASON, reason)

    if not model_utils.is_model_blessed(blessing):
      not_pushed(f"the SavedModel is not blessed ({blessing.uri})")
      return
    blessing_lib.check_blessing_is_for(blessing, model)
    evaluation = records.LiteEvaluation.read(lite_model.uri)
    if evaluation is None:
      raise FileNotFoundError(f"no {records.LITE_EVALUATION_FILE} in "
                              f"{lite_model.uri}")
    if evaluation.model_uri.rstrip("/") != model.uri.rstrip("/"):
      raise ValueError(f"the LiteRT models in {lite_model.uri} are of "
                       f"{evaluation.model_uri}, not of {model.uri}")
    if not (pushed_model.has_custom_property(PUSHED) and
            pushed_model.get_int_custom_property(PUSHED)):
      not_pushed(f"the Pusher pushed no SavedModel ({pushed_model.uri})")
      return
    passed = evaluation.passed()
    if not passed:
      not_pushed("no variant passed the device gate: " + "; ".join(
          f"{v['variant']}: {', '.join(v['reasons'])}"
          for v in evaluation.variants))
      return

    version = pushed_model.get_string_custom_property(PUSHED_VERSION)
    base = exec_properties[BASE_DIRECTORY_KEY]
    final = os.path.join(base, version)
    record = read_push_record(final)
    if record is None:
      record = _push_record(evaluation, passed, model, blessing,
                            pushed_model, version, final)
      files = {v["file"]: os.path.join(lite_model.uri, v["file"])
               for v in passed}
      files[evaluation.labels_file] = os.path.join(lite_model.uri,
                                                   evaluation.labels_file)
      fileio.makedirs(base)
      publish_files(files, final, json.dumps(record, indent=2,
                                             sort_keys=True))
      logging.info("LiteRT models pushed to %s: %s.", final,
                   ", ".join(v["variant"] for v in passed))
    elif record.get("model", {}).get("uri") != model.uri:
      raise FileExistsError(f"{final} holds the LiteRT models of "
                            f"{record.get('model', {}).get('uri')}, not of "
                            f"{model.uri}")
    else:
      # The Pusher found this model already served (an unchanged re-run):
      # so are its device models.
      logging.info("LiteRT models of %s already at %s.", model.uri, final)
    fileio.makedirs(output.uri)
    io_utils.write_string_file(
        os.path.join(output.uri, publishing.RECORD_FILE),
        json.dumps(record, indent=2, sort_keys=True))
    output.set_int_custom_property(PUSHED, 1)
    output.set_string_custom_property(PUSHED_DESTINATION, final)
    output.set_string_custom_property(PUSHED_VERSION, version)
    output.set_string_custom_property(
        PUSHED_VARIANTS, ",".join(v["variant"] for v in record["variants"]))
