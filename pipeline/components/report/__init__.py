"""Report: the evaluation report as an artifact of the DAG.

`component.py` declares the node and its artifact type, `executor.py` runs
it, `content.py` gathers what the page says and `render.py` writes the page,
its figures and `metrics.json` (through `tf.io.gfile`, so any pipeline root).
"""
