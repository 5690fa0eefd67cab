"""The model card of a run, built from that run's artifacts.

The Pusher (into the version folder) and the Report (into its artifact)
write the same card; this reads what it is built from, so both read it the
same way: the Trainer's `training_history.json`, the ImageValidator's
summary, ExampleGen's span and the eval split's predictions
(BatchInference). model_card.py builds and writes it.
"""

from typing import Optional

from tfx import types

from pipeline.components.util import evaluation_reader as evaluation_lib
from settings import features
from settings import records
from settings import spans
from pipeline.components.util import predictions as predictions_lib
from pipeline.components.util import device_section
from pipeline.components.util import ensemble_section
from pipeline.components.util import model_card


def read_eval_predictions(artifact: Optional[types.Artifact]
                          ) -> Optional[predictions_lib.SplitPredictions]:
  """The eval split's predictions of a BatchInference artifact, or None.

  Raises:
    FileNotFoundError: if the artifact holds no eval predictions (the eval
      split is predicted for every model, blessed or not).
  """
  if artifact is None:
    return None
  predictions = predictions_lib.read_predictions(artifact.uri,
                                                 features.EVAL_SPLIT)
  if predictions is None:
    raise FileNotFoundError(f"no eval predictions in {artifact.uri}")
  return predictions


def card_from_artifacts(
    evaluation: evaluation_lib.Evaluation,
    model_run: Optional[types.Artifact],
    anomalies: Optional[types.Artifact],
    examples: Optional[types.Artifact],
    eval_predictions: Optional[predictions_lib.SplitPredictions],
    blessed: Optional[bool],
    model: Optional[str],
    served_dir: Optional[str] = None,
    lite_evaluation: Optional[records.LiteEvaluation] = None
) -> model_card.ModelCard:
  """The card of the model `evaluation` evaluated.

  Args:
    evaluation: the Evaluator's output, read.
    model_run: the Trainer's ModelRun (its training history), if given.
    anomalies: the ImageValidator's output (its summary), if given.
    examples: ExampleGen's output (its span), if given.
    eval_predictions: the eval split's predictions (`read_eval_predictions`).
    blessed: the gate's verdict.
    model: where the model is (the version folder, or the Trainer's model).
    served_dir: the SavedModel folder to read an ensemble's ledger from
      (default: `model`; the Pusher builds the card before the version
      folder exists).
    lite_evaluation: LiteRTExport's scores of the device models, if any.
  """
  history = records.TrainingHistory.read(
      model_run.uri if model_run is not None else None)
  labels, predicted = model_card.eval_arrays(eval_predictions)
  card = model_card.build_card(
      evaluation, history,
      validation_summary=(records.ValidationSummary.read(anomalies.uri)
                          if anomalies is not None else None),
      span=(spans.label_of_examples(examples) or
            (examples.get_int_custom_property("span")
             if examples is not None and examples.has_custom_property("span")
             else None)),
      eval_labels=labels, eval_predicted=predicted, blessed=blessed,
      model=model)
  # An ensemble's members and weights, beside the ensemble's scores.
  ensemble_section.add_to_card(
      card, served_dir or model,
      (history.config if history else {}).get("class_names", []))
  # The LiteRT variants beside the SavedModel.
  device_section.add_to_card(card, lite_evaluation)
  return card
