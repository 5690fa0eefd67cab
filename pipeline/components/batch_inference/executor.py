"""The BatchInference executor: predicts whole splits with the Trainer's model.

Why not TFX's BulkInferrer: it runs the model through tfx_bsl's
RunInference, which loads the SavedModel into a TF1 session. Since the
export tracks the variables its signatures read (modules/serving.py
`save_servable`), that load works and the model runs there; but tfx_bsl
1.16 then fails in its own post-processing, which splits each output per
example and reads `.dtype` of the piece: a row of the rank-1 string output
`class_name` is a Python `bytes` without one ("AttributeError: 'bytes'
object has no attribute 'dtype'", tfx_bsl/beam/run_inference.py
`_post_process`, checked on a pushed model; tensorflow/tfx#7782). Changing
the served outputs for it would change what every client gets. BulkInferrer
would also fail its whole job on one undecodable image, where this executor
names and skips the record, and writes PredictionLogs, where the Report,
the model card and submission.csv need ids, labels and probabilities. So
this executor loads the model with `tf.saved_model.load` and calls the
same `serving_default` signature a server calls (serialized tf.Examples in).

With a blessing given, an unblessed model predicts nothing (as BulkInferrer
and the Pusher): the artifact then carries `not_predicted_reason`.
"""

import json
import os
from typing import Any, Dict, List

from absl import logging
import tensorflow as tf
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from pipeline.components.util import custom_config
from pipeline.components.util import serving_model
from pipeline.components.util import batch_predict
from pipeline.components.util import predictions as predictions_lib
from settings import config as config_lib

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
PREDICTIONS_KEY = "predictions"
SPLITS_KEY = "splits"
SUBMISSION_SPLIT_KEY = "submission_split"
# Custom properties of the output, for the run summary.
NOT_PREDICTED_REASON = predictions_lib.NOT_PREDICTED_REASON
PREDICTED_RECORDS = "predicted_records"
SKIPPED_RECORDS = "skipped_records"
SUBMISSION_PROPERTY = "submission"
SPLIT_NAMES_PROPERTY = "split_names"


class Executor(base_executor.BaseExecutor):
  """Writes each split's predictions (and submission.csv) to the artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    output = artifact_utils.get_single_instance(output_dict[PREDICTIONS_KEY])
    blessings = input_dict.get(MODEL_BLESSING_KEY)
    if blessings:
      blessing = artifact_utils.get_single_instance(blessings)
      if not model_utils.is_model_blessed(blessing):
        logging.info("Not predicting: the model is not blessed (%s).",
                     blessing.uri)
        output.set_string_custom_property(NOT_PREDICTED_REASON,
                                          "the model is not blessed")
        return
    model_artifact = artifact_utils.get_single_instance(
        input_dict[MODEL_KEY])
    model_dir = path_utils.serving_model_path(
        model_artifact.uri, path_utils.is_old_model_artifact(model_artifact))
    model = serving_model.load_serving_model(
        model_dir, [serving_model.SERVING_DEFAULT])
    examples = input_dict[EXAMPLES_KEY]
    splits = json.loads(exec_properties[SPLITS_KEY])
    submission_split = exec_properties.get(SUBMISSION_SPLIT_KEY) or ""
    batch_size = custom_config.decode(
        exec_properties, config_lib.InferenceSettings).batch_size
    available = artifact_utils.decode_split_names(
        artifact_utils.get_single_instance(examples).split_names)
    missing = [split for split in splits if split not in available]
    if missing:
      raise ValueError(f"no split(s) {missing} in the examples (they have "
                       f"{available})")

    skipped_by_split, predicted, skipped_total = {}, 0, 0
    for split in splits:
      files = io_utils.all_files_pattern(
          artifact_utils.get_split_uri(examples, split))
      result, skipped = batch_predict.predict_files(
          model, tf.io.gfile.glob(files), batch_size)
      predictions_lib.write_predictions(output.uri, split, result)
      skipped_by_split[split] = skipped
      predicted += len(result)
      skipped_total += len(skipped)
      for record in skipped:
        logging.warning("Not predicted: %s", record.describe())
      logging.info("Split %s: %d records predicted, %d skipped.", split,
                   len(result), len(skipped))
      if split == submission_split:
        path = os.path.join(output.uri, predictions_lib.SUBMISSION_FILE)
        predictions_lib.write_submission(path, result.ids, result.predicted)
        output.set_string_custom_property(SUBMISSION_PROPERTY, path)
        logging.info("Submission (%d rows): %s", len(result), path)
    predictions_lib.write_skipped(output.uri, skipped_by_split)
    output.set_string_custom_property(
        SPLIT_NAMES_PROPERTY, artifact_utils.encode_split_names(splits))
    output.set_int_custom_property(PREDICTED_RECORDS, predicted)
    output.set_int_custom_property(SKIPPED_RECORDS, skipped_total)
