"""The bench's sections, one benchmark a module; bench/run.py runs them.

Each section's `run` appends its figures (`bench.report.Figure`, a target
where there is one) and records its steps in the details; a failed step
leaves its figures None.
"""
