"""The fidelity study's report: metrics along the corridor, the table and the figure."""

import numpy as np
from matplotlib.figure import Figure

from experiments.nml_fidelity_data import PATH, PATH_LENGTH


def path_metrics(p_path: np.ndarray, s: np.ndarray, frontier: float) -> dict:
  """Rank correlation along the corridor and mean p on visited, unvisited and goal points."""
  from scipy.stats import spearmanr
  visited = s <= frontier / 2
  unvisited = (s >= frontier + 2) & (s <= PATH_LENGTH - 2)
  return {"spearman": float(spearmanr(s, p_path)[0]),
          "visited": float(p_path[visited].mean()),
          "unvisited": float(p_path[unvisited].mean()) if unvisited.any() else None,
          "goal": float(p_path[-1])}


def mae(a, b):
  """Mean |a - b|, or None if either is missing."""
  return None if a is None or b is None else float(np.abs(a - b).mean())


def format_row(r) -> str:
  """One row of the table (HEADER's columns)."""
  num = lambda v, f=".3f": "-" if v is None else format(v, f)
  return (f"{r['frontier']:>5g} {r['setting']:<32} {num(r['mae_cnml']):>7}"
          f" {num(r['mae_tabular']):>7}"
          f" {num(r['spearman'], '.2f'):>6} {num(r['visited']):>6} {num(r['unvisited']):>6}"
          f" {num(r['goal']):>6} {num(r.get('heldout_meta_loss'), '.4f'):>8}"
          f" {num(r.get('heldout_query_share'), '.2f'):>6}")


HEADER = (f"{'front':>5} {'setting':<32} {'|-CNML|':>7} {'|-tab|':>7} {'rho':>6} {'visit':>6}"
          f" {'unvis':>6} {'goal':>6} {'metaloss':>8} {'qshare':>6}")


def plot(maps_by_frontier: dict, positives, path: str) -> str:
  """One row of maps per setting (exact and tabular CNML first), one column per frontier."""
  import envs
  walls = envs.make("zigzag_maze").walls
  frontiers = list(maps_by_frontier)
  names = [n for n in maps_by_frontier[frontiers[0]] if n != "visits"]
  names = sorted(names, key=lambda n: (not n.startswith("cnml"), not n.startswith("tabular")))
  fig = Figure(figsize=(3.1 * len(frontiers) + 1.2, 3.0 * len(names)))
  axes = fig.subplots(len(names), len(frontiers), squeeze=False)
  for col, frontier in enumerate(frontiers):
    maps = maps_by_frontier[frontier]
    for ax, name in zip(axes[:, col], names):
      values = maps[name]
      side = int(round(np.sqrt(values.size)))
      im = ax.imshow(values.reshape(side, side), origin="lower", extent=(-4, 4, -4, 4),
                     vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
      ax.scatter(*maps["visits"].T, s=0.5, c="white", alpha=0.3)
      ax.scatter(*np.asarray(positives).T, s=2, c="red")
      ax.plot(*PATH.T, c="white", lw=0.6, ls=":")
      for (x0, y0), (x1, y1) in walls:
        ax.plot([x0, x1], [y0, y1], c="black", lw=3)
      ax.set(xticks=[], yticks=[])
      ax.set_title(f"{name}, frontier {frontier:g}", fontsize=8)
  fig.colorbar(im, ax=axes, shrink=0.6, label="p(success)")
  fig.savefig(path, dpi=80)
  return path
