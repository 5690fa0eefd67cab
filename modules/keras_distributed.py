"""Workarounds that let Keras 3.6's `fit` train right on several replicas.

Every strategy of several replicas: Keras 3 takes each replica's loss as
the mean over that replica's batch and then sums the replicas' gradients
(keras/src/backend/tensorflow/optimizer.py `_all_reduce_sum_gradients`),
so a step moves by N times the global batch's mean gradient (tf.keras
divided each replica's loss by N first). `average_replica_gradients` puts
the 1/N back, so N replicas take the step one process takes with the same
global batch; the learning rate's scaling by replicas (modules/schedules.py)
is then the only scaling, as the notebooks intend.

Several workers: Keras 3.6 (the pinned version) cannot run `Model.fit` under
MultiWorkerMirroredStrategy with two or more workers (keras-team/keras#20585,
tensorflow/tensorflow#72388); two places in
keras/src/backend/tensorflow/trainer.py fail, and TensorFlow's own
multi-worker tutorial fails the same way:
1. Before the first step, `_maybe_symbolic_build` draws the first batch
   and reduces it to its MEAN across every replica, only to learn its
   shapes; across workers that reduce raises "Attempt to convert a value
   (PerReplica...) to a Tensor". (Drawn from the epoch's own iterator, that
   batch is also never trained on.)
2. After each step, `reduce_per_replica` averages the logs (loss, metrics)
   with `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar
   logs ("Invalid reduction dimension 0 for input with 0 dimensions").

Keeping Keras's `fit` (its callbacks, class weights, metrics and schedules
are what the single-host paths use) needs both mended, and only those two:
`enable_multi_worker(model, strategy)` does that for one model's fit and
evaluate. tests/test_multiworker.py checks the result against a one-process
run.
"""

import keras
from keras.src.backend.tensorflow import trainer as keras_tf_trainer
import tensorflow as tf

_keras_reduce_per_replica = keras_tf_trainer.reduce_per_replica


def _rank(value) -> int:
  if isinstance(value, tf.distribute.DistributedValues):
    value = value.values[0]
  return value.shape.rank


def _reduce_per_replica(values, strategy, reduction):
  """Keras's reduce, with a scalar's MEAN taken across replicas (axis None)."""
  if (reduction in ("auto", "mean") and
      keras_tf_trainer._collective_all_reduce_multi_worker(strategy)):  # pylint: disable=protected-access
    return tf.nest.map_structure(
        lambda v: (strategy.reduce("MEAN", v, axis=None) if _rank(v) == 0
                   else _keras_reduce_per_replica(v, strategy, reduction)),
        values)
  return _keras_reduce_per_replica(values, strategy, reduction)


def average_replica_gradients(model: keras.Model, replicas: int) -> None:
  """Divides each replica's loss by `replicas` before its gradients are
  taken (compiled `model` only; the logged loss is unchanged, as Keras
  records it before `scale_loss`). Does nothing for one replica."""
  if replicas <= 1:
    return
  optimizer = model.optimizer
  keras_scale_loss = optimizer.scale_loss  # Mixed precision's loss scale.
  optimizer.scale_loss = lambda loss: keras_scale_loss(loss) / replicas


def enable_multi_worker(model: keras.Model,
                        strategy: tf.distribute.Strategy) -> None:
  """Mends both places for `model`'s fit and evaluate under `strategy`."""
  # (2) A module function that the train and test steps look up when they
  # are traced; for other strategies it calls Keras's own.
  keras_tf_trainer.reduce_per_replica = _reduce_per_replica

  # (1) This model's build reads the shapes and dtypes from the dataset's
  # element spec, with no collective and no batch drawn; Keras's method is
  # otherwise called as it is.
  keras_build = model._maybe_symbolic_build  # pylint: disable=protected-access

  def build_from_element_spec(iterator=None, data_batch=None):
    if iterator is not None:
      spec = iterator._distributed_dataset.element_spec  # pylint: disable=protected-access
      # A PerReplicaSpec (several replicas per worker) holds one spec each.
      data_batch = tf.nest.map_structure(
          lambda s: getattr(s, "_value_specs", (s,))[0], spec)
    return keras_build(data_batch=data_batch)

  model._maybe_symbolic_build = build_from_element_spec  # pylint: disable=protected-access
