"""BatchInference: a model's predictions on whole splits, as an artifact.

`component.py` declares the nodes and their artifact type, `executor.py`
and `eval_executor.py` run them, `batch_predict.py` predicts the records of
TFRecord files (the one path, `tools/submission.py`'s too: a failed batch
re-run record by record, skipped records named and counted), and
`predictions.py` reads and writes the artifact's files (per-split
predictions, the Kaggle submission.csv, skipped records).
"""
