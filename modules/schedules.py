"""Learning-rate schedules: the rate at the start of each epoch.

The Trainer applies them with Keras's LearningRateScheduler
(modules/trainer.py `make_callbacks`), unless ReduceLROnPlateau drives the
rate (`train.reduce_lr_patience`, constant schedule only).
"""

import math


from settings import config as config_lib


def learning_rate_for_epoch(config: config_lib.TrainerSettings, epoch: int,
                            replicas: int) -> float:
  """Learning rate at the start of `epoch` (0-based).

  `constant`: learning_rate x replicas. `cosine`: cosine decay from that to
  0 over the epochs. `ramp_sustain_decay`: the seeds' schedule, a linear
  ramp from learning_rate to 5x that x replicas over 5 epochs, then
  exponential decay by 0.8 an epoch down to learning_rate.
  """
  train = config.train
  base = train.learning_rate * replicas
  if train.lr_schedule == "constant":
    return base
  if train.lr_schedule == "cosine":
    return 0.5 * base * (1 + math.cos(math.pi * epoch / train.epochs))
  # ramp_sustain_decay
  start, minimum = train.learning_rate, train.learning_rate
  maximum, ramp_epochs, decay = 5 * base, 5, 0.8
  if epoch < ramp_epochs:
    return (maximum - start) / ramp_epochs * epoch + start
  return (maximum - minimum) * decay ** (epoch - ramp_epochs) + minimum
