"""Sawyer pick and place. Use `sawyer_pick.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("sawyer_pick", preset, nml_width=512)  # the paper's 512-wide meta-NML
  c.meta_nml.kernel_threshold = 0.6
  if preset == "gpu":
    # 81 ms a step at 4096 environments on one H100 (50k steps/s): ~230k steps fit.
    base.size_mjx_gpu_job(c, epoch_length=16384, epochs=14)
  if preset == "cpu":
    base.calibrated_kernel(c)
    # ~15 min for one seed on two CPU cores (~4.4 s per epoch): the grasp's physics (10
    # substeps, 20 solver iterations) steps at ~590 steps/s there, and 4 evaluation
    # episodes instead of 8 save a sixth of each epoch.
    c.total_env_steps = 175_000
    c.eval_episodes = 4
  return c
