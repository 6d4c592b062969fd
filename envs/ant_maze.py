"""Ant maze (MJX): walk the Gym-style ant around one wall to (5.5, 4.5).

Reference task: Brax's / Gym's ant with gear 30 and a 0.15 s control period,
in an arena with walls at x = +-7 and y = +-5.5 and an inner wall block
x in [-1.25, 1.25], y in [-2.5, 5.5] touching the top wall; start (-5.5, 4.5),
goal (5.5, 4.5): the route runs down, under the wall and up. Horizon 400.
Classifier input: the 15 joint positions (qpos); "xy" (the torso position) is
the second choice. Success: torso xy within 1.0 of the goal. No early
termination (a flipped ant stays flipped until the time limit, as in the
reference, which has none for the ant maze).

Action: the 8 hinge torques, clipped to [-1, 1] (x gear 30). Observation (29):
qpos (15: torso xyz, quaternion wxyz, 8 hinge angles) + qvel (14: torso linear
and angular velocity, 8 hinge velocities); obs[:2] is the torso xy. Start: the
torso at the start at height 0.55 in Brax's default pose, the hinge angles
perturbed by U(-0.1, 0.1) (Gym's reset noise scale), at rest.

Model (envs/assets/ant_maze.xml): Brax's ant.xml at gear 30; the walls are
boxes. The torso and foot spheres collide with the floor and the walls, nothing
else collides. One step = 10 x 0.015 s; Newton solver, 4 iterations, 6
line-search iterations, Euler. Should a step still go non-finite, the ant is
kept at its last finite positions, at rest.

Metrics: "distance" is the geodesic distance of the torso to the goal, exact
among the walls padded by `WALL_PADDING` (how close the torso centre gets to a
wall), "xy_distance" the straight-line distance. Success examples: ants
settled near the goal (`AntMaze.success_examples`).
"""

import numpy as np

import jax
import jax.numpy as jnp

from envs.base import boxes, uniform_in_ball
from envs.mjx_base import MjxEnv
from envs.point_maze import Geodesic

ARENA = (7.0, 5.5)                              # walls at x = +-7, y = +-5.5
INNER_WALL = ((-1.25, -2.5), (1.25, 5.5))       # [lo, hi] of the inner block
# How close the torso centre gets to a wall: the torso sphere's radius (an ant
# thrown at the walls with its feet out of the way touches them, 0.24 measured).
WALL_PADDING = 0.25
START, GOAL = (-5.5, 4.5), (5.5, 4.5)
# A route that clears every padded wall: down, under the inner wall, and up.
WAYPOINTS = (START, (-5.5, -4.0), (5.5, -4.0), GOAL)
# The observation: qpos (torso xy, torso z, quaternion wxyz, hinge angles), qvel.
# TORSO_XY also indexes qvel (the torso's xy velocity) and every classifier input
# (the goal coordinates).
TORSO_XY = slice(0, 2)
TORSO_Z = slice(2, 3)
HINGES = slice(7, 15)
QPOS = slice(0, 15)
# Classifier inputs: slices of the observation (both start with the torso xy).
CLASSIFIER_INPUTS = {"qpos": QPOS, "xy": TORSO_XY}
TORSO_Z_RANGE = (0.0, 1.25)   # m: the torso's height, lying down to jumping (1.1 seen)
SETTLE_STEPS = 4      # zero-action steps (0.6 s) that settle a success example


class AntMaze(MjxEnv):
  """The ant walks around the inner wall to the goal; see the module docstring."""

  straight_distance_key = "xy_distance"

  def __init__(self, start=START, goal=GOAL, classifier_input="qpos",
               success_radius=1.0, example_radius=0.5, reset_noise=0.1, episode_length=400):
    super().__init__("ant_maze.xml", n_substeps=10, goal=goal, goal_slice=TORSO_XY,
                     success_radius=success_radius, example_radius=example_radius,
                     episode_length=episode_length)
    if classifier_input not in CLASSIFIER_INPUTS:
      raise ValueError(f"classifier_input={classifier_input!r}; valid choices: "
                       f"{', '.join(CLASSIFIER_INPUTS)}.")
    if reset_noise < 0:
      raise ValueError(f"reset_noise={reset_noise} must be >= 0.")
    self.classifier_choice = classifier_input
    self.start = jnp.asarray(start, jnp.float32)
    self.reset_noise = float(reset_noise)
    lo, hi = np.asarray(INNER_WALL, np.float32)
    free = np.asarray(ARENA, np.float32) - WALL_PADDING
    for name, p in (("start", start), ("goal", goal)):
      p = np.asarray(p, np.float32)
      if np.any(np.abs(p) > free) or np.all((lo - WALL_PADDING < p) & (p < hi + WALL_PADDING)):
        raise ValueError(f"The {name} {p.tolist()} must lie in [-{free[0]}, {free[0]}] x "
                         f"[-{free[1]}, {free[1]}] and outside the padded inner wall.")
    self.geodesic = Geodesic([[lo - WALL_PADDING, hi + WALL_PADDING]], goal, free)
    # For plots (as the point mazes' walls and arena): the inner block's outline.
    self.walls = np.asarray([[(lo[0], hi[1]), (lo[0], lo[1])], [(lo[0], lo[1]), (hi[0], lo[1])],
                             [(hi[0], lo[1]), (hi[0], hi[1])]], np.float32)
    self.arena = ARENA
    self._home = jnp.asarray(self.mj_model.key("home").qpos, jnp.float32)   # (15,)

  @property
  def workspace(self):
    """qpos's box: the arena (torso xy), `TORSO_Z_RANGE`, the unit quaternion's box and
    the hinges' ranges; sliced to the classifier input."""
    hinges = self.mj_model.jnt_range[1:].T      # joint 0 is the torso's free joint
    low, high = boxes((-np.asarray(ARENA), np.asarray(ARENA)), TORSO_Z_RANGE,
                      (-np.ones(4), np.ones(4)), hinges)
    take = CLASSIFIER_INPUTS[self.classifier_choice]
    return low[take], high[take]

  @property
  def action_size(self) -> int:
    return self.mj_model.nu

  # -- Brax API --------------------------------------------------------------
  def reset(self, rng: jax.Array):
    data = self.pipeline_init(self._pose(rng, self.start, jnp.zeros(())))
    return self._state(data)

  def step(self, state, action):
    prev = state.pipeline_state
    data = self.pipeline_step(prev, ctrl=jnp.clip(action, -1.0, 1.0))
    data = keep_finite(data, prev)
    return self._advance(state, data)

  def _pose(self, rng, xy, yaw):
    """Default pose at torso `xy` with heading `yaw`, hinge angles perturbed."""
    noise = jax.random.uniform(rng, (8,), minval=-self.reset_noise, maxval=self.reset_noise)
    quat = jnp.stack([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])
    return jnp.concatenate([xy, self._home[TORSO_Z], quat, self._home[HINGES] + noise])

  def _obs(self, data):
    return jnp.concatenate([data.qpos, data.qvel])

  # -- classifier API ----------------------------------------------------------
  def classifier_input(self, obs: jax.Array) -> jax.Array:
    return obs[..., CLASSIFIER_INPUTS[self.classifier_choice]]

  def success_examples(self, rng: jax.Array, n: int = 150) -> jax.Array:
    """Settled ants near the goal: the default pose (hinge noise) at a random yaw,
    the torso within `example_radius` of the goal, after `SETTLE_STEPS`
    zero-action steps. Settling moves the torso by centimetres, so the settled
    state is a success; were it not (or not finite), its placement, a success
    by construction (example_radius < success_radius), stands in for it."""
    k_r, k_a, k_yaw, k_pose = jax.random.split(rng, 4)
    xy = uniform_in_ball((k_r, k_a), self.goal, self.example_radius, n)
    yaw = jax.random.uniform(k_yaw, (n,), maxval=2 * jnp.pi)
    qpos = jax.vmap(self._pose)(jax.random.split(k_pose, n), xy, yaw)          # (n, 15)
    settled = self.classifier_input(jax.vmap(self._settle)(qpos))
    placed = self.classifier_input(qpos)               # qpos is the observation's head
    ok = self.is_success(settled) & jnp.all(jnp.isfinite(settled), -1)
    return jnp.where(ok[:, None], settled, placed)

  def _settle(self, qpos):
    zero = jnp.zeros((self.action_size,))
    data = self.pipeline_init(qpos)
    data = jax.lax.fori_loop(0, SETTLE_STEPS, lambda _, d: self.pipeline_step(d, zero), data)
    return self._obs(data)

  # -- solvability --------------------------------------------------------------
  def teleport(self, state, xy, velocity=None):
    """`state` with the torso moved to `xy` (and its xy velocity set, if given).

    Only the physics state changes: the next step recomputes observation and metrics.
    """
    data = state.pipeline_state
    data = data.replace(qpos=data.qpos.at[TORSO_XY].set(xy))
    if velocity is not None:
      data = data.replace(qvel=data.qvel.at[TORSO_XY].set(velocity))
    return state.replace(pipeline_state=data)


def waypoint_path(speed=0.15, steps=400) -> np.ndarray:
  """Torso xy (steps, 2) moving `speed` per step along `WAYPOINTS` (default start
  and goal), then staying at the goal: a teleported walk that solves the task."""
  points = np.asarray(WAYPOINTS, np.float64)
  cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
  s = np.minimum(speed * np.arange(1, steps + 1), cum[-1])
  return np.stack([np.interp(s, cum, points[:, 0]), np.interp(s, cum, points[:, 1])], -1)


def keep_finite(data, prev):
  """`data` if its state is finite, else `prev`'s positions at rest (MJX can diverge)."""
  finite = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
  prev = prev.replace(qvel=jnp.zeros_like(prev.qvel))
  return jax.tree.map(lambda new, old: jnp.where(finite, new, old), data, prev)


def ant_maze(**overrides) -> AntMaze:
  """The reference's ant maze."""
  return AntMaze(**overrides)
