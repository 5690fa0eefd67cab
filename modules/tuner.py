"""Tuner module: `tuner_fn`, as TFX's Tuner component calls it.

Reads the Trainer's settings and the search (`TunerSettings`: the `tune`
section) from `fn_args.custom_config` and returns a KerasTuner RandomSearch
over the learning rate, the dropout, the augmentation strength and the
backbone (the names of `hyperparameters.HP_FIELDS`), each trial trained for
`tune.epochs_per_trial` epochs with the Trainer's own input pipeline,
model and loss on train less its selection slice, and scored by
val_accuracy on that slice (`train.selection_percent`, modules/fit_slice.py),
never on the eval split the gate scores: a search scored there would make
the gated macro F1 optimistic. The Trainer then trains with the best
trial's values (`hyperparameters.apply_hyperparameters`).
"""

from typing import Any

from absl import logging
import keras
import keras_tuner
import tensorflow_transform as tft
from tfx.components.tuner import component as tuner_component

from modules import dataset as dataset_lib
from modules import hyperparameters
from modules import model as model_lib
from modules import strategy as strategy_lib
from modules import trainer as trainer_lib
from settings import config as config_lib

OBJECTIVE = "val_accuracy"


def search_space(tune: config_lib.TuneConfig) -> keras_tuner.HyperParameters:
  """The choices of `tune`, one hyperparameter each (HP_FIELDS names;
  SEARCH_CHOICES says which `tune` field lists each one's choices)."""
  hp = keras_tuner.HyperParameters()
  for name, choices in hyperparameters.SEARCH_CHOICES.items():
    hp.Choice(name, list(getattr(tune, choices)))
  return hp


class FlowersHyperModel(keras_tuner.HyperModel):
  """The Trainer's model and input pipeline, with a trial's values."""

  def __init__(self, settings: config_lib.TunerSettings, fn_args,
               replicas: int):
    super().__init__()
    self.settings = settings
    self.fn_args = fn_args
    self.replicas = replicas
    self.tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    counts = dataset_lib.read_class_counts(fn_args.train_files,
                                           settings.num_classes)
    self.global_batch = settings.train.per_replica_batch_size * replicas
    # Train less the selection slice.
    trained = sum(counts) * (100 - settings.train.selection_percent) // 100
    self.steps_per_epoch = max(1, trained // self.global_batch)

  def config(self, hp) -> config_lib.TunerSettings:
    return hyperparameters.apply_hyperparameters(self.settings, hp.values)

  def build(self, hp) -> keras.Model:
    config = self.config(hp)
    model = model_lib.build_model(config)
    trainer_lib.compile_model(model, config,
                              config.train.learning_rate * self.replicas)
    return model

  def fit(self, hp, model, *args, **kwargs) -> Any:
    config = self.config(hp)
    train_ds = dataset_lib.make_dataset(
        self.fn_args.train_files, self.tft_output, self.global_batch,
        config, training=True, selection=dataset_lib.WITHOUT_SELECTION)
    selection_ds = dataset_lib.make_dataset(
        self.fn_args.train_files, self.tft_output, self.global_batch,
        config, training=False, selection=dataset_lib.ONLY_SELECTION)
    return model.fit(train_ds, validation_data=selection_ds,
                     steps_per_epoch=self.steps_per_epoch,
                     epochs=self.settings.tune.epochs_per_trial,
                     callbacks=kwargs.get("callbacks"), verbose=0)


def tuner_fn(fn_args) -> tuner_component.TunerFnResult:
  """The search: a seeded RandomSearch with the budget of `tune`."""
  settings = config_lib.TunerSettings.from_custom_config(
      fn_args.custom_config)
  keras.utils.set_random_seed(settings.train.seed)
  strategy = strategy_lib.resolve_strategy(settings.train.tpu_address)
  keras.mixed_precision.set_global_policy(strategy_lib.precision_policy(
      strategy, settings.train.mixed_precision))
  if strategy_lib.determinism_on(settings.train.deterministic, strategy):
    strategy_lib.make_deterministic(settings.train.seed)
  tune = settings.tune
  logging.info("Tuning: %d trials of %d epoch(s).", tune.trials,
               tune.epochs_per_trial)
  tuner = keras_tuner.RandomSearch(
      FlowersHyperModel(settings, fn_args, strategy.num_replicas_in_sync),
      hyperparameters=search_space(tune), objective=OBJECTIVE,
      max_trials=tune.trials, seed=settings.train.seed,
      distribution_strategy=strategy, directory=fn_args.working_dir,
      project_name="flowers", overwrite=True)
  # verbose=0: KerasTuner's per-trial tables would go to the terminal; the
  # trials are in the Tuner's tuner_results and in the report.
  return tuner_component.TunerFnResult(tuner=tuner,
                                      fit_kwargs={"verbose": 0})

