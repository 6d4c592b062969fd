"""Shared machinery of the MJX tasks: loading MJCF assets, stepping MJX, actuation.

`MjxEnv` holds the MuJoCo model (for CPU-side tools) and its MJX copy, builds
`mjx.Data` from a state (``pipeline_state`` of every task is an `mjx.Data`) and
advances it by one control period of ``n_substeps`` physics steps. Two kinds
of actuation are shared:

* a kinematic end effector (`HandEnv`): a body on three slide joints
  (hand_x, hand_y, hand_z) whose position is set, not simulated: the action is
  a position delta of 0.02 m per unit, clipped to [-1, 1] and to a workspace
  box, and the hand moves along the straight line to its target over the
  substeps with the matching velocity, so contacts see a steady motion. (A
  mocap body would do for a rigid hand, but MJX places the jointed children of
  a mocap body at the body's model position, so gripper fingers need this.)
* joint-delta position control (`joint_delta_targets`): position actuators
  aim at the current joint angles plus a scaled action, clipped to the ranges.
"""

import abc
import pathlib

import mujoco
from mujoco import mjx
import numpy as np

import jax
import jax.numpy as jnp

from envs.base import MuralEnv, State
from envs.cpu_cholesky import use_xla_cholesky

ASSETS = pathlib.Path(__file__).parent / "assets"


def load_model(asset: str) -> mujoco.MjModel:
  """The MuJoCo model of envs/assets/`asset`."""
  return mujoco.MjModel.from_xml_path(str(ASSETS / asset))


class MjxEnv(MuralEnv):
  """A MuralEnv whose physics is MJX: subclasses define `_obs(data)`, and every
  state's reward is the success indicator and its metrics the goal metrics."""

  def __init__(self, asset: str, n_substeps: int, goal, goal_slice: slice,
               success_radius: float, example_radius: float, episode_length: int):
    super().__init__(goal, goal_slice, success_radius, example_radius, episode_length)
    use_xla_cholesky()  # before any of this task's programs is traced
    self.mj_model = load_model(asset)
    self.sys = mjx.put_model(self.mj_model)
    # On device once, so that every trace closes over the same constants.
    self._data0 = jax.device_put(mjx.make_data(self.sys))
    self.n_substeps = int(n_substeps)

  @abc.abstractmethod
  def _obs(self, data: mjx.Data) -> jax.Array:
    """The observation (observation_size,) of a physics state."""

  def _state(self, data: mjx.Data) -> State:
    """A fresh State at `data`; as in the point mazes, the reward is the success
    indicator. Non-finite observation entries read as zero, so a diverged
    simulation never leaks NaNs into training."""
    obs = self._obs(data)
    obs = jnp.where(jnp.isfinite(obs), obs, 0.0)
    metrics = self._metrics(obs)
    return State(pipeline_state=data, obs=obs, reward=metrics["success"],
                 done=jnp.zeros(()), metrics=metrics, info={})

  def _advance(self, state: State, data: mjx.Data) -> State:
    """`state` moved on to the physics state `data` (its done and info kept)."""
    new = self._state(data)
    return state.replace(pipeline_state=data, obs=new.obs, reward=new.reward,
                         metrics=new.metrics)

  @property
  def dt(self) -> float:
    """Seconds of simulated time per environment step (the control period)."""
    return float(self.mj_model.opt.timestep) * self.n_substeps

  def joint_qpos_adr(self, name: str) -> int:
    return int(self.mj_model.jnt_qposadr[
        mujoco.mj_name2id(self.mj_model, mujoco.mjtObj.mjOBJ_JOINT, name)])

  def pipeline_init(self, qpos, qvel=None, ctrl=None) -> mjx.Data:
    """`mjx.Data` at the given state, with positions and contacts computed."""
    d = self._data0.replace(qpos=jnp.asarray(qpos, jnp.float32))
    if qvel is not None:
      d = d.replace(qvel=jnp.asarray(qvel, jnp.float32))
    if ctrl is not None:
      d = d.replace(ctrl=jnp.asarray(ctrl, jnp.float32))
    return mjx.forward(self.sys, d)

  def pipeline_step(self, data: mjx.Data, ctrl=None, kinematic=None) -> mjx.Data:
    """One control period of `n_substeps` MJX steps.

    `kinematic`: optional (qpos addresses, target) of joints that are set, not
    simulated: after each substep they lie on the straight line from their
    start to `target` (reached at the end), with the matching velocity.
    """
    if ctrl is not None:
      data = data.replace(ctrl=ctrl)
    if kinematic is None:
      substep = lambda d, frac: (mjx.step(self.sys, d), None)
    else:
      adr, target = kinematic
      start = data.qpos[adr]
      vel = (target - start) / self.dt

      def substep(d, frac):
        d = mjx.step(self.sys, d)
        return d.replace(qpos=d.qpos.at[adr].set(start + frac * (target - start)),
                         qvel=d.qvel.at[adr].set(vel)), None

    fracs = jnp.arange(1, self.n_substeps + 1, dtype=jnp.float32) / self.n_substeps
    data, _ = jax.lax.scan(substep, data, fracs)
    return data


class HandEnv(MjxEnv):
  """A kinematic end effector on slide joints hand_x, hand_y, hand_z."""

  action_scale: float = 0.02

  def __init__(self, asset, n_substeps, hand_low, hand_high, goal, goal_slice,
               success_radius, example_radius, episode_length):
    super().__init__(asset, n_substeps, goal, goal_slice, success_radius, example_radius,
                     episode_length)
    self._hand_adr = np.asarray([self.joint_qpos_adr(f"hand_{a}") for a in "xyz"])
    dofs = [self.mj_model.jnt_dofadr[self.mj_model.joint(f"hand_{a}").id] for a in "xyz"]
    if list(self._hand_adr) != dofs:
      raise ValueError(f"The hand joints must have equal qpos and dof addresses, got "
                       f"{list(self._hand_adr)} and {dofs}.")
    self.hand_low = jnp.asarray(hand_low, jnp.float32)
    self.hand_high = jnp.asarray(hand_high, jnp.float32)

  @property
  def hand_box(self) -> tuple[np.ndarray, np.ndarray]:
    """The hand's box (low, high), each (3,)."""
    return np.asarray(self.hand_low), np.asarray(self.hand_high)

  def hand_pos(self, data: mjx.Data) -> jax.Array:
    return data.qpos[self._hand_adr]

  def with_hand(self, qpos: jax.Array, hand: jax.Array) -> jax.Array:
    return qpos.at[self._hand_adr].set(hand)

  def move_hand(self, data: mjx.Data, delta_xyz: jax.Array, ctrl=None) -> mjx.Data:
    """One control period with the hand moved by 0.02 m x the clipped action (in the box)."""
    delta = self.action_scale * jnp.clip(delta_xyz, -1.0, 1.0)
    target = jnp.clip(self.hand_pos(data) + delta, self.hand_low, self.hand_high)
    return self.pipeline_step(data, ctrl=ctrl, kinematic=(self._hand_adr, target))


def joint_delta_targets(qpos, action, scale, low, high):
  """Position-actuator targets: current joint angles plus `scale` x clipped action."""
  return jnp.clip(qpos + scale * jnp.clip(action, -1.0, 1.0), low, high)


def actuated_ranges(model: mujoco.MjModel):
  """(qpos addresses, low, high) of the joints driven by the model's actuators."""
  joints = model.actuator_trnid[:, 0]
  adr = np.asarray(model.jnt_qposadr[joints])
  low, high = model.jnt_range[joints].T
  return adr, jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)


def wrap(angle: jax.Array) -> jax.Array:
  """Angle wrapped to [-pi, pi)."""
  return (angle + jnp.pi) % (2 * jnp.pi) - jnp.pi
