"""Evaluation metrics against a plain Python loop over `env.step`."""

import jax
import jax.numpy as jnp
import numpy as np

from envs.point_maze import ZIGZAG_WALLS, PointMaze
from mural_jax.evaluation import evaluate

# Starts on both sides of the zigzag maze's walls and beside the goal (3, 3).
STARTS = ((2.5, 2.5), (-3.0, -3.0), (3.2, 1.6), (0.0, -3.5))


class _RandomStartMaze(PointMaze):
  """The zigzag maze with each episode starting at one of STARTS, drawn from its key."""

  def reset(self, rng):
    start = jnp.asarray(STARTS)[jax.random.randint(rng, (), 0, len(STARTS))]
    state = super().reset(rng)
    return state.replace(obs=start, metrics=self._metrics(start))


def _policy(obs):
  """Heads up and right, drifting with the position: passes the goal and leaves it."""
  return jnp.stack([jnp.ones_like(obs[..., 0]), jnp.cos(2.0 * obs[..., 0])], -1)


def test_success_any_and_closest_approach_match_a_python_loop():
  env = _RandomStartMaze(walls=ZIGZAG_WALLS, goal=(3.0, 3.0))
  key, episodes, length = jax.random.key(3), 8, 12
  result = jax.jit(lambda k: evaluate(env, _policy, k, episodes, length))(key)

  step = jax.jit(env.step)
  success, distance, paths = [], [], []
  for k in jax.random.split(key, episodes):
    state = env.reset(k)
    path, s, d = [state.obs], [], []
    for _ in range(length):
      state = step(state, _policy(state.obs))
      path.append(state.obs)
      s.append(float(state.metrics["success"]))
      d.append(float(state.metrics["distance"]))
    success.append(s)
    distance.append(d)
    paths.append(path)
  success, distance = np.asarray(success), np.asarray(distance)  # (episodes, T)

  assert 0 < success.any(1).mean() and success[:, -1].mean() < success.any(1).mean()
  np.testing.assert_allclose(result["eval_success"], success[:, -1].mean())
  np.testing.assert_allclose(result["eval_distance"], distance[:, -1].mean(), rtol=1e-5)
  np.testing.assert_allclose(result["eval_success_any"], success.any(1).mean())
  np.testing.assert_allclose(result["eval_min_distance"], distance.min(1).mean(), rtol=1e-5)
  np.testing.assert_allclose(result["eval_trajectories"], np.asarray(paths), atol=1e-6)
