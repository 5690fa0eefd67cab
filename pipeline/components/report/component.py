"""Report: the component that writes the evaluation report, and its artifact.

In the DAG (pipeline/pipeline.py) it runs after the Evaluator, beside the
Pusher and independent of it:

    Evaluator --+--> Pusher
                +--> Report   (also reads the Trainer's model_run, the
                               ImageValidator's anomalies, ExampleGen's
                               examples and the BatchInference nodes'
                               eval and test predictions)

The report is what a user reads when something went wrong (a model not
blessed, a push that failed), so it must not wait on the Pusher; and the
Pusher, which serves the product, must not wait on a page. A report failure
fails the Report task, hence the run, but a blessed model may already be
pushed. Locally, LocalDagRunner runs the two one after the other, in node id
order ("Pusher" before "Report"), so there too the push comes first.
"""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter

from pipeline.components.util import artifact_types
from pipeline.components.report import executor

# The node id in the DAG; the run summary and tests find the report by it.
COMPONENT_ID = "Report"


class ReportSpec(types.ComponentSpec):
  """Inputs and output of Report (no parameters: it only reads artifacts)."""
  PARAMETERS = {}
  INPUTS = {
      executor.EVALUATION_KEY:
          ChannelParameter(type=standard_artifacts.ModelEvaluation),
      executor.BLESSING_KEY:
          ChannelParameter(type=standard_artifacts.ModelBlessing,
                           optional=True),
      executor.MODEL_RUN_KEY:
          ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
      executor.ANOMALIES_KEY:
          ChannelParameter(type=standard_artifacts.ExampleAnomalies,
                           optional=True),
      executor.EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples, optional=True),
      executor.EVAL_PREDICTIONS_KEY:
          ChannelParameter(type=artifact_types.Predictions,
                           optional=True),
      executor.TEST_PREDICTIONS_KEY:
          ChannelParameter(type=artifact_types.Predictions,
                           optional=True),
      executor.TUNER_RESULTS_KEY:
          ChannelParameter(type=standard_artifacts.TunerResults,
                           optional=True),
      executor.LITE_MODEL_KEY:
          ChannelParameter(type=artifact_types.LiteModel, optional=True),
  }
  OUTPUTS = {
      executor.REPORT_KEY:
          ChannelParameter(type=artifact_types.EvaluationReport),
  }


class Report(base_component.BaseComponent):
  """Writes the evaluation report of the Evaluator's model as an artifact.

  Example (as in pipeline/pipeline.py):

      Report(evaluation=evaluator.outputs["evaluation"],
             blessing=evaluator.outputs["blessing"],
             model_run=trainer.outputs["model_run"],
             anomalies=example_validator.outputs["anomalies"])
  """

  SPEC_CLASS = ReportSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self,
               evaluation: types.BaseChannel,
               blessing: Optional[types.BaseChannel] = None,
               model_run: Optional[types.BaseChannel] = None,
               anomalies: Optional[types.BaseChannel] = None,
               examples: Optional[types.BaseChannel] = None,
               eval_predictions: Optional[types.BaseChannel] = None,
               test_predictions: Optional[types.BaseChannel] = None,
               tuner_results: Optional[types.BaseChannel] = None,
               lite_model: Optional[types.BaseChannel] = None):
    """Builds the component.

    Args:
      evaluation: the Evaluator's output (metrics, per-class scores,
        confusion matrix, baseline comparison, validation result).
      blessing: the Evaluator's blessing: the verdict the Pusher acts on.
      model_run: the Trainer's run folder (training_history.json: class
        names and training counts per class).
      anomalies: the ImageValidator's output (examples per split, warnings).
      examples: ExampleGen's output: the gallery's images, the card's span.
      eval_predictions: the eval split's predictions (BatchInference): the
        gallery and the model card's bootstrap interval.
      test_predictions: the test split's predictions (BatchPrediction):
        the predicted class distribution.
      tuner_results: the Tuner's trials (with tune.enabled): their table.
      lite_model: LiteRTExport's device models and their scores: their
        table.
    """
    super().__init__(spec=ReportSpec(
        evaluation=evaluation, blessing=blessing, model_run=model_run,
        anomalies=anomalies, examples=examples,
        eval_predictions=eval_predictions, test_predictions=test_predictions,
        tuner_results=tuner_results, lite_model=lite_model,
        report=types.Channel(type=artifact_types.EvaluationReport)))
