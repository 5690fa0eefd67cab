"""tools/convert_images.py (with tools/image_folder.py and
tools/square_jpeg.py): split, seeding, image handling, unreadable files.

Each test builds a small image-folder tree with PIL (JPEGs and PNGs of
several sizes, a corrupt file, a stray text file) and converts it for real.
"""

import collections
import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from settings import features
from tools import convert_images
from tools import image_folder
from tools import square_jpeg

SIZE = 32


def _image(colour, size):
  array = np.zeros((size[1], size[0], 3), np.uint8)
  array[:] = colour
  array[: size[1] // 2, : size[0] // 2] = 255 - np.array(colour)
  return Image.fromarray(array)


def make_tree(root, per_class, formats=("JPEG", "PNG"),
              sizes=((40, 30), (32, 32), (20, 50))):
  """`root/<class>/NNN.<ext>`: per_class[name] images, mixed sizes/formats."""
  for index, (name, count) in enumerate(per_class.items()):
    folder = root / name
    folder.mkdir(parents=True)
    colour = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30),
              (30, 200, 200)][index % 5]
    for i in range(count):
      image_format = formats[i % len(formats)]
      extension = ".png" if image_format == "PNG" else ".jpg"
      _image(colour, sizes[i % len(sizes)]).save(
          folder / f"{i:03d}{extension}", format=image_format)
  return root


def _read_split(image_dir, split):
  files = sorted(glob.glob(os.path.join(image_dir, split, "*.tfrec")))
  return [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files)]


def _value(example, key):
  feature = example.features.feature[key]
  return (feature.bytes_list.value[0] if feature.bytes_list.value else
          feature.int64_list.value[0])


def test_split_counts_rounding_and_minimums():
  assert image_folder.split_counts(100, 0.15, 0.1) == (75, 15, 10)
  assert image_folder.split_counts(3, 0.15, 0.0) == (2, 1, 0)
  assert image_folder.split_counts(2, 0.15, 0.15) == (1, 0, 1)
  assert image_folder.split_counts(1, 0.5, 0.0) == (1, 0, 0)
  assert image_folder.split_counts(10, 0.0, 0.0) == (10, 0, 0)


def test_split_is_stratified_and_seeded():
  names = ["a", "b", "c"]
  images = {name: [f"{name}/{i:03d}.jpg" for i in range(n)]
            for name, n in zip(names, (40, 20, 10))}
  split = image_folder.stratified_split(images, names, 0.2, 0.1, seed=3)
  per_class = {s: collections.Counter(x.label for x in sources)
               for s, sources in split.items()}
  assert per_class["val"] == {0: 8, 1: 4, 2: 2}
  assert per_class["test"] == {0: 4, 1: 2, 2: 1}
  assert per_class["train"] == {0: 28, 1: 14, 2: 7}
  every = [x.relative_path for sources in split.values() for x in sources]
  assert sorted(every) == sorted(p for ps in images.values() for p in ps)
  again = image_folder.stratified_split(images, names, 0.2, 0.1, seed=3)
  assert again == split
  other = image_folder.stratified_split(images, names, 0.2, 0.1, seed=4)
  assert ({x.relative_path for x in other["val"]} !=
          {x.relative_path for x in split["val"]})
  # A class's split does not depend on the other classes.
  alone = image_folder.stratified_split({"c": images["c"]}, ["c"], 0.2, 0.1,
                                          seed=3)
  assert ([x.relative_path for x in alone["val"]] ==
          [x.relative_path for x in split["val"] if x.label == 2])


def test_converts_mixed_sizes_and_formats_into_the_layout(tmp_path):
  tree = make_tree(tmp_path / "images", {"daisy": 10, "rose": 7, "tulip": 5})
  (tree / "rose" / "notes.txt").write_text("not an image")
  out = tmp_path / "data"
  result = convert_images.convert(str(tree), str(out), image_size=SIZE,
                                   val_fraction=0.2, test_fraction=0.2,
                                   seed=1, shard_size=4)
  assert result.written and not result.unreadable
  assert result.ignored == ["rose/notes.txt"]
  assert (out / "classes.txt").read_text() == "daisy\nrose\ntulip\n"
  image_dir = out / features.image_dir_name(SIZE)
  seen = []
  for split in ("train", "val", "test"):
    examples = _read_split(str(image_dir), split)
    assert len(examples) == sum(result.counts[split])
    for example in examples:
      keys = set(example.features.feature)
      expected = {features.ID_KEY, features.IMAGE_KEY}
      if split != "test":
        expected.add(features.LABEL_KEY)
      assert keys == expected
      image = Image.open(io.BytesIO(_value(example, features.IMAGE_KEY)))
      assert image.format == "JPEG" and image.size == (SIZE, SIZE)
      seen.append(_value(example, features.ID_KEY).decode())
  assert len(seen) == len(set(seen)) == 22  # Unique ids, nothing lost.
  assert result.counts["val"] == [2, 1, 1]
  assert result.counts["test"] == [2, 1, 1]
  # Shard files of at most 4 records, named like Kaggle's.
  names = sorted(os.listdir(image_dir / "train"))
  assert names[0] == f"00-{SIZE}x{SIZE}-4.tfrec"
  # A label is the class's line in classes.txt; the id is the file's path.
  for example in _read_split(str(image_dir), "train"):
    path = _value(example, features.ID_KEY).decode()
    label = _value(example, features.LABEL_KEY)
    assert path.split("/")[0] == ["daisy", "rose", "tulip"][label]
  labels = (image_dir / "test_labels.csv").read_text().splitlines()
  assert labels[0] == "id,class" and len(labels) == 1 + 4
  manifest = json.loads((image_dir / "conversion.json").read_text())
  assert manifest["examples"] == {"train": 14, "val": 4, "test": 4}
  assert manifest["ignored"] == ["rose/notes.txt"]


def test_same_arguments_same_bytes(tmp_path):
  tree = make_tree(tmp_path / "images", {"a": 6, "b": 6})
  digests = []
  for name in ("one", "two"):
    convert_images.convert(str(tree), str(tmp_path / name), image_size=SIZE,
                           seed=5)
    image_dir = tmp_path / name / features.image_dir_name(SIZE)
    digests.append({p.name: p.read_bytes() for p in
                    sorted(image_dir.glob("*/*.tfrec"))})
  assert digests[0] == digests[1]


def test_jpeg_at_the_size_is_copied_and_png_alpha_is_flattened(tmp_path):
  exact = io.BytesIO()
  _image((10, 120, 200), (SIZE, SIZE)).save(exact, format="JPEG")
  data, reencoded = square_jpeg.to_jpeg(exact.getvalue(), SIZE, 95)
  assert data == exact.getvalue() and not reencoded
  transparent = Image.new("RGBA", (50, 20), (0, 0, 0, 0))
  png = io.BytesIO()
  transparent.save(png, format="PNG")
  data, reencoded = square_jpeg.to_jpeg(png.getvalue(), SIZE, 95)
  image = Image.open(io.BytesIO(data))
  assert reencoded and image.size == (SIZE, SIZE) and image.mode == "RGB"
  assert np.asarray(image).min() > 240  # White, not black.


def test_unreadable_files_stop_the_conversion_and_are_listed(tmp_path):
  tree = make_tree(tmp_path / "images", {"a": 4, "b": 4})
  good = (tree / "a" / "000.jpg").read_bytes()
  (tree / "a" / "truncated.jpg").write_bytes(good[:len(good) // 3])
  (tree / "b" / "empty.png").write_bytes(b"")
  out = tmp_path / "data"
  code = convert_images.main([str(tree), str(out), "--image-size", str(SIZE)])
  assert code == convert_images.EXIT_UNREADABLE
  assert not out.exists() or not os.listdir(out)  # Nothing half-written.
  result = convert_images.convert(str(tree), str(out), image_size=SIZE)
  assert not result.written
  assert sorted(path for path, _ in result.unreadable) == [
      "a/truncated.jpg", "b/empty.png"]
  lines = "\n".join(convert_images.summary_lines(result, False))
  assert "2 unreadable file(s), nothing written" in lines
  assert "a/truncated.jpg" in lines and "b/empty.png" in lines


def test_allow_unreadable_leaves_them_out_and_records_them(tmp_path, capsys):
  tree = make_tree(tmp_path / "images", {"a": 4, "b": 4})
  (tree / "b" / "broken.jpg").write_bytes(b"not a jpeg at all")
  out = tmp_path / "data"
  code = convert_images.main([str(tree), str(out), "--image-size", str(SIZE),
                              "--val-fraction", "0", "--allow-unreadable"])
  assert code == 0
  printed = capsys.readouterr().out
  assert "1 unreadable file(s), left out" in printed
  assert "b/broken.jpg" in printed
  image_dir = out / features.image_dir_name(SIZE)
  assert not (image_dir / "val").exists()  # No val folder: holdout later.
  assert len(_read_split(str(image_dir), "train")) == 8
  manifest = json.loads((image_dir / "conversion.json").read_text())
  assert [u["file"] for u in manifest["unreadable"]] == ["b/broken.jpg"]


def test_class_list_fixes_the_order_and_refuses_unknown_folders(tmp_path):
  tree = make_tree(tmp_path / "images", {"a": 3, "b": 3})
  out = tmp_path / "data"
  result = convert_images.convert(str(tree), str(out), image_size=SIZE,
                                  class_names=["b", "a", "c"])
  assert (out / "classes.txt").read_text() == "b\na\nc\n"
  assert result.counts["train"][2] == 0
  for example in _read_split(str(out / features.image_dir_name(SIZE)),
                             "train"):
    path = _value(example, features.ID_KEY).decode()
    assert ["b", "a", "c"][_value(example, features.LABEL_KEY)] == path[0]
  with pytest.raises(convert_images.ConversionError, match=r"\['b'\]"):
    convert_images.convert(str(tree), str(tmp_path / "x"), image_size=SIZE,
                           class_names=["a", "c"])
  with pytest.raises(convert_images.ConversionError, match="--overwrite"):
    convert_images.convert(str(tree), str(out), image_size=SIZE)


def test_webp_and_tiff_folders_become_jpeg_records_the_validator_passes(
    tmp_path):
  from pipeline.components.image_validator import image_scan  # pylint: disable=g-import-not-at-top
  root = tmp_path / "images"
  for name, image_format, extension in (("daisy", "WEBP", ".webp"),
                                        ("rose", "TIFF", ".tif"),
                                        ("tulip", "TIFF", ".tiff")):
    (root / name).mkdir(parents=True)
    for i in range(3):
      _image((200, 30 * i, 30), (40, 30)).save(
          root / name / f"{i}{extension}", format=image_format)
  webp = (root / "daisy" / "0.webp").read_bytes()
  # The same file as a record unconverted: the validator names it.
  assert image_scan.check_image(webp, SIZE).startswith("image is WebP; ")
  result = convert_images.convert(str(root), str(tmp_path / "data"),
                                  image_size=SIZE, val_fraction=0.0)
  assert result.written and not result.unreadable and not result.ignored
  assert result.reencoded == 9
  image_dir = tmp_path / "data" / features.image_dir_name(SIZE)
  total, problems = image_scan.scan_records(
      [str(image_dir / "train" / "*.tfrec")], SIZE, compression_type="")
  assert (total, problems) == (9, [])
