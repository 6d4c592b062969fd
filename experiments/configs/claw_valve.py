"""Three-fingered claw turning a valve. Use `claw_valve.py:cpu` for the CPU preset.

The reference gives no classifier settings for its (unreleased) hand task, so the
paper defaults are kept: the classifier input (nine joint angles in rad and the
valve angle as cos, sin) has unit-scale coordinates like the other domains'.
"""

from experiments.configs import base


def get_config(preset: str = "paper"):
  return base.get_config("claw_valve", preset)
