"""Sawyer push. Use `sawyer_push.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("sawyer_push", preset)
  c.meta_nml.kernel_threshold = 0.6
  return c
