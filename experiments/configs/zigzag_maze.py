"""Zigzag ("medium") point maze. Use `zigzag_maze.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  return base.maze_config("zigzag_maze", preset)
