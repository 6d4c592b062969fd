"""Ant maze (MJX): sizes, start, geodesic, walls, solvability, examples, NaNs.

One batched reset and step are compiled once (module-scoped) and every check
reuses them; the success examples compile one more function.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs
from envs import ant_maze

from mjx_harness import Compiled, workspace_cells

BATCH = 8
HOME_HINGES = np.array([0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0])
TORSO_RADIUS = 0.25


@pytest.fixture(scope="module")
def ant():
  c = Compiled("ant_maze", BATCH)
  c.teleport = jax.jit(jax.vmap(c.env.teleport))
  return c


def _upright(qpos):
  """z component of the torso's up axis, from the quaternion (w, x, y, z) at qpos[3:7]."""
  x, y = np.asarray(qpos)[..., 4], np.asarray(qpos)[..., 5]
  return 1 - 2 * (x * x + y * y)


def test_sizes_and_classifier_inputs(ant):
  env = ant.env
  assert (env.observation_size, env.action_size) == (29, 8)
  assert env.episode_length == 400 and env.dt == pytest.approx(0.15)
  assert env.classifier_input_size == 15
  assert envs.make("ant_maze", classifier_input="xy").classifier_input_size == 2


@pytest.mark.parametrize("overrides, match", [
    ({"classifier_input": "pos"}, "'pos'; valid choices: qpos, xy"),
    ({"example_radius": 1.0}, "example_radius=1.0"),
    ({"goal": (0.0, 0.0)}, "goal .* outside the padded inner wall"),
    ({"start": (-6.9, 0.0)}, r"start .* must lie in \[-6.75, 6.75\]"),
])
def test_bad_arguments_raise(overrides, match):
  with pytest.raises(ValueError, match=match):
    envs.make("ant_maze", **overrides)


def test_start_state(ant):
  obs, data = np.asarray(ant.start.obs), ant.start.pipeline_state
  np.testing.assert_allclose(obs[:, :3], np.tile([-5.5, 4.5, 0.55], (BATCH, 1)), atol=1e-6)
  np.testing.assert_allclose(obs[:, 3:7], np.tile([1.0, 0, 0, 0], (BATCH, 1)), atol=1e-6)
  hinges = obs[:, 7:15]
  assert np.all(np.abs(hinges - HOME_HINGES) <= 0.1 + 1e-6) and np.ptp(hinges[:, 0]) > 0.02
  np.testing.assert_array_equal(obs[:, 15:], 0.0)
  np.testing.assert_array_equal(obs[:, :15], np.asarray(data.qpos))
  assert set(ant.start.metrics) == {"success", "distance", "xy_distance"}
  np.testing.assert_array_equal(ant.start.metrics["success"], 0.0)
  np.testing.assert_allclose(ant.start.metrics["xy_distance"], 11.0, atol=1e-5)


def _path_length(points):
  return np.linalg.norm(np.diff(np.asarray(points, np.float64), axis=0), axis=1).sum()


def test_geodesic_goes_round_the_padded_wall_corners(ant):
  pad = ant_maze.WALL_PADDING
  corners = [(-1.25 - pad, -2.5 - pad), (1.25 + pad, -2.5 - pad)]
  expected = _path_length([(-5.5, 4.5), *corners, (5.5, 4.5)])
  np.testing.assert_allclose(ant.start.metrics["distance"], expected, atol=2e-3)
  # Right of and below the wall the goal is in sight; left of it, only round the corners.
  np.testing.assert_allclose(ant.env.geodesic(jnp.asarray([2.0, -4.0])), np.hypot(3.5, 8.5),
                             atol=1e-5)
  np.testing.assert_allclose(ant.env.geodesic(jnp.asarray([-2.0, 0.0])),
                             _path_length([(-2.0, 0.0), *corners, (5.5, 4.5)]), atol=2e-3)


def test_walls_stop_the_torso(ant):
  """Thrown at the walls (5-10 m/s) and kicking at random, the torso stays outside them."""
  xy = np.array([(-2.0, 0.0), (2.0, 0.0), (0.0, -3.3), (-1.8, -3.0),
                 (-6.3, 0.0), (6.3, -4.8), (-3.0, 4.9), (-2.0, 2.0)])
  beside = [0, 1, 6, 7]
  vel = np.array([(5, 0), (-5, 0), (0, 5), (4, 4), (-5, 0), (5, -5), (0, 5), (10, 0)], float)
  state = ant.teleport(ant.start, jnp.asarray(xy), jnp.asarray(vel))
  keys = jax.random.split(jax.random.PRNGKey(2), 30)
  for t in range(30):
    if t == 10:  # thrown again from where it lies
      state = ant.teleport(state, state.pipeline_state.qpos[:, :2], jnp.asarray(vel))
    state = ant.step(state, jnp.sign(jax.random.uniform(keys[t], (BATCH, 8), minval=-1)))
    p = np.asarray(state.obs[:, :2])
    gap = np.hypot(np.maximum(np.abs(p[:, 0]) - 1.25, 0), np.maximum(-2.5 - p[:, 1], 0))
    clearance = np.minimum(gap, np.minimum(7 - np.abs(p[:, 0]), 5.5 - np.abs(p[:, 1])))
    assert np.all(clearance > TORSO_RADIUS - 0.05), (t, p)
    # Beside the inner wall, each ant stays on its side.
    np.testing.assert_array_equal(np.sign(p[beside, 0]), np.sign(xy[beside, 0]))


def test_waypoint_walk_reaches_success(ant):
  """Teleported along the waypoints round the wall while kicking at random."""
  path = ant_maze.waypoint_path()
  state, distance = ant.start, []
  keys = jax.random.split(jax.random.PRNGKey(4), ant.env.episode_length)
  for t in range(ant.env.episode_length):
    state = ant.step(ant.teleport(state, jnp.tile(jnp.asarray(path[t]), (BATCH, 1))),
                     jax.random.uniform(keys[t], (BATCH, 8), minval=-1))
    distance.append(np.asarray(state.metrics["distance"]))
    if np.all(np.asarray(state.metrics["success"]) == 1.0):
      break
  assert t < 200 and np.all(np.isfinite(np.asarray(state.obs)))
  assert np.all(distance[-1] <= ant.env.success_radius + 0.1)
  assert np.all(np.diff(np.mean(distance, -1)[::10]) < 0)  # closer every 10 steps


def test_random_rollout_stays_finite_and_actions_are_clipped(ant):
  obs, state = ant.random_rollout(jax.random.PRNGKey(1), scale=1.5)
  assert np.all(np.isfinite(obs))
  assert all(np.all(np.isfinite(np.asarray(v))) for v in state.metrics.values())
  assert np.ptp(obs[:, :, :2], axis=0).max() > 0.5             # the ant moves
  assert workspace_cells(ant.env, obs, tol=0.15, resolution=3) >= 20   # hinges' give
  action = jax.random.uniform(jax.random.PRNGKey(5), (BATCH, 8), minval=-1, maxval=1)
  big = jnp.where(action > 0, 3.0, -3.0)
  np.testing.assert_array_equal(ant.step(state, big).obs, ant.step(state, jnp.sign(action)).obs)


def test_non_finite_state_keeps_the_last_finite_positions(ant):
  broken = ant.start.pipeline_state
  broken = broken.replace(qvel=broken.qvel.at[:, 0].set(jnp.nan))
  state = ant.step(ant.start.replace(pipeline_state=broken), jnp.ones((BATCH, 8)))
  np.testing.assert_array_equal(state.obs[:, :15], ant.start.obs[:, :15])
  np.testing.assert_array_equal(state.obs[:, 15:], 0.0)
  assert np.all(np.isfinite(np.asarray(state.metrics["distance"])))


def test_success_examples_are_settled_successes(ant):
  x = jax.jit(ant.env.success_examples, static_argnums=1)(jax.random.PRNGKey(3), 150)
  x = np.asarray(x)
  assert x.shape == (150, 15) and np.all(np.isfinite(x))
  assert bool(jnp.all(ant.env.is_success(x)))
  # Standing (not flipped) at standing height, at many headings.
  assert np.all(_upright(x) > 0.9) and np.all((x[:, 2] > 0.4) & (x[:, 2] < 0.7))
  assert np.ptp(np.arctan2(x[:, 6], x[:, 3])) > 2.0
