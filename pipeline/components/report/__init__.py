"""Report: the evaluation report as an artifact of the DAG.

`component.py` declares the node, `executor.py` runs it, `content.py`
gathers what the page says and `render.py` writes the page, its figures and
`metrics.json` (through `tf.io.gfile`, so any pipeline root). Its artifact
type and the model card, which the Pusher writes too, live in
pipeline/components/util/ (`artifact_types.py`, `model_card.py`,
`card_inputs.py`, `ensemble_section.py`, `device_section.py`).
"""
