"""The runners' logical flags (pipeline/runner/flags.py): one definition, one config.

Both runners parse the same flags into the same PipelineConfig; a flag that
is absent keeps the config's default, one that is given is applied or
rejected; the image size comes from the data root when no flag gives it.
The last test compiles the Kubeflow spec and compares its Transform and
Trainer custom_config with the local pipeline's.
"""

import argparse
import json
import os

import pytest

import kubeflow_runner
import local_runner
from settings import config as config_lib
from pipeline import data_listing
from pipeline import data_plan
from pipeline.runner import console
from settings import features
from pipeline.runner import flags


def _data_root(tmp_path, *sizes):
  for size in sizes:
    (tmp_path / features.image_dir_name(size) / "train").mkdir(parents=True)
  return str(tmp_path)


def _classes_file(tmp_path, count):
  path = tmp_path / "classes.txt"
  path.write_text("".join(f"class {i}\n" for i in range(count)))
  return str(path)


def test_the_anydata_command_line(tmp_path):
  """10 classes at 64x64, with only --data-root and --classes."""
  root = _data_root(tmp_path / "data", 64)
  args = local_runner.parse_args(
      ["--data-root", root, "--classes", _classes_file(tmp_path, 10)])
  config = local_runner.config_from_args(args)
  assert config.image_size == 64
  assert config.class_names == tuple(f"class {i}" for i in range(10))
  # Everything else is the config's default.
  assert config == config_lib.PipelineConfig().replace(
      image_size=64, class_names=config.class_names)


def test_image_size_any_positive_size_and_from_the_data_root(tmp_path):
  root = _data_root(tmp_path, 192, 331)
  args = local_runner.parse_args(["--data-root", root, "--image-size", "100"])
  assert local_runner.config_from_args(args).image_size == 100
  args = local_runner.parse_args(["--data-root", root, "--set",
                                  "image_size=331"])
  assert local_runner.config_from_args(args).image_size == 331
  # Several sizes and no flag: name them and ask.
  args = local_runner.parse_args(["--data-root", root])
  with pytest.raises(data_listing.DataRootError) as error:
    local_runner.config_from_args(args)
  message = str(error.value)
  assert "tfrecords-jpeg-192x192" in message
  assert "tfrecords-jpeg-331x331" in message
  assert "--image-size 192 or 331" in message


def test_image_size_errors_name_the_data_root(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "tfrecords-jpeg-64x32").mkdir()  # Not square: not a size.
  for root, expected in ((str(empty), "no tfrecords-jpeg-<S>x<S> folder"),
                         (str(tmp_path / "missing"), "does not exist")):
    args = local_runner.parse_args(["--data-root", root])
    with pytest.raises(data_listing.DataRootError, match=expected) as error:
      local_runner.config_from_args(args)
    assert root in str(error.value)


@pytest.mark.parametrize("runner", [local_runner, kubeflow_runner])
@pytest.mark.parametrize("flag", ["--epochs", "--batch-size",
                                  "--image-size"])
def test_zero_is_rejected_not_ignored(runner, flag, capsys):
  with pytest.raises(SystemExit) as error:
    runner.parse_args([flag, "0"])
  # local_runner's parser exits with its documented usage-error status
  # (pipeline/runner/console.py); kubeflow_runner's is argparse's.
  assert error.value.code == (console.EXIT_ERROR if runner is local_runner
                              else 2)
  assert f"argument {flag}: must be a positive integer, not 0" in (
      capsys.readouterr().err)


def test_every_flag_given_is_applied(tmp_path):
  """Each logical flag changes the config field it names."""
  root = _data_root(tmp_path, 224)
  args = local_runner.parse_args([
      "--data-root", root, "--epochs", "3", "--batch-size", "8",
      "--learning-rate", "0.01", "--lr-schedule", "constant",
      "--backbone", "mobilenet_v3_small", "--weights", "w.h5",
      "--input-size", "0", "--min-macro-f1", "0.3",
      "--max-macro-f1-drop", "0.1", "--class-weighting", "--warm-start"])
  config = local_runner.config_from_args(args)
  assert (config.image_size, config.train.epochs,
          config.train.per_replica_batch_size, config.train.learning_rate,
          config.train.lr_schedule, config.model.backbone,
          config.model.weights, config.input_size,
          config.eval.min_macro_f1, config.eval.max_macro_f1_drop,
          config.train.class_weighting, config.train.warm_start) == (
              224, 3, 8, 0.01, "constant", "mobilenet_v3_small", "w.h5",
              224, 0.3, 0.1, True, True)


def test_boolean_flags_keep_the_config_default_when_absent(tmp_path):
  """--x / --no-x: absent leaves the field to the config (a store_true
  flag would set it False whatever the config's default)."""
  root = _data_root(tmp_path, 192)
  absent = local_runner.parse_args(["--data-root", root])
  for flag in ("class_weighting", "warm_start", "tune"):
    assert getattr(absent, flag) is None, flag
  # So an absent flag keeps the config's value; a given one sets it.
  default = config_lib.PipelineConfig().train.class_weighting
  for given, expected in (([], default), (["--class-weighting"], True),
                          (["--no-class-weighting"], False)):
    args = local_runner.parse_args(["--data-root", root, *given])
    assert flags.config_from_args(
        args).train.class_weighting is expected, given
  # --set is applied after the flags.
  args = local_runner.parse_args(["--data-root", root, "--no-class-weighting",
                                  "--set", "train.class_weighting=true"])
  assert flags.config_from_args(args).train.class_weighting is True


def _actions(runner):
  return runner.build_parser()._actions  # pylint: disable=protected-access


def test_no_boolean_flag_is_store_true():
  """store_true/store_false cannot keep the other default; --x/--no-x can."""
  for runner in (local_runner, kubeflow_runner):
    for action in _actions(runner):
      assert not isinstance(action.const, bool), action.option_strings


def test_local_cache_flag():
  assert local_runner.parse_args([]).cache is True
  assert local_runner.parse_args(["--no-cache"]).cache is False


@pytest.mark.parametrize("parser", ["local", "kubeflow"])
def test_help_never_repeats_a_default(parser):
  parser = {"local": local_runner,
            "kubeflow": kubeflow_runner}[parser].build_parser()
  formatter = parser._get_formatter()  # pylint: disable=protected-access
  for action in parser._actions:  # pylint: disable=protected-access
    if not action.help:
      continue
    text = formatter._expand_help(action)  # pylint: disable=protected-access
    assert "(default: None)" not in text, action.option_strings
    assert text.lower().count("default") <= 1, (action.option_strings, text)


def test_both_runners_have_the_same_logical_flags():
  names = set(flags.logical_flag_names())
  for runner in (local_runner, kubeflow_runner):
    given = {flag for action in _actions(runner)
             for flag in action.option_strings}
    assert names <= given


def _custom_configs_of_spec(path):
  with open(path, encoding="utf-8") as spec_file:
    tasks = json.load(spec_file)["pipelineSpec"]["root"]["dag"]["tasks"]
  return {name: json.loads(tasks[name]["inputs"]["parameters"]
                           ["custom_config"]["runtimeValue"]["constant"])
          for name in ("Transform", "Trainer")}


def _custom_configs_of_pipeline(pipeline):
  result = {}
  for node in pipeline.components:
    if node.id in ("Transform", "Trainer"):
      value = node.exec_properties["custom_config"]
      result[node.id] = json.loads(value) if isinstance(value, str) else value
  return result


def test_same_flags_same_custom_config_locally_and_in_the_kubeflow_spec(
    tmp_path, monkeypatch):
  for name in [n for n in os.environ if n.startswith("FLOWERS_")]:
    monkeypatch.delenv(name)
  root = _data_root(tmp_path / "data", 64)
  logical = ["--data-root", root, "--classes", _classes_file(tmp_path, 10),
             "--epochs", "3", "--backbone", "mobilenet_v3_small",
             "--min-macro-f1", "0.2", "--class-weighting", "--warm-start",
             "--set", "augment.rotation=0.1", "--set", "train.seed=7"]
  local_args = local_runner.parse_args(logical)
  local_config = local_runner.config_from_args(local_args)
  local = _custom_configs_of_pipeline(local_runner.local_pipeline(
      str(tmp_path / "out"), data_plan.make_plan(root, local_config),
      local_config, beam_pipeline_args=[]))
  # The deployment flags a spec needs (kubeflow_runner.py has no defaults).
  deployment = ["--image", "registry.example/flowers:1", "--pipeline-root",
                str(tmp_path / "root"), "--serving-dir",
                str(tmp_path / "serving")]
  spec = kubeflow_runner.compile_pipeline(kubeflow_runner.parse_args(
      logical + deployment + ["--output", str(tmp_path / "spec.json")]))
  compiled = _custom_configs_of_spec(spec)
  assert compiled == local
  trainer = config_lib.TrainerSettings.from_custom_config(compiled["Trainer"])
  assert trainer.image_size == 64 and trainer.num_classes == 10
  assert trainer.train.epochs == 3 and trainer.augment.rotation == 0.1
  assert trainer.train.class_weighting is True
  assert trainer.train.warm_start is True
  assert compiled["Transform"] == {"input_size": 64}
