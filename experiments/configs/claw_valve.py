"""Three-fingered claw turning a valve. Use `claw_valve.py:cpu` for the CPU preset.

The reference gives no classifier settings for its (unreleased) hand task, so the
paper defaults are kept: the classifier input (nine joint angles in rad and the
valve angle as cos, sin) has unit-scale coordinates like the other domains'.
"""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("claw_valve", preset)
  if preset == "gpu":
    # The valve steps ~3x slower than the push: 800k of the 1M steps fit.
    base.size_mjx_gpu_job(c, epoch_length=16384, epochs=49)
  if preset == "cpu":
    c.total_env_steps = 300_000     # ~15 min for one seed on two CPU cores (~2.6 s per epoch)
  return c
