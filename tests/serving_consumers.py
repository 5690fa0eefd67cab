"""The SavedModel consumers a pushed model must serve in, for the tests.

Model servers (TF Serving, and through it KServe and Vertex AI Prediction)
restore a SavedModel in a TF1 session; `saved_model_cli run` does the same
from the command line; our own tools use TF2's `tf.saved_model.load`. Each
function here runs one signature of a model folder the way one consumer
does and returns its outputs as numpy arrays, so that a test can check that
all of them agree.
"""

import os
import subprocess
import sys
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

# The signatures' one input each (modules/serving.py).
INPUT_OF_SIGNATURE = {"serving_default": "examples",
                      "serving_image_bytes": "image_bytes"}
# How close the consumers' probabilities must be (issue 31: 1e-5).
TOLERANCE = 1e-5


def tf2_outputs(model_dir: str, signature: str,
                inputs: Sequence[bytes]) -> Dict[str, np.ndarray]:
  """Outputs through `tf.saved_model.load` (eager, object graph)."""
  model = tf.saved_model.load(model_dir)
  outputs = model.signatures[signature](
      **{INPUT_OF_SIGNATURE[signature]: tf.constant(list(inputs))})
  return {name: value.numpy() for name, value in outputs.items()}


def tf1_session_outputs(model_dir: str, signature: str,
                        inputs: Sequence[bytes]) -> Dict[str, np.ndarray]:
  """Outputs through a TF1 session, as TF Serving's loader restores it."""
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as session:
      meta_graph = tf.compat.v1.saved_model.loader.load(
          session, [tf.saved_model.SERVING], model_dir)
      signature_def = meta_graph.signature_def[signature]
      feed = {signature_def.inputs[INPUT_OF_SIGNATURE[signature]].name:
              np.asarray(list(inputs), dtype=object)}
      fetches = {name: info.name
                 for name, info in signature_def.outputs.items()}
      return session.run(fetches, feed)


def saved_model_cli_outputs(model_dir: str, signature: str,
                            inputs: Sequence[bytes],
                            work_dir: str) -> Dict[str, np.ndarray]:
  """Outputs of `saved_model_cli run`, TensorFlow's own command-line client.

  The inputs go in as a .npy file and the outputs come back as one .npy
  file each (`--outdir`).
  """
  os.makedirs(work_dir, exist_ok=True)
  input_file = os.path.join(work_dir, f"{signature}_inputs.npy")
  np.save(input_file, np.asarray(list(inputs), dtype=object),
          allow_pickle=True)
  out_dir = os.path.join(work_dir, f"{signature}_outputs")
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  process = subprocess.run(
      [cli, "run", "--dir", model_dir, "--tag_set", "serve",
       "--signature_def", signature,
       "--inputs", f"{INPUT_OF_SIGNATURE[signature]}={input_file}",
       "--outdir", out_dir, "--overwrite"],
      capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 0, (
      f"saved_model_cli run failed on {signature}:\n{process.stderr[-3000:]}")
  return {name[:-len(".npy")]: np.load(os.path.join(out_dir, name),
                                       allow_pickle=True)
          for name in os.listdir(out_dir)}


def assert_same_outputs(expected: Dict[str, np.ndarray],
                        actual: Dict[str, np.ndarray], consumer: str) -> None:
  """The consumer's outputs equal TF2's: probabilities within TOLERANCE,
  the class index and name exactly."""
  assert sorted(actual) == sorted(expected), (consumer, sorted(actual))
  np.testing.assert_allclose(actual["probabilities"],
                             expected["probabilities"], atol=TOLERANCE,
                             err_msg=consumer)
  np.testing.assert_array_equal(actual["class_index"],
                                expected["class_index"], err_msg=consumer)
  np.testing.assert_array_equal(
      np.asarray(actual["class_name"]).astype(bytes),
      np.asarray(expected["class_name"]).astype(bytes), err_msg=consumer)


def assert_serves_in_a_tf1_session(model_dir: str,
                                   examples: Sequence[bytes],
                                   images: Sequence[bytes]) -> None:
  """Both signatures give TF2's outputs in a TF1 session."""
  for signature, inputs in (("serving_default", examples),
                            ("serving_image_bytes", images)):
    expected = tf2_outputs(model_dir, signature, inputs)
    assert_same_outputs(expected,
                        tf1_session_outputs(model_dir, signature, inputs),
                        f"TF1 session, {signature}")
