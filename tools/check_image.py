"""Runs the Dockerfile's install step without Docker, to check what it does.

    python tools/check_image.py                  # what each build would run
    python tools/check_image.py --resolve gpu    # and resolve it with pip

There is no Docker engine here, so the image cannot be built; but its
install step is a shell script, and this runs that script as written, with
the ACCELERATOR build argument set, against stand-ins for `apt-get`, `rm`
and `pip` that record their arguments (nothing is installed or deleted) and
with the requirement files copied where the Dockerfile copies them. Every
`pip` command the build would run is printed.

With --resolve, each `pip install` also runs for real as
`pip install --dry-run --ignore-installed`: pip resolves the build's exact
package set against the registries (about a minute; nothing is installed),
so a pin that conflicts, or a package missing for Python 3.11 on Linux,
fails here rather than in `docker build`. The TPU build's libtpu comes from
Google's own index, which this machine may not reach.

Exit status: 0 when every checked build passed, 1 when one failed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, NamedTuple, Sequence, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(REPO_ROOT, "Dockerfile")
ACCELERATORS = ("cpu", "gpu", "tpu")
# Where the Dockerfile's COPY puts the requirement files for the install.
IMAGE_REQUIREMENTS_DIR = "/tmp/requirements"
# Commands of the install step that must not touch this machine.
STAND_INS = ("apt-get", "rm", "pip")

_STAND_IN = """#!{python}
import json, os, subprocess, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["CHECK_IMAGE_LOG"], "a", encoding="utf-8") as log:
  log.write(json.dumps([name] + sys.argv[1:]) + "\\n")
if (name == "pip" and os.environ.get("CHECK_IMAGE_RESOLVE") and
    sys.argv[1:2] == ["install"] and "--upgrade" not in sys.argv):
  report = os.environ["CHECK_IMAGE_LOG"] + ".report.json"
  sys.exit(subprocess.call(
      [sys.executable, "-m", "pip", "install", "--dry-run",
       "--ignore-installed", "--quiet", "--report", report]
      + sys.argv[2:]))
"""


class InstallRun(NamedTuple):
  """What the install step did for one ACCELERATOR."""
  returncode: int
  commands: List[List[str]]  # [program, arg...] of each stand-in call.
  stderr: str
  packages: Dict[str, str]   # name -> version pip resolved (--resolve).


def dockerfile_instructions(path: str = DOCKERFILE) -> List[Tuple[str, str]]:
  """(INSTRUCTION, arguments) of a Dockerfile, continuations joined."""
  with open(path, encoding="utf-8") as dockerfile:
    lines = dockerfile.read().splitlines()
  joined, current = [], ""
  for line in lines:
    if not current and (not line.strip() or line.lstrip().startswith("#")):
      continue
    if line.rstrip().endswith("\\"):
      current += line.rstrip()[:-1] + " "
    else:
      joined.append(current + line)
      current = ""
  instructions = []
  for line in joined:
    keyword, _, rest = line.strip().partition(" ")
    instructions.append((keyword.upper(), " ".join(rest.split())))
  return instructions


def install_script(instructions: Sequence[Tuple[str, str]]) -> str:
  """The RUN instruction that installs the requirements."""
  runs = [rest for keyword, rest in instructions
          if keyword == "RUN" and "requirements.txt" in rest]
  if len(runs) != 1:
    raise ValueError(f"expected one RUN installing requirements.txt in the "
                     f"Dockerfile, found {len(runs)}")
  return runs[0]


def copied_requirement_files(instructions) -> List[str]:
  """The files the COPY into IMAGE_REQUIREMENTS_DIR takes from the repo."""
  for keyword, rest in instructions:
    words = rest.split()
    if keyword == "COPY" and words[-1].rstrip("/") == IMAGE_REQUIREMENTS_DIR:
      return words[:-1]
  raise ValueError(f"no COPY to {IMAGE_REQUIREMENTS_DIR} in the Dockerfile")


def run_install(accelerator: str, resolve: bool = False,
                dockerfile: str = DOCKERFILE) -> InstallRun:
  """Runs the install step with ACCELERATOR=`accelerator` (see module doc)."""
  instructions = dockerfile_instructions(dockerfile)
  script = install_script(instructions)
  with tempfile.TemporaryDirectory(prefix="check_image_") as work:
    requirements = os.path.join(work, "requirements")
    os.makedirs(requirements)
    for name in copied_requirement_files(instructions):
      shutil.copy(os.path.join(os.path.dirname(dockerfile), name),
                  requirements)
    bin_dir = os.path.join(work, "bin")
    os.makedirs(bin_dir)
    for name in STAND_INS:
      path = os.path.join(bin_dir, name)
      with open(path, "w", encoding="utf-8") as stand_in:
        stand_in.write(_STAND_IN.format(python=sys.executable))
      os.chmod(path, 0o755)
    log = os.path.join(work, "commands.jsonl")
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"],
               ACCELERATOR=accelerator, CHECK_IMAGE_LOG=log,
               CHECK_IMAGE_RESOLVE="1" if resolve else "")
    process = subprocess.run(
        ["sh", "-c", script.replace(IMAGE_REQUIREMENTS_DIR, requirements)],
        env=env, capture_output=True, text=True, check=False)
    commands = []
    if os.path.exists(log):
      with open(log, encoding="utf-8") as lines:
        commands = [json.loads(line) for line in lines]
    packages = {}
    if os.path.exists(log + ".report.json"):
      with open(log + ".report.json", encoding="utf-8") as report:
        packages = {item["metadata"]["name"].lower():
                    item["metadata"]["version"]
                    for item in json.load(report)["install"]}
    # Paths as the image has them, not this run's temporary folder.
    commands = [[word.replace(requirements, IMAGE_REQUIREMENTS_DIR)
                 for word in command] for command in commands]
    return InstallRun(process.returncode, commands, process.stderr, packages)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("accelerators", nargs="*", default=list(ACCELERATORS),
                      help=f"builds to check ({', '.join(ACCELERATORS)})")
  parser.add_argument("--resolve", action="store_true",
                      help="also resolve each pip install with pip --dry-run")
  args = parser.parse_args(argv)
  failed = []
  for accelerator in args.accelerators:
    print(f"== ACCELERATOR={accelerator}"
          + (" (resolving with pip, about a minute)" if args.resolve else ""),
          flush=True)
    run = run_install(accelerator, resolve=args.resolve)
    for command in run.commands:
      if command[0] == "pip":
        print("  " + " ".join(command))
    if run.packages:
      versions = {name: run.packages[name] for name in sorted(run.packages)
                  if re.match(r"(tensorflow|nvidia-|libtpu)", name)}
      print(f"  resolved {len(run.packages)} packages, among them: "
            + ", ".join(f"{name}=={version}"
                        for name, version in versions.items()))
    if run.returncode:
      failed.append(accelerator)
      print(f"  FAILED (exit {run.returncode}):\n"
            + "\n".join("    " + line
                        for line in run.stderr.strip().splitlines()[-15:]))
    else:
      print("  ok")
  if failed:
    print(f"failed: {', '.join(failed)}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
