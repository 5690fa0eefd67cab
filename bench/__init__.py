"""Benchmarks of the pipeline against the notebook approach (`make bench`).

`bench/run.py` is the entry point, `bench/gpu_check.py` the one-GPU check
(`make gpu-check`); docs/benchmarks.md has the latest figures and the
commands that produced them.
"""
