"""MJX manipulation tasks: shapes, kinematics, contact, solvability, examples, NaNs.

Each task compiles one batched reset and one batched step (module-scoped), and
every check reuses them, so the file stays within a few minutes on a CPU.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs

from mjx_harness import Compiled

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


def test_registered_and_sizes():
  sizes = {"sawyer_push": (5, 2), "sawyer_pick": (7, 4)}
  for name, (obs, act) in sizes.items():
    env = envs.make(name)
    assert (env.observation_size, env.action_size) == (obs, act)
    assert env.classifier_input_size == obs
    assert env.episode_length == 100
    assert env.dt == pytest.approx(0.05)


def test_bad_override_raises():
  with pytest.raises(ValueError, match="example_radius"):
    envs.make("sawyer_push", example_radius=0.05)


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


def test_pick_gripper_lifts_the_object(pick):
  obs = pick.scripted_obs
  # Most scripted grasps carry the object 10 cm up on the closed rods.
  carried = ((obs[:, :, 6] > 0.12) & (obs[:, :, 0] < 0.03)).any(0)
  assert carried.sum() >= BATCH // 2


def test_pick_scripted_reaches_success_on_some_starts(pick):
  # The scripted grasp is not reliable (see SawyerPick.scripted_action).
  assert np.asarray(pick.scripted_final.metrics["success"]).sum() >= 2


@pytest.mark.parametrize("name", ["sawyer_push", "sawyer_pick"])
def test_success_examples_pass_the_success_test(name):
  env = envs.make(name)
  x = env.success_examples(jax.random.PRNGKey(3))
  assert x.shape == (150, env.classifier_input_size)
  assert bool(jnp.all(env.is_success(x)))


@pytest.mark.parametrize("fixture", ["push", "pick"])
def test_random_rollouts_stay_finite(fixture, request):
  c = request.getfixturevalue(fixture)
  obs, state = c.random_rollout(jax.random.PRNGKey(1))
  assert np.all(np.isfinite(obs))
  assert np.all(np.isfinite(np.asarray(state.metrics["distance"])))
  hand = np.asarray(state.obs[:, -5:-2] if fixture == "push" else state.obs[:, 1:4])
  assert np.all(hand >= np.asarray(c.env.hand_low) - 1e-5)
  assert np.all(hand <= np.asarray(c.env.hand_high) + 1e-5)
