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

from mural_jax import rewards, tasks
from mural_jax.config import RunConfig
from mural_jax.evaluation import evaluate
from mural_jax.replay import ReplayState, replay_init, replay_insert, replay_sample
from mural_jax.sac import SAC, SACState

# The trainer builds environments (brax, MuJoCo): loaded on first use, so that importing
# the learners (e.g. `mural_jax.classifiers.meta_nml`) loads neither.
_TRAINING = ("train", "run", "Trainer", "TrainState")


def __getattr__(name):
  if name in _TRAINING:
    return getattr(importlib.import_module("mural_jax.training"), name)
  raise AttributeError(f"module 'mural_jax' has no attribute {name!r}")


__all__ = [*_TRAINING, "RunConfig", "tasks", "SAC", "SACState", "ReplayState", "replay_init", "replay_insert",
           "replay_sample", "rewards", "evaluate"]
