"""BatchInference: a model's predictions on whole splits, as an artifact.

`component.py` declares the node and its artifact type, `executor.py` runs
it, `predictions.py` predicts records and reads and writes the artifact's
files (per-split predictions, the Kaggle submission.csv, skipped records).
"""
