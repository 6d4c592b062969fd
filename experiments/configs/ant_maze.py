"""Ant maze. Use `ant_maze.py:cpu` for the CPU preset."""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("ant_maze", preset)
  c.meta_nml.kernel_threshold = 1.0
  # Meta-training on 256 points: the 128 replay-state tasks plus as many success
  # examples (128 in the paper and cpu presets; the tiny preset's 8 + 8).
  c.meta_nml.num_positive_tasks = c.meta_nml.num_tasks
  if preset == "gpu":
    # The ant steps ~4x slower than the push and evaluates 400-step episodes: ~300k steps
    # fit.
    base.size_mjx_gpu_job(c, epoch_length=16384, epochs=18)
  if preset == "cpu":
    # ~15 min for one seed on two CPU cores (~5 s per epoch): the ant steps at ~900
    # steps/s there, and 4 evaluation episodes of 400 steps instead of 8 halve the
    # evaluation's share of each epoch (the episodes start alike).
    c.total_env_steps = 150_000
    c.eval_episodes = 4
  return c
