"""Sawyer-style pick and place (MJX): lift an object to (0, 0.6, 0.20).

Reference task: action (dx, dy, dz, grip); the hand moves 0.02 m per unit
action, clipped to [-1, 1]; grip +1 closes the gripper, -1 opens it (it sets
both pads' position targets). Observation and classifier input: gripper opening
(m, between the pads) + hand xyz + object xyz. The object starts on the table
near (0, 0.6) (x, y jittered by U(-0.02, 0.02)); success: object within 0.03 of
(0, 0.6, 0.20). Horizon 100. The hand moves in a 0.4 x 0.4 x 0.3 m box from (0, 0.5,
0.12); `mural_jax.tasks.PICK_REFERENCE_GEOMETRY` (constructor arguments, the cpu
preset's) gives the reference's instead: a 0.1 x 0.1 x 0.24 m box around the object,
1/16 of the area to search, starting above it.

Model (envs/assets/sawyer_pick.xml): the hand is kinematic (its position is
the point between the fingers); each finger is a flat rod (a box shelf) with a
low wall on its outer side, on a slide joint driven by a position servo. The
object is a dumbbell: a box bar along y whose two end plates stand it 2.5 cm
above the table (0.1 kg). The open fingers are lowered beside and below the
bar and close under it; lifting carries the bar on the shelves, the walls and
end plates keeping it from sliding off: a grasp held by geometry, which MJX's
soft contacts keep, where a friction grasp crept. One step = 10 x 0.005 s (the
reference's 0.05 s control period); Newton solver, 20 iterations (fewer let
the light object pop out of the fingers), pyramidal cones; contacts only
object-table and object-fingers.
"""

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import boxes, uniform_in_ball
from envs.mjx_base import HandEnv

# The observation (= classifier input): gripper opening, hand xyz, object xyz.
OPENING = slice(0, 1)
HAND = slice(1, 4)
OBJECT = slice(4, 7)


class SawyerPick(HandEnv):
  """Grasp the object and lift it to the goal; see the module docstring."""

  def __init__(self, goal=(0.0, 0.6, 0.2), hand_start=(0.0, 0.5, 0.12),
               object_xy=(0.0, 0.6), object_jitter=0.02, success_radius=0.03,
               example_radius=0.02, episode_length=100, hand_low=(-0.2, 0.4, 0.005),
               hand_high=(0.2, 0.8, 0.3)):
    super().__init__("sawyer_pick.xml", n_substeps=10, hand_low=hand_low,
                     hand_high=hand_high, goal=goal, goal_slice=OBJECT,
                     success_radius=success_radius, example_radius=example_radius,
                     episode_length=episode_length)
    self.hand_start = jnp.asarray(hand_start, jnp.float32)
    self.object_xy = jnp.asarray(object_xy, jnp.float32)
    self.object_jitter = float(object_jitter)
    self._obj_adr = self.joint_qpos_adr("object")
    self._fingers = jnp.asarray([self.joint_qpos_adr("right_finger"),
                                 self.joint_qpos_adr("left_finger")])
    self._finger_min, self._finger_max = (float(v) for v in self.mj_model.actuator_ctrlrange[0])
    self._open = jnp.full(2, self._finger_max)

  @property
  def workspace(self):
    """The fingers' summed joint range, the hand's box, and for the object the hand's
    box from the table (z 0) up: it moves only where the hand takes it."""
    fingers = self.mj_model.jnt_range[[self.mj_model.joint(f).id
                                       for f in ("right_finger", "left_finger")]].sum(0)
    low, high = self.hand_box
    return boxes(fingers, (low, high), (np.append(low[:2], 0.0), high))

  @property
  def action_size(self) -> int:
    return 4

  def reset(self, rng: jax.Array):
    xy = self.object_xy + jax.random.uniform(
        rng, (2,), minval=-self.object_jitter, maxval=self.object_jitter)
    qpos = jnp.asarray(self.mj_model.qpos0)
    qpos = qpos.at[self._obj_adr:self._obj_adr + 2].set(xy).at[self._fingers].set(self._open)
    data = self.pipeline_init(self.with_hand(qpos, self.hand_start), ctrl=self._open)
    return self._state(data)

  def step(self, state, action):
    data = state.pipeline_state
    grip = jnp.clip(action[3], -1.0, 1.0)
    ctrl = jnp.full(2, self._finger_min + 0.5 * (self._finger_max - self._finger_min) * (1.0 - grip))
    data = self.move_hand(data, action[:3], ctrl=ctrl)
    return self._advance(state, data)

  def _obs(self, data):
    opening = data.qpos[self._fingers].sum(keepdims=True)
    return jnp.concatenate([opening, self.hand_pos(data),
                            data.qpos[self._obj_adr:self._obj_adr + 3]])

  def success_examples(self, rng, n=150):
    """The object held within `example_radius` of the goal, resting on the closed
    shelves: opening `GRASP_OPENING`, the hand `GRASP_DROP` below its centre
    (as the scripted grasp settles); every example passes `is_success`."""
    obj = uniform_in_ball(jax.random.split(rng), self.goal, self.example_radius, n)
    hand = obj - jnp.array([0.0, 0.0, GRASP_DROP])
    opening = jnp.full((n, 1), GRASP_OPENING)
    return jnp.concatenate([opening, hand, obj], -1)

  def scripted_action(self, obs):
    """A scripted grasp: above the object, down until the shelves are below the
    bar, close, lift straight up, then carry it across to the goal."""
    opening, hand, obj = obs[..., OPENING], obs[..., HAND], obs[..., OBJECT]
    rel = obj - hand
    closed = opening < 2 * self._finger_min + 0.008
    # Held: the bar rests on the closed shelves (the end plates allow it 9 mm along y).
    held = closed & (jnp.abs(rel[..., :1]) < 0.01) & (jnp.abs(rel[..., 1:2]) < 0.015) & (
        rel[..., 2:] > 0.01)
    off_xy = jnp.linalg.norm(rel[..., :2], axis=-1, keepdims=True) > 0.005
    above = jnp.concatenate([obj[..., :2], jnp.maximum(hand[..., 2:], obj[..., 2:] + 0.05)], -1)
    under = obj - jnp.array([0.0, 0.0, 0.02])
    carry = self.goal - jnp.array([0.0, 0.0, GRASP_DROP])
    # Lift straight up first, then move across.
    lift = jnp.concatenate([hand[..., :2], jnp.full_like(hand[..., 2:], carry[2])], -1)
    carry = jnp.where(hand[..., 2:] < carry[2] - 0.03, lift, carry)
    target = jnp.where(held, carry, jnp.where(off_xy, above, under))
    low_enough = hand[..., 2:] <= obj[..., 2:] - 0.0175
    close = held | (~off_xy & low_enough)
    grip = jnp.where(close, 1.0, -1.0)
    # Carrying at half speed keeps the object seated.
    speed = jnp.where(held, 0.5, 1.0)
    move = jnp.where(close & ~held, 0.0, jnp.clip((target - hand) / self.action_scale, -speed, speed))
    return jnp.clip(jnp.concatenate([move, grip], -1), -1.0, 1.0)


# The held object relative to the hand, measured from the scripted grasp.
GRASP_DROP = 0.013
GRASP_OPENING = 0.016


def sawyer_pick(**overrides) -> SawyerPick:
  """The reference's Sawyer pick-and-place task."""
  return SawyerPick(**overrides)
