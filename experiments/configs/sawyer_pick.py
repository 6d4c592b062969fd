"""Sawyer pick and place. Use `sawyer_pick.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("sawyer_pick", preset)
  if preset in ("paper", "gpu"):  # the CPU preset keeps its small network
    c.meta_nml.hidden = (512, 512)
  c.meta_nml.kernel_threshold = 0.6
  return c
