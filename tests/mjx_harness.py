"""Shared harness of the MJX environment tests: compile once per task, reuse everywhere.

MJX compiles slowly on a CPU (~10-30 s per function), so each test module builds
one `Compiled` per task (module-scoped fixture) and every check reuses its
jitted, batched reset and step.
"""

import numpy as np

import jax

import envs
from mural_jax.classifiers import cnml


def workspace_cells(env, obs, tol=1e-5, resolution=16) -> int:
  """The distinct count-grid cells (`resolution` per dimension of the workspace) that
  the classifier inputs of observations (..., O) fill, once checked to lie in the
  environment's workspace to within `tol`."""
  x = np.asarray(env.classifier_input(np.asarray(obs))).reshape(-1, env.classifier_input_size)
  low, high = env.workspace
  outside = ~np.all((x >= low - tol) & (x <= high + tol), -1)
  assert not outside.any(), (f"{outside.mean():.1%} of states outside the workspace "
                             f"{low.tolist()} .. {high.tolist()}: min {x.min(0).tolist()}, "
                             f"max {x.max(0).tolist()}")
  return len(np.unique(np.asarray(cnml.grid_cells(x, low, high, resolution))))


class Compiled:
  """An environment with its jitted, batched reset/step and start states."""

  def __init__(self, name, batch=8, **overrides):
    self.env = envs.make(name, **overrides)
    self.batch = batch
    self.reset = jax.jit(jax.vmap(self.env.reset))
    self.step = jax.jit(jax.vmap(self.env.step))
    self.start = self.reset(jax.random.split(jax.random.PRNGKey(0), batch))

  def rollout(self, policy, state=None, steps=None):
    """Runs `policy(obs, t) -> actions` from `state` (default: the starts).

    Returns the observations (T + 1, B, D) and the final state."""
    state = self.start if state is None else state
    obs = [np.asarray(state.obs)]
    for t in range(self.env.episode_length if steps is None else steps):
      state = self.step(state, policy(state.obs, t))
      obs.append(np.asarray(state.obs))
    return np.stack(obs), state

  def random_rollout(self, key, steps=None, scale=1.5):
    """Uniform actions in [-scale, scale] (beyond the valid range: clipping is tested too)."""
    keys = jax.random.split(key, self.env.episode_length if steps is None else steps)
    policy = lambda obs, t: jax.random.uniform(
        keys[t], (self.batch, self.env.action_size), minval=-scale, maxval=scale)
    return self.rollout(policy, steps=len(keys))
