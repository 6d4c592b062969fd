"""Spiral ("hard") point maze. Use `spiral_maze.py:cpu` for the CPU preset."""

from envs import point_maze
from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("spiral_maze", preset)
  # The success examples' disc, overridable: --config.env_kwargs.example_radius=0.45
  c.env_kwargs.example_radius = point_maze.EXAMPLE_RADIUS
  return c
