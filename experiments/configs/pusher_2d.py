"""2-D pusher: `--config=experiments/configs/pusher_2d.py[:preset]`.

Its settings are data in mural_jax.tasks.
"""

from experiments.configs import task_config


def get_config(preset: str = "paper"):
  return task_config("pusher_2d", preset)
