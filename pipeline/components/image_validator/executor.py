"""The ImageValidator's executor: checks every split, stops the run on hard
problems (its own and ExampleValidator's), writes the anomalies."""

import os
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_data_validation.utils import anomalies_util
from tfx.components.example_validator import executor as example_validator_executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from modules import data_profile
from pipeline.components.util import custom_config
from pipeline.components.util import data_check
# Raised here, caught by local_runner.py (executor.DataValidationError).
from pipeline.components.util.validation_error import DataValidationError
from settings import config as config_lib
from settings import features
from settings import records
from pipeline.components.image_validator import findings
from pipeline.components.image_validator import class_count_report
from pipeline.components.image_validator import drift
from pipeline.components.image_validator import image_scan

# TFX's ExampleValidator's file name, which this component's own anomalies
# take too (`Split-<name>/SchemaDiff.pb`).
ANOMALIES_FILE = example_validator_executor.DEFAULT_FILE_NAME
# The input: TFX ExampleValidator's anomalies (schema, class balance).
EXAMPLE_ANOMALIES_KEY = "example_anomalies"
# The optional input: the served model of other data (PreviousModel), whose
# training data profile is the drift baseline (modules/data_profile.py).
BASELINE_MODEL_KEY = "baseline_model"


class ImageValidatorExecutor(base_executor.BaseExecutor):
  """Validates every split; raises DataValidationError on hard problems."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    settings = custom_config.decode(exec_properties,
                                    config_lib.ImageValidatorSettings)
    class_names, image_size = list(settings.class_names), settings.image_size
    validation = settings.validation
    examples = artifact_utils.get_single_instance(input_dict["examples"])
    stats_artifact = artifact_utils.get_single_instance(
        input_dict["statistics"])
    example_anomalies = artifact_utils.get_single_instance(
        input_dict[EXAMPLE_ANOMALIES_KEY])
    anomalies_artifact = artifact_utils.get_single_instance(
        output_dict["anomalies"])
    splits = artifact_utils.decode_split_names(stats_artifact.split_names)
    anomalies_artifact.split_names = artifact_utils.encode_split_names(splits)
    anomalies_artifact.span = stats_artifact.span

    summary = records.ValidationSummary(
        max_imbalance_ratio=validation.max_imbalance_ratio)
    # The file check's report, written by CheckedImportExampleGen (None for
    # Examples from another ExampleGen).
    file_check = data_check.read_report(examples.uri)
    if file_check is not None:
      summary.warnings += [f"data files: {w}" for w in
                           file_check.get("warnings", [])]
      summary.data_files = {k: v for k, v in file_check.items()
                            if k != "test_records"}
    keys_by_split: Dict[str, List[Tuple[str, Optional[str]]]] = {}
    blessed = {}
    for split in splits:
      stats_list = stats_artifact_utils.load_statistics(stats_artifact,
                                                        split).proto()
      anomalies, split_summary = findings.validate_split(
          split, stats_list.datasets[0],
          read_example_anomalies(example_anomalies, split), class_names,
          validation.min_class_examples,
          check_balance=(split == features.TRAIN_SPLIT))
      # The training split's profile comes from the scan's own decode.
      profile = (data_profile.ProfileBuilder()
                 if split == features.TRAIN_SPLIT and validation.scan_images
                 else None)
      if validation.scan_images and split_summary["num_examples"]:
        logging.info("Checking every image of split %s.", split)
        pattern = os.path.join(
            artifact_utils.get_split_uri([examples], split), "*")
        keys = keys_by_split.setdefault(split, [])
        scanned, problems = image_scan.scan_records([pattern], image_size,
                                                    keys=keys,
                                                    profile=profile)
        split_summary["records_scanned"] = scanned
        split_summary["bad_records"] = problems
        if problems:
          findings.add_reason(anomalies, features.IMAGE_KEY,
                      anomalies_pb2.AnomalyInfo.ERROR, "Bad images",
                      f"{len(problems)} record(s) with bad images")
          shown = "; ".join(f"record {p['record']} (id {p['id']}): "
                            f"{p['problem']}" for p in
                            problems[:findings.MAX_RECORDS_IN_MESSAGE])
          more = len(problems) - findings.MAX_RECORDS_IN_MESSAGE
          split_summary["errors"].append(
              f"split {split!r}, feature {features.IMAGE_KEY!r}: "
              f"{len(problems)} bad record(s): {shown}" +
              (f"; and {more} more (see {findings.SUMMARY_FILE})"
               if more > 0 else ""))
        # Ids of train and eval only name records (messages, reports):
        # counted warnings. The test split's are errors, below.
        messages, split_summary["ids"] = findings.id_findings(split, keys)
        for message in messages:
          findings.add_reason(anomalies, features.ID_KEY,
                      anomalies_pb2.AnomalyInfo.WARNING, "Bad ids", message)
        split_summary["warnings"] += messages
      if split == features.TRAIN_SPLIT and split_summary["num_examples"]:
        summary.drift = _check_drift(
            examples, input_dict.get(BASELINE_MODEL_KEY) or [],
            validation, class_names, anomalies, split_summary,
            anomalies_artifact.uri, profile)
      out_dir = artifact_utils.get_split_uri([anomalies_artifact], split)
      tf.io.gfile.makedirs(out_dir)
      io_utils.write_bytes_file(os.path.join(out_dir, ANOMALIES_FILE),
                                anomalies.SerializeToString())
      blessed[split] = 0 if split_summary["errors"] else 1
      summary.splits[split] = split_summary
      summary.errors += split_summary["errors"]
      summary.warnings += split_summary["warnings"]

    if file_check is not None and file_check.get("test_records") is not None:
      # Its ids key submission.csv: an empty or repeated one corrupts it.
      test_keys = [tuple(key) for key in file_check["test_records"]]
      keys_by_split[features.TEST_SPLIT_DIR] = test_keys
      messages, test_ids = findings.id_findings(features.TEST_SPLIT_DIR,
                                              test_keys)
      summary.test = {"num_examples": len(test_keys), "ids": test_ids}
      summary.errors += messages
    if keys_by_split:
      messages, summary.integrity = findings.cross_split_findings(
          keys_by_split)
      summary.warnings += messages
    if (features.TRAIN_SPLIT in summary.splits and
        features.EVAL_SPLIT in summary.splits):
      warning, summary.eval_class_coverage = findings.eval_class_coverage(
          summary.splits[features.TRAIN_SPLIT]["class_counts"],
          summary.splits[features.EVAL_SPLIT]["class_counts"],
          class_names)
      if warning:
        summary.warnings.append(warning)
      one_class = findings.one_class_eval(
          summary.eval_class_coverage["eval_classes"], class_names)
      if one_class:
        allowed = validation.allow_one_class_eval
        (summary.warnings if allowed else summary.errors).append(
            one_class + ("" if allowed else
                         " (validation.allow_one_class_eval=true lets the "
                         "run go on)"))

    summary.reports = class_count_report.write_class_count_report(
        anomalies_artifact.uri,
        {s: v["class_counts"] for s, v in summary.splits.items()},
        class_names)
    summary.write(anomalies_artifact.uri)
    anomalies_artifact.set_json_value_custom_property("blessed", blessed)
    for warning in summary.warnings:
      logging.warning("Data validation: %s", warning)
    if summary.errors:
      raise DataValidationError(
          "data validation failed, the pipeline stops before Transform:\n  " +
          "\n  ".join(summary.errors) +
          f"\n(details in {anomalies_artifact.uri})")


def _baseline_profile(model) -> "tuple[Optional[Any], str]":
  """(the served model's training-data profile, where it was read), or
  (None, why there is none)."""
  folder = (model.get_string_custom_property(data_profile.PROFILE_PROPERTY)
            if model.has_custom_property(data_profile.PROFILE_PROPERTY)
            else "")
  # The push record's profile folder; a model trained before it kept its
  # profile in its Model artifact (modules/data_profile.py).
  for candidate in ([folder] if folder else []) + [model.uri]:
    profile = data_profile.read_profile(candidate)
    if profile is not None:
      return profile, candidate
  return None, (f"the served model ({model.uri}) has no training-data "
                "profile: it was pushed with the drift check off, or "
                "before profiles were kept")


def _check_drift(examples, baseline_models,
                 validation: config_lib.ValidationConfig,
                 class_names, anomalies, split_summary, output_uri,
                 profile: Optional[data_profile.ProfileBuilder] = None
                 ) -> Dict[str, Any]:
  """Profiles the training split and compares it with the served model's
  training data.

  `profile`: the training split's, fed by the image scan; None profiles
  the split here (validation.scan_images off). The profile is written into
  the validator's output whether or not there is a baseline: once this
  run's model is pushed, its push record names it, and it is the next
  run's reference (modules/data_profile.py).

  Drift findings are added to the training split's anomalies and summary:
  warnings, or errors with `stop_on_drift`. Returns the summary's `drift`
  section (`baseline` None, with a note, when there is nothing to compare
  with).
  """
  if not validation.drift_check:
    return {"baseline": None,
            "note": "drift check off (validation.drift_check)"}
  if profile is not None:
    current, record = profile.finish()
  else:
    logging.info("Profiling split %s.", features.TRAIN_SPLIT)
    current, record = data_profile.profile_records([os.path.join(
        artifact_utils.get_split_uri([examples], features.TRAIN_SPLIT),
        "*")])
  profile_dir = data_profile.write_profile(current, record, output_uri)
  written = {"current_profile": profile_dir,
             "current_records_skipped": record["skipped"]}
  if not record["profiled"]:
    # Every record is bad: the image scan names them, as errors.
    return {"baseline": None,
            "note": "no record of the training split could be profiled",
            **written}
  if not baseline_models:
    return {"baseline": None,
            "note": "no served model yet: nothing to compare with",
            **written}
  model = baseline_models[0]
  # The PreviousModel task found no served model of other data.
  none_reason = records.no_baseline_reason(model.uri)
  if none_reason is not None:
    return {"baseline": None, "note": f"no baseline: {none_reason}",
            **written}
  baseline, source = _baseline_profile(model)
  if baseline is None:
    return {"baseline": None, "note": source, **written}
  logging.info("Comparing split %s with the profile at %s.",
               features.TRAIN_SPLIT, source)
  drifts, section = drift.compare_profiles(
      current, baseline, class_names,
      validation.label_drift_comparator, validation.label_drift_threshold,
      validation.image_drift_threshold)
  stop = validation.stop_on_drift
  severity = (anomalies_pb2.AnomalyInfo.ERROR if stop else
              anomalies_pb2.AnomalyInfo.WARNING)
  messages = []
  for feature, message in drifts:
    findings.add_reason(anomalies, feature, severity, "Data drift", message)
    messages.append(
        f"split {features.TRAIN_SPLIT!r}: data drift: {message} (baseline "
        f"model {model.uri}" + ("; validation.stop_on_drift stops the run)"
                                 if stop else ")"))
  split_summary["errors" if stop else "warnings"].extend(messages)
  return {"baseline": model.uri, "baseline_model_id": model.id or None,
          "baseline_profile": source, **section, "stop_on_drift": stop,
          "messages": messages, **written}


def read_example_anomalies(artifact, split: str) -> anomalies_pb2.Anomalies:
  """TFX ExampleValidator's anomalies of one split, read with TFDV's own
  reader of the binary file TFX 1.16 writes.

  Raises:
    DataValidationError: the artifact has no file for the split (it was
      not written by ExampleValidator, or that split was excluded).
  """
  path = os.path.join(artifact_utils.get_split_uri([artifact], split),
                      ANOMALIES_FILE)
  if not tf.io.gfile.exists(path):
    raise DataValidationError(
        f"no anomalies of split {split!r} from ExampleValidator: {path} "
        "is missing")
  return anomalies_util.load_anomalies_binary(path)


def read_validation_summary(anomalies_uri: str) -> Optional[records.ValidationSummary]:
  """The validation summary of a ImageValidator output, if it exists."""
  return records.ValidationSummary.read(anomalies_uri)
