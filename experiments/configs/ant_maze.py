"""Ant maze. Use `ant_maze.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("ant_maze", preset)
  c.meta_nml.kernel_threshold = 1.0
  # Meta-training on 256 points: the 128 replay-state tasks plus as many success
  # examples (128 in the paper and cpu presets; the tiny preset's 8 + 8).
  c.meta_nml.num_positive_tasks = c.meta_nml.num_tasks
  return c
