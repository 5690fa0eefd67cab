"""Physical flags that default to FLOWERS_* environment variables.

A deployment setting (a path, an image, a Beam or cluster setting) is given
as a flag `--some-name` or, for containers and CI, as the variable
FLOWERS_SOME_NAME; the flag's help names the variable. Used by the Beam
flags (pipeline/runner/beam_flags.py) and kubeflow_runner.py's deployment flags.
"""

import os
from typing import Optional

ENV_PREFIX = "FLOWERS_"


class DeploymentSettingError(ValueError):
  """A flag or environment variable of a runner has an unusable value."""


def env_name(flag: str) -> str:
  """`--some-name` -> FLOWERS_SOME_NAME, the variable the flag defaults to."""
  return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


def add_env_flag(group, flag: str, help_text: str,
                 default: Optional[str] = None, **kwargs) -> None:
  """Adds `flag`, defaulting to its variable (read now, at parser building,
  so a variable the caller set counts), else to `default`.

  Args:
    group: an argparse parser or argument group.
    flag: `--some-name`.
    help_text: the help; " (env FLOWERS_SOME_NAME)" is appended.
    default: used when the variable is unset or empty;
      `argparse.SUPPRESS` leaves the attribute out of the namespace.
    **kwargs: passed to `add_argument` (type, choices, dest, metavar).
  """
  env = env_name(flag)
  group.add_argument(flag, default=os.environ.get(env) or default,
                     help=f"{help_text} (env {env})", **kwargs)


