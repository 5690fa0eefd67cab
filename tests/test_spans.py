"""Spans: the `data.spans` setting, and ImportExampleGen reading span folders.

The fast tests check the setting and the patterns; the DAG tests run the
real CheckedImportExampleGen under LocalDagRunner on generated span folders:
the latest span by default, a range A-B as one split, and a re-run after a
file of an older span of the range changed (its fingerprint must change).
"""

import os

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from pipeline.runner import overrides
from settings import config as config_lib
from settings import features
from pipeline import data_listing
from pipeline import data_plan
from settings import spans
from pipeline.components.example_gen import component as example_gen_component
from tools import make_sample_data

SIZE = 32
CLASSES = 4


@pytest.mark.parametrize("text, expected", [
    ("auto", None),
    ("latest", spans.SpanSelection()),
    ("3", spans.SpanSelection(3, 3)),
    ("1-3", spans.SpanSelection(1, 3)),
    (" 2 - 5 ", spans.SpanSelection(2, 5)),
])
def test_parse_setting(text, expected):
  assert spans.parse_setting(text) == expected


@pytest.mark.parametrize("text", ["3-1", "last", "1-", "-2", "1,2"])
def test_bad_setting_names_the_setting(text):
  with pytest.raises(ValueError, match="data.spans"):
    overrides.apply_overrides(config_lib.PipelineConfig(), [f"data.spans={text}"])


def test_auto_is_the_plain_layout_without_span_folders(tmp_path):
  (tmp_path / features.image_dir_name(SIZE)).mkdir()
  assert spans.resolve(str(tmp_path), "auto") is None
  (tmp_path / "span-2").mkdir()
  (tmp_path / "span-10").mkdir()
  (tmp_path / "span-x").mkdir()
  assert spans.spans_in(str(tmp_path)) == [2, 10]
  assert spans.resolve(str(tmp_path), "auto") == spans.SpanSelection()
  assert spans.newest_span_root(str(tmp_path), spans.SpanSelection()) == (
      os.path.join(str(tmp_path), "span-10"))
  # A URI is not looked at.
  assert spans.resolve("gs://bucket/data", "auto") is None


def test_range_patterns_and_first_span_round_trip():
  pattern = spans.split_pattern("train", SIZE, spans.SpanSelection(1, 3))
  assert pattern == f"span-{{SPAN}}/{features.image_dir_name(SIZE)}/train/*.tfrec"
  resolved = pattern.replace("{SPAN}", "3")
  assert spans.patterns_of_range(resolved, 1, 3) == [
      resolved.replace("span-3", f"span-{n}") for n in (1, 2, 3)]
  assert spans.patterns_of_range(resolved, None, 3) == [resolved]
  custom = spans.first_span_config(spans.SpanSelection(1, 3))
  assert spans.first_span_of(custom) == 1
  assert spans.first_span_config(spans.SpanSelection(3, 3)) is None
  assert spans.range_config(spans.SpanSelection()) is None
  assert spans.range_config(
      spans.SpanSelection(1, 3)).static_range.start_span_number == 3


def _write_span(root, span, head_first):
  return make_sample_data.make_sample_data(
      str(root), image_size=SIZE, num_classes=CLASSES, head_classes=1,
      head_count=6, tail_count=2, val_fraction=0.5, test_count=2,
      seed=20 + span, head_first=head_first, span=span)


@pytest.fixture
def span_root(tmp_path):
  root = tmp_path / "data"
  counts = {span: _write_span(root, span, span - 1) for span in (1, 2, 3)}
  return root, counts


def _run_example_gen(data_root, setting, output):
  """Runs the DAG's ImportExampleGen alone; returns its Examples artifact."""
  config = overrides.apply_overrides(config_lib.PipelineConfig(
      image_size=SIZE,
      class_names=tuple(f"c{i}" for i in range(CLASSES))),
          [f"data.spans={setting}"])
  plan = data_plan.make_plan(str(data_root), config)
  example_gen = example_gen_component.CheckedImportExampleGen(
      input_base=plan.input_base, input_config=plan.input_config(),
      output_config=plan.output_config(), range_config=plan.range_config(),
      selection=plan.selection).with_id("ImportExampleGen")
  metadata_path = os.path.join(output, "metadata.sqlite")
  tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
      pipeline_name="spans", pipeline_root=os.path.join(output, "root"),
      components=[example_gen], enable_cache=True,
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(
              metadata_path)),
      beam_pipeline_args=[]))
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = metadata_path
  store = metadata_store.MetadataStore(connection)
  return max(store.get_artifacts_by_type("Examples"), key=lambda a: a.id)


def _records(examples, split):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  pattern = os.path.join(examples.uri, f"Split-{split}", "*")
  files = tf.io.gfile.glob(pattern)
  return sum(1 for _ in tf.data.TFRecordDataset(
      files, compression_type=features.record_compression(files)))


@pytest.mark.slow
def test_latest_span_by_default_and_a_range_as_one_split(span_root,
                                                         tmp_path):
  data_root, counts = span_root
  latest = _run_example_gen(data_root, "auto", str(tmp_path / "a"))
  assert latest.custom_properties["span"].int_value == 3
  assert latest.custom_properties[spans.SPANS_PROPERTY].string_value == "3"
  assert _records(latest, "train") == counts[3]["train"]

  ranged = _run_example_gen(data_root, "1-2", str(tmp_path / "b"))
  assert ranged.custom_properties[spans.SPANS_PROPERTY].string_value == "1-2"
  assert _records(ranged, "train") == counts[1]["train"] + counts[2]["train"]
  assert _records(ranged, "eval") == counts[1]["val"] + counts[2]["val"]

  # A new file in span 1 (the range's older span) re-runs ExampleGen: the
  # driver fingerprints every span of the range, not only the last.
  again = _run_example_gen(data_root, "1-2", str(tmp_path / "b"))
  assert again.id == ranged.id  # unchanged: cached
  _write_span(data_root / "extra", 1, 0)
  extra = data_root / "extra" / "span-1" / features.image_dir_name(SIZE)
  target = data_root / "span-1" / features.image_dir_name(SIZE) / "train"
  for path in (extra / "train").glob("*.tfrec"):
    os.rename(path, target / f"more-{path.name}")
  changed = _run_example_gen(data_root, "1-2", str(tmp_path / "b"))
  assert changed.id != ranged.id
  assert _records(changed, "train") == (
      2 * counts[1]["train"] + counts[2]["train"])


def test_flag_and_image_size_from_the_newest_span(span_root):
  from pipeline.runner import flags  # pylint: disable=g-import-not-at-top
  import argparse  # pylint: disable=g-import-not-at-top
  data_root, _ = span_root
  parser = argparse.ArgumentParser()
  flags.add_logical_flags(parser)
  args = parser.parse_args(["--spans", "1-2"])
  config = flags.config_from_args(args)
  plan = data_plan.make_plan(str(data_root), config, size_from_data=True)
  assert plan.image_size == SIZE
  assert config.data.spans == "1-2"
  assert plan.folders == tuple(
      os.path.join(str(data_root), f"span-{n}", features.image_dir_name(SIZE))
      for n in (1, 2))


def test_latest_without_span_folders_is_an_error_naming_the_root(tmp_path):
  (tmp_path / features.image_dir_name(SIZE)).mkdir()
  config = overrides.apply_overrides(config_lib.PipelineConfig(image_size=SIZE),
      ["data.spans=latest"])
  with pytest.raises(ValueError, match=f"no span-<N> folder in {tmp_path}"):
    data_plan.make_plan(str(tmp_path), config)
  # auto: the plain layout.
  plain = config_lib.PipelineConfig(image_size=SIZE)
  assert data_plan.make_plan(str(tmp_path), plain).folders == (
      str(tmp_path / features.image_dir_name(SIZE)),)


def test_one_span_rule_names_other_folders_as_ignored(tmp_path):
  for name in ("span-1", "span-2", "span-2-old", "span-x", "backup"):
    (tmp_path / name).mkdir()
  (tmp_path / "span-7.txt").write_text("a file, not a folder")
  assert spans.spans_in(str(tmp_path)) == [1, 2]
  assert spans.latest_span(str(tmp_path)) == 2
  assert spans.ignored_folders(str(tmp_path)) == [
      "backup", "span-2-old", "span-x"]
  # Without span folders, only the `span-...` folders that break the rule.
  plain = tmp_path / "plain"
  for name in (features.image_dir_name(SIZE), "span-3b"):
    (plain / name).mkdir(parents=True)
  assert spans.ignored_folders(str(plain)) == ["span-3b"]


@pytest.mark.slow
def test_a_folder_that_breaks_the_span_rule_is_ignored_by_example_gen(
    span_root, tmp_path):
  # span-3-old holds a whole data set where TFX's `span-*` glob sees it:
  # TFX alone stops on it ("Cannot find span number"); the pre-flight and
  # ExampleGen both read span 3, the latest span-<N>.
  data_root, counts = span_root
  _write_span(tmp_path / "old", 3, 0)
  os.rename(tmp_path / "old" / "span-3", data_root / "span-3-old")
  assert spans.ignored_folders(str(data_root)) == ["span-3-old"]
  latest = _run_example_gen(data_root, "auto", str(tmp_path / "a"))
  assert latest.custom_properties["span"].int_value == 3
  assert _records(latest, "train") == counts[3]["train"]


def test_the_runner_names_ignored_folders_before_its_checks(tmp_path):
  from conftest import run_local_pipeline  # pylint: disable=g-import-not-at-top
  root = tmp_path / "data"
  _write_span(root, 1, 0)
  (root / "span-1-old").mkdir()
  train = root / "span-1" / features.image_dir_name(SIZE) / "train"
  for path in train.glob("*.tfrec"):
    path.unlink()  # The pre-flight then stops before any pipeline work.
  process = run_local_pipeline(str(root), str(tmp_path / "out"))
  assert (f"data: ignored folder {root / 'span-1-old'} (not span-<N>, so "
          "never read as a span)") in process.stdout
  assert process.returncode != 0 and f"{train}: no *.tfrec files" in (
      process.stdout + process.stderr)


def test_a_span_number_with_leading_zeros_is_refused_with_tfx_s_name(
    tmp_path):
  """TFX reads `span-01` as span 1, then looks for `span-1`: refused up
  front, naming the folder and the name to give it, wherever spans are
  looked up (the runner's plan, its image size, ExampleGen's "latest")."""
  _write_span(tmp_path, 2, 0)
  os.rename(tmp_path / "span-2", tmp_path / "span-02")
  expected = (f"span folder {tmp_path / 'span-02'}: ImportExampleGen reads "
              "it as span 2 and then looks for span-2, so rename it span-2")
  config = config_lib.PipelineConfig(image_size=SIZE)
  from pipeline.components.example_gen import span_resolution  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_component_specs as specs  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  # ExampleGen's executor where no driver ran (Kubeflow Pipelines), "latest".
  compiled = {
      specs.INPUT_BASE_KEY: str(tmp_path),
      specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
          data_plan.input_config(True, SIZE, spans.SpanSelection())),
      specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
          example_gen_pb2.Output())}
  for look_up in (lambda: data_plan.make_plan(str(tmp_path), config),
                  lambda: data_listing.image_size_of(str(tmp_path)),
                  lambda: span_resolution.resolve_span_properties(compiled)):
    with pytest.raises(ValueError) as refused:
      look_up()
    assert str(refused.value).startswith(expected)


def test_the_runner_refuses_a_span_folder_with_leading_zeros(tmp_path):
  from conftest import run_local_pipeline  # pylint: disable=g-import-not-at-top
  root = tmp_path / "data"
  _write_span(root, 1, 0)
  os.rename(root / "span-1", root / "span-001")
  process = run_local_pipeline(str(root), str(tmp_path / "out"))
  assert process.returncode != 0
  assert (f"error: span folder {root / 'span-001'}: ImportExampleGen reads "
          "it as span 1 and then looks for span-1, so rename it span-1") in (
              process.stdout + process.stderr)
  assert not (tmp_path / "out" / "pipeline.log").exists()
