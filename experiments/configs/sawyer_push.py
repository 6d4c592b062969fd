"""Sawyer push. Use `sawyer_push.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("sawyer_push", preset)
  c.meta_nml.kernel_threshold = 0.6
  if preset == "gpu":
    # The paper's 1M steps.
    base.size_mjx_gpu_job(c, epoch_length=8192, epochs=123)
  if preset == "cpu":
    base.calibrated_kernel(c)
    c.total_env_steps = 250_000     # ~15 min for one seed on two CPU cores (~3 s per epoch)
  return c
