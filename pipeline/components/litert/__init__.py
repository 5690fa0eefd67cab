"""LiteRT: the on-device models beside the SavedModel, gated and pushed.

Two components (component.py), after the Trainer:

    LiteRTExport  converts the Trainer's Keras network to LiteRT flatbuffers
                  with built-in ops only, float32 and full-integer int8
                  (conversion.py; int8 calibrated on train images,
                  pixels.py), and scores each on the eval split through
                  `ai_edge_litert`'s Interpreter, the runtime phones run
                  (interpreter.py), against the SavedModel's own eval
                  predictions (gate.py) -> executor.py
    LiteRTPusher  pushes the variants that passed beside the SavedModel,
                  `<serving dir>_lite/<version>`, when the Evaluator blessed
                  the SavedModel and the Pusher pushed it -> pusher.py

Why a component of its own and not TFX's rewriter in the Trainer
(`tfx.components.trainer.rewriting`, as TFX's CIFAR-10 example does): the
conversion needs train images for the int8 ranges and the scoring needs
the eval split and the SavedModel's predictions, none of which the
Trainer's run_fn has at export time; a failed conversion must not fail
training; and the Trainer, the longest task, stays as it is.

Why not the Evaluator with TFMA's `tf_lite` model type: TFMA feeds a LiteRT
model's inputs from the raw features by name, and ours are encoded images
the device model does not decode; it would need the decoded pixels
materialized as examples, which the pipeline never writes
(docs/pipeline.md, "Why Transform does not materialize"). TFMA also runs TF's
`tf.lite.Interpreter` without its default delegates, not the LiteRT
runtime phones run. The macro F1 is the Evaluator's all the same
(`modules.metrics`).

An ensemble gets no device model (pipeline/pipeline.py adds no node):
docs/on-device.md says why.
"""
