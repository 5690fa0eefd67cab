"""What the runners share, apart from the DAG they run.

The flags (logical, Beam, deployment) and the config they give, the Beam
arguments by profile, the console (progress, known noise, exit codes), the
run lock, the Trainer's placement on a cluster, the Kubeflow backends' spec
changes and the end-of-run summary. `local_runner.py`, `kubeflow_runner.py`,
tools/ and bench/ import it; the DAG (pipeline/pipeline.py) and the
components never do (tests/test_imports.py).
"""
