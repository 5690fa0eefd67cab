"""The Ensemble component: member models in, one weighted ensemble model out.

`component.py` declares it, `executor.py` runs it, `weights.py` fits the
weights and scores the members, `fit_data.py` reads the fit slice
(docs/ensembles.md).
"""
