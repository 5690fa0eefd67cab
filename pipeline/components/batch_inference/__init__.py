"""BatchInference: a model's predictions on whole splits, as an artifact.

`component.py` declares the nodes, `executor.py` and `eval_executor.py`
run them. What other components share lives in pipeline/components/util/:
the artifact type (`artifact_types.Predictions`), `batch_predict.py`, which
predicts the records of TFRecord files (the one path, the Ensemble's and
`tools/submission.py`'s too: a failed batch re-run record by record, skipped
records named and counted), and `predictions.py`, which reads and writes
the artifact's files (per-split predictions, the Kaggle submission.csv,
skipped records) for the Report, the Pusher and LiteRTExport.
"""
