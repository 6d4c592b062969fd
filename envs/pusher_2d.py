"""2-D pusher (MJX): a planar three-link arm pushes a ball from (1, 0) to the target (2, 2).

Reference task (MURAL's "2D pusher", after softlearning's Pusher2d): a planar
arm on a table pushes a round object to a target; the object starts at (1, 0),
the target is (2, 2), success is the object within 0.15 of the target. Kept
from softlearning: a three-link arm with hinges about z and its observation
layout (sin, cos of the joint angles, joint velocities, fingertip and object
positions; xy only here, z is constant). Horizon 100 (the other reference
tasks'), control period 0.05 s.

Model (envs/assets/pusher_2d.xml): base at the origin, links of 1 m (capsules,
radius 0.05) and a ball of radius 0.1 m (0.5 kg; a sphere, so its contacts
with the capsules are MJX's analytic sphere-capsule test), all centred in one
horizontal plane, so gravity does nothing in-plane. The ball slides on x, y
slide joints and spins on a z hinge, with dry friction (mu 0.5) as joint
frictionloss. The reach (3 m) covers the ball's start and the fingertip behind
it at the target (2.7 m from the base). Joint ranges: joint1 [-pi, pi], joint2
and joint3 [-2.6, 2.6].

Actuation: joint-position deltas of 0.1 rad per unit action, clipped to [-1, 1]
and to the joint ranges (`joint_delta_targets`); the joints are kinematic (set
along the straight line to the target over the substeps, as the Sawyer hand),
so an action has the same effect in every configuration and loading. Torque
motors, as in softlearning, would make it depend on the arm's configuration-
dependent inertia; a 0.5 kg ball could hardly slow a real position servo.

Observation (13): sin q (3), cos q (3), joint velocities (3), fingertip xy (2),
object xy (2). Classifier input (4): object xy + fingertip xy (as the Sawyer
push's hand + puck, object first so that plots of its first two features show
the object's path; success depends on the object only). Start: the object at
(1, 0); the arm folded below it at q = (-2, 1.5, 1.5) + U(-0.1, 0.1) per
joint, fingertip about 0.55 m from the ball's centre. One step = 5 x 0.01 s;
Newton solver, 4 iterations: the only contact pairs are link-ball.
"""

import numpy as np

import jax
import jax.numpy as jnp

from envs.base import boxes, push_frame, uniform_in_ball
from envs.mjx_base import MjxEnv, joint_delta_targets, wrap

ARM = ("joint1", "joint2", "joint3")
# The observation: sin q, cos q, joint velocities, fingertip xy, object xy.
SIN_Q = slice(0, 3)
COS_Q = slice(3, 6)
TIP = slice(9, 11)
OBJECT = slice(11, 13)
# The classifier input: object xy (the goal coordinates), fingertip xy.
INPUT_OBJECT = slice(0, 2)
MIN_WRIST = 0.6   # scripted IK: the wrist at least this far from the base (joint2 <= 2.53 rad)


class Pusher2d(MjxEnv):
  """Push the ball to the target; see the module docstring."""

  def __init__(self, goal=(2.0, 2.0), object_start=(1.0, 0.0), arm_start=(-2.0, 1.5, 1.5),
               arm_jitter=0.1, action_scale=0.1, success_radius=0.15, example_radius=0.1,
               episode_length=100):
    super().__init__("pusher_2d.xml", n_substeps=5, goal=goal, goal_slice=INPUT_OBJECT,
                     success_radius=success_radius, example_radius=example_radius,
                     episode_length=episode_length)
    m = self.mj_model
    # Link lengths from the asset: link2 and link3 sit at the ends of their
    # parents; link3's capsule runs from its joint to the fingertip.
    link3 = m.geom("link3")
    self.links = (float(m.body("link2").pos[0]), float(m.body("link3").pos[0]),
                  2.0 * float(link3.size[1]))
    self.contact = float(link3.size[0] + m.geom("object").size[0])  # fingertip-ball centres
    # The fingertip must reach behind the object at the goal, pushing from the start.
    push = np.subtract(goal, object_start)
    tip = np.linalg.norm(goal - self.contact * push / np.linalg.norm(push)) + example_radius
    if not tip <= sum(self.links) - 0.05:
      raise ValueError(f"goal={goal} puts the fingertip {tip:.2f} from the base (pushing from "
                       f"{object_start}); it must lie within {sum(self.links) - 0.05:.2f}.")
    if not 0 <= arm_jitter <= 0.5 or not 0 < action_scale <= 0.5:
      raise ValueError(f"arm_jitter={arm_jitter} must lie in [0, 0.5] and action_scale="
                       f"{action_scale} in (0, 0.5] (radians).")
    self.object_start = jnp.asarray(object_start, jnp.float32)
    self.arm_start = jnp.asarray(arm_start, jnp.float32)
    self.arm_jitter = float(arm_jitter)
    self.action_scale = float(action_scale)
    joints = [m.joint(j).id for j in ARM]
    self._arm_adr = np.asarray(m.jnt_qposadr[joints])
    self.arm_low, self.arm_high = (jnp.asarray(v, jnp.float32) for v in m.jnt_range[joints].T)
    self._obj_adr = self.joint_qpos_adr("object_x")

  @property
  def workspace(self):
    """The arm's reach, [-r, r]^2 round the base, for the ball and the fingertip."""
    reach = (np.full(2, -sum(self.links)), np.full(2, sum(self.links)))
    return boxes(reach, reach)

  @property
  def action_size(self) -> int:
    return 3

  def reset(self, rng: jax.Array):
    q = self.arm_start + jax.random.uniform(rng, (3,), minval=-self.arm_jitter,
                                            maxval=self.arm_jitter)
    qpos = jnp.asarray(self.mj_model.qpos0).at[self._arm_adr].set(q)
    data = self.pipeline_init(qpos.at[self._obj_adr:self._obj_adr + 2].set(self.object_start))
    return self._state(data)

  def step(self, state, action):
    data = state.pipeline_state
    target = joint_delta_targets(data.qpos[self._arm_adr], action, self.action_scale,
                                 self.arm_low, self.arm_high)
    data = self.pipeline_step(data, kinematic=(self._arm_adr, target))
    return self._advance(state, data)

  def _obs(self, data):
    q = data.qpos[self._arm_adr]
    obj = data.qpos[self._obj_adr:self._obj_adr + 2]
    return jnp.concatenate([jnp.sin(q), jnp.cos(q), data.qvel[self._arm_adr],
                            fingertip(q, self.links), obj])

  def classifier_input(self, obs):
    return jnp.concatenate([obs[..., OBJECT], obs[..., TIP]], -1)

  def success_examples(self, rng, n=150):
    """The ball resting within `example_radius` of the target with the fingertip
    touching it, or up to 5 cm off, from behind (within 0.3 rad of the start-to-
    target direction), as after a push: resting states, reachable by the arm,
    and every example passes `is_success`."""
    k_r, k_a, k_dir, k_gap = jax.random.split(rng, 4)
    obj = uniform_in_ball((k_r, k_a), self.goal, self.example_radius, n)
    push = self.goal - self.object_start
    back = jnp.arctan2(push[1], push[0]) + jax.random.uniform(k_dir, (n,), minval=-0.3,
                                                              maxval=0.3)
    gap = jax.random.uniform(k_gap, (n, 1), maxval=0.05)
    return jnp.concatenate([obj, obj - (self.contact + gap) * _unit(back)], -1)

  def scripted_action(self, obs):
    """A controller that solves the task (obs (..., 13) -> actions (..., 3)):
    bring the fingertip behind the ball on its line to the target, then push
    along that line, slower near the target so the ball does not slide past,
    and stop within 0.05 of it. Fingertip targets go through analytic inverse
    kinematics, the last link turning towards the push direction."""
    q = jnp.arctan2(obs[..., SIN_Q], obs[..., COS_Q])
    tip, obj = obs[..., TIP], obs[..., OBJECT]
    dist, direction, along, side, across = push_frame(tip, obj, self.goal)
    behind = (across < 0.03) & (along < 0.03 - self.contact)
    # Pushing: the fingertip leads the contact point by its step, which shrinks
    # near the target (a ball pushed at v slides v^2 / 10 m further).
    speed = jnp.clip(0.3 * dist, 0.02, 0.08)
    push = obj + (speed - self.contact) * direction
    # Getting behind: 15 cm back from the contact point; from in front of the
    # ball, 30 cm sideways first, on the fingertip's side.
    around = jnp.where(along > -self.contact - 0.05,
                       0.3 * side / jnp.maximum(across, 1e-6), 0.0)
    target = jnp.where(behind, push, obj - (self.contact + 0.15) * direction + around)
    step = target - tip
    limit = jnp.where(behind, speed, 0.2)
    step = step * jnp.minimum(1.0, limit / jnp.maximum(
        jnp.linalg.norm(step, axis=-1, keepdims=True), 1e-9))
    phi = jnp.sum(q, -1)  # the last link's heading, turned towards the push by <= 0.15 rad
    phi = phi + jnp.clip(wrap(jnp.arctan2(direction[..., 1], direction[..., 0]) - phi),
                         -0.15, 0.15)
    delta = wrap(inverse_kinematics(tip + step, phi, self.links) - q) / self.action_scale
    action = delta / jnp.maximum(1.0, jnp.max(jnp.abs(delta), -1, keepdims=True))
    return jnp.where(dist < 0.05, 0.0, action)


def _unit(angle):
  return jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)


def fingertip(q, links):
  """Fingertip xy (..., 2) of joint angles q (..., 3): the end of the last link."""
  headings = jnp.cumsum(q, -1)                                           # (..., 3)
  return jnp.sum(jnp.asarray(links)[:, None] * _unit(headings), -2)


def inverse_kinematics(tip, phi, links):
  """Joint angles (..., 3) that put the fingertip at `tip` (..., 2) with the last
  link's heading near `phi` (...,), elbow bent counter-clockwise (joint2 > 0).

  The heading is the one nearest `phi` on the counter-clockwise side of the
  fingertip's bearing that keeps the wrist between MIN_WRIST and 5 cm inside
  the reach of the first two links; targets out of reach are approached."""
  l1, l2, l3 = links
  n = jnp.maximum(jnp.linalg.norm(tip, axis=-1), 1e-6)
  bearing = jnp.arctan2(tip[..., 1], tip[..., 0])
  # The wrist lies at distance r from the base when the heading is off the
  # bearing by arccos((n^2 + l3^2 - r^2) / (2 n l3)).
  off = lambda r: jnp.arccos(jnp.clip((n ** 2 + l3 ** 2 - r ** 2) / (2 * n * l3), -1.0, 1.0))
  phi = bearing + jnp.clip(wrap(phi - bearing), off(MIN_WRIST), off(l1 + l2 - 0.05))
  wrist = tip - l3 * _unit(phi)
  r = jnp.clip(jnp.linalg.norm(wrist, axis=-1), abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3)
  q2 = jnp.arccos(jnp.clip((r ** 2 - l1 ** 2 - l2 ** 2) / (2 * l1 * l2), -1.0, 1.0))
  q1 = jnp.arctan2(wrist[..., 1], wrist[..., 0]) - jnp.arctan2(l2 * jnp.sin(q2),
                                                                l1 + l2 * jnp.cos(q2))
  return wrap(jnp.stack([q1, q2, phi - q1 - q2], -1))


def pusher_2d(**overrides) -> Pusher2d:
  """The reference's 2-D pusher task."""
  return Pusher2d(**overrides)
