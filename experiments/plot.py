"""Learning curves and evaluation trajectories of runs.

  python -m experiments.plot RUN_DIR... --out=curves.png --trajectories=paths.png

Curves: one line per run (its label is the directory name), the mean over the
run's seeds with a band from the lowest to the highest seed (`plot_panels` draws
any metric per panel: the reproduction sweep's success curves per environment). Trajectories: the
latest evaluation episodes of the first run, over the walls of its maze.
"""

import collections
import json
import os

from absl import app, flags
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure


from mural_jax.metrics import TRAJECTORIES, read_jsonl

CURVES = (("eval_success", "eval success rate"), ("eval_distance", "eval distance to goal"))


def _over_seeds(rows: list[dict], key: str):
  """Environment steps, and the mean, min and max over seeds at each."""
  by_step = collections.defaultdict(list)
  for r in rows:
    by_step[r["env_steps"]].append(r[key])
  steps = sorted(by_step)
  values = [np.asarray(by_step[s]) for s in steps]
  return (np.asarray(steps), np.asarray([v.mean() for v in values]),
          np.asarray([v.min() for v in values]), np.asarray([v.max() for v in values]))


def plot_panels(panels: list, path: str) -> str:
  """`panels`: (title, runs, key) triples, runs a dict label -> metric rows (one per
  epoch and seed). Writes a PNG with one panel per triple: each run's mean of `key`
  over seeds with a min-max seed band; a label keeps its colour in every panel."""
  labels = list(dict.fromkeys(label for _, runs, _ in panels for label in runs))
  colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
  fig = Figure(figsize=(5 * len(panels), 3.6))
  axes = fig.subplots(1, len(panels), squeeze=False)
  handles = {}
  for ax, (title, runs, key) in zip(axes[0], panels):
    for label, rows in runs.items():
      steps, mean, low, high = _over_seeds(rows, key)
      num_seeds = len({r.get("seed", 0) for r in rows})
      handles[label], = ax.plot(
          steps, mean, color=colors[label],
          label=label + (f" ({num_seeds} seeds)" if num_seeds > 1 else ""))
      if num_seeds > 1:
        ax.fill_between(steps, low, high, color=colors[label], alpha=0.2, linewidth=0)
    ax.set(title=title, xlabel="environment steps")
    if "success" in key:  # a fraction of episodes
      ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
  axes[0, 0].legend(handles=list(handles.values()), fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  return path


def plot_learning_curves(runs: dict, path: str) -> str:
  """`runs`: label -> metric rows (one per epoch and seed). Writes a PNG with one
  panel per curve."""
  return plot_panels([(title, runs, key) for key, title in CURVES], path)


def draw_arena(ax, env) -> None:
  """`env`'s walls, arena and goal on `ax` where it has them (the point mazes, the ant
  maze), in the goal's coordinates."""
  for wall in getattr(env, "walls", ()):
    ax.plot(wall[:, 0], wall[:, 1], color="black", linewidth=3, solid_capstyle="round")
  if hasattr(env, "arena"):  # half-widths: one for a square, (x, y) for a rectangle
    x, y = np.broadcast_to(np.asarray(env.arena, float), (2,))
    ax.plot([-x, x, x, -x, -x], [-y, -y, y, y, -y], color="black", linewidth=1)
  if getattr(env, "goal_slice", None) == slice(0, 2):  # the axes are the goal's
    ax.plot(*np.asarray(env.goal), "*", color="gold", markersize=14, markeredgecolor="k")


def plot_trajectories(trajectories: np.ndarray, path: str, env=None, title: str = "") -> str:
  """Evaluation paths (..., episodes, T + 1, 2) (every seed's), over `env`'s walls
  and arena if it has them (the point mazes, the ant maze). Writes a PNG."""
  fig = Figure(figsize=(4.5, 4.5))
  ax = fig.subplots()
  draw_arena(ax, env)
  paths = np.asarray(trajectories).reshape(-1, *np.shape(trajectories)[-2:])
  for i, p in enumerate(paths):
    ax.plot(p[:, 0], p[:, 1], color=colormaps["viridis"](i / max(len(paths) - 1, 1)), alpha=0.8)
    ax.plot(p[0, 0], p[0, 1], "o", color="tab:green", markersize=4)
    ax.plot(p[-1, 0], p[-1, 1], "x", color="tab:red", markersize=5)
  ax.set(aspect="equal", title=title)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  return path


def plot_run_trajectories(workdir: str, path: str, label: str = "") -> str:
  """`plot_trajectories` of the latest evaluation saved in `workdir`; the title names
  `label` (default: the run's reward)."""
  import envs  # imported here: learning curves need no environment
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  saved = np.load(os.path.join(workdir, TRAJECTORIES))
  env = envs.make(config["env"], **config.get("env_kwargs", {}))
  title = f"{config['env']}, {label or config['reward']}: epoch {int(saved['epoch'])}"
  return plot_trajectories(saved["trajectories"], path, env, title)


def plot_outputs(workdir: str, label: str) -> list[str]:
  """A run's figures in its workdir: curves.png, and trajectories.png if it saved any;
  returns their file names."""
  rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  paths = [plot_learning_curves({label: rows}, os.path.join(workdir, "curves.png"))]
  if os.path.exists(os.path.join(workdir, TRAJECTORIES)):
    paths.append(plot_run_trajectories(workdir, os.path.join(workdir, "trajectories.png")))
  return [os.path.basename(p) for p in paths]


def main(argv):
  runs = {os.path.basename(os.path.normpath(d)): read_jsonl(os.path.join(d, "metrics.jsonl"))
          for d in argv[1:]}
  if not runs:
    raise app.UsageError("Give at least one run directory containing metrics.jsonl.")
  print(plot_learning_curves(runs, flags.FLAGS.out))
  if flags.FLAGS.trajectories:
    print(plot_run_trajectories(argv[1], flags.FLAGS.trajectories))


if __name__ == "__main__":  # flags defined here: importers (train, reproduce) have their own
  flags.DEFINE_string("out", "curves.png", "Output PNG of the learning curves.")
  flags.DEFINE_string("trajectories", None,
                      "Output PNG of the first run's latest evaluation episodes.")
  app.run(main)
