"""The Trainer's cluster resources: quantities parsed as Kubernetes does."""

import argparse

import pytest

from pipeline.runner import env_flags
from pipeline.runner import kubernetes_quantity
from pipeline.runner import trainer_placement


@pytest.mark.parametrize("text,cores", [
    ("2", 2.0), ("1.5", 1.5), ("500m", 0.5), ("250m", 0.25), (".5", 0.5)])
def test_cpu_quantities(text, cores):
  assert kubernetes_quantity.cpu_cores(text) == pytest.approx(cores)


@pytest.mark.parametrize("text,gb", [
    ("32G", 32.0), ("30Gi", 30 * 2**30 / 1e9), ("512Mi", 512 * 2**20 / 1e9),
    ("1.5T", 1500.0), ("1000000", 0.001)])
def test_memory_quantities(text, gb):
  assert kubernetes_quantity.memory_gb(text) == pytest.approx(gb)


@pytest.mark.parametrize("parse,text", [
    (kubernetes_quantity.cpu_cores, "two"),
    (kubernetes_quantity.cpu_cores, "1.5 cores"),
    (kubernetes_quantity.memory_gb, "32GB"),
    (kubernetes_quantity.memory_gb, "-1G")])
def test_bad_quantities_are_refused(parse, text):
  with pytest.raises(ValueError, match=repr(text)):
    parse(text)


def _args(**flags):
  values = dict(trainer_accelerator_type=None, trainer_accelerator_count=None,
                trainer_cpu=None, trainer_memory=None)
  values.update(flags)
  return argparse.Namespace(**values)


def test_resource_spec_carries_typed_and_quantity_fields():
  resources = trainer_placement.trainer_resources(_args(
      trainer_cpu="500m", trainer_memory="30Gi",
      trainer_accelerator_type="nvidia.com/gpu"))
  assert resources.cpu_limit == pytest.approx(0.5)
  assert resources.resource_cpu_limit == "500m"
  assert resources.memory_limit == pytest.approx(30 * 2**30 / 1e9)
  assert resources.resource_memory_limit == "30Gi"
  assert (resources.accelerator.type, resources.accelerator.count) == (
      "nvidia.com/gpu", 1)
  assert trainer_placement.trainer_resources(_args()) is None


def test_a_bad_flag_value_names_the_flag_and_its_variable():
  with pytest.raises(env_flags.DeploymentSettingError,
                     match="--trainer-memory \\(env FLOWERS_TRAINER_MEMORY\\)"
                     ".*'lots'"):
    trainer_placement.trainer_resources(_args(trainer_memory="lots"))
