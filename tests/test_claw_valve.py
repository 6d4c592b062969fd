"""The claw valve task: shapes, start states, actuation, valve contact and friction,
the scripted gait, success examples, NaNs.

One batched reset and one batched step are compiled (module-scoped) and reused
by every check.
"""

import mujoco
import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs

from mjx_harness import Compiled, workspace_cells

BATCH = 8


def _angle(obs):
  return np.arctan2(obs[..., -1], obs[..., -2])


@pytest.fixture(scope="module")
def claw():
  """The task compiled, with one scripted episode from its starts."""
  c = Compiled("claw_valve", BATCH)
  act = jax.jit(c.env.scripted_action)
  c.scripted_obs, c.scripted_final = c.rollout(lambda obs, t: act(obs))
  return c


def test_registered_and_sizes():
  env = envs.make("claw_valve")
  assert (env.observation_size, env.action_size) == (11, 9)
  assert env.classifier_input_size == 11
  assert env.episode_length == 100
  assert env.dt == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [{"example_radius": 0.2}, {"start_range": 4.0},
                                 {"finger_noise": 0.5}, {"example_fingers": "down"}])
def test_bad_override_raises(bad):
  with pytest.raises(ValueError, match=next(iter(bad))):
    envs.make("claw_valve", **bad)


def test_start_distribution(claw):
  obs = np.asarray(claw.start.obs)
  np.testing.assert_allclose(obs[:, :9], np.tile(claw.env.default_pose, (BATCH, 1)), atol=0.05)
  angle = _angle(obs)
  assert np.all(np.abs(angle) <= 0.1) and np.ptp(angle) > 0.05
  np.testing.assert_allclose(np.asarray(claw.start.metrics["distance"]), np.pi - np.abs(angle),
                             atol=1e-5)
  assert np.all(np.asarray(claw.start.metrics["success"]) == 0.0)


def test_joints_move_by_commanded_delta(claw):
  action = jnp.tile(jnp.array([1.0, -1.0, -0.5]), (BATCH, 3))    # retracting: no contact
  state = claw.step(claw.start, action)
  delta = np.asarray(state.obs[:, :9] - claw.start.obs[:, :9])
  expected = claw.env.action_scale * np.asarray(action)
  np.testing.assert_allclose(delta, expected, atol=0.015)
  # Actions are clipped to [-1, 1].
  state = claw.step(state, 5 * action)
  expected += claw.env.action_scale * np.clip(5 * np.asarray(action), -1.0, 1.0)
  np.testing.assert_allclose(np.asarray(state.obs[:, :9] - claw.start.obs[:, :9]),
                             expected, atol=0.015)


def test_valve_stays_unless_pushed(claw):
  """Zero actions, then fingers swinging while retracted: the valve does not move."""
  state = claw.start
  for _ in range(10):
    state = claw.step(state, jnp.zeros((BATCH, 9)))
  keys = jax.random.split(jax.random.PRNGKey(2), 30)
  for key in keys:
    swing = jax.random.uniform(key, (BATCH, 3), minval=-1.0, maxval=1.0)
    action = jnp.stack([swing, -jnp.ones((BATCH, 3)), -jnp.ones((BATCH, 3))], -1)
    state = claw.step(state, action.reshape(BATCH, 9))
  moved = np.abs(np.asarray(state.obs[:, :9] - claw.start.obs[:, :9])).max(-1)
  assert np.all(moved > 0.3)
  np.testing.assert_allclose(_angle(np.asarray(state.obs)), _angle(np.asarray(claw.start.obs)),
                             atol=1e-4)


def test_scripted_gait_turns_the_valve_to_the_goal(claw):
  obs = claw.scripted_obs
  turned = np.abs(np.angle(np.exp(1j * (_angle(obs[-1]) - _angle(obs[0])))))
  assert np.all(turned > 2.5)                                     # pushed round by ~pi
  assert np.all(np.asarray(claw.scripted_final.metrics["success"]) == 1.0)
  assert np.all(np.asarray(claw.scripted_final.metrics["distance"]) <= 0.1)
  # The gait holds still at the goal and the valve's damping brings it to rest.
  np.testing.assert_allclose(_angle(obs[-10:]), np.broadcast_to(_angle(obs[-1]), (10, BATCH)),
                             atol=1e-4)


def test_success_examples_pass_and_rest_clear_of_the_valve():
  env = envs.make("claw_valve")
  x = np.asarray(env.success_examples(jax.random.PRNGKey(3)))
  assert x.shape == (150, env.classifier_input_size)
  assert bool(jnp.all(env.is_success(x)))
  # No finger touches the valve (CPU MuJoCo), so every example is a resting state.
  m, d = env.mj_model, mujoco.MjData(env.mj_model)
  adr = np.asarray(env.finger_adr)
  for example in x:
    d.qpos[adr] = example[:9]
    d.qpos[env.valve_adr] = _angle(example)
    mujoco.mj_forward(m, d)
    assert d.ncon == 0


def test_success_examples_with_any_fingers_span_the_joint_ranges():
  env = envs.make("claw_valve", example_fingers="any")
  x = np.asarray(env.success_examples(jax.random.PRNGKey(3), 2000))
  assert bool(jnp.all(env.is_success(x)))
  fingers, low, high = x[:, :9], np.asarray(env.joint_low), np.asarray(env.joint_high)
  assert np.all((fingers >= low) & (fingers <= high))
  # Flexion fills its range, not the retracted band's 0.2 rad round UP.
  flexion = np.delete(np.arange(9), np.arange(0, 9, 3))
  np.testing.assert_allclose(fingers[:, flexion].min(0), low[flexion], atol=0.02)
  np.testing.assert_allclose(fingers[:, flexion].max(0), high[flexion], atol=0.02)


def test_random_rollout_stays_finite_and_in_range(claw):
  obs, state = claw.random_rollout(jax.random.PRNGKey(1), steps=3 * claw.env.episode_length)
  assert np.all(np.isfinite(obs))
  assert np.all(np.isfinite(np.asarray(state.metrics["distance"])))
  joints = obs[..., :9]
  assert np.all(joints >= np.asarray(claw.env.joint_low) - 0.05)
  assert np.all(joints <= np.asarray(claw.env.joint_high) + 0.05)
  np.testing.assert_allclose(np.hypot(obs[..., -2], obs[..., -1]), 1.0, atol=1e-5)
  assert workspace_cells(claw.env, obs, tol=0.05, resolution=4) >= 20
