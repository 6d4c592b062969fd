"""Spiral ("hard") point maze. Use `spiral_maze.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  return base.maze_config("spiral_maze", preset)
