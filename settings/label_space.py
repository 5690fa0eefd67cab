"""The label space: a class list's fingerprint, and the record of it that
each Model artifact holds (`label_space.json`).

The fingerprint names the pipeline (`settings/config.py` `pipeline_name`)
and the push records: the baseline tasks (the Evaluator's and the drift
check's baseline, the warm-start base) read only push records of the same
fingerprint (pipeline/components/baseline/push_records.py), so on every
runner they find only models of the same class names in the same order
(docs/continuous-training.md, "Label spaces"). The Trainer and the Ensemble
write the record beside Format-Serving; the Pusher copies it into
push_record.json.
"""

import hashlib
import json
import os
from typing import Any, Dict, Optional, Sequence

from settings import records

# Beside Format-Serving in each Model artifact, and in push_record.json.
LABEL_SPACE_FILE = "label_space.json"


def fingerprint(class_names: Sequence[str]) -> str:
  """12 hex digits of the SHA-256 of the class names, in label order."""
  digest = hashlib.sha256("\n".join(class_names).encode("utf-8"))
  return digest.hexdigest()[:12]


def label_space(class_names: Sequence[str]) -> Dict[str, Any]:
  """What LABEL_SPACE_FILE holds: fingerprint, class count and names."""
  return {"fingerprint": fingerprint(class_names),
          "num_classes": len(class_names),
          "class_names": list(class_names)}


def read_label_space(model_uri: Optional[str]) -> Optional[Dict[str, Any]]:
  """A Model artifact's LABEL_SPACE_FILE, or None (no folder, or no such
  file)."""
  return records.read_json_in(model_uri, LABEL_SPACE_FILE)


def write_label_space(model_uri: str, class_names: Sequence[str]) -> None:
  """Writes LABEL_SPACE_FILE into a Model artifact's folder."""
  # slow import: TensorFlow (3 s); as in read_label_space
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.io.gfile.makedirs(model_uri)
  with tf.io.gfile.GFile(os.path.join(model_uri, LABEL_SPACE_FILE),
                         "w") as f:
    json.dump(label_space(class_names), f, indent=2)
