"""Data that is not the Kaggle set: other class lists, other sizes, no `val`.

Fast tests: where the eval split comes from (the data plan's `val_folder`), and the
holdout that ImportExampleGen makes without a `val` folder (its real
executor). Slow tests (docs/your-data.md's two paths, end to end through
`local_runner.py`): (a) 10 classes at 64x64 in the TFRecord layout, run with
only --data-root and --classes; (b) a folder of mixed-size JPEGs and PNGs in
3 classes, converted by tools/convert_images.py with no `val` split, then
trained.
"""

import glob
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.types import standard_artifacts

from conftest import run_local_pipeline
from pipeline.runner import overrides
from settings import config as config_lib
from settings import features
from pipeline import data_plan
from pipeline import pipeline as pipeline_lib
from tools import convert_images
from tools import make_sample_data

THREE = ("a", "b", "c")


_plan = data_plan.make_plan


def _config(**changes):
  return config_lib.PipelineConfig(class_names=THREE).replace(**changes)


def test_eval_split_comes_from_val_when_it_exists(tmp_path):
  image_dir = tmp_path / features.image_dir_name(192)
  (image_dir / "train").mkdir(parents=True)
  assert not _plan(str(tmp_path), _config()).val_folder
  (image_dir / "val").mkdir()
  assert _plan(str(tmp_path), _config()).val_folder
  assert not _plan(str(tmp_path), _config(eval__split="holdout")).val_folder
  # A bucket this machine cannot read: "auto" means no val folder unless
  # asked for (settings/object_store_splits.py).
  assert not _plan("gs://bucket/data", _config()).val_folder
  assert _plan("gs://bucket/data", _config(eval__split="val")).val_folder
  assert not _plan("gs://bucket/data",
                   _config(eval__split="holdout")).val_folder
  with pytest.raises(ValueError, match="eval.split"):
    _config(eval__split="test")
  with pytest.raises(ValueError, match="holdout_percent"):
    _config(eval__holdout_percent=0)


def _write_train(image_dir, ids, shards):
  """Writes records with `ids` into `shards` files of image_dir/train."""
  train = image_dir / "train"
  train.mkdir(parents=True)
  jpeg = make_sample_data.encode_jpeg(Image.new("RGB", (8, 8)))
  for shard in range(shards):
    with tf.io.TFRecordWriter(str(train / f"{shard:02d}.tfrec")) as writer:
      for record_id in ids[shard::shards]:
        writer.write(make_sample_data.make_example(
            record_id, jpeg, len(record_id) % 3).SerializeToString())


def _example_gen_splits(tmp_path, name, ids, shards, holdout_percent):
  """Runs ImportExampleGen's executor as the pipeline configures it."""
  data_root = tmp_path / name
  _write_train(data_root / features.image_dir_name(192), ids, shards)
  config = _config(eval__holdout_percent=holdout_percent)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name="p", pipeline_root=str(tmp_path / "root"),
      data=_plan(str(data_root), config),
      serving_model_dir=str(tmp_path / "serving"),
      config=config)
  (example_gen,) = [c for c in pipeline.components
                    if c.id == "ImportExampleGen"]
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / name / "out")
  import_executor.Executor().Do({}, {"examples": [examples]},
                                dict(example_gen.exec_properties))
  result = {}
  for split in ("train", "eval"):
    files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
    result[split] = {
        tf.train.Example.FromString(raw.numpy()).features.feature[
            features.ID_KEY].bytes_list.value[0].decode()
        for raw in tf.data.TFRecordDataset(
            files, compression_type=features.record_compression(files))}
  return result


def test_without_val_a_stable_share_of_train_by_id_is_held_out(tmp_path):
  ids = [f"img{i:04d}" for i in range(300)]
  first = _example_gen_splits(tmp_path, "one", ids, 1, 15)
  assert first["train"] | first["eval"] == set(ids)
  assert not first["train"] & first["eval"]
  assert 0.08 < len(first["eval"]) / len(ids) < 0.22
  # Other shards, other file order, more records: the same ids held out.
  more = ids[::-1] + [f"new{i}" for i in range(50)]
  second = _example_gen_splits(tmp_path, "two", more, 4, 15)
  assert second["eval"] & set(ids) == first["eval"]
  # The share is a setting.
  wider = _example_gen_splits(tmp_path, "three", ids, 1, 40)
  assert first["eval"] < wider["eval"]


# ---------------------------------------------------------------------------
# End to end.

def _pushed_model(output_dir):
  versions = sorted(glob.glob(os.path.join(output_dir, "serving", "[0-9]*")))
  assert versions, "nothing was pushed"
  return tf.saved_model.load(versions[-1])


def _check_run(process, output_dir, class_names, eval_count=None):
  assert process.returncode == 0, (process.stdout[-4000:] +
                                   process.stderr[-6000:])
  assert "verdict            BLESSED" in process.stdout
  if eval_count is not None:
    line = [l for l in process.stdout.splitlines() if "example_count" in l][0]
    assert int(line.split()[-1]) == eval_count
  schema = glob.glob(os.path.join(output_dir, "pipeline_root", "SchemaGen",
                                  "schema", "*", "schema.pbtxt"))
  assert len(schema) == 1
  assert f"max: {len(class_names) - 1}" in open(schema[0]).read()
  return _pushed_model(output_dir)


def _predict(model, jpegs, class_names):
  outputs = model.signatures["serving_image_bytes"](
      image_bytes=tf.constant(jpegs))
  assert outputs[features.PROBABILITIES_KEY].shape == (len(jpegs),
                                                       len(class_names))
  names = [n.decode() for n in outputs[features.CLASS_NAME_KEY].numpy()]
  assert set(names) <= set(class_names)
  return names


@pytest.mark.slow
def test_ten_classes_at_64_with_only_data_root_and_classes(tmp_path):
  class_names = [f"kind {i}" for i in range(10)]
  classes = tmp_path / "my_classes.txt"
  classes.write_text("\n".join(class_names) + "\n")
  counts = make_sample_data.make_sample_data(
      str(tmp_path / "data"), image_size=64, num_classes=10, head_classes=10,
      head_count=12, tail_count=12, val_fraction=0.5, test_count=5, seed=3)
  output = tmp_path / "out"
  process = run_local_pipeline(
      str(tmp_path / "data"), str(output), "--classes", str(classes),
      "--epochs", "3", "--min-macro-f1", "0.0")
  model = _check_run(process, str(output), class_names,
                     eval_count=counts["val"])
  rng = np.random.default_rng(0)
  jpegs = [make_sample_data.encode_jpeg(make_sample_data.draw_flower(
      label, 64, rng)) for label in range(10)]
  _predict(model, jpegs, class_names)


def _image_folder(root, per_class, seed=0):
  """Flower drawings of random sizes, saved as JPEG or PNG (some RGBA)."""
  rng = np.random.default_rng(seed)
  for label, name in enumerate(("daisy", "rose", "tulip")):
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(per_class):
      size = int(rng.integers(48, 160))
      image = make_sample_data.draw_flower(label, size, rng).resize(
          (size, int(size * rng.uniform(0.6, 1.5))))
      if i % 3 == 0:
        image.save(folder / f"{name}{i:03d}.jpg", quality=90)
      elif i % 3 == 1:
        image.save(folder / f"{name}{i:03d}.png")
      else:
        image.convert("RGBA").save(folder / f"{name}{i:03d}.PNG")
  return root


@pytest.mark.slow
def test_image_folder_converted_and_trained_without_val(tmp_path, capsys):
  images = _image_folder(tmp_path / "photos", per_class=24)
  data = tmp_path / "data"
  assert convert_images.main([str(images), str(data), "--val-fraction", "0",
                              "--image-size", "192"]) == 0
  assert "72 images" in capsys.readouterr().out.replace("     ", " ")
  assert not (data / features.image_dir_name(192) / "val").exists()
  output = tmp_path / "out"
  process = run_local_pipeline(
      str(data), str(output), "--classes", str(data / "classes.txt"),
      "--epochs", "3", "--min-macro-f1", "0.0")
  assert "no val folder: evaluating on 15% of train" in process.stdout
  model = _check_run(process, str(output), ["daisy", "rose", "tulip"])
  # Evaluation saw the held-out records only, and every image passed the
  # ImageValidator's size check (the converter wrote them at 192x192).
  example_gen = glob.glob(str(output / "pipeline_root" / "ImportExampleGen" /
                              "examples" / "*"))[0]
  counts = {}
  for split in ("train", "eval"):
    files = glob.glob(os.path.join(example_gen, f"Split-{split}", "*"))
    counts[split] = sum(1 for _ in tf.data.TFRecordDataset(
        files, compression_type=features.record_compression(files)))
  assert counts["train"] + counts["eval"] == 72 and counts["eval"] > 0
  line = [l for l in process.stdout.splitlines() if "example_count" in l][0]
  assert int(line.split()[-1]) == counts["eval"]
  photo = open(next(images.glob("rose/*.png")), "rb").read()
  _predict(model, [photo], ["daisy", "rose", "tulip"])


def test_an_empty_test_folder_counts_as_none(tmp_path):
  image_dir = tmp_path / features.image_dir_name(64)
  config = _config(image_size=64)
  assert _plan(str(tmp_path), config).no_test_reason == "no test folder"
  (image_dir / features.TEST_SPLIT_DIR).mkdir(parents=True)
  (image_dir / features.TEST_SPLIT_DIR / "README").write_text("not data")
  reason = _plan(str(tmp_path), config).no_test_reason
  assert reason == (f"the test folder {image_dir / features.TEST_SPLIT_DIR} "
                    "has no *.tfrec files")
  assert not _plan(str(tmp_path), config).predicts_test
  make_sample_data.write_split(str(image_dir), features.TEST_SPLIT_DIR, [0],
                               64, False, 0)
  assert _plan(str(tmp_path), config).predicts_test
  off = overrides.apply_overrides(config, ["predict.test_split=off"])
  assert _plan(str(tmp_path), off).no_test_reason == (
      "predict.test_split is off")


@pytest.mark.slow
def test_a_run_with_an_empty_test_folder_skips_batch_prediction(tmp_path):
  # As a missing one does, where TestExampleGen used to stop the run.
  class_names = [f"kind {i}" for i in range(4)]
  classes = tmp_path / "classes.txt"
  classes.write_text("\n".join(class_names) + "\n")
  make_sample_data.make_sample_data(
      str(tmp_path / "data"), image_size=64, num_classes=4, head_classes=4,
      head_count=6, tail_count=6, val_fraction=0.5, test_count=0, seed=5)
  test_dir = (tmp_path / "data" / features.image_dir_name(64) /
              features.TEST_SPLIT_DIR)
  assert test_dir.is_dir() and not list(test_dir.iterdir())
  process = run_local_pipeline(
      str(tmp_path / "data"), str(tmp_path / "out"), "--classes",
      str(classes), "--epochs", "1", "--min-macro-f1", "0.0")
  assert process.returncode == 0, (process.stdout[-3000:] +
                                   process.stderr[-3000:])
  why = f"the test folder {test_dir} has no *.tfrec files"
  assert f"data: no test predictions and no submission.csv ({why})" in (
      process.stdout)
  summary = process.stdout[process.stdout.index("verdict"):]
  assert f"submission         none ({why})" in summary
  assert not (tmp_path / "out" / "pipeline_root" / "TestExampleGen").exists()
