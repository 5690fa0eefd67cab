"""Replays a compiled KFP v2 pipeline spec on this machine, task by task
(tools/replay_kfp_spec.py is the command; docs/kubeflow.md says what the
replay covers and what it does not).

* spec.py: reading the spec (schema 2.1.0): its tasks in dependency order,
  types, constant parameters and the values the KFP driver passes.
* ledger.py: the stand-in for ML Metadata, kept between runs.
* driver_tasks.py: what the KFP driver does itself: resolver and importer
  tasks, and a container's `lifecycle.preCacheCheck` hook's output.
* replayer.py: running the tasks, containers as the KFP launcher would.
"""
