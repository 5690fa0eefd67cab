"""Imported by Beam in each DirectRunner worker process as it starts.

The runners pass `--beam_plugins=pipeline.runner.quiet_worker`
(`known_noise.beam_worker_args`): the workers write to the runner's terminal,
so the libraries' known noise is silenced there as in the runner. Importing
this module is its whole job.
"""

from pipeline.runner import known_noise

known_noise.silence_known_noise()
