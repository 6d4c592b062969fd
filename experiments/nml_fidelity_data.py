"""The fidelity study's data: zigzag-maze visitation up to an exploration frontier.

The corridor's centre line runs 24 long from the start (-3, -3) to the goal
(3, 3); positions along it are arc lengths from the start.
"""

import numpy as np

# Corridor centre line of the zigzag, start to goal: up, over, down, under, up.
PATH = np.array([(-3, -3), (-3, 3), (0, 3), (0, -3), (3, -3), (3, 3)], np.float32)
_SEGMENTS = np.diff(PATH, axis=0)
_LENGTHS = np.linalg.norm(_SEGMENTS, axis=1)
_STARTS = np.concatenate([[0.0], np.cumsum(_LENGTHS)])
PATH_LENGTH = float(_STARTS[-1])   # 24
# Free band across each corridor (walls at x = +-4/3 padded by 0.15, arena +-4).
_X_BANDS = {-3.0: (-3.95, -1.5), 0.0: (-1.15, 1.15), 3.0: (1.5, 3.95)}
_Y_BANDS = {3.0: (2.2, 3.95), -3.0: (-3.95, -2.2)}


def path_points(s: np.ndarray) -> np.ndarray:
  """Points (n, 2) of the corridor centre line at arc lengths s (n,) from the start."""
  i = np.clip(np.searchsorted(_STARTS, s, side="right") - 1, 0, len(_LENGTHS) - 1)
  return PATH[i] + (s - _STARTS[i])[:, None] * _SEGMENTS[i] / _LENGTHS[i][:, None]


def corridor_visits(rng: np.random.Generator, n: int, frontier: float) -> np.ndarray:
  """Visited states (n, 2) of a policy that has explored the corridor up to `frontier`.

  Arc lengths are triangular on [0, frontier] (densest at the start); each
  point is displaced across its corridor by N(0, 0.35) and clipped to the
  corridor's free band, so no visit lies in a wall or beyond the frontier's corridor.
  """
  s = frontier * (1 - np.sqrt(rng.uniform(size=n)))
  i = np.clip(np.searchsorted(_STARTS, s, side="right") - 1, 0, len(_LENGTHS) - 1)
  points = path_points(s)
  shift = rng.normal(0.0, 0.35, n)
  vertical = _SEGMENTS[i, 0] == 0
  for centre, (low, high) in _X_BANDS.items():
    rows = vertical & np.isclose(points[:, 0], centre)
    points[rows, 0] = np.clip(points[rows, 0] + shift[rows], low, high)
  for centre, (low, high) in _Y_BANDS.items():
    rows = ~vertical & np.isclose(points[:, 1], centre)
    points[rows, 1] = np.clip(points[rows, 1] + shift[rows], low, high)
  return points.astype(np.float32)


def query_set(grid: int, path_step: float):
  """Grid queries (grid^2, 2) at cell centres of [-4, 4]^2, corridor arc lengths (m,) and points."""
  axis = (np.arange(grid, dtype=np.float32) + 0.5) / grid * 8 - 4
  grid_points = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
  s = np.arange(0.0, PATH_LENGTH + 1e-6, path_step, dtype=np.float32)
  s[-1] = PATH_LENGTH          # the goal is always a query
  return grid_points, s, path_points(s).astype(np.float32)
