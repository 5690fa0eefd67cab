"""LiteRT device models: conversion, the interpreter's scores, the gate, the push.

A small Keras model of the Trainer's own builder (modules/model.py), trained
a few steps on coloured images, is saved as the Trainer saves it (Keras
weights and model.json beside the SavedModel), rebuilt, converted and run
in `ai_edge_litert`'s interpreter; its outputs are compared with Keras's.
The gate's macro F1 is checked against scikit-learn's, and LiteRTPusher's
executor runs on real artifacts in both outcomes. The pipeline's own
LiteRT nodes run in the slow end-to-end test (tests/test_pipeline_e2e.py).
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn import metrics as sk_metrics
from tfx.types import standard_artifacts

from modules import model as model_lib
from modules import warm_start
from pipeline.components.util import artifact_types
from pipeline.components.util import predictions as predictions_lib
from pipeline.components.litert import conversion
from pipeline.components.litert import executor as litert_executor
from pipeline.components.litert import gate
from pipeline.components.litert import interpreter
from pipeline.components.litert import pixels as pixels_lib
from pipeline.components.litert import pusher as litert_pusher
from settings import config as config_lib
from settings import features
from settings import records

SIZE = 32
CLASSES = ("rose", "tulip", "daisy", "iris")


def _images(count, seed):
  """uint8 images whose class is their dominant colour, and the classes."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, len(CLASSES), count)
  colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200],
                      [200, 200, 40]])
  noise = rng.normal(0, 40, (count, SIZE, SIZE, 3))
  images = np.clip(colours[labels][:, None, None, :] + noise, 0, 255)
  return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(model uri, the Keras model, test images, their labels): the model
  saved as the Trainer saves it."""
  settings = config_lib.TrainerSettings(
      image_size=SIZE, class_names=CLASSES,
      model=config_lib.ModelConfig(input_size=SIZE, dropout=0.1),
      train=config_lib.TrainConfig(), augment=config_lib.AugmentConfig())
  keras_model = model_lib.build_model(settings)
  keras_model.compile("adam", "sparse_categorical_crossentropy")
  images, labels = _images(256, seed=0)
  keras_model.fit(images.astype(np.float32), labels, epochs=3, verbose=0)
  model_uri = str(tmp_path_factory.mktemp("Trainer") / "model" / "5")
  warm_start.save_weights(keras_model, settings,
                          os.path.join(model_uri, "Format-Serving"))
  test_images, test_labels = _images(48, seed=1)
  return model_uri, keras_model, test_images, test_labels


@pytest.fixture(scope="module")
def flatbuffers(trained):
  model_uri, _, _, _ = trained
  representative, _ = _images(32, seed=2)
  return conversion.convert_all(conversion.rebuild_keras_model(model_uri),
                                SIZE, representative)


def test_float_variant_computes_what_keras_computes(trained, flatbuffers):
  _, keras_model, images, _ = trained
  expected = keras_model(images.astype(np.float32), training=False).numpy()
  lite = interpreter.LiteModel(flatbuffers[conversion.FLOAT32])
  # The contract: uint8 RGB pixels of any batch, probabilities out.
  assert lite.input_shape == (-1, SIZE, SIZE, 3)
  assert lite.input_dtype == np.uint8
  np.testing.assert_allclose(lite.predict(images), expected, atol=1e-5)
  # One image at a time gives the same as a batch (the app's call).
  np.testing.assert_allclose(lite.predict(images[:1]), expected[:1],
                             atol=1e-5)


def test_int8_variant_is_smaller_and_close(trained, flatbuffers):
  _, keras_model, images, _ = trained
  expected = keras_model(images.astype(np.float32), training=False).numpy()
  lite = interpreter.LiteModel(flatbuffers[conversion.INT8])
  probabilities = lite.predict(images)
  assert probabilities.dtype == np.float32
  assert np.abs(probabilities - expected).max() < 0.1
  assert np.mean(probabilities.argmax(1) == expected.argmax(1)) >= 0.9
  # Weights of 1 byte instead of 4.
  assert (len(flatbuffers[conversion.INT8]) <
          0.5 * len(flatbuffers[conversion.FLOAT32]))
  assert "QUANTIZE" in conversion.op_names(flatbuffers[conversion.INT8])


def test_variants_use_builtin_ops_only(flatbuffers):
  for flatbuffer in flatbuffers.values():
    assert conversion.custom_ops(flatbuffer) == []
    assert "CONV_2D" in conversion.op_names(flatbuffer)


def test_latency_is_measured_per_image(flatbuffers, trained):
  lite = interpreter.LiteModel(flatbuffers[conversion.FLOAT32])
  latency = lite.latency_ms(trained[2][0], runs=5)
  assert 0 < latency < 1000


def test_a_variant_that_does_not_convert_is_a_verdict_not_an_error(
    trained, monkeypatch):
  original = conversion.convert

  def int8_fails(export_dir, variant, representative=None):
    if variant == conversion.INT8:
      raise ValueError("the int8 model needs ops that LiteRT has no "
                       "built-in kernel for: ['FlexFoo']\nmore detail")
    return original(export_dir, variant, representative)

  monkeypatch.setattr(conversion, "convert", int8_fails)
  flatbuffers, failures = conversion.convert_each(
      trained[1], SIZE, _images(4, seed=3)[0])
  assert list(flatbuffers) == [conversion.FLOAT32]
  assert failures == {conversion.INT8: "the int8 model needs ops that "
                      "LiteRT has no built-in kernel for: ['FlexFoo']"}
  with pytest.raises(ValueError, match="int8: the int8 model needs"):
    conversion.convert_all(trained[1], SIZE, _images(4, seed=3)[0])


def test_int8_needs_representative_images(tmp_path, trained):
  conversion.save_pixel_model(trained[1], SIZE, str(tmp_path))
  with pytest.raises(ValueError, match="representative"):
    conversion.convert(str(tmp_path), conversion.INT8, None)
  with pytest.raises(ValueError, match="unknown variant"):
    conversion.convert(str(tmp_path), "float16")


def test_a_model_without_keras_weights_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    conversion.rebuild_keras_model(str(tmp_path))


def test_macro_f1_is_scikit_learns():
  rng = np.random.default_rng(3)
  labels = rng.integers(0, 7, 200)
  predicted = np.where(rng.random(200) < 0.6, labels,
                       rng.integers(0, 9, 200))
  assert gate.macro_f1(labels, predicted, 9) == pytest.approx(
      sk_metrics.f1_score(labels, predicted, average="macro"), abs=1e-12)


def _one_hot(classes, width=4):
  return np.eye(width, dtype=np.float32)[classes]


def test_gate_passes_the_same_predictions_and_fails_worse_ones():
  labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
  saved = _one_hot(labels)
  same = gate.score_variant(labels, saved, saved, 0.5, 0.01)
  assert same["passed"] and same["macro_f1_drop"] == 0
  assert same["top1_agreement"] == 1
  worse = _one_hot(np.array([0, 1, 2, 3, 1, 0, 2, 3]))
  result = gate.score_variant(labels, saved, worse, 0.5, 0.01)
  expected_f1 = sk_metrics.f1_score(labels, worse.argmax(1), average="macro")
  assert result["macro_f1"] == pytest.approx(expected_f1, abs=1e-6)
  assert result["macro_f1_drop"] == pytest.approx(1 - expected_f1, abs=1e-6)
  assert result["top1_agreement"] == 0.75
  assert not result["passed"]
  assert "below the SavedModel's" in result["reasons"][0]
  # The same drop within a wider tolerance, under a threshold it misses.
  lenient = gate.score_variant(labels, saved, worse, 0.9, 0.5)
  assert not lenient["passed"]
  assert lenient["reasons"] == [f"macro_f1 {expected_f1:.4f} < 0.9"]


def _write_eval_records(path, images, labels, ids):
  with tf.io.TFRecordWriter(path) as writer:
    for image, label, image_id in zip(images, labels, ids):
      feature = {
          features.ID_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[image_id.encode()])),
          features.LABEL_KEY: tf.train.Feature(
              int64_list=tf.train.Int64List(value=[int(label)])),
          features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[tf.io.encode_png(image).numpy()])),
      }
      writer.write(tf.train.Example(features=tf.train.Features(
          feature=feature)).SerializeToString())


def _png_pixels(serialized):
  parsed = tf.io.parse_example(tf.constant(list(serialized)), {
      features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})
  return np.stack([tf.io.decode_png(png, channels=3).numpy()
                   for png in parsed[features.IMAGE_KEY]])


def test_eval_scores_align_records_by_id(tmp_path, trained, flatbuffers):
  """The SavedModel's predictions come in their own order and leave out a
  record (one BatchInference skipped): each variant is scored on the
  records both predicted, row for row."""
  _, keras_model, images, labels = trained
  ids = [f"id{i:03d}" for i in range(len(images))]
  path = str(tmp_path / "eval.tfrecord")
  _write_eval_records(path, images, labels, ids)
  probabilities = keras_model(images.astype(np.float32),
                              training=False).numpy()
  order = np.arange(1, len(images))[::-1]  # Reversed, record 0 left out.
  saved = predictions_lib.SplitPredictions(
      ids=np.array(ids)[order], labels=labels[order],
      probabilities=probabilities[order])
  scored = litert_executor.score_on_eval(
      flatbuffers, [path], saved, _png_pixels, min_macro_f1=0.0,
      tolerances={conversion.FLOAT32: 0.01, conversion.INT8: 0.05})
  assert scored["eval_examples"] == len(images) - 1
  expected = sk_metrics.f1_score(labels[order],
                                 probabilities[order].argmax(1),
                                 average="macro",
                                 labels=range(len(CLASSES)))
  assert scored["saved_macro_f1"] == pytest.approx(expected, abs=1e-9)
  float_scores = scored["variants"][conversion.FLOAT32]
  assert float_scores["top1_agreement"] == 1.0
  assert float_scores["macro_f1_drop"] == 0
  assert float_scores["passed"]
  assert scored["variants"][conversion.INT8]["latency_ms"] > 0


def test_representative_ids_do_not_depend_on_file_order(tmp_path, trained):
  images, labels = trained[2], trained[3]
  ids = [f"train{i}" for i in range(len(images))]
  first, second = str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")
  _write_eval_records(first, images[:20], labels[:20], ids[:20])
  _write_eval_records(second, images[20:], labels[20:], ids[20:])
  chosen = pixels_lib.representative_ids([first, second], 10)
  assert len(chosen) == 10
  assert pixels_lib.representative_ids([second, first], 10) == chosen
  # More wanted than there are: every record.
  assert pixels_lib.representative_ids([first], 50) == set(ids[:20])
  chosen_pixels = pixels_lib.representative_pixels([second, first], 10,
                                                   _png_pixels)
  assert chosen_pixels.shape == (10, SIZE, SIZE, 3)


@pytest.mark.parametrize("min_macro_f1,passed", [(0.0, ["float32"]),
                                                  (1.01, [])])
def test_export_executor_writes_models_labels_and_verdicts(
    trained, tmp_path, monkeypatch, min_macro_f1, passed):
  """LiteRTExport's Do on real artifacts: the Trainer's model as saved, an
  Examples artifact of PNG records, EvalInference's predictions; the
  Transform graph's decode stood in for by a PNG decoder. A threshold no
  model reaches fails both variants."""
  from pipeline.components.util import custom_config  # pylint: disable=g-import-not-at-top
  model_uri, keras_model, images, labels = trained
  serving = os.path.join(model_uri, "Format-Serving")
  os.makedirs(serving, exist_ok=True)
  with open(os.path.join(serving, "saved_model.pb"), "wb") as f:
    f.write(b"x" * 100)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  examples.split_names = '["train", "eval"]'
  ids = [f"e{i}" for i in range(len(images))]
  for split, image_ids in (("train", [f"t{i}" for i in range(48)]),
                           ("eval", ids)):
    os.makedirs(os.path.join(examples.uri, f"Split-{split}"))
    _write_eval_records(os.path.join(examples.uri, f"Split-{split}",
                                     "data.tfrecord"), images, labels,
                        image_ids)
  predictions = standard_artifacts.Model()  # Any artifact with a uri.
  predictions.uri = str(tmp_path / "predictions")
  predictions_lib.write_predictions(
      predictions.uri, features.EVAL_SPLIT, predictions_lib.SplitPredictions(
          ids=np.array(ids), labels=labels,
          probabilities=keras_model(images.astype(np.float32),
                                    training=False).numpy()))
  model = standard_artifacts.Model()
  model.uri = model_uri
  transform_graph = standard_artifacts.TransformGraph()
  transform_graph.uri = str(tmp_path / "transform")
  output = artifact_types.LiteModel()
  output.uri = str(tmp_path / "lite")
  monkeypatch.setattr(pixels_lib, "pixel_function", lambda uri: _png_pixels)
  settings = config_lib.LiteSettings(
      min_macro_f1=min_macro_f1,
      lite=config_lib.LiteConfig(int8_tolerance=0.0,
                                 representative_examples=16))
  litert_executor.Executor().Do(
      {litert_executor.MODEL_KEY: [model],
       litert_executor.EXAMPLES_KEY: [examples],
       litert_executor.TRANSFORM_GRAPH_KEY: [transform_graph],
       litert_executor.EVAL_PREDICTIONS_KEY: [predictions]},
      {litert_executor.LITE_MODEL_KEY: [output]},
      {custom_config.KEY: custom_config.encode(settings.to_dict())})
  evaluation = records.LiteEvaluation.read(output.uri)
  assert evaluation.model_uri == model_uri
  assert evaluation.eval_examples == len(images)
  assert evaluation.representative == {"split": "train", "examples": 16}
  assert evaluation.input["shape"] == [-1, SIZE, SIZE, 3]
  assert evaluation.saved_model["size_bytes"] == 100
  by_name = {v["variant"]: v for v in evaluation.variants}
  assert by_name["float32"]["top1_agreement"] == 1.0
  assert [v["variant"] for v in evaluation.passed()
          if v["variant"] == "float32"] == passed
  if not passed:
    assert by_name["float32"]["reasons"] == [
        f"macro_f1 {by_name['float32']['macro_f1']:.4f} < 1.01"]
  with open(os.path.join(output.uri, "labels.txt")) as f:
    assert f.read().splitlines() == list(CLASSES)
  lite = interpreter.LiteModel(open(os.path.join(
      output.uri, "model_int8.tflite"), "rb").read())
  assert lite.predict(images[:2]).shape == (2, len(CLASSES))


# ---------------------------------------------------------------------------
# LiteRTPusher's executor, on real artifacts.

def _lite_model(tmp_path, model_uri, passed):
  """A LiteModel artifact: its files and an evaluation whose variants
  passed as `passed` says ({variant: bool})."""
  artifact = artifact_types.LiteModel()
  artifact.uri = str(tmp_path / "LiteRTExport" / "lite_model" / "9")
  os.makedirs(artifact.uri, exist_ok=True)
  variants = []
  for variant, ok in passed.items():
    name = conversion.model_file(variant)
    with open(os.path.join(artifact.uri, name), "wb") as f:
      f.write(variant.encode() * 10)
    variants.append(dict(
        variant=variant, file=name, size_bytes=10 * len(variant),
        macro_f1=0.8, macro_f1_drop=0.0 if ok else 0.2, top1_agreement=0.99,
        latency_ms=1.5, tolerance=0.01, passed=ok,
        reasons=[] if ok else ["macro_f1 0.2000 below the SavedModel's"]))
  with open(os.path.join(artifact.uri, "labels.txt"), "w") as f:
    f.write("".join(f"{name}\n" for name in CLASSES))
  records.LiteEvaluation(
      model_uri=model_uri, input={"name": "pixels", "dtype": "uint8",
                                  "shape": [-1, SIZE, SIZE, 3]},
      output={"name": "probabilities"}, labels_file="labels.txt",
      class_names=list(CLASSES), min_macro_f1=0.5, eval_examples=48,
      saved_model={"size_bytes": 1000, "macro_f1": 0.8},
      variants=variants).write(artifact.uri)
  return artifact


def _push_inputs(tmp_path, blessed=True, pushed=True, passed=None):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / "Trainer" / "model" / "7")
  model.id = 7
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / "Evaluator" / "blessing" / "8")
  os.makedirs(blessing.uri, exist_ok=True)
  open(os.path.join(blessing.uri,
                    "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
  blessing.set_int_custom_property("blessed", int(blessed))
  blessing.set_int_custom_property("current_model_id", 7)
  pushed_model = standard_artifacts.PushedModel()
  pushed_model.uri = str(tmp_path / "Pusher" / "pushed_model" / "10")
  pushed_model.set_int_custom_property("pushed", int(pushed))
  if pushed:
    pushed_model.set_string_custom_property(
        "pushed_destination", str(tmp_path / "serving" / "1700000000"))
    pushed_model.set_string_custom_property("pushed_version", "1700000000")
  lite = _lite_model(tmp_path, model.uri, passed or {
      conversion.FLOAT32: True, conversion.INT8: True})
  output = artifact_types.PushedLiteModel()
  output.uri = str(tmp_path / "LiteRTPusher" / "pushed_lite_model" / "11")
  return ({litert_pusher.LITE_MODEL_KEY: [lite],
           litert_pusher.MODEL_KEY: [model],
           litert_pusher.MODEL_BLESSING_KEY: [blessing],
           litert_pusher.PUSHED_MODEL_KEY: [pushed_model]},
          {litert_pusher.PUSHED_LITE_MODEL_KEY: [output]},
          {litert_pusher.BASE_DIRECTORY_KEY: str(tmp_path / "serving_lite")},
          output)


def test_pusher_pushes_passed_variants_with_the_savedmodels_version(
    tmp_path):
  inputs, outputs, properties, output = _push_inputs(
      tmp_path, passed={conversion.FLOAT32: True, conversion.INT8: False})
  litert_pusher.Executor().Do(inputs, outputs, properties)
  final = tmp_path / "serving_lite" / "1700000000"
  assert sorted(os.listdir(final)) == [
      "labels.txt", "model_float32.tflite", "push_record.json"]
  # Nothing half-written is left beside it.
  assert os.listdir(tmp_path / "serving_lite") == ["1700000000"]
  record = json.loads((final / "push_record.json").read_text())
  assert [v["variant"] for v in record["variants"]] == ["float32"]
  assert record["variants"][0]["size_bytes"] == 70
  assert record["not_pushed"][0]["variant"] == "int8"
  assert record["class_names"] == list(CLASSES)
  assert record["input"]["dtype"] == "uint8"
  assert record["saved_model"]["serving_dir"].endswith("serving/1700000000")
  assert output.get_int_custom_property("pushed") == 1
  assert output.get_string_custom_property("pushed_destination") == str(
      final)
  # Again: an unchanged re-run's Pusher points at the same version.
  inputs, outputs, properties, again = _push_inputs(
      tmp_path, passed={conversion.FLOAT32: True, conversion.INT8: False})
  litert_pusher.Executor().Do(inputs, outputs, properties)
  assert again.get_int_custom_property("pushed") == 1
  assert json.loads((final / "push_record.json").read_text()) == record
  # That version holding another model's device models is a wiring bug.
  inputs, outputs, properties, _ = _push_inputs(tmp_path / "other")
  properties[litert_pusher.BASE_DIRECTORY_KEY] = str(tmp_path /
                                                     "serving_lite")
  with pytest.raises(FileExistsError, match="holds the LiteRT models of"):
    litert_pusher.Executor().Do(inputs, outputs, properties)


@pytest.mark.parametrize("case,reason", [
    (dict(blessed=False), "the SavedModel is not blessed"),
    (dict(pushed=False), "the Pusher pushed no SavedModel"),
    (dict(passed={conversion.FLOAT32: False, conversion.INT8: False}),
     "no variant passed the device gate: float32: macro_f1 0.2000"),
])
def test_pusher_pushes_nothing_unless_blessed_pushed_and_passed(
    tmp_path, case, reason):
  inputs, outputs, properties, output = _push_inputs(tmp_path, **case)
  litert_pusher.Executor().Do(inputs, outputs, properties)
  assert not os.path.exists(tmp_path / "serving_lite")
  assert output.get_int_custom_property("pushed") == 0
  assert reason in output.get_string_custom_property("not_pushed_reason")


def test_publish_on_an_object_store_writes_the_record_last(tmp_path,
                                                           monkeypatch):
  written = []
  source = tmp_path / "m.tflite"
  source.write_bytes(b"x")
  original_copy = litert_pusher.fileio.copy
  monkeypatch.setattr(litert_pusher.fileio, "copy", lambda a, b: (
      written.append(os.path.basename(b)), original_copy(a, b)))
  original_write = litert_pusher.io_utils.write_string_file
  monkeypatch.setattr(litert_pusher.io_utils, "write_string_file",
                      lambda path, text: (written.append(
                          os.path.basename(path)),
                                          original_write(path, text)))
  final = str(tmp_path / "base" / "5")
  litert_pusher.publish_files({"m.tflite": str(source)}, final, "{}",
                              atomic_rename=False)
  assert written == ["m.tflite", "push_record.json"]
  with pytest.raises(FileExistsError):
    litert_pusher.publish_files({"m.tflite": str(source)}, final, "{}")


# ---------------------------------------------------------------------------
# tools/predict.py on a .tflite model and on URLs, served on 127.0.0.1.

@pytest.fixture
def image_server(tmp_path):
  """An HTTP server on 127.0.0.1 serving a PNG, an HTML page, a file of
  octet-stream garbage, a large PNG, a 404 and a reply that stalls."""
  import http.server  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  image, _ = _images(1, seed=5)
  png = io.BytesIO()
  Image.fromarray(image[0]).save(png, format="PNG")
  large = io.BytesIO()
  Image.fromarray(np.random.default_rng(0).integers(
      0, 256, (256, 256, 3), dtype=np.uint8)).save(large, format="PNG")
  replies = {
      "/flower.png": ("image/png", png.getvalue()),
      "/page.html": ("text/html; charset=utf-8", b"<html>no</html>"),
      "/blob": ("application/octet-stream", b"\x00garbage" * 10),
      "/large.png": ("image/png", large.getvalue()),
  }

  class Handler(http.server.BaseHTTPRequestHandler):

    def do_GET(self):  # pylint: disable=invalid-name
      if self.path == "/slow":
        time.sleep(3)
      if self.path not in replies:
        self.send_error(404)
        return
      content_type, body = replies[self.path]
      self.send_response(200)
      self.send_header("Content-Type", content_type)
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):  # Quiet.
      del args

  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f"http://127.0.0.1:{server.server_address[1]}", image[0], len(
      png.getvalue())
  server.shutdown()
  server.server_close()


def test_predict_takes_a_tflite_model_and_urls(trained, flatbuffers,
                                               image_server, tmp_path,
                                               capsys):
  from tools import predict  # pylint: disable=g-import-not-at-top
  _, keras_model, _, _ = trained
  base, image, png_size = image_server
  model_path = tmp_path / conversion.model_file(conversion.FLOAT32)
  model_path.write_bytes(flatbuffers[conversion.FLOAT32])
  (tmp_path / "labels.txt").write_text("".join(f"{c}\n" for c in CLASSES))
  urls = [f"{base}/flower.png", f"{base}/page.html", f"{base}/blob",
          f"{base}/large.png", f"{base}/missing.png", f"{base}/slow"]
  code = predict.main(urls + [
      "--model", str(model_path), "--format", "json", "--top-k", "2",
      "--timeout", "1", "--max-bytes", str(png_size + 100)])
  captured = capsys.readouterr()
  assert code == 1
  results = {r["file"]: r for r in json.loads(captured.out)}
  expected = keras_model(image[np.newaxis].astype(np.float32),
                         training=False).numpy()[0]
  top = results[urls[0]]["predictions"]
  assert top[0]["class_name"] == CLASSES[int(expected.argmax())]
  assert top[0]["probability"] == pytest.approx(float(expected.max()),
                                                abs=1e-5)
  errors = {url: results[url]["error"] for url in urls[1:]}
  assert errors[urls[1]] == "not an image (Content-Type text/html)"
  assert errors[urls[2]].startswith("not a readable image")
  assert errors[urls[3]].startswith("larger than the size limit")
  assert errors[urls[4]] == "HTTP 404 Not Found"
  assert errors[urls[5]].startswith("cannot fetch it")
  for url in urls[1:]:
    assert f"error: {url}: " in captured.err


def test_predict_needs_labels_beside_a_tflite_model(flatbuffers, tmp_path,
                                                    capsys):
  from tools import predict  # pylint: disable=g-import-not-at-top
  model_path = tmp_path / "model_int8.tflite"
  model_path.write_bytes(flatbuffers[conversion.INT8])
  assert predict.main(["x.png", "--model", str(model_path)]) == 2
  assert f"no labels.txt beside {model_path}" in capsys.readouterr().err


def test_cpp_lines_of_the_converter_go_to_the_log_not_the_terminal(
    trained, capfd):
  """The conversion's C++ prints (quantizer settings, XNNPACK notice) are
  moved into the log by the executor's wrapper, so a run prints only the
  project's lines."""
  from pipeline.components.litert import native_output  # pylint: disable=g-import-not-at-top
  capfd.readouterr()
  with native_output.to_log("test") as _:
    os.write(2, b"fully_quantize: 0, inference_type: 6\n")
  assert capfd.readouterr().err == ""
  representative, _ = _images(4, seed=3)
  with native_output.to_log("The LiteRT converter"):
    flatbuffer = conversion.convert_all(trained[1], SIZE, representative,
                                        [conversion.INT8])
  with native_output.to_log("The LiteRT interpreter"):
    interpreter.LiteModel(flatbuffer[conversion.INT8]).predict(
        representative)
  err = capfd.readouterr().err
  for line in ("fully_quantize", "XNNPACK", "Ignored output_format"):
    assert line not in err


def test_report_and_card_show_the_savedmodel_and_each_variant():
  from pipeline.components.util import device_section  # pylint: disable=g-import-not-at-top
  from pipeline.components.util import model_card  # pylint: disable=g-import-not-at-top
  evaluation = records.LiteEvaluation(
      input={"shape": [-1, 64, 64, 3]}, min_macro_f1=0.6, eval_examples=356,
      representative={"examples": 200},
      interpreter={"package": "ai_edge_litert", "version": "2.3.0",
                   "latency_threads": 1},
      saved_model={"size_bytes": 3 * 2**20, "macro_f1": 0.91},
      variants=[dict(variant="float32", size_bytes=2**20, macro_f1=0.91,
                     macro_f1_drop=0.0, top1_agreement=1.0, latency_ms=0.9,
                     tolerance=0.01, passed=True, reasons=[]),
                dict(variant="int8", size_bytes=300 * 2**10, macro_f1=0.85,
                     macro_f1_drop=0.06, top1_agreement=0.95,
                     latency_ms=0.3, tolerance=0.03, passed=False,
                     reasons=["macro_f1 0.0600 below the SavedModel's"])])
  header, *rows = device_section.table(evaluation)
  assert header[:3] == ["model", "file size", "macro F1"]
  assert [row[0] for row in rows] == ["SavedModel", "float32", "int8"]
  assert rows[0][1] == "3.00 MiB" and rows[2][1] == "300.0 KiB"
  assert rows[2][3].startswith("+0.0600") and rows[2][4] == "0.9500"
  assert rows[2][5] == "0.300 ms" and rows[2][6].startswith("failed: ")
  card = model_card.ModelCard(title="t", sections=[])
  device_section.add_to_card(card, evaluation)
  markdown = model_card.to_markdown(card)
  assert "## On-device models (LiteRT)" in markdown
  assert "| int8 | 300.0 KiB | 0.8500 |" in markdown
  device_section.add_to_card(card, None)
  assert len(card.sections) == 1
  # A variant whose conversion failed: its row says so, with no figures.
  evaluation.variants[1] = dict(
      variant="int8", size_bytes=None, macro_f1=None, passed=False,
      reasons=["conversion failed: no kernel for FlexFoo"])
  assert device_section.table(evaluation)[-1] == [
      "int8", "-", "-", "-", "-", "-",
      "failed: conversion failed: no kernel for FlexFoo"]


def test_bench_records_size_and_latency_per_variant(tmp_path):
  from bench.sections import e2e  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "pipeline_root" / "LiteRTExport" / "lite_model"
  records.LiteEvaluation(
      saved_model={"size_bytes": 2**20, "macro_f1": 0.9},
      variants=[dict(variant="float32", size_bytes=2**19, latency_ms=0.9,
                     macro_f1_drop=0.0, tolerance=0.01),
                dict(variant="int8", size_bytes=2**17, latency_ms=0.3,
                     macro_f1_drop=0.02, tolerance=0.03)]
  ).write(str(folder / "4"))
  records.LiteEvaluation().write(str(folder / "3"))  # An older run's.
  figures, details = [], {}
  e2e.device_figures(figures, details, str(tmp_path))
  values = {f.name: f.value for f in figures}
  assert values["SavedModel size (serving folder)"] == 1.0
  assert values["LiteRT float32 size"] == 0.5
  assert values["LiteRT int8 size"] == 0.125
  assert values["LiteRT int8 latency per image"] == 0.3
  assert values["LiteRT int8 macro F1 drop against the SavedModel"] == 0.02
  assert details["e2e"]["lite"]["variants"][1]["variant"] == "int8"
  # A failed run: the figures are there, unmeasured.
  figures = []
  e2e.device_figures(figures, {}, None)
  assert figures and all(f.value is None for f in figures)
