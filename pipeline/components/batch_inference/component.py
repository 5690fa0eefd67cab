"""The components that predict whole splits, and their artifact.

In the DAG (pipeline/pipeline.py):

    Trainer + BaselineModel --> EvalInference (eval split, the candidate
                                 and the served model, each run once: the
                                 report's gallery, the model card's
                                 interval, and the scored examples the
                                 Evaluator reads)
    Trainer + Evaluator blessing --> BatchPrediction (a BatchInference on
                                 the test split of TestExampleGen, blessed
                                 models only: predictions and the Kaggle
                                 submission.csv)

BatchPrediction takes the Evaluator's blessing, the verdict the Pusher
acts on, rather than waiting on the Pusher: the Report reads its
predictions, and the report must not wait on the Pusher (see
pipeline/components/report/component.py). A blessed model is the model
pushed; TFX's BulkInferrer, which it stands in for, gates the same way.
"""

import json
from typing import Any, Dict, Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from pipeline.components.util import artifact_types
from pipeline.components.util import custom_config
from pipeline.components.batch_inference import eval_executor
from pipeline.components.batch_inference import executor
from settings import config as config_lib


class BatchInferenceSpec(types.ComponentSpec):
  """Examples and a model in; their predictions out."""
  PARAMETERS = {
      executor.SPLITS_KEY: ExecutionParameter(type=str),
      executor.SUBMISSION_SPLIT_KEY: ExecutionParameter(type=str,
                                                        optional=True),
      # Its InferenceSettings (pipeline/components/util/custom_config.py).
      custom_config.KEY: custom_config.parameter(),
  }
  INPUTS = {
      executor.EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples),
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.MODEL_BLESSING_KEY:
          ChannelParameter(type=standard_artifacts.ModelBlessing,
                           optional=True),
  }
  OUTPUTS = {
      executor.PREDICTIONS_KEY:
          ChannelParameter(type=artifact_types.Predictions),
  }


class BatchInference(base_component.BaseComponent):
  """Predicts every record of the given splits with the model.

  Example (as in pipeline/pipeline.py):

      BatchInference(examples=test_example_gen.outputs["examples"],
                     model=trainer.outputs["model"],
                     model_blessing=evaluator.outputs["blessing"],
                     splits=["test"], submission_split="test",
                     settings=config.inference_settings())
  """

  SPEC_CLASS = BatchInferenceSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self,
               examples: types.BaseChannel,
               model: types.BaseChannel,
               splits: Sequence[str],
               model_blessing: Optional[types.BaseChannel] = None,
               submission_split: str = "",
               settings: Optional[Dict[str, Any]] = None):
    """Builds the component.

    Args:
      examples: ExampleGen output holding `splits`.
      model: the Trainer's model (its `serving_default` signature is
        called).
      splits: the splits to predict.
      model_blessing: if given, an unblessed model predicts nothing.
      submission_split: the split whose predictions also go to
        `submission.csv` (`id,label`); "" for none.
      settings: `PipelineConfig.inference_settings()` (the batch size);
        None: the defaults.
    """
    super().__init__(spec=BatchInferenceSpec(
        examples=examples, model=model, model_blessing=model_blessing,
        splits=json.dumps(list(splits)), submission_split=submission_split,
        custom_config=custom_config.encode(
            settings or config_lib.PipelineConfig().inference_settings()),
        predictions=types.Channel(type=artifact_types.Predictions)))


class EvalInferenceSpec(types.ComponentSpec):
  """Examples, the candidate and the served model in; the candidate's
  predictions and both models' scored examples out."""
  PARAMETERS = {
      # Its InferenceSettings (pipeline/components/util/custom_config.py).
      custom_config.KEY: custom_config.parameter(),
  }
  INPUTS = {
      eval_executor.EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples),
      eval_executor.MODEL_KEY:
          ChannelParameter(type=standard_artifacts.Model),
      eval_executor.BASELINE_MODEL_KEY:
          ChannelParameter(type=standard_artifacts.Model, optional=True),
  }
  OUTPUTS = {
      eval_executor.PREDICTIONS_KEY:
          ChannelParameter(type=artifact_types.Predictions),
      eval_executor.SCORED_EXAMPLES_KEY:
          ChannelParameter(type=standard_artifacts.Examples),
  }


class EvalInference(base_component.BaseComponent):
  """Predicts the eval split with the candidate and the served model, once
  each (eval_executor.py).

  Example (as in pipeline/pipeline.py):

      EvalInference(examples=example_gen.outputs["examples"],
                    model=trainer.outputs["model"],
                    baseline_model=baseline.outputs["model"],
                    settings=config.inference_settings())
  """

  SPEC_CLASS = EvalInferenceSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(eval_executor.Executor)

  def __init__(self,
               examples: types.BaseChannel,
               model: types.BaseChannel,
               baseline_model: Optional[types.BaseChannel] = None,
               settings: Optional[Dict[str, Any]] = None):
    """Args: ExampleGen's examples (their `eval` split is predicted), the
    candidate model, the served model to compare with (a Model that stands
    for none is left out), and `PipelineConfig.inference_settings()`."""
    super().__init__(spec=EvalInferenceSpec(
        examples=examples, model=model, baseline_model=baseline_model,
        custom_config=custom_config.encode(
            settings or config_lib.PipelineConfig().inference_settings()),
        predictions=types.Channel(type=artifact_types.Predictions),
        scored_examples=types.Channel(type=standard_artifacts.Examples)))
