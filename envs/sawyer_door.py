"""Sawyer-style door (MJX): hook the handle and pull the door open to 0.80 rad.

Reference task: action (dx, dy, dz), 0.02 m per unit, clipped to [-1, 1];
observation and classifier input: hand xyz + door angle; the hinge ranges over
[0, 1.047] rad; the door starts closed or, with probability 0.5, open by
U(0, 0.3); success: |angle - 0.80| < 0.02. Horizon 100.

Model (envs/assets/sawyer_door.xml): the end effector is a kinematic vertical
capsule (radius 0.012, 0.1 m long, its lowest point at the hand position); the
door (0.3 m wide, hinge at (-0.15, 0.75), axis down) has a horizontal pull bar
5 cm in front of it, at height 0.1, on two standoffs. The hand starts at
(0, 0.45, 0.15), clear of the door. One step = 5 x 0.01 s (the reference's
0.05 s control period); Newton solver, 4 iterations: the only contact pairs
are hand-door.
"""

import jax
import jax.numpy as jnp

from envs.base import boxes
from envs.mjx_base import HandEnv

# The observation (= classifier input): hand xyz, door angle.
HAND = slice(0, 3)
ANGLE = slice(3, 4)

# The door frame: hinge position (xy), and door coordinates (x along the closed
# door, y along its normal) of the hand in the gap between door and bar: centred
# (hooking), touching the bar (pulling) and touching the door (pushing back).
HINGE = (-0.15, 0.75)
HOOK = (0.23, -0.031)
PULL = (0.23, -0.040)
PUSH = (0.23, -0.022)
HOOK_Z = 0.05        # hand height when hooked: the capsule spans the bar (z 0.1)
CLEAR_Z = 0.14       # hand height that passes over the bar and standoffs


class SawyerDoor(HandEnv):
  """Open the door to the goal angle; see the module docstring."""

  def __init__(self, goal_angle=0.8, hand_start=(0.0, 0.45, 0.15), open_prob=0.5,
               max_open=0.3, success_radius=0.02, example_radius=0.015,
               episode_length=100):
    super().__init__("sawyer_door.xml", n_substeps=5, hand_low=(-0.25, 0.35, 0.03),
                     hand_high=(0.25, 0.85, 0.3), goal=(goal_angle,), goal_slice=ANGLE,
                     success_radius=success_radius, example_radius=example_radius,
                     episode_length=episode_length)
    low, high = (float(v) for v in self.mj_model.jnt_range[self.mj_model.joint("door").id])
    if not low + success_radius <= goal_angle <= high - success_radius:
      raise ValueError(f"goal_angle={goal_angle} must lie in [{low + success_radius}, "
                       f"{high - success_radius}] (the hinge range less the success radius).")
    if not (0.0 <= open_prob <= 1.0 and low <= max_open <= high):
      raise ValueError(f"open_prob={open_prob} must lie in [0, 1] and max_open={max_open} "
                       f"in [{low}, {high}].")
    self.hand_start = jnp.asarray(hand_start, jnp.float32)
    self.open_prob = float(open_prob)
    self.max_open = float(max_open)
    self._door_adr = self.joint_qpos_adr("door")
    self._hinge_range = (low, high)

  @property
  def workspace(self):
    """The hand's box and the hinge's range."""
    return boxes(self.hand_box, self._hinge_range)

  @property
  def action_size(self) -> int:
    return 3

  def reset(self, rng: jax.Array):
    k_open, k_angle = jax.random.split(rng)
    angle = jnp.where(jax.random.bernoulli(k_open, self.open_prob),
                      jax.random.uniform(k_angle, (), maxval=self.max_open), 0.0)
    qpos = jnp.asarray(self.mj_model.qpos0).at[self._door_adr].set(angle)
    data = self.pipeline_init(self.with_hand(qpos, self.hand_start))
    return self._state(data)

  def step(self, state, action):
    data = self.move_hand(state.pipeline_state, action[:3])
    return self._advance(state, data)

  def _obs(self, data):
    return jnp.concatenate([self.hand_pos(data), data.qpos[self._door_adr, None]])

  def success_examples(self, rng, n=150):
    """The door within `example_radius` of the goal angle with the hand resting
    hooked behind its bar (as after pulling it there); every example passes
    `is_success`."""
    k_a, k_xy, k_z = jax.random.split(rng, 3)
    angle = self.goal[0] + jax.random.uniform(
        k_a, (n,), minval=-self.example_radius, maxval=self.example_radius)
    xy = door_point(angle, HOOK) + jax.random.uniform(k_xy, (n, 2), minval=-0.005, maxval=0.005)
    z = jax.random.uniform(k_z, (n, 1), minval=HOOK_Z - 0.01, maxval=HOOK_Z + 0.01)
    return jnp.concatenate([xy, z, angle[:, None]], -1)

  def scripted_action(self, obs):
    """A controller that solves the task: over the handle, down into the gap
    behind the bar, then along the door's arc: pull on the bar towards the goal
    angle (at most 0.15 rad ahead), or push the door back if it overshot,
    slowing down near the goal and holding still within 0.008 rad of it."""
    hand, angle = obs[..., HAND], obs[..., ANGLE][..., 0]
    off = jnp.linalg.norm(hand[..., :2] - door_point(angle, HOOK), axis=-1, keepdims=True)
    # In the gap (half-width 21 mm) and low enough to hold the bar.
    hooked = (off < 0.02) & (hand[..., 2:] < HOOK_Z + 0.01)
    goal = self.goal[0]
    arc = jnp.where((angle <= goal)[..., None],
                    door_point(jnp.minimum(angle + 0.15, goal), PULL),
                    door_point(jnp.maximum(angle - 0.15, goal), PUSH))
    hook = door_point(angle, HOOK)
    z = lambda v: jnp.full_like(hand[..., 2:], v)
    # Within 0.008 rad of the goal: hold still; close to it: slow down.
    error = jnp.abs(angle - goal)[..., None]
    arc = jnp.where(error < 0.008, hand[..., :2], arc)
    speed = jnp.where(hooked, jnp.clip(error / 0.1, 0.2, 1.0), 1.0)
    target = jnp.where(hooked, jnp.concatenate([arc, z(HOOK_Z)], -1),
                       jnp.where(off < 0.004, jnp.concatenate([hook, z(HOOK_Z)], -1),
                                 jnp.concatenate([hook, jnp.maximum(hand[..., 2:], CLEAR_Z)], -1)))
    return jnp.clip((target - hand) / self.action_scale, -speed, speed)


def door_point(angle: jax.Array, local) -> jax.Array:
  """World xy of the point `local` (door coordinates) when the door is at
  `angle` (...,) -> (..., 2). The hinge axis points down: a positive angle turns
  the door clockwise seen from above."""
  c, s = jnp.cos(angle), jnp.sin(angle)
  x, y = local
  return jnp.stack([HINGE[0] + x * c + y * s, HINGE[1] - x * s + y * c], -1)


def sawyer_door(**overrides) -> SawyerDoor:
  """The reference's Sawyer door task."""
  return SawyerDoor(**overrides)
