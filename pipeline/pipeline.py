"""The pipeline DAG: `create_pipeline(...)`, shared by every runner.

ImportExampleGen (val folder, or a hash holdout of train) and SchemaGen
(curated schema, class domain from the class list) -> StatisticsGen ->
ExampleValidator (TFX's own: schema anomalies, class balance as TFDV
custom validation) -> ImageValidator (images, leakage, drift against the
served model's training data, a one-class eval split; stops the run on
hard problems of either) -> Transform -> [Tuner, with
tune.enabled] -> Trainer (with train.warm_start, from the served model's
weights) -> EvalInference (the candidate's and the served model's
predictions of the eval split, once each) -> Evaluator (TFMA's metrics of
those predictions, and the paired gate) -> Pusher (AtomicPusher: versioned,
never half a model, with a push record and a model card); beside the
Pusher, Report (the evaluation report as an artifact). With a `test`
folder, TestExampleGen -> BatchPrediction predicts it with a blessed model
and writes the Kaggle submission.csv (pipeline/components/batch_inference/).

The baseline is the model being served: PreviousModel (the newest pushed
model not trained on this run's Examples: the drift check's reference and
the warm start's base) and BaselineModel (the newest pushed model other
than the candidate: the gate's baseline) read the push records in the
serving folder, the same container task on every runner
(pipeline/components/baseline/). LiteRTExport and
LiteRTPusher make, score and push the on-device models
(pipeline/components/litert/).

Only logical settings come from `PipelineConfig`, and each component gets
only its own typed view of them, in its `custom_config` (settings/config.py
lists them), so TFX's cache re-runs only what a change touches. What the run
reads comes worked out in the data plan (pipeline/data_plan.py); the runners
pass the physical settings (paths, Beam arguments, metadata store).
"""

import json
import os
from typing import Any, Dict, List, Optional

import tensorflow_model_analysis as tfma
# TFX's own modules, not `tfx.v1`, whose cloud extensions (Vertex AI's
# client among them) a local run never uses and would pay seconds to import.
from tfx import components as tfx_components
# The module, not `tfx.components`' re-export: the same class, named where
# it lives.
from tfx.components.example_validator import component as example_validator_lib
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2
from tfx.proto import trainer_pb2

from settings import config as config_lib
from pipeline import data_plan as data_plan_lib
from pipeline import ensemble_dag
from settings import features
from settings import label_space
from pipeline.components.baseline import component as baseline_lib
from pipeline.components.batch_inference import component as inference_lib
from pipeline.components.util import class_balance
from pipeline.components.example_validator import executor as example_validator_executor
from pipeline.components.image_validator import component as image_validator_lib
from pipeline.components.evaluator import component as evaluator_lib
from pipeline.components.litert import component as litert_lib
from pipeline.components.litert import pusher as litert_pusher
from pipeline.components.pusher import component as pusher_lib
from pipeline.components.schema_gen import component as schema_gen_lib
from pipeline.components.report import component as report_lib
from pipeline.components.example_gen import component as example_gen_component

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMA_FILE = os.path.join(REPO_ROOT, "schema", "schema.pbtxt")

# Module paths, not files: they resolve from the installed project (locally
# from the repository root, in a cluster from the container image).
PREPROCESSING_FN = "modules.preprocessing.preprocessing_fn"
RUN_FN = "modules.trainer.run_fn"
TUNER_FN = "modules.tuner.tuner_fn"
METRICS_MODULE = "modules.metrics"
# The served-model tasks' node ids (pipeline/components/baseline/).
BASELINE_MODEL_ID = "BaselineModel"
PREVIOUS_MODEL_ID = "PreviousModel"
# The validators' node ids: TFX's own, and ours after it.
EXAMPLE_VALIDATOR_ID = "ExampleValidator"
IMAGE_VALIDATOR_ID = "ImageValidator"


def eval_config(config: config_lib.PipelineConfig) -> tfma.EvalConfig:
  """TFMA config: Kaggle macro F1 and accuracy on the overall slice.

  Model-agnostic: TFMA reads each model's probabilities from EvalInference's
  scored examples (`prediction_key`), runs no model, and holds no threshold:
  the Evaluator's gate decides on top of these metrics
  (pipeline/components/evaluator/, which adds the baseline's ModelSpec when
  there is a served model to compare with). Per-class scores are sub keys
  of the overall slice (modules/metrics.py), not slices of their own.
  """
  return tfma.EvalConfig(
      model_specs=[evaluator_lib.candidate_model_spec()],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[
          tfma.MetricsSpec(metrics=[
              tfma.MetricConfig(class_name="ExampleCount"),
              tfma.MetricConfig(
                  class_name="MacroF1", module=METRICS_MODULE,
                  config=json.dumps({"num_classes": config.num_classes})),
              # The same argmax confusion matrix as TFMA's own plot, so
              # `tfma.view.render_plot` shows it in a notebook; MacroF1
              # also stores it as a metric for the report.
              tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
          ])
      ])


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data: data_plan_lib.DataPlan,
    serving_model_dir: str,
    config: config_lib.PipelineConfig,
    schema_file: str = DEFAULT_SCHEMA_FILE,
    metadata_connection_config=None,
    beam_pipeline_args: Optional[List[str]] = None,
    enable_cache: bool = True,
    vertex_training: Optional[Dict[str, Any]] = None,
) -> tfx_pipeline.Pipeline:
  """Builds the TFX pipeline.

  Args:
    pipeline_name: name in the metadata store.
    pipeline_root: where component outputs go.
    data: what the run reads (pipeline/data_plan.py): the spans, where the
      eval split comes from, whether the test folder is predicted.
    serving_model_dir: where Pusher writes blessed models.
    config: the logical settings.
    schema_file: the curated schema, read when SchemaGen runs (in its
      container on Kubeflow); SchemaGen sets its class domain to
      [0, config.num_classes - 1]
      (pipeline/components/schema_gen/class_domain.py).
    metadata_connection_config: MLMD connection (None: the orchestrator's).
    beam_pipeline_args: arguments of the Beam-based components.
    enable_cache: reuse outputs of unchanged components.
    vertex_training: None to train inside the Trainer's own container; else
      the Vertex AI Trainer's custom_config entries (keys starting
      `config_lib.PLATFORM_KEY_PREFIX`, see kubeflow_runner.py), and the
      Trainer node, same id and inputs, launches a Vertex AI custom job.

  Returns:
    The pipeline, for LocalDagRunner or KubeflowV2DagRunner.
  """
  # ImportExampleGen that first checks every input file, naming a missing
  # folder or a truncated file (pipeline/components/example_gen/); with
  # spans, it reads the latest span, or those `config.data.spans` names.
  example_gen = example_gen_component.CheckedImportExampleGen(
      input_base=data.input_base, input_config=data.input_config(),
      output_config=data.output_config(), range_config=data.range_config(),
      selection=data.selection).with_id("ImportExampleGen")
  schema_gen = schema_gen_lib.SchemaGen(
      schema_file=schema_file,
      settings=config.schema_settings()).with_id("SchemaGen")
  # With the schema, the label's statistics are categorical: a histogram of
  # every class, which ExampleValidator's class balance rules read.
  statistics_gen = tfx_components.StatisticsGen(
      examples=example_gen.outputs["examples"],
      schema=schema_gen.outputs["schema"])
  # The served model of the data before: the newest pushed model of this
  # class list not trained on this run's Examples. Its artifact holds the
  # profile of its training data (the drift check's reference) and its
  # weights (the warm start's base). An unchanged re-run finds the same
  # inputs, so this task and what reads it stay cached.
  previous_model = None
  if config.validation.drift_check or config.train.warm_start:
    previous_model = baseline_lib.PushRecordBaseline(
        serving_dir=serving_model_dir,
        label_space=label_space.fingerprint(config.class_names),
        purpose="previous model (drift reference, warm start base)",
        examples=example_gen.outputs["examples"]).with_id(
            PREVIOUS_MODEL_ID)
  # TFX's own ExampleValidator: the schema, and the class balance rules as
  # TFDV SQL on the label's statistics (components/util/class_balance.py).
  example_validator = example_validator_lib.ExampleValidator(
      statistics=statistics_gen.outputs["statistics"],
      schema=schema_gen.outputs["schema"],
      custom_validation_config=class_balance.custom_validation_config(
          config.example_validator_settings())).with_id(EXAMPLE_VALIDATOR_ID)
  # TFX's executor after two guards: an empty split named, and the config
  # as Kubeflow V2 passes it (the module says why).
  example_validator_executor.use_in(example_validator)
  # What the statistics cannot show, and the stop on hard problems of
  # both: ExampleValidator only records its anomalies.
  image_validator = image_validator_lib.ImageValidator(
      examples=example_gen.outputs["examples"],
      statistics=statistics_gen.outputs["statistics"],
      example_anomalies=example_validator.outputs["anomalies"],
      settings=config.image_validator_settings(),
      baseline_model=(previous_model.outputs["model"]
                      if previous_model and config.validation.drift_check
                      else None),
  ).with_id(IMAGE_VALIDATOR_ID)
  def make_transform(settings):
    node = tfx_components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=settings,
        materialize=False, disable_statistics=True)
    # Hard data problems stop the run before any preprocessing or training.
    node.add_upstream_node(image_validator)
    return node
  # An ensemble builds a Transform per input size its members use
  # (pipeline/ensemble_dag.py), so none is built here that no node reads.
  transform = (None if config.ensemble.members
               else make_transform(config.transform_settings()))
  trainer_class = tfx_components.Trainer
  if vertex_training:
    foreign = [key for key in vertex_training
               if not key.startswith(config_lib.PLATFORM_KEY_PREFIX)]
    if foreign:
      raise ValueError(
          f"vertex_training keys must start with "
          f"{config_lib.PLATFORM_KEY_PREFIX!r} (the Trainer's run_fn reads "
          f"the rest as its config), not {foreign}")
    # slow import: tfx.v1 and Vertex AI's client (2 s); a local run
    # must never load them (tests/test_pipeline_e2e.py)
    from tfx.v1.extensions import google_cloud_ai_platform  # pylint: disable=g-import-not-at-top
    trainer_class = google_cloud_ai_platform.Trainer
  # What the Tuner's trials and the Trainer (each member's) train on, but
  # the Transform graph, which is their own input size's.
  training_inputs = dict(
      examples=example_gen.outputs["examples"],
      schema=schema_gen.outputs["schema"],
      train_args=trainer_pb2.TrainArgs(splits=[features.TRAIN_SPLIT]),
      eval_args=trainer_pb2.EvalArgs(splits=[features.EVAL_SPLIT]))
  # With tune.enabled: a KerasTuner search first (modules/tuner.py); the
  # Trainer then trains with its best trial's values.
  tuner, hyperparameters = None, None
  if config.tune.enabled:
    tuner = tfx_components.Tuner(
        tuner_fn=TUNER_FN, custom_config=config.tuner_settings(),
        transform_graph=transform.outputs["transform_graph"],
        **training_inputs)
    hyperparameters = tuner.outputs["best_hyperparameters"]
  # With train.warm_start: the previous model is the Trainer's base_model,
  # whose weights run_fn starts from (modules/warm_start.py): new data
  # starts from the model of the data before, and an unchanged re-run finds
  # the same base_model and stays cached. Off, the Trainer has no such
  # input.
  warm_start_inputs = {}
  if config.train.warm_start:
    warm_start_inputs = dict(base_model=previous_model.outputs["model"])
  if config.ensemble.members:
    # One Trainer per member, and the Ensemble's model in the Trainer's
    # place (pipeline/ensemble_dag.py).
    members = ensemble_dag.ensemble_nodes(
        config, example_gen.outputs["examples"], make_transform,
        lambda settings, member_transform: trainer_class(
            run_fn=RUN_FN,
            transform_graph=member_transform.outputs["transform_graph"],
            **training_inputs,
            custom_config={**settings, **(vertex_training or {})}))
    model, model_run, trainer_nodes = (members.model, members.model_run,
                                       members.nodes)
  else:
    trainer = trainer_class(
        run_fn=RUN_FN,
        hyperparameters=hyperparameters,
        transform_graph=transform.outputs["transform_graph"],
        **training_inputs,
        **warm_start_inputs,
        custom_config={**config.trainer_settings(),
                       **(vertex_training or {})})
    model, model_run, trainer_nodes = (
        trainer.outputs["model"], trainer.outputs["model_run"], [trainer])
  # The gate's baseline: the served model, the newest pushed model of this
  # class list other than the candidate (an unchanged re-run, whose
  # candidate is the model it pushed, still finds the model it was first
  # compared with, and stays cached).
  baseline_model = baseline_lib.PushRecordBaseline(
      serving_dir=serving_model_dir,
      label_space=label_space.fingerprint(config.class_names),
      purpose="Evaluator baseline", candidate=model).with_id(
          BASELINE_MODEL_ID)
  # Each model over the eval split once: the candidate's and the baseline's
  # probabilities (the report's gallery, the model card's interval) and the
  # same as scored examples, which the Evaluator reads.
  eval_inference = inference_lib.EvalInference(
      examples=example_gen.outputs["examples"], model=model,
      baseline_model=baseline_model.outputs["model"],
      settings=config.inference_settings()).with_id("EvalInference")
  # TFX's Evaluator on those predictions (no model run again), with the
  # gate: the absolute threshold and the paired change against the served
  # model (pipeline/components/evaluator/).
  evaluator = evaluator_lib.Evaluator(
      examples=eval_inference.outputs["scored_examples"],
      model=model,
      baseline_model=baseline_model.outputs["model"],
      eval_config=eval_config(config),
      settings=config.gate_settings()).with_id("Evaluator")
  prediction_nodes = [eval_inference]
  test_predictions = None
  if data.predicts_test:
    # Its own ExampleGen: the unlabelled test split must not reach the
    # statistics, the validator's label checks or Transform, and with no
    # `val` folder ImportExampleGen's hash holdout takes one input split.
    # With spans: the newest span's test folder (the range's last).
    test_example_gen = example_gen_component.CheckedImportExampleGen(
        input_base=data.input_base, input_config=data.test_input_config(),
        output_config=data_plan_lib.test_output_config(),
        range_config=data.range_config()).with_id("TestExampleGen")
    batch_prediction = inference_lib.BatchInference(
        examples=test_example_gen.outputs["examples"],
        model=model,
        model_blessing=evaluator.outputs["blessing"],
        splits=[features.TEST_SPLIT], submission_split=features.TEST_SPLIT,
        settings=config.inference_settings()).with_id("BatchPrediction")
    prediction_nodes += [test_example_gen, batch_prediction]
    test_predictions = batch_prediction.outputs["predictions"]
  # Atomic versioned push with a push_record.json and a model card
  # (pipeline/components/pusher/); the evaluation, the Trainer's run, the
  # examples, the validator's summary and the eval predictions are what
  # they describe (metrics and their interval, class counts, span,
  # warnings).
  pusher = pusher_lib.AtomicPusher(
      model=model,
      model_blessing=evaluator.outputs["blessing"],
      evaluation=evaluator.outputs["evaluation"],
      model_run=model_run,
      examples=example_gen.outputs["examples"],
      anomalies=image_validator.outputs["anomalies"],
      eval_predictions=eval_inference.outputs["predictions"],
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(
              base_directory=serving_model_dir))).with_id("Pusher")
  # The on-device LiteRT models (pipeline/components/litert/): converted
  # and scored through the interpreter beside the Evaluator, pushed beside
  # the SavedModel with its version when it is blessed. An ensemble gets
  # none (docs/on-device.md).
  lite_nodes, lite_model = [], None
  if config.lite.enabled and not config.ensemble.members:
    lite_export = litert_lib.LiteRTExport(
        model=model, examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        eval_predictions=eval_inference.outputs["predictions"],
        settings=config.lite_settings()).with_id(litert_lib.EXPORT_ID)
    lite_pusher = litert_lib.LiteRTPusher(
        lite_model=lite_export.outputs["lite_model"], model=model,
        model_blessing=evaluator.outputs["blessing"],
        pushed_model=pusher.outputs["pushed_model"],
        base_directory=litert_pusher.lite_serving_dir(serving_model_dir)
    ).with_id(litert_lib.PUSHER_ID)
    lite_nodes = [lite_export, lite_pusher]
    lite_model = lite_export.outputs["lite_model"]
  # After the Evaluator, independent of the Pusher: why in its module.
  report = report_lib.Report(
      evaluation=evaluator.outputs["evaluation"],
      blessing=evaluator.outputs["blessing"],
      model_run=model_run,
      anomalies=image_validator.outputs["anomalies"],
      examples=example_gen.outputs["examples"],
      eval_predictions=eval_inference.outputs["predictions"],
      test_predictions=test_predictions,
      tuner_results=tuner.outputs["tuner_results"] if tuner else None,
      lite_model=lite_model,
  ).with_id(report_lib.COMPONENT_ID)
  return tfx_pipeline.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[
          example_gen, statistics_gen, schema_gen, example_validator,
          image_validator] + ([transform] if transform else []) +
      trainer_nodes + [
              baseline_model, evaluator, pusher, report
          ] + prediction_nodes + lite_nodes + ([tuner] if tuner else []) +
      ([previous_model] if previous_model else []),
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [])
