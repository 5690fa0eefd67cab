"""Fetches Beam's Flink and Spark job servers with Maven (`make beam-jobs`).

    python tools/beam_jobs.py [--engine flink|spark ...] [--cache-dir DIR]

Each engine gets `<cache dir>/<engine>/`: a `pom.xml` naming the runner's
Maven coordinates, `lib/` with every jar they resolve to (Maven's
`dependency:copy-dependencies`), and `job-server.jar`, a launcher jar whose
manifest names the main class and `lib/`'s jars. `java -jar job-server.jar`
is what Beam runs for `--flink_job_server_jar` / `--spark_job_server_jar`,
so the `flink` and `spark` profiles (pipeline/runner/beam.py) start a job server
without downloading anything at run time. A folder that is complete (its
`.complete` stamp names the same coordinates) is left as it is; the default
cache folder is git-ignored. docs/beam-engines.md has the whole story.

Why not Beam's own `beam-runners-<engine>-job-server` jars: the Maven
repository this project's machines reach does not serve them (nor any Beam
Java artifact of 2.59, the Python SDK's version in constraints.txt). The
runners' own artifacts are served at 2.62.0, with the Flink 1.19 and Spark 3
runners; a 2.62 job server runs the 2.59 Python SDK's pipelines (the
portable Job and Fn APIs between them are versioned protos), which
tests/test_beam_engines.py checks end to end.
"""

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from typing import Dict, Optional, Sequence, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE_DIR = os.path.join(REPO_ROOT, ".cache", "beam-jobs")
JAR_NAME = "job-server.jar"
# The newest Beam Java release whose runner artifacts resolve (see above).
BEAM_JAVA_VERSION = "2.62.0"
FLINK_VERSION = "1.19"
SPARK_VERSION = "3.5.9"
_SLF4J = "org.slf4j:slf4j-simple:1.7.30"  # The runners log through SLF4J.


@dataclasses.dataclass(frozen=True)
class Engine:
  """One job server: what Maven fetches and how Java starts it.

  Attributes:
    artifacts: group:artifact:version of what the job server needs at run
      time (their dependencies come with them).
    main_class: the job server's entry point.
    add_opens: packages Java 17 must open to the engine (manifest
      `Add-Opens`, read by `java -jar`).
  """
  artifacts: Tuple[str, ...]
  main_class: str
  add_opens: Tuple[str, ...] = ()


ENGINES: Dict[str, Engine] = {
    "flink": Engine(
        artifacts=(f"org.apache.beam:beam-runners-flink-{FLINK_VERSION}:"
                   f"{BEAM_JAVA_VERSION}", _SLF4J),
        main_class="org.apache.beam.runners.flink.FlinkJobServerDriver"),
    "spark": Engine(
        # Spark is `provided` in the runner's POM: a cluster brings its own,
        # the job server's local[N] master needs it here.
        artifacts=(f"org.apache.beam:beam-runners-spark-3:"
                   f"{BEAM_JAVA_VERSION}",
                   f"org.apache.spark:spark-core_2.12:{SPARK_VERSION}",
                   f"org.apache.spark:spark-streaming_2.12:{SPARK_VERSION}",
                   f"org.apache.spark:spark-sql_2.12:{SPARK_VERSION}",
                   _SLF4J),
        main_class="org.apache.beam.runners.spark.SparkJobServerDriver",
        # Spark's own list for Java 17 (its launcher's JavaModuleOptions).
        add_opens=("java.base/java.lang", "java.base/java.lang.invoke",
                   "java.base/java.lang.reflect", "java.base/java.io",
                   "java.base/java.net", "java.base/java.nio",
                   "java.base/java.util", "java.base/java.util.concurrent",
                   "java.base/java.util.concurrent.atomic",
                   "java.base/sun.nio.ch", "java.base/sun.nio.cs",
                   "java.base/sun.security.action",
                   "java.base/sun.util.calendar")),
}


class FetchError(RuntimeError):
  """Maven could not fetch a job server; the message says which and why."""


def jar_path(engine: str, cache_dir: Optional[str] = None) -> str:
  """Where `fetch(engine, cache_dir)` puts the launcher jar."""
  return os.path.join(cache_dir or DEFAULT_CACHE_DIR, engine, JAR_NAME)


def _pom(engine: str) -> str:
  dependencies = []
  for coordinates in ENGINES[engine].artifacts:
    group, artifact, version = coordinates.split(":")
    dependencies.append(
        f"    <dependency><groupId>{group}</groupId>"
        f"<artifactId>{artifact}</artifactId>"
        f"<version>{version}</version></dependency>")
  return "\n".join([
      '<project xmlns="http://maven.apache.org/POM/4.0.0">',
      "  <modelVersion>4.0.0</modelVersion>",
      "  <groupId>flowers.beam-jobs</groupId>",
      f"  <artifactId>{engine}-job-server</artifactId>",
      f"  <version>{BEAM_JAVA_VERSION}</version>",
      "  <packaging>pom</packaging>",
      "  <dependencies>", *dependencies, "  </dependencies>",
      "</project>", ""])


def _manifest_lines(name: str, values: Sequence[str]) -> str:
  # Manifest lines stop at 72 bytes; a continuation line starts with a space.
  text = f"{name}: " + " ".join(values)
  lines = [text[:72]]
  lines += [" " + text[i:i + 71] for i in range(72, len(text), 71)]
  return "\r\n".join(lines) + "\r\n"


def write_launcher_jar(path: str, engine: str, jars: Sequence[str]) -> None:
  """A jar holding only a manifest: main class, class path, Add-Opens.

  Beam's own `JavaJarServer.make_classpath_jar` does the same but needs a
  main jar that names the main class; no runner artifact does.
  """
  spec = ENGINES[engine]
  manifest = ("Manifest-Version: 1.0\r\n"
              + f"Main-Class: {spec.main_class}\r\n"
              + _manifest_lines("Class-Path",
                                [f"lib/{jar}" for jar in sorted(jars)]))
  if spec.add_opens:
    manifest += _manifest_lines("Add-Opens", spec.add_opens)
  with zipfile.ZipFile(path, "w") as jar:
    jar.writestr("META-INF/MANIFEST.MF", manifest + "\r\n")


def fetch(engine: str, cache_dir: Optional[str] = None) -> str:
  """Fetches `engine`'s job server unless it is there; returns its jar."""
  # Absolute: Maven resolves a relative -DoutputDirectory against the
  # pom's folder, not the working directory.
  folder = os.path.abspath(os.path.join(cache_dir or DEFAULT_CACHE_DIR,
                                        engine))
  stamp = os.path.join(folder, ".complete")
  pom = _pom(engine)
  if os.path.exists(stamp):
    with open(stamp, encoding="utf-8") as f:
      if f.read() == pom:
        return jar_path(engine, cache_dir)
  if not shutil.which("mvn"):
    raise FetchError(f"{engine} job server: Maven (mvn) is not installed; "
                     "see docs/beam-engines.md")
  # Built beside the folder and renamed into place: an interrupted fetch
  # never leaves a folder that looks complete.
  partial = folder + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(partial)
  with open(os.path.join(partial, "pom.xml"), "w", encoding="utf-8") as f:
    f.write(pom)
  command = ["mvn", "--batch-mode", "--quiet", "--file",
             os.path.join(partial, "pom.xml"),
             "dependency:copy-dependencies", "-DincludeScope=runtime",
             "-DoutputDirectory=" + os.path.join(partial, "lib")]
  print(f"fetching the {engine} job server: {' '.join(command)}", flush=True)
  process = subprocess.run(command, capture_output=True, text=True,
                           check=False)
  if process.returncode != 0:
    raise FetchError(
        f"{engine} job server: Maven failed ({process.returncode}) for "
        f"{', '.join(ENGINES[engine].artifacts)}:\n"
        f"{(process.stdout + process.stderr)[-3000:]}")
  jars = [name for name in os.listdir(os.path.join(partial, "lib"))
          if name.endswith(".jar")]
  write_launcher_jar(os.path.join(partial, JAR_NAME), engine, jars)
  with open(os.path.join(partial, ".complete"), "w", encoding="utf-8") as f:
    f.write(pom)
  shutil.rmtree(folder, ignore_errors=True)
  os.rename(partial, folder)
  return jar_path(engine, cache_dir)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--engine", action="append", choices=sorted(ENGINES),
                      help="which job server (repeatable; default: all)")
  parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
  args = parser.parse_args(argv)
  try:
    for engine in args.engine or sorted(ENGINES):
      print(f"{engine}: {fetch(engine, args.cache_dir)}")
  except FetchError as error:
    print(f"error: {error}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
