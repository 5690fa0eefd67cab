"""tools/beam_jobs.py without Maven: the POM it writes and the launcher jar.

Fetching and running the job servers is tests/test_beam_engines.py's job.
"""

import xml.etree.ElementTree as ElementTree
import zipfile

import pytest

from tools import beam_jobs


def _manifest(path):
  """The launcher jar's manifest as a dict, continuation lines unfolded."""
  with zipfile.ZipFile(path) as jar:
    raw = jar.read("META-INF/MANIFEST.MF").decode("utf-8")
  lines = raw.split("\r\n")
  assert all(len(line.encode("utf-8")) <= 72 for line in lines), lines
  unfolded = []
  for line in lines:
    if line.startswith(" "):
      unfolded[-1] += line[1:]
    elif line:
      unfolded.append(line)
  return dict(line.split(": ", 1) for line in unfolded)


@pytest.mark.parametrize("engine", sorted(beam_jobs.ENGINES))
def test_launcher_jar_names_main_class_and_every_jar(engine, tmp_path):
  jars = [f"a-long-artifact-name-number-{i}-2.62.0.jar" for i in range(40)]
  path = str(tmp_path / "job-server.jar")
  beam_jobs.write_launcher_jar(path, engine, jars)
  manifest = _manifest(path)
  assert manifest["Main-Class"] == beam_jobs.ENGINES[engine].main_class
  assert manifest["Class-Path"].split(" ") == sorted(
      f"lib/{jar}" for jar in jars)
  if beam_jobs.ENGINES[engine].add_opens:
    assert manifest["Add-Opens"].split(" ") == list(
        beam_jobs.ENGINES[engine].add_opens)


@pytest.mark.parametrize("engine", sorted(beam_jobs.ENGINES))
def test_pom_pins_the_runner_to_the_beam_java_version(engine):
  namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
  root = ElementTree.fromstring(beam_jobs._pom(engine))  # pylint: disable=protected-access
  coordinates = [
      ":".join(d.find(f"m:{key}", namespace).text
               for key in ("groupId", "artifactId", "version"))
      for d in root.iterfind("m:dependencies/m:dependency", namespace)]
  assert coordinates == list(beam_jobs.ENGINES[engine].artifacts)
  runner = [c for c in coordinates if c.startswith("org.apache.beam:")]
  assert runner and all(c.endswith(":" + beam_jobs.BEAM_JAVA_VERSION)
                        for c in runner)


def test_a_complete_folder_is_not_fetched_again(tmp_path, monkeypatch):
  folder = tmp_path / "flink"
  folder.mkdir()
  (folder / ".complete").write_text(beam_jobs._pom("flink"))  # pylint: disable=protected-access
  monkeypatch.setattr(beam_jobs.subprocess, "run", None)  # Would fail.
  assert beam_jobs.fetch("flink", str(tmp_path)) == str(
      folder / beam_jobs.JAR_NAME)
