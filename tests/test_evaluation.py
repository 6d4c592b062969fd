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


def _python_loop(env, key, episodes, length, action):
  """(success, distance) (episodes, T) and paths (episodes, T + 1, D), one step at a time;
  `action(obs, t, e)` is episode e's action at step t."""
  step = jax.jit(env.step)
  success, distance, paths = [], [], []
  for e, k in enumerate(jax.random.split(key, episodes)):
    state = env.reset(k)
    path, s, d = [state.obs], [], []
    for t in range(length):
      state = step(state, action(state.obs, t, e))
      path.append(state.obs)
      s.append(float(state.metrics["success"]))
      d.append(float(state.metrics["distance"]))
    success.append(s)
    distance.append(d)
    paths.append(path)
  return np.asarray(success), np.asarray(distance), np.asarray(paths)


def _assert_matches(result, success, distance, paths):
  np.testing.assert_allclose(result["eval_success"], success[:, -1].mean())
  np.testing.assert_allclose(result["eval_distance"], distance[:, -1].mean(), rtol=1e-5)
  np.testing.assert_allclose(result["eval_success_any"], success.any(1).mean())
  np.testing.assert_allclose(result["eval_min_distance"], distance.min(1).mean(), rtol=1e-5)
  np.testing.assert_allclose(result["eval_trajectories"], paths, atol=1e-6)


def test_success_any_and_closest_approach_match_a_python_loop():
  env = _RandomStartMaze(walls=ZIGZAG_WALLS, goal=(3.0, 3.0))
  key, episodes, length = jax.random.key(3), 8, 12
  result = jax.jit(lambda k: evaluate(env, _policy, k, episodes, length))(key)
  success, distance, paths = _python_loop(env, key, episodes, length,
                                          lambda obs, t, e: _policy(obs))
  assert 0 < success.any(1).mean() and success[:, -1].mean() < success.any(1).mean()
  _assert_matches(result, success, distance, paths)


def test_a_stochastic_policy_draws_each_steps_actions_from_its_own_key():
  env = _RandomStartMaze(walls=ZIGZAG_WALLS, goal=(3.0, 3.0))
  key, action_key, episodes, length = jax.random.key(3), jax.random.key(4), 8, 12
  noisy = lambda obs, k: _policy(obs) + jax.random.normal(k, obs.shape)
  result = jax.jit(lambda k, a: evaluate(env, noisy, k, episodes, length, a))(key, action_key)
  # Step t's noise for all episodes at once, from the t-th key split from `action_key`.
  noise = np.stack([np.asarray(jax.random.normal(k, (episodes, 2)))
                    for k in jax.random.split(action_key, length)])  # (T, episodes, 2)
  success, distance, paths = _python_loop(env, key, episodes, length,
                                          lambda obs, t, e: _policy(obs) + noise[t, e])
  _assert_matches(result, success, distance, paths)
  plain = evaluate(env, _policy, key, episodes, length)["eval_trajectories"]
  assert np.abs(np.asarray(plain) - paths).max() > 0.1  # the noise moved the episodes
