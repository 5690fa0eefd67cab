"""AtomicPusher: pushes a blessed model to a versioned serving directory.

A custom component (component.py, executor.py) in place of TFX's Pusher,
with the same output (a `PushedModel` artifact whose custom properties
`pushed`, `pushed_destination` and `pushed_version` the run summary reads)
and five differences:

* **Never half a model.** A model server polling `<base>` (TF Serving loads numeric
  sub-directories once they hold `saved_model.pb`) never sees half a model,
  and a push that fails half-way leaves nothing it would load. On local
  disks the model is copied into a hidden sibling
  (`<base>/.incoming-<version>-<random>`) and renamed to `<base>/<version>`
  in one `rename(2)`. On object stores (`gs://`, `s3://`), where a rename
  is a copy and delete of each object, the files are written straight to
  `<base>/<version>` with `saved_model.pb` last (`publish_model`).
* **One version per push.** The version number is claimed first
  (`claim_version`), so two pushers at once never write the same one.
* **A record and a model card.** `push_record.json`, `model_card.md` and
  `model_card.html` (pipeline/components/util/model_card.py) are written
  into the version directory with the model, before it becomes visible
  (and into the PushedModel artifact). The record says what was pushed:
  version, model and blessing, the Evaluator's metrics (and the change
  against the baseline model), the training data (Trainer's class counts,
  ExampleGen's span and input fingerprint when given the examples) and the
  code (git commit when the code runs from a checkout, and a hash of every
  file that decides what is trained or pushed).
* **No duplicates.** A blessed model that already is the newest version
  (an unchanged re-run blesses it again) is not copied again: the
  PushedModel points at that version and carries `already_serving`.
* **Strict.** A model without a blessing, or whose blessing is not BLESSED,
  is never pushed; the artifact then carries `not_pushed_reason` (the
  Evaluator's failed thresholds, in words). A blessing of another model is
  a wiring bug: the execution fails and nothing is pushed.

provenance.py says what code and data made it. What LiteRTPusher (and the
baselines' push records) share with it lives in pipeline/components/util/:
claims.py takes a version number (claims), publishing.py copies a model
into place (atomic publication, the clean-up of dead pushes), and
blessing.py says whether and why not to push; the model card is
util/model_card.py's, built as the Report builds it (util/card_inputs.py).

Versions are UNIX timestamps like TFX's Pusher, but never lower than the
highest version already taken, so the newest push is what a server serves
even if clocks disagree.
"""
