"""ExampleGen's file check as it travels in the Examples artifact:
`data_check.json`, beside the `Split-*` folders.

CheckedImportExampleGen writes it (pipeline/components/example_gen/
input_files.py, `DataCheckReport.to_json`); the ImageValidator reads it
back (its skipped files, 0-record shards and file counts). Here, below
both, so that the reader does not import ExampleGen.
"""

import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf

REPORT_FILE = "data_check.json"


def read_report(examples_uri: str) -> Optional[Dict[str, Any]]:
  """The report written with an Examples artifact (`to_json`'s), or None
  (Examples from another ExampleGen have none)."""
  path = os.path.join(examples_uri, REPORT_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)
