"""Benchmarks of the pipeline against the notebook approach (`make bench`).

`bench/run.py` is the entry point; README.md, "Benchmarks", has the latest
figures and the command that produced them.
"""
