"""The error that stops the run on hard data problems (local_runner.py
exits 2 on it), raised by the ImageValidator and by ExampleValidator's
executor guard."""


class DataValidationError(RuntimeError):
  """The data has problems that must be fixed before training."""
