"""The goal contract of `envs.base.MuralEnv`, checked for every registered environment.

Sizes against a real reset (and the README's table), metrics against the contract's
own success test and distances, success examples against the success test, and
the shared sampler of success examples round a goal.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs
from envs.base import uniform_in_ball

# (observation_size, action_size, classifier_input_size), as in the README.
SIZES = {"zigzag_maze": (2, 2, 2), "spiral_maze": (2, 2, 2), "sawyer_push": (5, 2, 5),
         "sawyer_pick": (7, 4, 7), "sawyer_door": (4, 3, 4), "pusher_2d": (13, 3, 4),
         "ant_maze": (29, 8, 15), "claw_valve": (11, 9, 11)}
# Success examples that are settled by simulation, not placed within example_radius.
SETTLED = {"ant_maze"}


def test_every_environment_is_listed():
  assert set(SIZES) == set(envs.names())


@pytest.fixture(scope="module", params=sorted(SIZES))
def case(request):
  """An environment with its start state from a real reset (jitted: MJX runs eagerly
  op by op, several times slower than compiling)."""
  env = envs.make(request.param)
  return request.param, env, jax.jit(env.reset)(jax.random.PRNGKey(0))


def test_sizes_match_a_real_reset(case):
  name, env, state = case
  x = env.classifier_input(state.obs)
  assert state.obs.shape == (env.observation_size,)
  assert x.shape == (env.classifier_input_size,)
  assert (env.observation_size, env.action_size, env.classifier_input_size) == SIZES[name]
  assert env.goal_coordinates(x).shape == env.goal.shape


def test_start_metrics_follow_the_contract(case):
  _, env, state = case
  x = env.classifier_input(state.obs)
  assert not bool(env.is_success(x))                    # no task starts solved
  np.testing.assert_array_equal(state.metrics["success"], 0.0)
  distance = env.goal_distance(x)
  if env.geodesic is None:
    assert set(state.metrics) == {"success", "distance"}
    np.testing.assert_allclose(state.metrics["distance"], distance, rtol=1e-6)
  else:  # walls: the path round them, never shorter than the straight line
    assert set(state.metrics) == {"success", "distance", env.straight_distance_key}
    np.testing.assert_allclose(state.metrics[env.straight_distance_key], distance, rtol=1e-6)
    assert float(state.metrics["distance"]) >= float(distance) - 1e-4


def test_success_examples_pass_the_success_test(case):
  name, env, _ = case
  n = 16
  x = jax.jit(env.success_examples, static_argnums=1)(jax.random.PRNGKey(3), n)
  assert x.shape == (n, env.classifier_input_size)
  assert np.all(np.isfinite(np.asarray(x)))
  assert bool(jnp.all(env.is_success(x)))
  if name not in SETTLED:
    assert float(jnp.max(env.goal_distance(x))) <= env.example_radius + 1e-5


def test_the_workspace_holds_the_start_and_the_success_examples(case):
  name, env, state = case
  low, high = env.workspace
  assert low.shape == high.shape == (env.classifier_input_size,)
  assert low.dtype == high.dtype == np.float32 and np.all(low <= high)
  x = np.concatenate([np.asarray(env.classifier_input(state.obs))[None], np.asarray(
      jax.jit(env.success_examples, static_argnums=1)(jax.random.PRNGKey(3), 16))])
  assert np.all((x >= low - 1e-5) & (x <= high + 1e-5)), (name, x.min(0), x.max(0))


@pytest.mark.parametrize("name", sorted(SIZES))
def test_example_radius_must_lie_inside_the_success_radius(name):
  radius = envs.make(name).success_radius
  with pytest.raises(ValueError, match=f"example_radius={radius}"):
    envs.make(name, example_radius=radius)


@pytest.mark.parametrize("center", [(3.0, -1.0), (0.0, 0.6, 0.2)])
def test_uniform_in_ball_is_uniform_inside_the_radius(center):
  n, radius = 20000, 0.5
  x = np.asarray(uniform_in_ball(jax.random.split(jax.random.PRNGKey(0)), center, radius, n))
  assert x.shape == (n, len(center))
  r = np.linalg.norm(x - np.asarray(center), axis=-1)
  assert r.max() <= radius + 1e-6
  # Uniform in volume: a fraction 2^-d lies within half the radius.
  assert abs(np.mean(r <= radius / 2) - 0.5 ** len(center)) < 0.01
  np.testing.assert_allclose(x.mean(0), center, atol=0.01)
  # The same keys give the same points.
  again = uniform_in_ball(jax.random.split(jax.random.PRNGKey(0)), center, radius, n)
  np.testing.assert_array_equal(x, again)
