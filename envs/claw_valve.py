"""Three-fingered claw turning a valve (MJX), in the spirit of ROBEL's D'Claw turn task.

The paper's dexterous-hand task was never released; its configuration names a
three-fingered hand turning a valve to a target angle, and mural_jax defines its
own. Action: joint position deltas of the nine finger joints, 0.15 rad per unit,
clipped to [-1, 1] and to the joint ranges (position actuators aim at the current
angles plus the delta): a 0.8 rad abduction stroke takes 6 steps, and a finger
blocked by a spoke pushes with kp x 0.15 = its 3 N m force limit. Observation and
classifier input: the nine joint angles (finger k's abduction, proximal and
distal flexion at 3k .. 3k+2) and the valve angle as (cos, sin). The valve starts
at U(-0.1, 0.1) rad, the fingers retracted outside the spokes (+-0.05 rad of
noise per joint); success: the valve within 0.1 rad of pi (wrapped difference).
Horizon 100 steps of 0.1 s (ROBEL's 10 Hz control): the scripted gait
(`scripted_action`) reaches the goal in about 60 steps from any valve angle.

Model (envs/assets/claw_valve.xml): three fingers 120 degrees apart, each an
abduction hinge (the tip swings round the valve) and two flexion hinges, on
position actuators (kp 20, force range +-3); a valve on a vertical hinge with
viscous damping (let go at 3 rad/s it stops within 0.1 s; dry friction misbehaved
in CPU MuJoCo at this timestep, see the asset) and four capsule spokes, spoke 0
marking its angle. Four, not three: each finger's tip sweeps about 75 degrees, so
with a spoke every 120 degrees at every finger alike no finger could hand a spoke
on to the next. Gravity is off (servos hold the pose; with targets relative to the
current angle gravity would make an idle finger creep). One step = 10 x 0.01 s
(with 5 x 0.02 s the same gait reached the goal late or not at all); Newton
solver, 4 iterations: the only contact pairs are the distal links against the
spokes (capsule-capsule).
"""

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import boxes
from envs.mjx_base import MjxEnv, actuated_ranges, joint_delta_targets, wrap

# As in claw_valve.xml: finger k's mount at angle 2 pi k / 3 round the valve, spoke j of
# the valve at its angle + 2 pi j / 4.
N_FINGERS = 3
N_SPOKES = 4
FINGER_ANGLES = 2 * np.pi * np.arange(N_FINGERS) / N_FINGERS
# The observation (= classifier input): the nine finger joint angles, the valve
# angle's (cos, sin) (the goal coordinates).
FINGERS = slice(0, 3 * N_FINGERS)
VALVE = slice(3 * N_FINGERS, 3 * N_FINGERS + 2)
# Flexion poses (proximal, distal) of the scripted gait and the default pose: DOWN puts
# the distal link among the spokes (tip 7 cm from the axis), UP retracts the tip outside
# them (15 cm from the axis), so an UP finger can swing round freely.
DOWN = (0.45, -0.45)
UP = (0.1, -1.0)
# Where the success examples put the fingers (`ClawValve.success_examples`).
EXAMPLE_FINGERS = ("retracted", "any")


class ClawValve(MjxEnv):
  """Turn the valve to the goal angle; see the module docstring."""

  action_scale: float = 0.15

  def __init__(self, goal_angle=np.pi, start_range=0.1, finger_noise=0.05,
               success_radius=0.1, example_radius=0.05, example_fingers="retracted",
               episode_length=100):
    super().__init__("claw_valve.xml", n_substeps=10,
                     goal=(np.cos(goal_angle), np.sin(goal_angle)), goal_slice=VALVE,
                     success_radius=success_radius, example_radius=example_radius,
                     episode_length=episode_length)
    if not 0 <= start_range < np.pi:
      raise ValueError(f"start_range={start_range} must lie in [0, pi).")
    if not 0 <= finger_noise <= 0.1:  # keeps the start clear of the spokes
      raise ValueError(f"finger_noise={finger_noise} must lie in [0, 0.1].")
    if example_fingers not in EXAMPLE_FINGERS:
      raise ValueError(f"example_fingers={example_fingers!r}; valid choices: "
                       f"{', '.join(EXAMPLE_FINGERS)}.")
    self.example_fingers = example_fingers
    self.goal_angle = float(goal_angle)
    self.start_range = float(start_range)
    self.finger_noise = float(finger_noise)
    self.valve_adr = self.joint_qpos_adr("valve")
    self.finger_adr, self.joint_low, self.joint_high = actuated_ranges(self.mj_model)
    self.default_pose = jnp.tile(jnp.array((0.0,) + UP, jnp.float32), N_FINGERS)  # (9,)

  @property
  def workspace(self):
    """The fingers' joint ranges and the unit circle's box for the valve's (cos, sin)."""
    return boxes((self.joint_low, self.joint_high), (-np.ones(2), np.ones(2)))

  @property
  def action_size(self) -> int:
    return 3 * N_FINGERS

  def reset(self, rng: jax.Array):
    k_valve, k_fingers = jax.random.split(rng)
    angle = jax.random.uniform(k_valve, (), minval=-self.start_range, maxval=self.start_range)
    fingers = self.default_pose + jax.random.uniform(
        k_fingers, (3 * N_FINGERS,), minval=-self.finger_noise, maxval=self.finger_noise)
    qpos = jnp.zeros(self.mj_model.nq).at[self.finger_adr].set(fingers)
    qpos = qpos.at[self.valve_adr].set(angle)
    data = self.pipeline_init(qpos, ctrl=fingers)
    return self._state(data)

  def step(self, state, action):
    data = state.pipeline_state
    ctrl = joint_delta_targets(data.qpos[self.finger_adr], action, self.action_scale,
                               self.joint_low, self.joint_high)
    data = self.pipeline_step(data, ctrl=ctrl)
    return self._advance(state, data)

  def _obs(self, data):
    angle = data.qpos[self.valve_adr]
    return jnp.concatenate([data.qpos[self.finger_adr],
                            jnp.stack([jnp.cos(angle), jnp.sin(angle)])])

  def goal_error(self, x: jax.Array) -> jax.Array:
    """Signed goal angle minus valve angle, wrapped to [-pi, pi)."""
    return wrap(self.goal_angle - valve_angle(x))

  def goal_distance(self, x: jax.Array) -> jax.Array:
    """The valve's angle to the goal angle, the short way round."""
    return jnp.abs(self.goal_error(x))

  def success_examples(self, rng, n=150):
    """The valve within `example_radius` of the goal, each passing `is_success`; the
    fingers at uniform poses, abduction anywhere in its range and, under
    `example_fingers`, flexion within 0.1 rad of UP ("retracted": outside the spokes,
    so they cannot touch the valve: resting states) or anywhere in its range ("any":
    the examples say nothing of the fingers, as the success test does not; a tip may
    lie inside a spoke, so they are observations, not states the claw can hold)."""
    k_a, k_f = jax.random.split(rng)
    angle = self.goal_angle + jax.random.uniform(
        k_a, (n,), minval=-self.example_radius, maxval=self.example_radius)
    if self.example_fingers == "retracted":
      low = jnp.tile(jnp.array([self.joint_low[0], UP[0] - 0.1, UP[1] - 0.1]), N_FINGERS)
      high = jnp.tile(jnp.array([self.joint_high[0], UP[0] + 0.1, UP[1] + 0.1]), N_FINGERS)
    else:
      low, high = jnp.asarray(self.joint_low), jnp.asarray(self.joint_high)
    fingers = jax.random.uniform(k_f, (n, 3 * N_FINGERS), minval=low, maxval=high)
    return jnp.concatenate([fingers, jnp.cos(angle)[:, None], jnp.sin(angle)[:, None]], -1)

  def scripted_action(self, obs):
    """A finger gait that turns the valve the short way to the goal (see `_gait`)."""
    return _gait(obs, self.goal_error(obs), self.action_scale)


# Scripted gait. Each finger cycles on its own: push (tip down among the spokes, swept
# forward round the valve to the end of the abduction stroke), lift (retract the tip
# outside the spokes), return (swing back to the start of the stroke), lower (extend
# the tip in again), where lowering waits while a spoke lies in the tip's way. Every
# quantity is taken in the turning direction's mirror image, so one rule serves both.
STROKE = 0.4           # abduction at either end of a stroke (rad)
POSE_TOL = 0.08        # a flexion pose is reached within this (rad, per joint)
STROKE_TOL = 0.03      # an abduction stroke end is reached within this (rad)
# Spoke angles (relative to the finger's mount, rad) swept by a tip lowered at -STROKE:
# a spoke there blocks the lowering.
LANDING = (-0.9, -0.2)
STOP = 0.03            # goal error (rad) below which every finger holds still
SLOW = 0.6             # goal error (rad) below which pushing slows in proportion


def _gait(obs, error, scale):
  """Actions (..., 9) of the gait from observations (..., 11) and goal errors (...)."""
  q = obs[..., FINGERS].reshape(obs.shape[:-1] + (N_FINGERS, 3))
  a, flex = q[..., 0], q[..., 1:]                                   # (..., 3), (..., 3, 2)
  sign = jnp.where(error >= 0, 1.0, -1.0)[..., None]                 # (..., 1)
  valve = valve_angle(obs)[..., None, None]
  spokes = wrap(valve + 2 * jnp.pi * jnp.arange(N_SPOKES) / N_SPOKES
                - FINGER_ANGLES[:, None])                            # (..., 3, 4)
  blocked = jnp.any((sign[..., None] * spokes >= LANDING[0])
                    & (sign[..., None] * spokes <= LANDING[1]), -1)  # (..., 3)
  am = sign * a                                                      # mirrored abduction
  down = jnp.max(jnp.abs(flex - jnp.array(DOWN)), -1) < POSE_TOL
  up = jnp.max(jnp.abs(flex - jnp.array(UP)), -1) < POSE_TOL
  start, end = am <= -STROKE + STROKE_TOL, am >= STROKE - STROKE_TOL
  push = down & ~end
  lower = start & ~down & ~blocked
  ret = up & ~start
  # Abduction target: forward when pushing, back when returning, else kept.
  a_target = jnp.where(push, STROKE, jnp.where(ret, -STROKE, am))
  speed = jnp.clip(jnp.abs(error) / SLOW, 0.1, 1.0)[..., None]
  a_act = sign * jnp.clip((a_target - am) / scale, -1.0, 1.0) * jnp.where(push, speed, 1.0)
  flex_target = jnp.where((push | lower)[..., None], jnp.array(DOWN), jnp.array(UP))
  flex_act = jnp.clip((flex_target - flex) / scale, -1.0, 1.0)
  act = jnp.concatenate([a_act[..., None], flex_act], -1).reshape(obs.shape[:-1] + (-1,))
  return jnp.where((jnp.abs(error) < STOP)[..., None], 0.0, act)


def valve_angle(obs: jax.Array) -> jax.Array:
  """The valve angle (...) of observations (..., 11), from its (cos, sin)."""
  c = obs[..., VALVE]
  return jnp.arctan2(c[..., 1], c[..., 0])


def claw_valve(**overrides) -> ClawValve:
  """The three-fingered valve-turning task."""
  return ClawValve(**overrides)
