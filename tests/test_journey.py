"""A new user's journey: the README's commands, in its order, as written.

One slow test runs what README.md tells a new user to run (and, for new
data, the session docs/continuous-training.md shows, which the README links
to), as subprocesses from a clean working folder (after the first step, the
epochs are cut with the runner's own --epochs to keep it to minutes, and
the spans' absolute gate is 0 so that span 1's 2-epoch model is blessed):

1. `make run` at its defaults: the sample data into the default output
   folder, and it must push a model that passes the default gate (macro
   F1 >= 0.6), as the README promises;
2. "Your own data": a folder of images per class, of mixed sizes, in PNG,
   JPEG and one WebP file, through `tools/convert_images.py`, then
   `local_runner.py --data-root ... --classes ...` into the SAME output
   folder, with its other class list;
3. "New data arrives" (docs/continuous-training.md): two spans with
   `--warm-start`;
4. the Kubeflow compile (`make kubeflow`'s command), refused without the
   deployment settings, then with them.

Each step must exit 0 and either push a model or say which gate stopped
it. When the README's commands change, this test changes with them: it
reads them from the README's (and that page's) code blocks, so a command
they drop or rename fails here.
"""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from conftest import REPO_ROOT
from settings import config as config_lib

README = os.path.join(REPO_ROOT, "README.md")
# The README's "New data arrives" links to this page's session.
CONTINUOUS_TRAINING = os.path.join(REPO_ROOT, "docs",
                                   "continuous-training.md")
EPOCHS = "2"


def _readme_commands(section: str, path: str = README):
  """The shell commands of a section's first ```sh block (README.md's, or
  another Markdown file's at `path`)."""
  with open(path, encoding="utf-8") as f:
    text = f.read()
  start = text.index(f"## {section}")
  block = re.search(r"```sh\n(.*?)```", text[start:], re.S).group(1)
  commands, pending = [], ""
  for line in block.splitlines():
    line = line.split("  #")[0].rstrip()
    if line.endswith("\\"):
      pending += line[:-1] + " "
      continue
    if (pending + line).strip():
      commands.append((pending + line).strip())
    pending = ""
  return commands


def _run(command, cwd, env, extra=()):
  """Runs one README command (`.venv/bin/python` -> this interpreter)."""
  argv = command.split()
  if argv[0] == ".venv/bin/python":
    argv[0] = sys.executable
  process = subprocess.run(argv + list(extra), cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=1800,
                           check=False)
  return process


def _outcome(process):
  """"pushed <dir>" or the gate that stopped the model, from the summary."""
  lines = process.stdout.splitlines()
  verdict = [l for l in lines if l.startswith("  verdict ")]
  pushed = [l for l in lines if l.startswith("  pushed model ")]
  assert verdict and pushed, process.stdout[-3000:] + process.stderr[-3000:]
  if "BLESSED" in verdict[-1] and "NOT BLESSED" not in verdict[-1]:
    assert "none" not in pushed[-1].split()[2:3], pushed[-1]
  else:
    # Not blessed: the summary names the gate.
    assert "not blessed:" in pushed[-1], pushed[-1]
  return verdict[-1], pushed[-1]


def _photos(root):
  """10 classes x 6 images: sizes from 40x30 to 300x200, JPEG and PNG, and
  one WebP (which the model cannot decode: the converter must re-encode)."""
  rng = np.random.default_rng(5)
  sizes = [(40, 30), (64, 64), (300, 200), (120, 160), (90, 90), (200, 50)]
  for label in range(10):
    folder = os.path.join(root, f"class_{label:02d}")
    os.makedirs(folder)
    colour = rng.integers(0, 256, 3)
    for index, size in enumerate(sizes):
      pixels = np.clip(colour + rng.normal(0, 20, (size[1], size[0], 3)),
                       0, 255).astype(np.uint8)
      image = Image.fromarray(pixels)
      if label == 3 and index == 0:
        image.save(os.path.join(folder, f"{index}.webp"), format="WEBP")
      elif index % 2:
        image.save(os.path.join(folder, f"{index}.png"))
      else:
        image.save(os.path.join(folder, f"{index}.jpg"), quality=90)


@pytest.mark.slow
def test_the_readme_in_order(tmp_path):
  work = tmp_path / "checkout"
  work.mkdir()
  # The user's working folder: the repository's files, no data, no output.
  for name in os.listdir(REPO_ROOT):
    if name in (".venv", ".git", "output", "data", ".cache", "bench"):
      continue
    source = os.path.join(REPO_ROOT, name)
    (shutil.copytree if os.path.isdir(source) else shutil.copy2)(
        source, work / name)
  os.symlink(os.path.join(REPO_ROOT, ".venv"), work / ".venv")
  env = dict(os.environ, PYTHONPATH=str(work))
  env.pop("MAKEFLAGS", None)

  # 1. The main job, `make run` at its defaults, into the default output
  # folder: a pushed model that passes the default gate.
  assert "make run" in open(README, encoding="utf-8").read()
  make = subprocess.run(["make", "run"], cwd=work, env=env,
                        capture_output=True, text=True, timeout=1800,
                        check=False)
  assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
  verdict, pushed = _outcome(make)
  assert verdict.split()[1] == "BLESSED", make.stdout[-3000:]
  macro_f1 = float(re.search(r"^  macro_f1 +(\S+)", make.stdout,
                             re.MULTILINE).group(1))
  assert macro_f1 >= config_lib.EvalConfig().min_macro_f1 == 0.6
  version = pushed.split()[2]
  assert os.path.exists(os.path.join(version, "saved_model.pb")), pushed
  assert os.path.dirname(version) == str(work / "output" / "serving")

  # 2. Your own data, into the same default output folder.
  convert, train = _readme_commands("Your own data")
  assert convert.split()[1] == "tools/convert_images.py"
  photos = convert.split()[2]
  _photos(str(work / photos))
  process = _run(convert, work, env)
  assert process.returncode == 0, process.stdout + process.stderr
  process = _run(train, work, env, ["--epochs", EPOCHS])
  assert process.returncode == 0, (process.stdout[-3000:] +
                                   process.stderr[-3000:])
  assert "--output-dir" not in train  # The default folder, as step 1's.
  _outcome(process)
  # Its baseline can only be a model of its own class list: the sample's
  # 104-class model is not one.
  assert re.search(r"^  baseline +none: no model with this class list",
                   process.stdout, re.MULTILINE), process.stdout[-3000:]

  # 3. New data arrives: two spans, --warm-start (the session the README
  # links to).
  assert "docs/continuous-training.md#new-data-arrives" in open(
      README, encoding="utf-8").read()
  commands = _readme_commands("New data arrives", CONTINUOUS_TRAINING)
  assert len(commands) == 4
  for index, command in enumerate(commands):
    # At 2 epochs no model passes the default gate (0.6); span 1's must be
    # blessed for span 2 to warm-start from it, so these runs gate at 0.
    extra = (["--epochs", EPOCHS, "--min-macro-f1", "0"]
             if "local_runner.py" in command else [])
    process = _run(command, work, env, extra)
    assert process.returncode == 0, (command, process.stdout[-3000:],
                                     process.stderr[-3000:])
    if "local_runner.py" in command:
      _outcome(process)
      if index == 3:
        assert "data spans         span 2" in process.stdout
        assert "warm start: from" in process.stdout, process.stdout[-3000:]
        # Its gate's baseline is span 1's model, of the same class list,
        # the one being served.
        assert re.search(r"  baseline +served version \S+/serving/\d+ "
                         r"\(model \S+/Trainer/model/\d+\)",
                         process.stdout), process.stdout[-3000:]

  # 4. The Kubeflow compile, as `make kubeflow` runs it: without the
  # deployment settings it stops with one line naming them (a spec has no
  # placeholder image or bucket); with docs/deploy.md's variables it writes
  # the spec.
  spec = tmp_path / "flowers_pipeline.json"
  command = [sys.executable, "kubeflow_runner.py", "--output", str(spec)]
  bare = {name: value for name, value in env.items()
          if not name.startswith("FLOWERS_")}
  process = subprocess.run(command, cwd=work, env=bare, capture_output=True,
                           text=True, timeout=600, check=False)
  assert process.returncode != 0 and not spec.exists()
  assert process.stderr.strip().splitlines()[-1].startswith(
      "error: --image (env FLOWERS_IMAGE), --pipeline-root"), process.stderr
  deployment = dict(bare, FLOWERS_IMAGE="registry.example/flowers:1",
                    FLOWERS_PIPELINE_ROOT="gs://bucket/flowers/root",
                    FLOWERS_DATA_ROOT="gs://bucket/flowers/data",
                    FLOWERS_SERVING_DIR="gs://bucket/flowers/serving")
  process = subprocess.run(command, cwd=work, env=deployment,
                           capture_output=True, text=True, timeout=600,
                           check=False)
  assert process.returncode == 0, process.stdout + process.stderr
  assert spec.stat().st_size > 0
