"""2-D pusher (MJX): sizes, start state, the kinematic arm, contact, scripted push, examples, NaNs.

One batched reset and one batched step are compiled (module-scoped) and every
check reuses them. Kinematics are checked against an independent planar
forward-kinematics of the 1 m links.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs

from mjx_harness import Compiled, workspace_cells

BATCH = 8
CONTACT = 0.15  # fingertip-ball centre distance at contact (radii 0.05 + 0.1)
GOAL = np.array([2.0, 2.0])


@pytest.fixture(scope="module")
def pusher():
  return Compiled("pusher_2d", BATCH)


def _angles(obs):
  return np.arctan2(obs[..., :3], obs[..., 3:6])


def _links_xy(q):
  """Base, elbow, wrist and fingertip xy (..., 4, 2) of 1 m links at angles q."""
  headings = np.cumsum(q, -1)
  steps = np.stack([np.cos(headings), np.sin(headings)], -1)
  return np.concatenate([np.zeros_like(steps[..., :1, :]), np.cumsum(steps, -2)], -2)


def _arm_ball_distance(q, ball):
  """Least distance (...) from the ball's centre to the arm's link segments."""
  pts = _links_xy(q)
  a, b = pts[..., :-1, :], pts[..., 1:, :]
  t = np.clip(np.sum((ball[..., None, :] - a) * (b - a), -1) / np.sum((b - a) ** 2, -1), 0, 1)
  return np.min(np.linalg.norm(a + t[..., None] * (b - a) - ball[..., None, :], axis=-1), -1)


def test_registered_and_sizes():
  env = envs.make("pusher_2d")
  assert (env.observation_size, env.action_size, env.classifier_input_size) == (13, 3, 4)
  assert env.episode_length == 100
  assert env.dt == pytest.approx(0.05)
  assert env.links == pytest.approx((1.0, 1.0, 1.0))


@pytest.mark.parametrize("override, match", [
    ({"example_radius": 0.2}, "example_radius"),
    ({"goal": (2.5, 2.5)}, "goal"),
    ({"arm_jitter": -0.1}, "arm_jitter"),
    ({"action_scale": 0.0}, "action_scale"),
])
def test_bad_overrides_raise(override, match):
  with pytest.raises(ValueError, match=match):
    envs.make("pusher_2d", **override)


def test_start_state(pusher):
  obs = np.asarray(pusher.start.obs)
  np.testing.assert_allclose(obs[:, 11:13], np.tile([1.0, 0.0], (BATCH, 1)), atol=1e-6)
  q = _angles(obs)
  assert np.all(np.abs(q - [-2.0, 1.5, 1.5]) <= 0.1 + 1e-6)
  assert np.all(np.ptp(q, 0) > 0.02)                   # the arm's pose is randomised
  np.testing.assert_allclose(obs[:, 6:9], 0.0)        # at rest
  np.testing.assert_allclose(obs[:, 9:11], _links_xy(q)[..., -1, :], atol=1e-5)
  assert np.all(_arm_ball_distance(q, obs[:, 11:13]) > CONTACT + 0.1)   # not touching
  np.testing.assert_allclose(pusher.start.metrics["distance"], np.sqrt(5.0), atol=1e-5)
  assert np.all(np.asarray(pusher.start.metrics["success"]) == 0.0)


def test_arm_moves_by_commanded_joint_deltas_and_the_ball_stays_put(pusher):
  q0 = _angles(np.asarray(pusher.start.obs))
  # Joint 1 alone turns the whole arm about the base: the fingertip's bearing
  # changes by exactly the commanded 0.1 rad, clockwise, away from the ball.
  state = pusher.step(pusher.start, jnp.tile(jnp.array([-1.0, 0.0, 0.0]), (BATCH, 1)))
  obs = np.asarray(state.obs)
  bearing = lambda o: np.arctan2(o[:, 10], o[:, 9])
  np.testing.assert_allclose(bearing(obs) - bearing(np.asarray(pusher.start.obs)), -0.1,
                             atol=1e-5)
  # All joints: angles change by 0.1 rad x the action clipped to [-1, 1] (every
  # other action lies beyond it); velocities are the matching rates; the
  # fingertip follows the kinematics.
  expected = q0 + [-0.1, 0.0, 0.0]
  for k in range(8):
    action = np.array([-1.0, 0.5, -0.25]) * (3.0 if k % 2 else 1.0)
    state = pusher.step(state, jnp.tile(jnp.asarray(action), (BATCH, 1)))
    expected += 0.1 * np.clip(action, -1.0, 1.0)
    obs = np.asarray(state.obs)
    q = _angles(obs)
    np.testing.assert_allclose(q, expected, atol=1e-4)
    np.testing.assert_allclose(obs[:, 6:9], np.tile(2.0 * np.clip(action, -1.0, 1.0), (BATCH, 1)),
                               atol=1e-3)
    np.testing.assert_allclose(obs[:, 9:11], _links_xy(q)[..., -1, :], atol=1e-5)
    assert np.all(_arm_ball_distance(q, obs[:, 11:13]) > CONTACT)
  # Never touched, the ball has not moved at all.
  np.testing.assert_array_equal(obs[:, 11:13], np.asarray(pusher.start.obs)[:, 11:13])


def test_joint_ranges_hold(pusher):
  state = pusher.start
  for _ in range(15):  # joint2 from ~1.5 towards its upper limit 2.6
    state = pusher.step(state, jnp.tile(jnp.array([0.0, 1.0, 0.0]), (BATCH, 1)))
  np.testing.assert_allclose(_angles(np.asarray(state.obs))[:, 1], 2.6, atol=1e-5)


def test_scripted_push_moves_the_ball_to_the_target(pusher):
  act = jax.jit(pusher.env.scripted_action)
  obs, final = pusher.rollout(lambda o, t: act(o))
  ball, tip = obs[..., 11:13], obs[..., 9:11]
  # Until the fingertip first reaches it, the ball does not move; then it does.
  touch = np.argmax(np.linalg.norm(tip - ball, axis=-1) <= CONTACT + 0.01, 0)   # (B,)
  assert np.all(touch > 0)
  for b in range(BATCH):
    np.testing.assert_array_equal(ball[:touch[b], b], np.tile([1.0, 0.0], (touch[b], 1)))
  assert np.all(np.linalg.norm(ball[-1] - ball[0], axis=-1) > 2.0)
  # Every start reaches the target within the horizon and stays there.
  assert np.all(np.asarray(final.metrics["success"]) == 1.0)
  assert np.all(np.linalg.norm(ball[-1] - GOAL, axis=-1) <= 0.1)
  np.testing.assert_allclose(final.metrics["distance"], np.linalg.norm(ball[-1] - GOAL, axis=-1),
                             atol=1e-5)


def test_success_examples_pass_the_success_test():
  env = envs.make("pusher_2d")
  x = np.asarray(env.success_examples(jax.random.PRNGKey(3)))
  assert x.shape == (150, env.classifier_input_size)
  assert np.all(np.asarray(env.is_success(x)))
  np.testing.assert_array_equal(x, env.classifier_input(np.concatenate(  # (ball, fingertip)
      [np.zeros((150, 9)), x[:, 2:], x[:, :2]], -1)))
  assert np.all(np.linalg.norm(x[:, :2] - GOAL, axis=-1) <= 0.1)
  gap = np.linalg.norm(x[:, :2] - x[:, 2:], axis=-1)
  assert np.all((gap >= CONTACT - 1e-5) & (gap <= CONTACT + 0.05))   # touching or near
  assert np.all(np.linalg.norm(x[:, 2:], axis=-1) < 2.9)             # within the arm's reach
  assert not np.any(np.asarray(env.is_success(x + np.array([0.0, -0.3, 0.0, 0.0]))))


def test_long_random_rollout_stays_finite(pusher):
  obs, state = pusher.random_rollout(jax.random.PRNGKey(1), steps=3 * pusher.env.episode_length)
  assert np.all(np.isfinite(obs))
  assert np.all(np.isfinite(np.asarray(state.metrics["distance"])))
  q = _angles(obs)
  assert np.all(np.abs(q[..., 1:]) <= 2.6 + 1e-5)
  np.testing.assert_allclose(obs[..., 9:11], _links_xy(q)[..., -1, :], atol=1e-4)
  # The random arm hits the ball in most environments: contacts stay finite too.
  assert np.sum(np.ptp(obs[..., 11:13], 0).max(-1) > 0.1) >= BATCH // 2
  assert workspace_cells(pusher.env, obs) >= 20
