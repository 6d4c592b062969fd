"""Zigzag ("medium") point maze: `--config=experiments/configs/zigzag_maze.py[:preset]`.

Its settings are data in mural_jax.tasks.
"""

from experiments.configs import task_config


def get_config(preset: str = "paper"):
  return task_config("zigzag_maze", preset)
