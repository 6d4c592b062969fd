"""Spiral ("hard") point maze: `--config=experiments/configs/spiral_maze.py[:preset]`.

Its settings are data in mural_jax.tasks.
"""

from experiments.configs import task_config


def get_config(preset: str = "paper"):
  return task_config("spiral_maze", preset)
