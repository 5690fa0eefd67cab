"""AtomicPusher: blessed models are pushed whole with a record, others never.

Executor tests run `AtomicPusherExecutor.Do` on real artifacts: a small
SavedModel, ModelBlessing folders with TFX's BLESSED / NOT_BLESSED markers,
and an Evaluator-style TFMA output written with TFMA's own writers from
`MacroF1`'s real output. The slow tests run the pipeline twice more, in a
copy of the session run's folder (its cache): a good model, blessed, then a
worse one that regresses against it under an impossible threshold.
"""

import hashlib
import json
import os
import re
import shutil
import threading
import time
import types

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from sklearn import metrics as sk_metrics
from tensorflow_model_analysis import version as tfma_version
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.proto import validation_result_pb2
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer
from tfx.dsl.io import filesystem
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from conftest import E2E_EPOCHS
from conftest import run_local_pipeline
import object_store
from modules import metrics
from pipeline.components.util import evaluation_reader as evaluation_lib
from pipeline.components.util import claims
from pipeline.components.pusher import executor as pusher_executor
from pipeline.components.pusher import provenance
from pipeline.components.util import publishing
from modules import bootstrap
from pipeline.components.util import model_card

FINGERPRINT = ("split:train,num_files:1,total_bytes:100,xor_checksum:1,"
               "sum_checksum:1\nsplit:eval,num_files:1,total_bytes:50,"
               "xor_checksum:2,sum_checksum:2")
LABELS = np.array([0, 1, 1, 2, 2, 2])
PREDICTED = np.array([0, 1, 2, 2, 2, 0])


# ---------------------------------------------------------------------------
# Fixtures: real artifacts on disk.

class _Doubler(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
  def __call__(self, x):
    return 2.0 * x


def _model(tmp_path, artifact_id=7):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / "Trainer" / "model" / str(artifact_id))
  model.id = artifact_id
  tf.saved_model.save(_Doubler(), os.path.join(model.uri, "Format-Serving"))
  # The Trainer's Keras weights beside it (modules/warm_start.py): for the
  # next run's warm start, never for the model server.
  os.makedirs(os.path.join(model.uri, "Format-Keras"))
  with open(os.path.join(model.uri, "Format-Keras", "model.weights.h5"),
            "wb") as f:
    f.write(b"weights")
  return model


def _blessing(tmp_path, blessed, model_id=7):
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / "Evaluator" / "blessing" / str(model_id))
  blessing.id = 100 + model_id
  os.makedirs(blessing.uri)
  marker = "BLESSED" if blessed else "NOT_BLESSED"
  open(os.path.join(blessing.uri, marker), "w").close()
  blessing.set_int_custom_property("blessed", int(blessed))
  blessing.set_int_custom_property("current_model_id", model_id)
  return blessing


def _evaluation(tmp_path, min_macro_f1):
  """A TFMA output of MacroF1 on LABELS/PREDICTED, gated at min_macro_f1."""
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = str(tmp_path / "Evaluator" / "evaluation" / "8")
  os.makedirs(evaluation.uri)
  combiner = metrics.MacroF1(num_classes=3).computations()[0].combiner
  accumulator = combiner.create_accumulator()
  for label, predicted in zip(LABELS, PREDICTED):
    accumulator = combiner.add_input(accumulator, metrics.metric_types
                                     .StandardMetricInputs(
                                         labels=np.array([label]),
                                         predictions=np.eye(3)[predicted],
                                         example_weights=np.array([1.0])))
  output = combiner.extract_output(accumulator)
  proto = metrics_plots_and_validations_writer.convert_slice_metrics_to_proto(
      ((), output), add_metrics_callbacks=None)
  with tf.io.TFRecordWriter(os.path.join(
      evaluation.uri, "metrics-00000-of-00001.tfrecord")) as writer:
    writer.write(proto.SerializeToString())
  with open(os.path.join(evaluation.uri, "eval_config.json"), "w") as f:
    f.write(json_format.MessageToJson(config_pb2.EvalRun(
        eval_config=config_pb2.EvalConfig(
            model_specs=[config_pb2.ModelSpec(label_key="class")]),
        version=tfma_version.VERSION)))
  macro_f1 = sk_metrics.f1_score(LABELS, PREDICTED, average="macro")
  result = validation_result_pb2.ValidationResult(
      validation_ok=macro_f1 >= min_macro_f1)
  if macro_f1 < min_macro_f1:
    failure = result.metric_validations_per_slice.add().failures.add()
    failure.metric_key.name = metrics.MACRO_F1
    failure.metric_threshold.value_threshold.lower_bound.value = min_macro_f1
    failure.metric_value.double_value.value = macro_f1
  with tf.io.TFRecordWriter(os.path.join(evaluation.uri,
                                         "validations.tfrecord")) as writer:
    writer.write(result.SerializeToString())
  return evaluation


def _examples(tmp_path):
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "ImportExampleGen" / "examples" / "1")
  examples.set_string_custom_property("input_fingerprint", FINGERPRINT)
  examples.set_int_custom_property("span", 3)
  return examples


def _model_run(tmp_path):
  model_run = standard_artifacts.ModelRun()
  model_run.uri = str(tmp_path / "Trainer" / "model_run" / "7")
  os.makedirs(model_run.uri)
  with open(os.path.join(model_run.uri, "training_history.json"), "w") as f:
    json.dump({"train_examples": 60, "class_counts": [30, 20, 10],
               "config": {"class_names": ["a", "b", "c"]}}, f)
  return model_run


def _eval_predictions(tmp_path):
  """A BatchInference output of the eval split: LABELS predicted PREDICTED."""
  from pipeline.components.util import artifact_types  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import predictions  # pylint: disable=g-import-not-at-top
  artifact = artifact_types.Predictions()
  artifact.uri = str(tmp_path / "EvalInference" / "predictions" / "8")
  predictions.write_predictions(artifact.uri, "eval", predictions.SplitPredictions(
      ids=np.array([f"id{i}" for i in range(len(LABELS))]), labels=LABELS,
      probabilities=np.eye(3, dtype=np.float32)[PREDICTED]))
  return artifact


def _push(tmp_path, model, blessing=None, evaluation=None, examples=None,
          model_run=None, base=None, pushed_id=9, eval_predictions=None):
  """Runs the executor; returns (serving base directory, PushedModel)."""
  base = base or str(tmp_path / "serving")
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / "Pusher" / "pushed_model" / str(pushed_id))
  inputs = {"model": [model]}
  for key, artifact in (("model_blessing", blessing),
                        (pusher_executor.EVALUATION_KEY, evaluation),
                        (pusher_executor.EXAMPLES_KEY, examples),
                        (pusher_executor.MODEL_RUN_KEY, model_run),
                        (pusher_executor.EVAL_PREDICTIONS_KEY,
                         eval_predictions)):
    if artifact is not None:
      inputs[key] = [artifact]
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
  pusher_executor.AtomicPusherExecutor().Do(
      inputs, {"pushed_model": [pushed]},
      {"push_destination": proto_utils.proto_to_json(destination)})
  return base, pushed


def _tree(root):
  """{relative path: file bytes} of every file under root."""
  files = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, root)] = f.read()
  return files


# ---------------------------------------------------------------------------
# Executor: both outcomes.

def test_blessed_model_is_pushed_whole_with_its_record(tmp_path):
  model = _model(tmp_path)
  base, pushed = _push(tmp_path, model, _blessing(tmp_path, blessed=True),
                       _evaluation(tmp_path, min_macro_f1=0.1),
                       _examples(tmp_path), _model_run(tmp_path),
                       eval_predictions=_eval_predictions(tmp_path))
  # Exactly one version folder, nothing half-written or hidden beside it.
  entries = os.listdir(base)
  assert len(entries) == 1 and entries[0].isdigit(), entries
  final = os.path.join(base, entries[0])
  assert pushed.get_int_custom_property("pushed") == 1
  assert pushed.get_string_custom_property("pushed_destination") == final
  assert pushed.get_string_custom_property("pushed_version") == entries[0]

  copied = _tree(final)
  record_bytes = copied.pop(publishing.RECORD_FILE)
  card_md = copied.pop(model_card.MARKDOWN_FILE).decode()
  card_html = copied.pop(model_card.HTML_FILE).decode()
  # The SavedModel alone: not the Keras weights beside it (`_model`).
  assert copied == _tree(os.path.join(model.uri, "Format-Serving"))
  # The model card, with every section and the interval of these examples.
  for section in model_card.SECTIONS:
    assert f"## {section}\n" in card_md
    assert f"<h2>{section}</h2>" in card_html
  interval = bootstrap.bootstrap_macro_f1(LABELS, PREDICTED, 3)
  assert (f"95% bootstrap interval {interval.low:.4f} to {interval.high:.4f}"
          in card_md)
  assert "BLESSED: every gate passed." in card_md
  class_f1 = sk_metrics.f1_score(LABELS, PREDICTED, average=None)
  assert f"| c | {class_f1[2]:.4f} | 3 |" in card_md
  loaded = tf.saved_model.load(final)
  np.testing.assert_allclose(loaded(tf.constant([1.5])).numpy(), [3.0])

  record = json.loads(record_bytes)
  assert record["model_version"] == entries[0]
  assert record["serving_dir"] == final
  assert record["model"] == {"uri": model.uri, "artifact_id": 7}
  assert record["blessing"]["artifact_id"] == 107
  candidate = record["metrics"][evaluation_lib.CANDIDATE]
  assert candidate[metrics.MACRO_F1] == pytest.approx(
      sk_metrics.f1_score(LABELS, PREDICTED, average="macro"))
  assert candidate[metrics.ACCURACY] == pytest.approx(4 / 6)
  data = record["data"]
  assert data["span"] == 3
  assert data["input_fingerprint"] == FINGERPRINT
  assert data["input_fingerprint_sha256"] == hashlib.sha256(
      FINGERPRINT.encode()).hexdigest()
  assert data["train_examples"] == 60
  assert data["class_counts_sha256"] == hashlib.sha256(
      json.dumps([30, 20, 10]).encode()).hexdigest()
  code = record["code"]
  assert len(code["source_sha256"]) == 64
  assert code["source_sha256"] == provenance.source_fingerprint()
  assert "git_commit" in code and "git_dirty" in code
  # The artifact keeps the same record (not a second copy of the model).
  with open(os.path.join(pushed.uri, publishing.RECORD_FILE), "rb") as f:
    assert f.read() == record_bytes
  assert sorted(os.listdir(pushed.uri)) == sorted([
      publishing.RECORD_FILE, model_card.MARKDOWN_FILE, model_card.HTML_FILE])
  with open(os.path.join(pushed.uri, model_card.MARKDOWN_FILE)) as f:
    assert f.read() == card_md


def test_not_blessed_model_writes_nothing_and_says_why(tmp_path):
  base, pushed = _push(tmp_path, _model(tmp_path),
                       _blessing(tmp_path, blessed=False),
                       _evaluation(tmp_path, min_macro_f1=1.0))
  assert not os.path.exists(base) or not os.listdir(base)
  assert not os.path.exists(pushed.uri) or not os.listdir(pushed.uri)
  assert pushed.get_int_custom_property("pushed") == 0
  assert not pushed.has_custom_property("pushed_destination")
  macro_f1 = sk_metrics.f1_score(LABELS, PREDICTED, average="macro")
  assert pushed.get_string_custom_property(pusher_executor.NOT_PUSHED_REASON_KEY) == (
      f"macro_f1 = {macro_f1:.4f}, below the minimum 1")


def test_no_blessing_is_not_a_licence_to_push(tmp_path):
  # TFX's own Pusher pushes an unvalidated model when given no blessing.
  base, pushed = _push(tmp_path, _model(tmp_path), blessing=None)
  assert not os.path.exists(base) or not os.listdir(base)
  assert pushed.get_int_custom_property("pushed") == 0
  assert pushed.get_string_custom_property(
      pusher_executor.NOT_PUSHED_REASON_KEY) == "no model blessing"


def test_blessing_of_another_model_is_refused(tmp_path):
  with pytest.raises(ValueError, match="is for model 5, not for model 7"):
    _push(tmp_path, _model(tmp_path, artifact_id=7),
          _blessing(tmp_path, blessed=True, model_id=5))
  assert not os.path.exists(tmp_path / "serving") or not os.listdir(
      tmp_path / "serving")


def test_failed_copy_leaves_no_version_and_no_staging(tmp_path):
  model = _model(tmp_path)
  # A file that cannot be read makes the copy fail half-way.
  os.symlink(str(tmp_path / "nowhere"),
             os.path.join(model.uri, "Format-Serving", "variables", "zz"))
  with pytest.raises(filesystem.NotFoundError):
    _push(tmp_path, model, _blessing(tmp_path, blessed=True))
  assert os.listdir(tmp_path / "serving") == []


def test_second_push_gets_a_higher_version(tmp_path):
  base, first = _push(tmp_path, _model(tmp_path),
                      _blessing(tmp_path, blessed=True))
  _, second = _push(tmp_path, _model(tmp_path, artifact_id=8),
                    _blessing(tmp_path, blessed=True, model_id=8))
  versions = [int(p.get_string_custom_property("pushed_version"))
              for p in (first, second)]
  assert versions[1] > versions[0]
  assert sorted(os.listdir(base)) == sorted(str(v) for v in versions)


def test_the_newest_version_is_not_pushed_again(tmp_path):
  """An unchanged re-run blesses the same model again: no duplicate."""
  model, blessing = _model(tmp_path), _blessing(tmp_path, blessed=True)
  base, first = _push(tmp_path, model, blessing)
  before = _tree(base)
  _, again = _push(tmp_path, model, blessing)
  assert _tree(base) == before
  assert again.get_int_custom_property("pushed") == 1
  assert again.get_int_custom_property(pusher_executor.ALREADY_SERVING_KEY) == 1
  for key in ("pushed_version", "pushed_destination"):
    assert again.get_string_custom_property(key) == (
        first.get_string_custom_property(key))
  # Another model in between: the first one is pushed again, as newest.
  _push(tmp_path, _model(tmp_path, artifact_id=8),
        _blessing(tmp_path, blessed=True, model_id=8))
  _, third = _push(tmp_path, model, blessing)
  assert third.get_int_custom_property(pusher_executor.ALREADY_SERVING_KEY) == 0
  assert len(os.listdir(base)) == 3


def test_two_concurrent_pushes_of_one_model_push_it_once(tmp_path,
                                                        monkeypatch):
  """Two runs bless the same model at once: one version, both told so.

  The copy is slowed down (as a large model's is) so that the second push
  decides while the first is still copying: deciding before claiming
  would find no newest version and push the model twice.
  """
  real_publish = publishing.publish_model

  def slow_publish(*args, **kwargs):
    time.sleep(0.5)
    return real_publish(*args, **kwargs)

  monkeypatch.setattr(publishing, "publish_model", slow_publish)
  model, blessing = _model(tmp_path), _blessing(tmp_path, blessed=True)
  start = threading.Barrier(2)
  results, errors = {}, []

  def push(pushed_id):
    try:
      start.wait()
      results[pushed_id] = _push(tmp_path, model, blessing,
                                 pushed_id=pushed_id)[1]
    except Exception as error:  # pylint: disable=broad-except
      errors.append(error)

  threads = [threading.Thread(target=push, args=(i,)) for i in (20, 21)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert not errors, errors
  base = tmp_path / "serving"
  assert publishing.servable_versions(str(base)) == [
      int(n) for n in os.listdir(base)], os.listdir(base)  # No claim left.
  assert len(os.listdir(base)) == 1
  already = sorted(p.get_int_custom_property(
      pusher_executor.ALREADY_SERVING_KEY) for p in results.values())
  assert already == [0, 1]
  assert len({p.get_string_custom_property("pushed_version")
              for p in results.values()}) == 1


def test_a_failure_after_the_claim_releases_it(tmp_path, monkeypatch):
  """Building the model card fails: no claim, no version is left."""
  def broken_card(card):
    raise ValueError("card template broke")

  monkeypatch.setattr(model_card, "card_files", broken_card)
  model, blessing = _model(tmp_path), _blessing(tmp_path, blessed=True)
  with pytest.raises(ValueError, match="card template broke"):
    _push(tmp_path, model, blessing, evaluation=_evaluation(tmp_path, 0.0),
          model_run=_model_run(tmp_path))
  assert os.listdir(tmp_path / "serving") == []
  # The next push of it is not held up by a claim: it is pushed.
  monkeypatch.undo()
  _, pushed = _push(tmp_path, model, blessing)
  assert pushed.get_int_custom_property("pushed") == 1
  assert pushed.get_int_custom_property(
      pusher_executor.ALREADY_SERVING_KEY) == 0


def test_a_push_waits_only_for_earlier_claims_of_its_model(tmp_path):
  base = tmp_path / "serving"
  base.mkdir()
  _, other = claims.claim_version(str(base), now=1000,
                                      model_uri="/models/other")
  _, stale = claims.claim_version(str(base), now=1001,
                                      model_uri="/models/mine")
  with open(stale) as f:
    owner = json.load(f)
  owner["claimed_at"] -= claims.STALE_CLAIM_SECONDS + 1
  with open(stale, "w") as f:
    json.dump(owner, f)
  # Neither another model's claim nor a crashed pusher's holds it up.
  claims.wait_for_earlier_claims(str(base), 1005, "/models/mine",
                                     poll_seconds=0.01)
  _, live = claims.claim_version(str(base), now=1002,
                                     model_uri="/models/mine")
  # This thread's own claim is one its earlier push could not remove.
  claims.wait_for_earlier_claims(str(base), 1005, "/models/mine",
                                     poll_seconds=0.01)
  waited = threading.Event()

  def wait():
    claims.wait_for_earlier_claims(str(base), 1005, "/models/mine",
                                       poll_seconds=0.01)
    waited.set()

  thread = threading.Thread(target=wait)
  thread.start()
  # Another thread's: held up by the live claim of its model...
  assert not waited.wait(0.3)
  os.remove(live)
  assert waited.wait(5)  # ...until that push is done.
  thread.join()
  del other


# ---------------------------------------------------------------------------
# The code fingerprint.

def test_the_code_fingerprint_covers_every_file_that_decides_training(
    tmp_path):
  """In the container image there is no git checkout: the record's
  `source_sha256` is the code's only identity there, so each file that can
  change what is trained or pushed must change it."""
  copy = tmp_path / "project"
  shutil.copytree(provenance.PROJECT_ROOT, copy, ignore=shutil.ignore_patterns(
      ".git", ".venv", "data", "output", ".pytest_cache", "__pycache__"))
  # Where the project lives does not count (a checkout, /flowers).
  fingerprint = provenance.source_fingerprint(str(copy))
  assert fingerprint == provenance.source_fingerprint()
  # Neither do caches written by running the code, docs or tests.
  (copy / "settings" / "__pycache__").mkdir()
  (copy / "settings" / "__pycache__" / "sections.cpython-311.pyc"
   ).write_bytes(b"compiled")
  for name in ("README.md", "docs/reliability.md", "tests/test_pusher.py"):
    with open(copy / name, "a") as f:
      f.write("\n")
  assert provenance.source_fingerprint(str(copy)) == fingerprint
  # Each of these does: defaults, the class list, the schema, the model
  # code, the DAG, a component, the runners.
  for name in ("settings/sections.py", "settings/kaggle_classes.txt",
               "schema/schema.pbtxt", "modules/model.py",
               "pipeline/pipeline.py",
               "pipeline/components/pusher/executor.py", "local_runner.py",
               "kubeflow_runner.py"):
    with open(copy / name, "a") as f:
      f.write("\n")
    changed = provenance.source_fingerprint(str(copy))
    assert changed != fingerprint, name
    fingerprint = changed


# ---------------------------------------------------------------------------
# Helpers.

def test_next_version_never_goes_back(tmp_path):
  base = tmp_path / "serving"
  assert claims.next_version(str(base), now=1000.7) == 1000  # No base yet.
  for name in ("2000", ".incoming-3000-abcd", "notes", "150", "4000-x"):
    (base / name).mkdir(parents=True)
  assert claims.next_version(str(base), now=1000) == 3001
  (base / ".claim-3500-ffff").write_text("{}")
  assert claims.next_version(str(base), now=1000) == 3501
  assert claims.next_version(str(base), now=5000) == 5000
  # Only complete versions are served.
  assert publishing.servable_versions(str(base)) == []
  (base / "150" / "saved_model.pb").write_bytes(b"graph")
  assert publishing.servable_versions(str(base)) == [150]


def test_claims_skip_taken_numbers_and_clean_up(tmp_path):
  base = tmp_path / "serving"
  base.mkdir()
  version, claim = claims.claim_version(str(base), now=1000)
  assert version == 1000 and os.path.exists(claim)
  # A claim blocks its number for the next pusher, a crashed one's too.
  assert claims.claim_version(str(base), now=1000)[0] == 1001
  # A claim for a number someone else claimed (between its listing and
  # its write) is withdrawn: the number stays the first claimer's.
  (base / ".claim-1002-aaaa").write_text("{}")
  version, _ = claims.claim_version(str(base), now=1002)
  assert version == 1003
  assert sorted(os.listdir(base)) == [".claim-1000-" + claim.split("-")[-1],
                                      ".claim-1001-" + _only_claim(base, 1001),
                                      ".claim-1002-aaaa",
                                      ".claim-1003-" + _only_claim(base, 1003)]


def _only_claim(base, version):
  names = [n for n in os.listdir(base) if n.startswith(f".claim-{version}-")]
  assert len(names) == 1, names
  return names[0].split("-")[-1]


@pytest.mark.parametrize("atomic_rename", [True, False])
def test_publish_model_copies_everything(tmp_path, atomic_rename):
  model, final = tmp_path / "model", tmp_path / "serving" / "1"
  (model / "variables").mkdir(parents=True)
  (model / "saved_model.pb").write_bytes(b"graph")
  (model / "variables" / "variables.index").write_bytes(b"index")
  publishing.publish_model(str(model), str(final), "{}", atomic_rename)
  assert _tree(final) == dict(_tree(model), **{publishing.RECORD_FILE: b"{}"})
  assert os.listdir(tmp_path / "serving") == ["1"]
  with pytest.raises(FileExistsError):
    publishing.publish_model(str(model), str(final), "[]", atomic_rename)
  assert _tree(final)[publishing.RECORD_FILE] == b"{}"


# ---------------------------------------------------------------------------
# Object stores: a rename is a copy and a delete of each object.

OBJECT_BASE = object_store.SCHEME + "bucket/serving"


@pytest.fixture(name="store")
def _store():
  object_store.ObjectStore.reset()
  yield object_store.ObjectStore
  object_store.ObjectStore.reset()


def _server_check(expected_models):
  """An observer that fails if a model server could load a version that is
  not one of `expected_models` ({model uri: files}) whole, with its
  record; returns the list of violations it saw."""
  seen, loaded = [], set()

  def observe(objects):
    for version, files in object_store.servable(objects,
                                                OBJECT_BASE).items():
      files = dict(files)
      record = files.pop(publishing.RECORD_FILE, None)
      if record is None:
        seen.append(f"version {version} has no record: {sorted(files)}")
        continue
      uri = json.loads(record)["model"]["uri"]
      if files != expected_models.get(uri):
        seen.append(f"version {version} is partial: {sorted(files)}")
      elif (version, uri) not in loaded:
        # As a server would: load what it found and call it (the _Doubler).
        seen.extend(_load_failures(version, files))
        loaded.add((version, uri))
  return observe, seen


def _load_failures(version, files):
  """[] if the SavedModel made of `files` loads and doubles; else why not."""
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as directory:
    for name, data in files.items():
      os.makedirs(os.path.dirname(os.path.join(directory, name)),
                  exist_ok=True)
      with open(os.path.join(directory, name), "wb") as f:
        f.write(data)
    try:
      served = tf.saved_model.load(directory)
      doubled = served(tf.constant([1.5])).numpy().tolist()
    except (OSError, ValueError, tf.errors.OpError) as error:
      return [f"version {version} does not load: {error}"]
  return [] if doubled == [3.0] else [f"version {version} gave {doubled}"]


def _first_object_store_push(tmp_path, store):
  """Pushes model 7 to OBJECT_BASE under a server's eye; returns (model,
  blessing, its files, the server's complaints so far)."""
  model, blessing = _model(tmp_path), _blessing(tmp_path, blessed=True)
  files = _tree(os.path.join(model.uri, "Format-Serving"))
  store.observe, seen = _server_check({model.uri: files})
  _push(tmp_path, model, blessing, base=OBJECT_BASE)
  return model, blessing, files, seen


def test_object_store_push_never_shows_a_partial_version(tmp_path, store):
  model, blessing, files, seen = _first_object_store_push(tmp_path, store)
  changes = store.changes
  assert changes >= len(files) + 2  # Files, record, claim.
  assert len(object_store.servable(store.objects, OBJECT_BASE)) == 1

  # A failure at each change in turn, then the store works again. The
  # last change removes the claim: the model is served by then.
  for fail_at in range(changes - 1):
    store.reset()
    store.observe, seen = _server_check({model.uri: files})
    store.fail_from = fail_at
    with pytest.raises(object_store.InjectedFailure):
      _push(tmp_path, model, blessing, base=OBJECT_BASE)
    assert not seen, (fail_at, seen)
    # Cleaned up: no version, no claim, nothing hidden.
    assert object_store.keys_under(OBJECT_BASE) == [], fail_at
    _push(tmp_path, model, blessing, base=OBJECT_BASE)
    served = object_store.servable(store.objects, OBJECT_BASE)
    assert len(served) == 1 and not seen, (fail_at, served, seen)
  store.reset()
  store.fail_from = changes - 1
  _, pushed = _push(tmp_path, model, blessing, base=OBJECT_BASE)
  version = pushed.get_string_custom_property("pushed_version")
  assert list(object_store.servable(store.objects, OBJECT_BASE)) == [version]
  # The claim that could not be removed only uses up its number.
  assert claims.next_version(OBJECT_BASE, now=0) == int(version) + 1


def test_object_store_down_for_good_leaves_nothing_servable(tmp_path, store):
  model, blessing, files, seen = _first_object_store_push(tmp_path, store)
  first = store.changes
  other = _model(tmp_path, artifact_id=8)
  other_blessing = _blessing(tmp_path, blessed=True, model_id=8)
  files_8 = _tree(os.path.join(other.uri, "Format-Serving"))
  for fail_at in range(first + 1, first + len(files_8) + 2):
    store.observe, seen = _server_check({model.uri: files,
                                         other.uri: files_8})
    store.fail_from, store.fail_count = store.changes + (fail_at - first), None
    with pytest.raises(object_store.InjectedFailure):
      _push(tmp_path, other, other_blessing, base=OBJECT_BASE)
    store.fail_from = None
    assert not seen, (fail_at, seen)
    # Clean-up failed too: what is left is not servable, the first model
    # still is the newest, and the next push goes past the leftovers.
    served = object_store.servable(store.objects, OBJECT_BASE)
    assert [json.loads(v[publishing.RECORD_FILE])["model"]["uri"]
            for v in served.values()] == [model.uri] * len(served)
  _, pushed = _push(tmp_path, other, other_blessing, base=OBJECT_BASE)
  version = pushed.get_string_custom_property("pushed_version")
  leftovers = {name.split("/")[0] for name in
               object_store.keys_under(OBJECT_BASE)}
  assert int(version) == max(int(n.split("-")[1] if n.startswith(".") else n)
                             for n in leftovers)
  assert publishing.newest_push_record(OBJECT_BASE)[1]["model"]["uri"] == (
      other.uri)
  assert not seen


def test_simultaneous_pushes_take_different_versions(tmp_path, store,
                                                     monkeypatch):
  """Six pushers at the same second: six whole versions, one model each."""
  monkeypatch.setattr(claims, "time", types.SimpleNamespace(
      time=lambda: 1000.0, sleep=time.sleep, monotonic=time.monotonic))
  store.latency = 0.002  # Lets the threads interleave between changes.
  models = [(_model(tmp_path, artifact_id=i),
             _blessing(tmp_path, blessed=True, model_id=i))
            for i in range(10, 16)]
  expected = {m.uri: _tree(os.path.join(m.uri, "Format-Serving"))
              for m, _ in models}
  store.observe, seen = _server_check(expected)
  errors = []

  def push(model, blessing):
    try:
      _push(tmp_path, model, blessing, base=OBJECT_BASE, pushed_id=model.id)
    except Exception as error:  # pylint: disable=broad-except
      errors.append(error)

  threads = [threading.Thread(target=push, args=pair) for pair in models]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert not errors and not seen, (errors, seen)
  served = object_store.servable(store.objects, OBJECT_BASE)
  assert sorted(json.loads(files[publishing.RECORD_FILE])["model"]["uri"]
                for files in served.values()) == sorted(expected)
  # Six distinct numbers from the clock's second on. Not always 1000-1005:
  # two rivals that clash on a number both step aside, and a third pusher
  # may take the next one meanwhile, so the clashed number stays unused
  # (claim_version's docstring); a server only needs them distinct.
  versions = sorted(int(v) for v in served)
  assert len(versions) == len(models) and versions[0] >= 1000, versions
  assert object_store.keys_under(OBJECT_BASE) == sorted(
      f"{v}/{name}" for v, files in served.items() for name in files)


def test_object_stores_are_not_renamed_in_one_go():
  assert publishing.has_atomic_rename("/srv/models")
  assert publishing.has_atomic_rename("file:///srv/models")
  assert not publishing.has_atomic_rename("gs://bucket/models")


# ---------------------------------------------------------------------------
# End to end: two more runs on top of the session's run.

GOOD_EPOCHS = 30  # Macro F1 about 0.17 on the tiny data; 1 epoch: about 0.01.


def _summary_value(stdout, field):
  lines = [line for line in stdout.splitlines()
           if line.startswith(f"  {field} ")]
  assert lines, f"no `{field}` line in:\n{stdout}"
  return lines[-1][len(field) + 2:].strip()


def _serving_versions(output_dir):
  return sorted(os.listdir(os.path.join(output_dir, "serving")))


@pytest.fixture(scope="module")
def good_then_worse(pipeline_run, tmp_path_factory):
  """A good run, then a worse one with an impossible threshold.

  Both run in a copy of the session run's output folder, so ExampleGen,
  statistics and validation come from its cache. The good run (more
  epochs) is blessed against the session's model and becomes the latest
  blessed model; the worse run (1 epoch, --min-macro-f1 1.0) is evaluated
  against it and must fail both gates: the impossible threshold and the
  change against the baseline.
  """
  output_dir = str(tmp_path_factory.mktemp("good_then_worse") / "out")
  shutil.copytree(pipeline_run["output_dir"], output_dir)
  runs = {}
  for name, flags in (
      ("good", ("--epochs", str(GOOD_EPOCHS), "--min-macro-f1", "0")),
      ("worse", ("--epochs", "1", "--min-macro-f1", "1.0"))):
    process = run_local_pipeline(pipeline_run["data_root"], output_dir,
                                 *flags)
    if process.returncode != 0:
      raise AssertionError(
          f"local_runner.py ({name}) failed ({process.returncode}):\n"
          f"{process.stdout[-5000:]}\n{process.stderr[-10000:]}")
    runs[name] = process.stdout
    runs[f"{name}_versions"] = _serving_versions(output_dir)
  return dict(output_dir=output_dir, **runs)


@pytest.mark.slow
def test_good_run_is_blessed_against_the_session_model(good_then_worse):
  out = good_then_worse["good"]
  assert "verdict            BLESSED" in out
  pushed = _summary_value(out, "pushed model")
  assert os.path.basename(pushed) == good_then_worse["good_versions"][-1]
  with open(os.path.join(pushed, publishing.RECORD_FILE)) as f:
    record = json.load(f)
  # The Evaluator compared it with the session run's (blessed) model.
  assert record["blessing"]["baseline_model"] != record["model"]["uri"]
  assert record["metrics"][evaluation_lib.BASELINE][metrics.MACRO_F1] < record[
      "metrics"][evaluation_lib.CANDIDATE][metrics.MACRO_F1]


@pytest.mark.slow
def test_regressed_model_is_not_blessed_nor_pushed(good_then_worse):
  out = good_then_worse["worse"]
  assert "verdict            NOT BLESSED" in out
  good_f1 = float(_summary_value(good_then_worse["good"], "macro_f1"))
  worse_f1 = float(_summary_value(out, "macro_f1"))
  assert worse_f1 < good_f1 - 0.02
  reason = _summary_value(out, "pushed model")
  assert reason.startswith("none (not blessed: "), reason
  change = re.search(r"macro_f1 changed by ([-+]\d\.\d{4}) against the "
                     r"served model \(95% interval ([-+]\d\.\d{4}) to "
                     r"([-+]\d\.\d{4})\): the whole interval lies below "
                     r"-0.02, the tolerated drop", reason)
  assert change, reason
  # The gate measured a drop larger than its own noise.
  assert float(change.group(3)) < -0.02
  # The summary rounds each value to 4 places, so their difference may
  # differ from the rounded change in the last place.
  assert float(change.group(1)) == pytest.approx(worse_f1 - good_f1,
                                                 abs=2e-4)
  # Nothing new in the serving folder.
  assert good_then_worse["worse_versions"] == good_then_worse["good_versions"]


@pytest.mark.slow
def test_impossible_threshold_is_not_pushed_and_says_why(good_then_worse):
  out = good_then_worse["worse"]
  assert "verdict            NOT BLESSED" in out
  reason = _summary_value(out, "pushed model")
  f1 = float(_summary_value(out, "macro_f1"))
  assert f"macro_f1 {f1:.4f} is below the minimum 1 (95% interval" in (
      reason), reason


@pytest.mark.slow
def test_worse_run_report_compares_with_the_good_model(good_then_worse):
  out = good_then_worse["worse"]
  path = _summary_value(out, "report")
  with open(path, encoding="utf-8") as f:
    page = f.read()
  assert "NOT BLESSED" in page and "is below the minimum 1" in page
  assert "Against the baseline model" in page
  good_model = _summary_value(good_then_worse["good"], "model")
  assert good_model in page  # The baseline is the good run's model.
  assert os.path.exists(os.path.join(os.path.dirname(path), "f1_change.png"))


@pytest.mark.slow
def test_session_push_record_matches_its_run(pipeline_run):
  output_dir = pipeline_run["output_dir"]
  pushed = _summary_value(pipeline_run["stdout"], "pushed model")
  with open(os.path.join(pushed, publishing.RECORD_FILE)) as f:
    record = json.load(f)
  assert record["serving_dir"] == pushed
  assert record["model_version"] == os.path.basename(pushed)
  assert record["metrics"][evaluation_lib.CANDIDATE][metrics.MACRO_F1] == (
      pytest.approx(float(_summary_value(pipeline_run["stdout"],
                                         "macro_f1")), abs=1e-4))
  assert record["model"]["uri"] == _summary_value(pipeline_run["stdout"],
                                                  "model")
  data = record["data"]
  assert data["span"] == 0
  assert data["input_fingerprint"].startswith("split:train,num_files:")
  assert data["train_examples"] == pipeline_run["counts"]["train"]
  assert data["examples_uri"].startswith(os.path.join(output_dir,
                                                      "pipeline_root"))
  assert not [name for name in os.listdir(os.path.dirname(pushed))
              if name.startswith((claims.STAGING_PREFIX,
                                  claims.CLAIM_PREFIX))]


@pytest.mark.slow
def test_unchanged_rerun_does_not_push_a_duplicate(pipeline_run, tmp_path):
  """The session's command again, nothing changed: the Trainer is cached,
  the Evaluator blesses the same model against itself, and the Pusher
  leaves the serving folder as it was."""
  output_dir = str(tmp_path / "out")
  shutil.copytree(pipeline_run["output_dir"], output_dir)
  before = _serving_versions(output_dir)
  process = run_local_pipeline(pipeline_run["data_root"], output_dir,
                               "--epochs", str(E2E_EPOCHS),
                               "--min-macro-f1", "0.0")
  assert process.returncode == 0, process.stderr[-5000:]
  assert "verdict            BLESSED" in process.stdout
  # The copied metadata store still points at the session's artifacts.
  assert _summary_value(process.stdout, "model") == _summary_value(
      pipeline_run["stdout"], "model")
  pushed = _summary_value(process.stdout, "pushed model")
  assert pushed == (os.path.join(output_dir, "serving", before[-1]) +
                    " (already the newest version: not copied again)")
  assert _serving_versions(output_dir) == before
