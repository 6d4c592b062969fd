"""Kinematic point-mass mazes (pure JAX): `zigzag_maze` and `spiral_maze`.

Dynamics of the reference: the action is clipped to [-1, 1]^2, scaled by 0.5 and
added to the position; walls are zero-thickness axis-aligned segments padded by
the ball radius (0.15) into boxes; a move that would enter a box stops at its
face and the rest of the move slides along the face. The arena [-4, 4]^2 is
bounded the same way (by boxes outside it), which clips the position to the
arena without letting a move pass round a wall end that pokes out of the
arena. Observation and classifier input: (x, y).

`distance` in the metrics is the geodesic (shortest collision-free path)
distance to the goal, exact for box obstacles: the shortest path bends only at
box corners, so it is the shortest path in the visibility graph of the corners.
"""

import numpy as np

import jax
import jax.numpy as jnp

from envs.base import MuralEnv, State, uniform_in_ball

# The observation and classifier input: the point's position, the goal coordinates.
POS = slice(0, 2)
# The reference's success examples: within 0.05 of the goal (the success test: 0.5).
EXAMPLE_RADIUS = 0.05

# A point stopped by a wall is left this far outside the box face, so the next
# move starts strictly outside every box.
_MARGIN = 1e-5
# Geodesic graph nodes sit this far diagonally outside the box corners.
_CORNER_OFFSET = 1e-4


def _slab(p, d, boxes):
  """Ray p + t d against boxes (W, 2, 2) [lo, hi]: entry/exit times and entry axis."""
  lo, hi = boxes[:, 0], boxes[:, 1]                                  # (W, 2)
  moving = d != 0
  safe_d = jnp.where(moving, d, 1.0)
  t1, t2 = (lo - p) / safe_d, (hi - p) / safe_d
  inside = (lo < p) & (p < hi)
  t_min = jnp.where(moving, jnp.minimum(t1, t2), jnp.where(inside, -jnp.inf, jnp.inf))
  t_max = jnp.where(moving, jnp.maximum(t1, t2), jnp.where(inside, jnp.inf, -jnp.inf))
  return t_min.max(-1), t_max.min(-1), t_min.argmax(-1)               # (W,) each


def _blocked(p, q, boxes):
  """Whether the segment p -> q passes through the interior of any box."""
  t_in, t_out, _ = _slab(p, q - p, boxes)
  return jnp.any((t_in < t_out) & (t_out > 0) & (t_in < 1))


def _inside(p, boxes):
  """Whether the point p lies strictly inside any box (W, 2, 2) [lo, hi]."""
  return jnp.any(jnp.all((boxes[:, 0] < p) & (p < boxes[:, 1]), -1))


class Geodesic:
  """Exact geodesic distance to `goal` among (padded) boxes in a rectangular arena.

  The shortest path among axis-aligned boxes bends only at box corners, so it is
  the shortest path in the visibility graph of the corners that lie in the arena
  [-x_half, x_half] x [-y_half, y_half] (convex: segments between its points stay in it).
  """

  def __init__(self, boxes, goal, arena):
    """`boxes` (W, 2, 2) [lo, hi]; `arena` (x_half, y_half)."""
    self.boxes = jnp.asarray(boxes, jnp.float32)
    self.nodes, self.node_to_goal = self._graph(np.asarray(goal, np.float64),
                                                np.asarray(arena, np.float64))

  def _graph(self, goal, arena):
    """Corner nodes inside the arena and their shortest-path distance to the goal."""
    boxes = np.asarray(self.boxes, np.float64)
    corners = [(boxes[i, a, 0] + sx, boxes[i, b, 1] + sy)
               for i in range(len(boxes))
               for a, sx in ((0, -_CORNER_OFFSET), (1, _CORNER_OFFSET))
               for b, sy in ((0, -_CORNER_OFFSET), (1, _CORNER_OFFSET))]
    nodes = [c for c in np.asarray(corners, np.float64).reshape(-1, 2)
             if np.all(np.abs(c) <= arena) and not _inside(jnp.asarray(c), self.boxes)]
    pts = np.asarray(nodes + [goal], np.float64).reshape(-1, 2)
    n = len(pts)
    dist = np.full((n, n), np.inf)
    for i in range(n):
      for j in range(n):
        if i == j or not bool(_blocked(jnp.asarray(pts[i]), jnp.asarray(pts[j]), self.boxes)):
          dist[i, j] = np.linalg.norm(pts[i] - pts[j])
    for k in range(n):  # Floyd-Warshall on a graph of a few dozen nodes
      dist = np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :])
    return jnp.asarray(pts, jnp.float32), jnp.asarray(dist[:, -1], jnp.float32)

  def __call__(self, pos: jax.Array) -> jax.Array:
    """Length of the shortest box-avoiding path from `pos` (2,) to the goal."""
    visible = jax.vmap(lambda q: ~_blocked(pos, q, self.boxes))(self.nodes)
    via = jnp.linalg.norm(self.nodes - pos, axis=-1) + self.node_to_goal
    return jnp.min(jnp.where(visible, via, jnp.inf))


class PointMaze(MuralEnv):
  """A point mass in an arena with padded axis-aligned walls."""

  def __init__(self, walls, goal, start=(-3.0, -3.0), arena=4.0, radius=0.15,
               step_scale=0.5, success_radius=0.5, episode_length=100,
               example_radius=EXAMPLE_RADIUS):
    """`walls`: segments ((x0, y0), (x1, y1)), each horizontal or vertical."""
    walls = np.asarray(walls, np.float32).reshape(-1, 2, 2)
    if np.any((walls[:, 0, 0] != walls[:, 1, 0]) & (walls[:, 0, 1] != walls[:, 1, 1])):
      raise ValueError(f"Walls must be axis-aligned segments, got {walls.tolist()}.")
    super().__init__(goal, POS, success_radius, example_radius, episode_length)
    self.walls = walls
    self.boxes = jnp.asarray(np.stack([walls.min(1) - radius, walls.max(1) + radius], 1))
    a, b = float(arena), float(arena) + 1.0
    outside = np.asarray([[[-b, -b], [-a, b]], [[a, -b], [b, b]],
                          [[-b, -b], [b, -a]], [[-b, a], [b, b]]], np.float32)
    self._solid = jnp.concatenate([self.boxes, jnp.asarray(outside)])  # walls + arena bounds
    self.start = jnp.asarray(start, jnp.float32)
    self.arena = float(arena)
    self.step_scale = float(step_scale)
    for name, point in (("start", self.start), ("goal", self.goal)):
      if bool(_inside(point, self.boxes)):
        raise ValueError(f"The {name} {point.tolist()} lies inside a padded wall.")
    self.geodesic = Geodesic(self.boxes, self.goal, (self.arena, self.arena))

  @property
  def workspace(self):
    """The arena [-arena, arena]^2."""
    return np.full(2, -self.arena, np.float32), np.full(2, self.arena, np.float32)

  # -- Brax API --------------------------------------------------------------
  @property
  def action_size(self) -> int:
    return 2

  def reset(self, rng: jax.Array) -> State:
    del rng  # the start is fixed
    zero = jnp.zeros(())
    return State(pipeline_state=None, obs=self.start, reward=zero, done=zero,
                 metrics=self._metrics(self.start), info={})

  def step(self, state: State, action: jax.Array) -> State:
    pos = self.move(state.obs, action)
    metrics = self._metrics(pos)
    return state.replace(obs=pos, reward=metrics["success"], metrics=metrics)

  def success_examples(self, rng: jax.Array, n: int = 150) -> jax.Array:
    """Uniform in the disc of radius `example_radius` around the goal."""
    return uniform_in_ball(jax.random.split(rng), self.goal, self.example_radius, n)

  # -- dynamics and geometry ---------------------------------------------------
  def move(self, pos: jax.Array, action: jax.Array) -> jax.Array:
    """One kinematic step: stop at the first face (wall or arena bound), slide along it."""
    d = self.step_scale * jnp.clip(action, -1.0, 1.0)
    boxes = self._solid
    # Two passes are exact: after a second contact both components are blocked.
    for _ in range(2):
      t_in, t_out, axis = _slab(pos, d, boxes)
      hit = (t_in < t_out) & (t_in >= 0) & (t_in <= 1)
      first = jnp.argmin(jnp.where(hit, t_in, jnp.inf))
      any_hit = hit[first]
      ax = jax.nn.one_hot(axis[first], 2, dtype=bool)
      sign = jnp.sign(d)
      face = jnp.where(sign > 0, boxes[first, 0], boxes[first, 1]) - sign * _MARGIN
      contact = jnp.where(ax, face, pos + t_in[first] * d)
      pos = jnp.where(any_hit, contact, pos + d)
      d = jnp.where(any_hit, jnp.where(ax, 0.0, (1.0 - t_in[first]) * d), 0.0)
    return pos

  def geodesic_distance(self, pos: jax.Array) -> jax.Array:
    """Length of the shortest wall-avoiding path from `pos` (2,) to the goal."""
    return self.geodesic(pos)


ZIGZAG_WALLS = (((-4 / 3, -4.0), (-4 / 3, 2.0)),
                ((4 / 3, -2.0), (4 / 3, 4.0)))

SPIRAL_WALLS = (((-4.0, -2.0), (2.0, -2.0)),
                ((2.0, -2.0), (2.0, 2.0)),
                ((-2.0, 2.0), (2.0, 2.0)),
                ((-2.0, 0.0), (-2.0, 2.0)),
                ((-2.0, 0.0), (0.0, 0.0)))


def zigzag_maze(**overrides) -> PointMaze:
  """The reference's "medium maze": up, over, down, under, up to (3, 3)."""
  return PointMaze(**{"walls": ZIGZAG_WALLS, "goal": (3.0, 3.0), **overrides})


def spiral_maze(**overrides) -> PointMaze:
  """The reference's "hard maze": a path that spirals in to (-0.5, 1.25)."""
  return PointMaze(**{"walls": SPIRAL_WALLS, "goal": (-0.5, 1.25), **overrides})
