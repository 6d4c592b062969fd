"""Sawyer door: `--config=experiments/configs/sawyer_door.py[:preset]`.

Its settings are data in mural_jax.tasks.
"""

from experiments.configs import task_config


def get_config(preset: str = "paper"):
  return task_config("sawyer_door", preset)
