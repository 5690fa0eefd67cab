"""What several components share, below them all (as TFX's
tfx/components/util/): the pipeline's own artifact types
(`artifact_types.py`), how a component receives its settings
(`custom_config.py`), the readers and writers of the files components hand
each other (`predictions.py`, `scored_examples.py`, `evaluation_reader.py`,
`data_check.py`, `ensemble_servable.py`'s ledger), the one batch-prediction
path (`batch_predict.py`), the served model (`serving_model.py`), pushing
(`claims.py`, `publishing.py`, `blessing.py`), the model card
(`model_card.py`, `card_inputs.py`, `ensemble_section.py`,
`device_section.py`), the class balance rules (`class_balance.py`) and the
error that stops a run on bad data (`validation_error.py`).

A component package imports its own modules and these, never another
component's (tests/test_imports.py); nothing here imports a component.
"""
