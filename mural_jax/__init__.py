"""mural_jax: MURAL (outcome-driven RL with meta-NML rewards) in JAX.

Notebook use::

    import jax
    from mural_jax import RunConfig, train
    config = RunConfig.for_task("zigzag_maze", "cpu", {"reward": "mural"})
    state, history = train(config, jax.random.key(0))

`runner.run_workdir(config, workdir)` runs the same job as `experiments.train`, with its
outputs, checkpoints and exact resume. The pieces are pure functions usable on their own: `SAC` (init / update /
sample_action), the replay buffer (`replay_init`, `replay_insert`,
`replay_sample`), reward sources (`rewards.make`), `evaluate`, and the
environments (`import envs; envs.make("zigzag_maze")`).
"""

import importlib

from mural_jax import settings, tasks
from mural_jax.config import RunConfig

# The rest loads jax (and the trainer, brax and MuJoCo) on first use, so that the
# config and the command line's field list load none of them.
_LAZY = {"train": "training", "run": "training", "Trainer": "training",
         "TrainState": "training", "rewards": None, "evaluate": "evaluation",
         "ReplayState": "replay", "replay_init": "replay", "replay_insert": "replay",
         "replay_sample": "replay", "SAC": "sac", "SACState": "sac"}


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module 'mural_jax' has no attribute {name!r}")
  if _LAZY[name] is None:
    return importlib.import_module(f"mural_jax.{name}")
  return getattr(importlib.import_module(f"mural_jax.{_LAZY[name]}"), name)


__all__ = ["RunConfig", "settings", "tasks", *_LAZY]
