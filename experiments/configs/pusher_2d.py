"""2-D pusher. Use `pusher_2d.py:cpu` for the CPU preset.

The reference gives no classifier settings for this domain. The meta-NML kernel
threshold is the Sawyer push's 0.6 scaled by the ratio of the two tasks' length
scales, their success radii (0.15 / 0.03 = 5): 3.0 on the 4-d classifier input
(fingertip xy + ball xy), where start and success states lie ~3.4 apart (the
Sawyer push's 0.6 against ~0.25), so the kernel is as broad as there.
"""

from experiments.configs import base


def get_config(preset: str = "paper"):
  c = base.get_config("pusher_2d", preset)
  c.meta_nml.kernel_threshold = 3.0
  if preset == "gpu":
    # The paper's 1M steps.
    base.size_mjx_gpu_job(c, epoch_length=8192, epochs=123)
  if preset == "cpu":
    base.calibrated_kernel(c)
    c.total_env_steps = 300_000     # ~15 min for one seed on two CPU cores (~2.5 s per epoch)
  return c
