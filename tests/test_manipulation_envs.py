"""MJX manipulation tasks: shapes, kinematics, contact, solvability, examples, NaNs.

Each task compiles one batched reset and one batched step (module-scoped), and
every check reuses them, so the file stays within a few minutes on a CPU.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs

from mjx_harness import Compiled, workspace_cells

BATCH = 8


def _scripted(name):
  """A task compiled, with one scripted episode from its starts."""
  c = Compiled(name, BATCH)
  act = jax.jit(c.env.scripted_action)
  c.scripted_obs, c.scripted_final = c.rollout(lambda obs, t: act(obs))
  return c


@pytest.fixture(scope="module")
def push():
  return _scripted("sawyer_push")


@pytest.fixture(scope="module")
def pick():
  return _scripted("sawyer_pick")


@pytest.fixture(scope="module")
def door():
  return _scripted("sawyer_door")


def test_registered_and_sizes():
  sizes = {"sawyer_push": (5, 2), "sawyer_pick": (7, 4), "sawyer_door": (4, 3)}
  for name, (obs, act) in sizes.items():
    env = envs.make(name)
    assert (env.observation_size, env.action_size) == (obs, act)
    assert env.classifier_input_size == obs
    assert env.episode_length == 100
    assert env.dt == pytest.approx(0.05)


def test_bad_override_raises():
  with pytest.raises(ValueError, match="example_radius"):
    envs.make("sawyer_push", example_radius=0.05)
  with pytest.raises(ValueError, match="goal_angle=1.2"):
    envs.make("sawyer_door", goal_angle=1.2)


def test_push_start_distribution(push):
  obs = np.asarray(push.start.obs)
  np.testing.assert_allclose(obs[:, :3], np.tile([0.0, 0.4, 0.07], (BATCH, 1)), atol=1e-6)
  assert np.all(np.abs(obs[:, 3]) <= 0.1) and np.ptp(obs[:, 3]) > 0.05
  np.testing.assert_allclose(obs[:, 4], 0.6, atol=1e-6)
  assert set(push.start.metrics) >= {"success", "distance"}


def test_push_hand_moves_by_commanded_delta(push):
  action = jnp.tile(jnp.array([1.0, -0.5]), (BATCH, 1))
  state = push.step(push.start, action)
  delta = np.asarray(state.obs[:, :3] - push.start.obs[:, :3])
  np.testing.assert_allclose(delta, np.tile([0.02, -0.01, -0.02], (BATCH, 1)), atol=1e-5)
  # Actions are clipped to [-1, 1].
  state = push.step(state, 5 * action)
  np.testing.assert_allclose(np.asarray(state.obs[:, :2] - push.start.obs[:, :2]),
                             np.tile([0.04, -0.03], (BATCH, 1)), atol=1e-5)


def test_push_pushing_moves_the_puck_and_scripted_solves(push):
  obs = push.scripted_obs
  assert np.all(np.abs(obs[-1, :, 4] - obs[0, :, 4]) > 0.1)    # the puck moved
  assert np.all(np.asarray(push.scripted_final.metrics["success"]) == 1.0)
  assert np.all(np.asarray(push.scripted_final.metrics["distance"]) <= 0.03)


def test_pick_closed_gripper_lifts_the_object_and_scripted_solves(pick):
  obs = pick.scripted_obs
  # Every scripted grasp carries the object 10 cm up on the closed fingers.
  carried = ((obs[:, :, 6] > 0.12) & (obs[:, :, 0] < 0.03)).any(0)
  assert carried.all()
  assert np.all(np.asarray(pick.scripted_final.metrics["success"]) == 1.0)
  # Opening the gripper over the table drops the object.
  state = pick.scripted_final
  for _ in range(10):
    state = pick.step(state, jnp.tile(jnp.array([0.0, 0.0, 0.0, -1.0]), (BATCH, 1)))
  assert np.all(np.asarray(state.obs[:, 6]) < 0.1)


def test_door_start_distribution(door):
  obs = np.asarray(door.start.obs)
  np.testing.assert_allclose(obs[:, :3], np.tile([0.0, 0.45, 0.15], (BATCH, 1)), atol=1e-6)
  angle = obs[:, 3]
  assert np.all((angle >= 0.0) & (angle <= 0.3))
  assert (angle == 0.0).any() and (angle > 0.05).any()   # closed and open starts


def test_door_stays_untouched_and_opens_when_pulled(door):
  state = door.start
  for _ in range(10):
    state = door.step(state, jnp.zeros((BATCH, 3)))
  np.testing.assert_allclose(state.obs[:, 3], door.start.obs[:, 3], atol=1e-4)
  # The scripted controller hooks the handle and pulls the door to the goal.
  assert np.all(door.scripted_obs.max(0)[:, 3] > 0.75)
  assert np.all(np.asarray(door.scripted_final.metrics["success"]) == 1.0)
  assert np.all(np.asarray(door.scripted_final.metrics["distance"]) < 0.02)


@pytest.mark.parametrize("name", ["sawyer_push", "sawyer_pick", "sawyer_door"])
def test_success_examples_pass_the_success_test(name):
  env = envs.make(name)
  x = env.success_examples(jax.random.PRNGKey(3))
  assert x.shape == (150, env.classifier_input_size)
  assert bool(jnp.all(env.is_success(x)))


@pytest.mark.parametrize("fixture", ["push", "pick", "door"])
def test_random_rollouts_stay_finite(fixture, request):
  c = request.getfixturevalue(fixture)
  obs, state = c.random_rollout(jax.random.PRNGKey(1))
  assert np.all(np.isfinite(obs))
  assert np.all(np.isfinite(np.asarray(state.metrics["distance"])))
  hand = np.asarray(state.obs[:, 1:4] if fixture == "pick" else state.obs[:, :3])
  assert np.all(hand >= np.asarray(c.env.hand_low) - 1e-5)
  assert np.all(hand <= np.asarray(c.env.hand_high) + 1e-5)
  # The count grid over the task's workspace tells these states apart (a shared
  # [-4, 4]^D grid put the whole workspace in one or two cells).
  give = 0.0 if fixture == "push" else 0.05     # joint limits' give: fingers, hinge
  assert workspace_cells(c.env, obs, tol=give + 1e-5) >= 20
  assert workspace_cells(c.env, c.scripted_obs, tol=give + 1e-5) >= 20


@pytest.mark.slow
def test_pick_reference_geometry_keeps_the_hand_in_its_box_and_scripted_solves():
  """The reference's 0.1 x 0.1 x 0.24 m hand box around the object, starting above it."""
  from mural_jax import tasks
  c = Compiled("sawyer_pick", BATCH, **tasks.PICK_REFERENCE_GEOMETRY)
  low, high = np.asarray(c.env.hand_low), np.asarray(c.env.hand_high)
  assert np.prod((high - low)[:2]) == pytest.approx(0.01)
  act = jax.jit(c.env.scripted_action)
  obs, final = c.rollout(lambda obs, t: act(obs))
  np.testing.assert_allclose(np.asarray(obs)[0, :, 1:4], [[0.0, 0.6, 0.12]] * BATCH, atol=1e-5)
  assert np.all(np.asarray(final.metrics["success"]) == 1.0)
  _, state = c.random_rollout(jax.random.PRNGKey(1))
  hand = np.asarray(state.obs[:, 1:4])
  assert np.all(hand >= low - 1e-5) and np.all(hand <= high + 1e-5)
