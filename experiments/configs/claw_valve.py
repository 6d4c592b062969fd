"""Three-fingered claw turning a valve: `--config=experiments/configs/claw_valve.py[:preset]`.

Its settings are data in mural_jax.tasks.
"""

from experiments.configs import task_config


def get_config(preset: str = "paper"):
  return task_config("claw_valve", preset)
