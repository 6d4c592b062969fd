"""Sawyer-style push (MJX): slide a puck to (0, 0.75) with an end effector at fixed height.

Reference task: action (dx, dy), 0.02 m per unit, clipped to [-1, 1]; the hand
starts at (0, 0.4, 0.07) and moves at height 0.05 from the first step on; the
puck starts at x ~ U(-0.1, 0.1), y = 0.6. Observation and classifier input: hand
xyz + puck xy. Success: puck within 0.03 of (0, 0.75). Horizon 100.

Model (envs/assets/sawyer_push.xml): the end effector is a kinematic vertical
capsule (radius 0.015); the puck (a cylinder, radius 0.03, 0.1 kg)
slides on the table with dry friction on its planar joints, so it cannot tip
over. One step = 5 x 0.01 s (the reference's 0.05 s control period); Newton
solver, 4 iterations: the only contact pair is pusher-puck.
"""

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import boxes, push_frame, uniform_in_ball
from envs.mjx_base import HandEnv

# The observation (= classifier input): hand xyz, puck xy.
HAND_XY = slice(0, 2)
PUCK = slice(3, 5)


class SawyerPush(HandEnv):
  """Push the puck to the goal; see the module docstring."""

  def __init__(self, goal=(0.0, 0.75), hand_start=(0.0, 0.4, 0.07), hand_z=0.05,
               puck_x_range=(-0.1, 0.1), puck_y=0.6, success_radius=0.03,
               example_radius=0.02, episode_length=100):
    super().__init__("sawyer_push.xml", n_substeps=5, hand_low=(-0.25, 0.3, hand_z),
                     hand_high=(0.25, 0.9, hand_z), goal=goal, goal_slice=PUCK,
                     success_radius=success_radius, example_radius=example_radius,
                     episode_length=episode_length)
    self.hand_start = jnp.asarray(hand_start, jnp.float32)
    self.puck_x_range = tuple(float(v) for v in puck_x_range)
    self.puck_y = float(puck_y)
    self._puck_adr = self.joint_qpos_adr("puck_x")

  @property
  def workspace(self):
    """The hand's box (its z: the start's and the working height), and for the puck the
    xy the hand can push it within."""
    low, high = self.hand_box
    start = np.asarray(self.hand_start)
    return boxes((np.minimum(low, start), np.maximum(high, start)), (low[:2], high[:2]))

  @property
  def action_size(self) -> int:
    return 2

  def reset(self, rng: jax.Array):
    x = jax.random.uniform(rng, (), minval=self.puck_x_range[0], maxval=self.puck_x_range[1])
    qpos = jnp.asarray(self.mj_model.qpos0).at[self._puck_adr:self._puck_adr + 2].set(
        jnp.stack([x, self.puck_y]))
    data = self.pipeline_init(self.with_hand(qpos, self.hand_start))
    return self._state(data)

  def step(self, state, action):
    # The workspace box is flat at the working height: z is set from step one.
    data = self.move_hand(state.pipeline_state, jnp.concatenate([action[:2], jnp.zeros(1)]))
    return self._advance(state, data)

  def _obs(self, data):
    return jnp.concatenate([self.hand_pos(data), data.qpos[self._puck_adr:self._puck_adr + 2]])

  def success_examples(self, rng, n=150):
    """The puck resting within `example_radius` of the goal, the hand near the
    reference's goal hand position (0, 0.6) at its working height: resting
    states, so no settling is needed and every example passes `is_success`."""
    k_r, k_a, k_h = jax.random.split(rng, 3)
    puck = uniform_in_ball((k_r, k_a), self.goal, self.example_radius, n)
    hand_xy = jnp.array([0.0, 0.6]) + jax.random.uniform(k_h, (n, 2), minval=-0.02, maxval=0.02)
    hand_z = jnp.full((n, 1), self.hand_low[2])
    return jnp.concatenate([hand_xy, hand_z, puck], -1)

  def scripted_action(self, obs):
    """A controller that solves the task: get behind the puck on its line to the
    goal, then push along that line until the puck reaches the goal."""
    hand, puck = obs[..., HAND_XY], obs[..., PUCK]
    dist, direction, along, side, across = push_frame(hand, puck, self.goal)
    behind = (across < 0.01) & (along < -0.03)
    # Pushing aims into the puck by at most the remaining distance.
    push = puck + (jnp.minimum(dist, 0.015) - 0.045) * direction
    # Getting behind: from in front of the puck, go round it on the hand's side.
    perp = side / jnp.maximum(across, 1e-6)
    around = jnp.where(along > -0.03, 0.07 * perp, 0.0)
    target = jnp.where(behind, push, puck - 0.06 * direction + around)
    target = jnp.where(dist < 0.01, hand, target)  # there: hold still
    # Slow near the goal, so the puck does not slide past it.
    speed = jnp.clip(dist / 0.05, 0.3, 1.0)
    return jnp.clip((target - hand) / self.action_scale, -speed, speed)


def sawyer_push(**overrides) -> SawyerPush:
  """The reference's Sawyer push task."""
  return SawyerPush(**overrides)
