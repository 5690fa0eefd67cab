"""The served model as the baseline on every orchestrator: the push-record
baseline task (pipeline/components/baseline/), which baseline EvalInference
compares with (`eval_executor.usable_baseline`), and the Pusher's blessing
check in the forms LocalDagRunner and TFX's Kubeflow entry point give it.

The serving folders here are written as the AtomicPusher writes them: a
numbered version holding `saved_model.pb` and `push_record.json`.
"""

import json
import os

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
from tfx.types import standard_artifacts

from modules import data_profile
from settings import label_space
from settings import records
from pipeline.components.baseline import executor as baseline_executor
from pipeline.components.baseline import push_records
from pipeline.components.batch_inference import eval_executor
from pipeline.components.util import blessing as blessing_lib
from pipeline.components.util import publishing

CLASSES = ("daisy", "rose", "tulip")
FINGERPRINT = label_space.fingerprint(CLASSES)


def _push(serving_dir, root, version, class_names=CLASSES, examples="ex1",
          keep_model=True, profile_uri=None):
  """A pushed version of a model trained on `examples`; returns the model's
  artifact folder (the record's model.uri)."""
  model_uri = os.path.join(root, "Trainer", "model", str(version))
  if keep_model:
    os.makedirs(model_uri, exist_ok=True)
  version_dir = os.path.join(serving_dir, str(version))
  os.makedirs(version_dir)
  open(os.path.join(version_dir, publishing.SAVED_MODEL_FILE), "w").close()
  with open(os.path.join(version_dir, publishing.RECORD_FILE), "w") as f:
    json.dump({"model": {"uri": model_uri},
               "label_space": label_space.label_space(class_names),
               "data": {"examples_uri": os.path.join(root, examples),
                        "spans": f"span {version}",
                        "profile_uri": profile_uri}}, f)
  return model_uri


def test_no_push_yet_means_no_baseline(tmp_path):
  found, why = push_records.find_baseline(str(tmp_path / "serving"),
                                          FINGERPRINT)
  assert found is None
  assert "no model with this class list" in why and FINGERPRINT in why


def test_newest_push_of_the_same_class_list(tmp_path):
  serving, root = str(tmp_path / "serving"), str(tmp_path)
  _push(serving, root, 1)
  second = _push(serving, root, 2)
  _push(serving, root, 3, class_names=("cat", "dog"))  # Another pipeline's.
  found, why = push_records.find_baseline(serving, FINGERPRINT)
  assert found.model_uri == second
  assert found.version_dir == os.path.join(serving, "2")
  assert found.spans == "span 2"
  assert second in why


def test_the_candidate_is_left_out(tmp_path):
  """An unchanged re-run's candidate is the newest pushed model: the
  baseline is the one before it, as when that model was first evaluated."""
  serving, root = str(tmp_path / "serving"), str(tmp_path)
  first = _push(serving, root, 1)
  second = _push(serving, root, 2)
  found, _ = push_records.find_baseline(serving, FINGERPRINT,
                                        exclude_model_uri=second + "/")
  assert found.model_uri == first
  found, why = push_records.find_baseline(serving, FINGERPRINT,
                                          exclude_model_uri=first)
  assert found.model_uri == second


def test_models_of_this_runs_examples_are_left_out(tmp_path):
  serving, root = str(tmp_path / "serving"), str(tmp_path)
  first = _push(serving, root, 1, examples="ex1")
  _push(serving, root, 2, examples="ex2")
  found, _ = push_records.find_baseline(
      serving, FINGERPRINT, exclude_examples_uri=os.path.join(root, "ex2"))
  assert found.model_uri == first
  found, why = push_records.find_baseline(
      str(tmp_path / "serving"), FINGERPRINT,
      exclude_examples_uri=os.path.join(root, "ex1"))
  assert found is not None
  _, why = push_records.find_baseline(
      serving, FINGERPRINT, exclude_model_uri=found.model_uri,
      exclude_examples_uri=os.path.join(root, "ex1"))
  assert "is the candidate itself" in why
  assert "trained on this run's Examples" in why


def test_a_model_whose_folder_is_gone_is_passed_over(tmp_path):
  serving, root = str(tmp_path / "serving"), str(tmp_path)
  first = _push(serving, root, 1)
  _push(serving, root, 2, keep_model=False)
  found, _ = push_records.find_baseline(serving, FINGERPRINT)
  assert found.model_uri == first


def test_a_broken_push_record_is_named(tmp_path):
  serving, root = str(tmp_path / "serving"), str(tmp_path)
  _push(serving, root, 1)
  record = os.path.join(serving, "1", publishing.RECORD_FILE)
  with open(record, "w") as f:
    f.write("{not json")
  with pytest.raises(ValueError, match=record):
    push_records.find_baseline(serving, FINGERPRINT)


def _run_executor(tmp_path, serving, candidate_uri=None):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / "baseline_task" / "model")
  inputs = {}
  if candidate_uri:
    candidate = standard_artifacts.Model()
    candidate.uri = candidate_uri
    inputs[baseline_executor.CANDIDATE_KEY] = [candidate]
  baseline_executor.Executor().Do(inputs, {"model": [model]}, {
      baseline_executor.SERVING_DIR_KEY: serving,
      baseline_executor.LABEL_SPACE_KEY: FINGERPRINT,
      baseline_executor.PURPOSE_KEY: "Evaluator baseline"})
  return model


def test_executor_outputs_the_baseline_or_a_model_standing_for_none(
    tmp_path):
  serving, root = str(tmp_path / "serving"), str(tmp_path)
  none = _run_executor(tmp_path, serving)
  assert none.get_int_custom_property(baseline_executor.FOUND_PROPERTY) == 0
  reason = records.no_baseline_reason(none.uri)
  assert reason and "no model with this class list" in reason
  profile = os.path.join(root, "ImageValidator", "anomalies", "3",
                         data_profile.PROFILE_DIR)
  first = _push(serving, root, 1, profile_uri=profile)
  second = _push(serving, root, 2)
  found = _run_executor(tmp_path, serving, candidate_uri=second)
  assert found.uri == first
  assert found.get_int_custom_property(baseline_executor.FOUND_PROPERTY) == 1
  assert records.no_baseline_reason(found.uri) is None
  # The drift check finds its training data's profile where the record
  # says (modules/data_profile.py).
  assert found.get_string_custom_property(
      data_profile.PROFILE_PROPERTY) == profile


def _artifact(uri, artifact_id=0):
  model = standard_artifacts.Model()
  model.uri = uri
  if artifact_id:
    model.id = artifact_id
  return model


def test_a_baseline_that_is_the_candidate_is_no_baseline(tmp_path):
  candidate = _artifact(str(tmp_path / "model" / "5"), 5)
  same_uri = _artifact(str(tmp_path / "model" / "5") + "/")
  other = _artifact(str(tmp_path / "model" / "3"), 3)
  kept, why = eval_executor.usable_baseline([same_uri], candidate)
  assert kept is None and "is the candidate itself" in why
  kept, why = eval_executor.usable_baseline([other], candidate)
  assert kept is other and other.uri in why


def test_a_baseline_standing_for_none_is_left_out(tmp_path):
  none = _run_executor(tmp_path, str(tmp_path / "serving"))
  candidate = _artifact(str(tmp_path / "model" / "5"), 5)
  kept, why = eval_executor.usable_baseline([none], candidate)
  assert kept is None and why.startswith("no model with")


def _blessing_and_model(tmp_path, model_id, blessed_id, blessed_uri):
  model = _artifact(str(tmp_path / "model" / "7"), model_id)
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / "blessing")
  blessing.set_string_custom_property("current_model", blessed_uri)
  if isinstance(blessed_id, str):
    blessing.set_string_custom_property("current_model_id", blessed_id)
  else:
    blessing.set_int_custom_property("current_model_id", blessed_id)
  return blessing, model


def test_blessing_check_locally_compares_uri_and_id(tmp_path):
  """LocalDagRunner: the blessing names the model by URI and MLMD id."""
  uri = str(tmp_path / "model" / "7")
  blessing_lib.check_blessing_is_for(
      *_blessing_and_model(tmp_path, 7, 7, uri))
  with pytest.raises(ValueError, match="is for model 8"):
    blessing_lib.check_blessing_is_for(
        *_blessing_and_model(tmp_path, 7, 8, uri))
  with pytest.raises(ValueError, match="other"):
    blessing_lib.check_blessing_is_for(
        *_blessing_and_model(tmp_path, 7, 7, str(tmp_path / "other")))


def test_blessing_check_on_kubeflow_compares_uri_and_name(tmp_path):
  """TFX's Kubeflow entry point: the blessing's current_model_id is the
  model's runtime name, and the model it gives the executor has the hash of
  that name as id (its own parser, run here on the launcher's artifact)."""
  uri = str(tmp_path / "model" / "7")
  name = "projects/p/locations/l/metadataStores/default/artifacts/7"
  executor_input = json_format.ParseDict(
      {"inputs": {"artifacts": {"model": {"artifacts": [{
          "name": name, "uri": uri,
          "type": {"schemaTitle": "tfx.Model"}}]}}}},
      pipeline_spec_pb2.ExecutorInput())
  [model] = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(
      executor_input.inputs.artifacts)["model"]
  blessing, _ = _blessing_and_model(tmp_path, 1, name, uri)
  blessing_lib.check_blessing_is_for(blessing, model)
  other, _ = _blessing_and_model(tmp_path, 1, name.replace("/7", "/8"), uri)
  with pytest.raises(ValueError, match="artifacts/8"):
    blessing_lib.check_blessing_is_for(other, model)
  moved, _ = _blessing_and_model(tmp_path, 1, name, str(tmp_path / "x"))
  with pytest.raises(ValueError, match="is for the model at"):
    blessing_lib.check_blessing_is_for(moved, model)
