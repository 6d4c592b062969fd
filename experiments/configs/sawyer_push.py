"""Sawyer push: `--config=experiments/configs/sawyer_push.py[:preset]`.

Its settings are data in mural_jax.tasks.
"""

from experiments.configs import task_config


def get_config(preset: str = "paper"):
  return task_config("sawyer_push", preset)
