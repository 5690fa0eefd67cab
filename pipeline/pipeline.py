"""The pipeline DAG: `create_pipeline(...)`, shared by every runner.

ImportExampleGen (val folder, or a hash holdout of train) and SchemaGen
(curated schema, class domain from the class list) -> StatisticsGen ->
ExampleValidator (DataValidator: schema, class balance, images, drift
against the latest blessed model's training data) ->
Transform -> [Tuner, with tune.enabled] -> Trainer (with train.warm_start,
from the latest blessed model's weights) -> Evaluator (latest blessed model
as baseline) ->
Pusher (AtomicPusher: versioned, never half a model, with a push record and
a model card); beside the Pusher, Report (the evaluation report as an
artifact). EvalInference predicts the eval split (the report's gallery and
the model card's bootstrap interval); with a `test` folder, TestExampleGen ->
BatchPrediction predicts it with a blessed model and writes the Kaggle
submission.csv (pipeline/components/batch_inference/). LiteRTExport and
LiteRTPusher make, score and push the on-device models
(pipeline/components/litert/).

Only logical settings come from `PipelineConfig`, and each component gets
only its own typed view of them, in its `custom_config` (settings/config.py
lists them; the Evaluator's gate is its `eval_config`), so TFX's cache
re-runs only what a change touches. What the run reads comes worked out in
the data plan (pipeline/data_plan.py); the runners pass the physical
settings (paths, Beam arguments, metadata store).
"""

import json
import os
from typing import Any, Dict, List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from pipeline import baseline as baseline_lib
from pipeline import baseline_nodes
from settings import config as config_lib
from pipeline import data_plan as data_plan_lib
from pipeline import ensemble_dag
from settings import features
from pipeline.components.batch_inference import component as inference_lib
from pipeline.components.data_validator import component as data_validator_lib
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


def eval_config(config: config_lib.PipelineConfig) -> tfma.EvalConfig:
  """TFMA config: Kaggle macro F1 and accuracy, gated on the overall slice.

  Only the overall slice is computed: per-class scores are sub keys of it
  (modules/metrics.py), which is what tools/report.py reads.
  """
  gate = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(
          lower_bound={"value": config.eval.min_macro_f1}),
      change_threshold=tfma.GenericChangeThreshold(
          direction=tfma.MetricDirection.HIGHER_IS_BETTER,
          absolute={"value": -config.eval.max_macro_f1_drop}))
  return tfma.EvalConfig(
      model_specs=[
          tfma.ModelSpec(signature_name="serving_default",
                         label_key=features.LABEL_KEY,
                         prediction_key=features.PROBABILITIES_KEY)
      ],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[
          tfma.MetricsSpec(metrics=[
              tfma.MetricConfig(class_name="ExampleCount"),
              tfma.MetricConfig(
                  class_name="MacroF1", module=METRICS_MODULE,
                  config=json.dumps({"num_classes": config.num_classes}),
                  # `threshold` would apply to every slice a later
                  # slicing spec adds; the gate is on the overall slice.
                  per_slice_thresholds=[
                      tfma.PerSliceMetricThreshold(
                          slicing_specs=[tfma.SlicingSpec()], threshold=gate)
                  ]),
              # The same argmax confusion matrix as TFMA's own plot, so
              # `tfma.view.render_plot` shows it in a notebook; MacroF1
              # also stores it as a metric for tools/report.py.
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
    stable_baseline: bool = False,
    push_record_baselines: bool = False,
) -> tfx.dsl.Pipeline:
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
      (pipeline/components/schema_gen/schema_check.py).
    metadata_connection_config: MLMD connection (None: the orchestrator's).
    beam_pipeline_args: arguments of the Beam-based components.
    enable_cache: reuse outputs of unchanged components.
    vertex_training: None to train inside the Trainer's own container; else
      the Vertex AI Trainer's custom_config entries (keys starting
      `config_lib.PLATFORM_KEY_PREFIX`, see kubeflow_runner.py), and the
      Trainer node, same id and inputs, launches a Vertex AI custom job.
    stable_baseline: the Evaluator's baseline leaves the candidate out,
      the drift baseline the models trained on this run's Examples
      (pipeline/baseline.py), so an unchanged re-run caches the validator,
      the Evaluator and the Pusher; LocalDagRunner only
      (KubeflowV2DagRunner compiles TFX's own resolver strategies only).
    push_record_baselines: the baselines are found by a container task from
      the push records in `serving_model_dir` (pipeline/baseline_nodes.py),
      not by resolvers: the spec open-source Kubeflow Pipelines runs.

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
  # every class, which DataValidator reads for class balance.
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs["examples"],
      schema=schema_gen.outputs["schema"])
  # The drift baseline: the latest blessed model, whose artifact holds the
  # profile of its training data (modules/data_profile.py says why there);
  # locally, not a model trained on these Examples (pipeline/baseline.py).
  baselines = baseline_nodes.BaselineNodes(
      stable=stable_baseline, from_push_records=push_record_baselines,
      serving_dir=serving_model_dir, class_names=config.class_names)
  drift_resolver = None
  if config.validation.drift_check:
    drift_resolver = baselines.node(
        "drift_baseline_resolver",
        baseline_lib.LatestBlessedModelOfOtherDataStrategy,
        {baseline_lib.EXAMPLES_KEY: example_gen.outputs["examples"]},
        "drift baseline")
  example_validator = data_validator_lib.DataValidator(
      examples=example_gen.outputs["examples"],
      statistics=statistics_gen.outputs["statistics"],
      schema=schema_gen.outputs["schema"],
      settings=config.validator_settings(),
      baseline_model=(drift_resolver.outputs["model"] if drift_resolver
                      else None),
  ).with_id("ExampleValidator")
  def make_transform(settings):
    node = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=settings,
        materialize=False, disable_statistics=True)
    # Hard data problems stop the run before any preprocessing or training.
    node.add_upstream_node(example_validator)
    return node
  transform = make_transform(config.transform_settings())
  trainer_class = tfx.components.Trainer
  trainer_config = config.trainer_settings()
  if vertex_training:
    foreign = [key for key in vertex_training
               if not key.startswith(config_lib.PLATFORM_KEY_PREFIX)]
    if foreign:
      raise ValueError(
          f"vertex_training keys must start with "
          f"{config_lib.PLATFORM_KEY_PREFIX!r} (the Trainer's run_fn reads "
          f"the rest as its config), not {foreign}")
    from tfx.v1.extensions import google_cloud_ai_platform  # pylint: disable=g-import-not-at-top
    trainer_class = google_cloud_ai_platform.Trainer
    trainer_config = {**trainer_config, **vertex_training}
  # What the Tuner's trials and the Trainer both train on.
  training_inputs = dict(
      examples=example_gen.outputs["examples"],
      transform_graph=transform.outputs["transform_graph"],
      schema=schema_gen.outputs["schema"],
      train_args=tfx.proto.TrainArgs(splits=[features.TRAIN_SPLIT]),
      eval_args=tfx.proto.EvalArgs(splits=[features.EVAL_SPLIT]))
  # With tune.enabled: a KerasTuner search first (modules/tuner.py); the
  # Trainer then trains with its best trial's values.
  tuner, hyperparameters = None, None
  if config.tune.enabled:
    tuner = tfx.components.Tuner(
        tuner_fn=TUNER_FN, custom_config=config.tuner_settings(),
        **training_inputs)
    hyperparameters = tuner.outputs["best_hyperparameters"]
  # With train.warm_start: the latest blessed model is the Trainer's
  # base_model, whose weights run_fn starts from (modules/warm_start.py);
  # locally, as for the drift baseline, not a model trained on these
  # Examples: new data starts from the model of the data before, and an
  # unchanged re-run finds the same base_model and stays cached (with TFX's
  # strategy it would fine-tune its own last model on every re-run). Off,
  # the DAG has no such node.
  warm_start_resolver, warm_start_inputs = None, {}
  if config.train.warm_start:
    warm_start_resolver = baselines.node(
        "warm_start_model_resolver",
        baseline_lib.LatestBlessedModelOfOtherDataStrategy,
        {baseline_lib.EXAMPLES_KEY: example_gen.outputs["examples"]},
        "warm start base")
    warm_start_inputs = dict(base_model=warm_start_resolver.outputs["model"])
  if config.ensemble.members:
    # One Trainer per member, and the Ensemble's model in the Trainer's
    # place (pipeline/ensemble_dag.py).
    members = ensemble_dag.ensemble_nodes(
        config, example_gen.outputs["examples"], transform, make_transform,
        lambda settings, member_transform: trainer_class(
            run_fn=RUN_FN, **dict(
                training_inputs,
                transform_graph=member_transform.outputs["transform_graph"]),
            custom_config={**settings, **(vertex_training or {})}))
    model, model_run, trainer_nodes = (members.model, members.model_run,
                                       members.nodes)
  else:
    trainer = trainer_class(
        run_fn=RUN_FN,
        hyperparameters=hyperparameters,
        **training_inputs,
        **warm_start_inputs,
        custom_config=trainer_config)
    model, model_run, trainer_nodes = (
        trainer.outputs["model"], trainer.outputs["model_run"], [trainer])
  # The baseline: the latest blessed model, without the candidate itself
  # where the orchestrator runs our strategy (pipeline/baseline.py).
  model_resolver = baselines.node(
      "latest_blessed_model_resolver",
      baseline_lib.LatestBlessedOtherModelStrategy,
      {baseline_lib.CANDIDATE_KEY: model},
      "Evaluator baseline")
  # TFX's Evaluator that leaves out a baseline that is the candidate
  # itself (pipeline/components/evaluator/).
  evaluator = evaluator_lib.Evaluator(
      examples=example_gen.outputs["examples"],
      model=model,
      baseline_model=model_resolver.outputs["model"],
      example_splits=[features.EVAL_SPLIT],
      eval_config=eval_config(config))
  # Every model's eval predictions, blessed or not: the report's gallery of
  # misclassified images and the model card's bootstrap interval.
  eval_inference = inference_lib.BatchInference(
      examples=example_gen.outputs["examples"],
      model=model, splits=[features.EVAL_SPLIT],
      settings=config.inference_settings()).with_id("EvalInference")
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
      anomalies=example_validator.outputs["anomalies"],
      eval_predictions=eval_inference.outputs["predictions"],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
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
      anomalies=example_validator.outputs["anomalies"],
      examples=example_gen.outputs["examples"],
      eval_predictions=eval_inference.outputs["predictions"],
      test_predictions=test_predictions,
      tuner_results=tuner.outputs["tuner_results"] if tuner else None,
      lite_model=lite_model,
  ).with_id(report_lib.COMPONENT_ID)
  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=[
          example_gen, statistics_gen, schema_gen, example_validator,
          transform] + trainer_nodes + [
              model_resolver, evaluator, pusher, report
          ] + prediction_nodes + lite_nodes + ([tuner] if tuner else []) +
      ([warm_start_resolver] if warm_start_resolver else []) +
      ([drift_resolver] if drift_resolver else []),
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [])
