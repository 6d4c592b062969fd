"""Sawyer door. Use `sawyer_door.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("sawyer_door", preset)
  if preset in ("paper", "gpu"):  # the CPU preset keeps its small network
    c.meta_nml.hidden = (512, 512)
  c.meta_nml.kernel_threshold = 0.25
  c.meta_nml.query_weight *= 2.0  # the reference's 2 (scaled like the preset's pool)
  return c
