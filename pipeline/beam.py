"""Beam arguments of the Beam-based components (StatisticsGen, Transform,
Evaluator), by named profile.

`local` (the default) runs Beam's DirectRunner in-process or on one worker
process per core. The distributed profiles are documented in the README.
"""

import os
from typing import List, Optional

BEAM_PROFILES = ("local", "in_memory")


def beam_pipeline_args(profile: str = "local",
                       workers: Optional[int] = None) -> List[str]:
  """Returns the Beam pipeline arguments of `profile`.

  Args:
    profile: one of BEAM_PROFILES.
    workers: DirectRunner worker processes (`local`); None means one per
      core.
  """
  if profile == "in_memory":
    return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
  if profile == "local":
    workers = workers or os.cpu_count() or 1
    return ["--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}"]
  raise ValueError(f"unknown Beam profile {profile!r}; "
                   f"choose from {BEAM_PROFILES}")
