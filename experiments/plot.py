"""Learning curves and evaluation trajectories of runs, and sweeps side by side.

  python -m experiments.plot RUN_DIR... --out=curves.png --trajectories=paths.png
  python -m experiments.plot --sweeps=SWEEP_DIR,... --env=zigzag_maze --out=merged.png

Curves: per run (labelled by its directory name, or its reward in a sweep), each seed
as a thin line and the mean over seeds as a bold one with a band of +- one standard
error, and a panel of the seeds that have reached eval success >= 0.9 by each step
(`plot_panels` draws any metric per panel: the reproduction sweep's success curves per
environment). `--sweeps` merges the cells of several sweep folders (e.g. MURAL's and
its baselines') for one environment into the same panels. Trajectories: the latest
evaluation episodes of the first run, over the walls of its maze.
"""

import collections
import json
import os

from absl import app, flags
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from experiments import cli
from mural_jax.metrics import SOLVED, TRAJECTORIES, read_jsonl

# The pseudo-metric of the seeds-reached panel: seeds whose eval success has reached
# SOLVED by each step.
SEEDS_REACHED = "seeds_reached"
CURVES = (("eval_success", "eval success rate"), ("eval_distance", "eval distance to goal"),
          (SEEDS_REACHED, f"seeds with eval success >= {SOLVED} so far"))


def per_seed(rows: list[dict], key: str):
  """Environment steps (T,) and `key` per seed (S, T), steps where every seed has a row;
  key SEEDS_REACHED: 1 from the first step a seed's eval success reached SOLVED."""
  by_seed = collections.defaultdict(dict)
  for r in rows:
    value = r["eval_success"] >= SOLVED if key == SEEDS_REACHED else r[key]
    by_seed[r.get("seed", 0)][r["env_steps"]] = float(value)
  steps = sorted(set.intersection(*(set(v) for v in by_seed.values())))
  values = np.asarray([[by_seed[s][t] for t in steps] for s in sorted(by_seed)])
  if key == SEEDS_REACHED:
    values = np.maximum.accumulate(values, axis=1)
  return np.asarray(steps), values


def plot_panels(panels: list, path: str) -> str:
  """`panels`: (title, runs, key) triples, runs a dict label -> metric rows (one per
  epoch and seed). Writes a PNG with one panel per triple: each seed of each run as a
  thin line, the mean over seeds bold with a +- one standard error band (SEEDS_REACHED:
  the number of seeds, one line per run); a label keeps its colour in every panel."""
  labels = list(dict.fromkeys(label for _, runs, _ in panels for label in runs))
  colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
  fig = Figure(figsize=(5 * len(panels), 3.6))
  axes = fig.subplots(1, len(panels), squeeze=False)
  handles = {}
  for ax, (title, runs, key) in zip(axes[0], panels):
    most_seeds = 0
    for label, rows in runs.items():
      steps, values = per_seed(rows, key)
      num_seeds = len(values)
      most_seeds = max(most_seeds, num_seeds)
      name = label + (f" ({num_seeds} seeds)" if num_seeds > 1 else "")
      if key == SEEDS_REACHED:
        handles[label], = ax.step(steps, values.sum(0), where="post", color=colors[label],
                                  label=name)
        continue
      mean = values.mean(0)
      handles[label], = ax.plot(steps, mean, color=colors[label], linewidth=2, label=name)
      if num_seeds > 1:
        for seed in values:
          ax.plot(steps, seed, color=colors[label], linewidth=0.6, alpha=0.4)
        error = values.std(0, ddof=1) / np.sqrt(num_seeds)
        ax.fill_between(steps, mean - error, mean + error, color=colors[label], alpha=0.2,
                        linewidth=0)
    ax.set(title=title, xlabel="environment steps")
    if key == SEEDS_REACHED:
      ax.set_ylim(-0.1, most_seeds + 0.1)
    elif "success" in key:  # a fraction of episodes
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
  """`env`'s walls and arena on `ax` where it has them (the point mazes, the ant maze)
  and its goal, on axes of the goal's two coordinates."""
  for wall in getattr(env, "walls", ()):
    ax.plot(wall[:, 0], wall[:, 1], color="black", linewidth=3, solid_capstyle="round")
  if hasattr(env, "arena"):  # half-widths: one for a square, (x, y) for a rectangle
    x, y = np.broadcast_to(np.asarray(env.arena, float), (2,))
    ax.plot([-x, x, x, -x, -x], [-y, -y, y, y, -y], color="black", linewidth=1)
  if env is not None:
    ax.plot(*np.asarray(env.goal), "*", color="gold", markersize=14, markeredgecolor="k")


def goal_paths(trajectories: np.ndarray, env=None):
  """Evaluation episodes of classifier inputs (..., episodes, T + 1, D), every seed's, as
  (E, T + 1, K) goal coordinates (the inputs themselves without an env) and (E, T + 1)
  distances to the goal (None without an env)."""
  x = np.asarray(trajectories, np.float32)
  x = x.reshape(-1, *x.shape[-2:])
  if env is None:
    return x, None
  return np.asarray(env.goal_coordinates(x)), np.asarray(env.goal_distance(x))


def plot_trajectories(trajectories: np.ndarray, path: str, env=None, title: str = "") -> str:
  """Evaluation episodes (..., episodes, T + 1, D), every seed's, in `env`'s goal
  coordinates: two of them (a maze or ant position, the puck's or ball's xy, the valve's
  cos and sin) as paths in their plane over the walls and arena where there are any,
  with the success disc; any other number (the door's angle, the picked object's xyz)
  one panel per coordinate against the episode's step. With an env, a last panel gives
  each episode's distance to the goal beside the success radius. Starts are green dots,
  final states red crosses. Without an env the inputs must be 2-D. Writes a PNG."""
  from matplotlib.patches import Circle
  g, distance = goal_paths(trajectories, env)
  planar = g.shape[-1] == 2
  panels = (1 if planar else g.shape[-1]) + (distance is not None)
  fig = Figure(figsize=(4.5 * panels, 4.5))
  axes = np.atleast_1d(fig.subplots(1, panels))
  color = lambda i: colormaps["viridis"](i / max(len(g) - 1, 1))
  steps = np.arange(g.shape[1])
  goal = None if env is None else np.asarray(env.goal)
  if planar:
    ax = axes[0]
    draw_arena(ax, env)
    if goal is not None:
      ax.add_patch(Circle(goal, env.success_radius, color="gold", alpha=0.4))
    for i, p in enumerate(g):
      ax.plot(p[:, 0], p[:, 1], color=color(i), alpha=0.8)
      ax.plot(p[0, 0], p[0, 1], "o", color="tab:green", markersize=4)
      ax.plot(p[-1, 0], p[-1, 1], "x", color="tab:red", markersize=5)
    ax.set(aspect="equal", xlabel="goal coordinate 0", ylabel="goal coordinate 1")
  else:
    for k, ax in enumerate(axes[:g.shape[-1]]):
      for i, p in enumerate(g):
        ax.plot(steps, p[:, k], color=color(i), alpha=0.8)
        ax.plot(steps[-1], p[-1, k], "x", color="tab:red", markersize=5)
      if goal is not None:
        ax.axhline(goal[k], color="gold", linestyle="--", label="goal")
        ax.legend(loc="best", fontsize=8)
      ax.set(xlabel="step", ylabel=f"goal coordinate {k}")
  if distance is not None:
    ax = axes[-1]
    for i, d in enumerate(distance):
      ax.plot(steps, d, color=color(i), alpha=0.8)
      ax.plot(steps[-1], d[-1], "x", color="tab:red", markersize=5)
    ax.axhline(env.success_radius, color="gold", linestyle="--", label="success radius")
    ax.set(xlabel="step", ylabel="distance to goal", ylim=(0, None))
    ax.legend(loc="best", fontsize=8)
  fig.suptitle(title)
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


def sweep_runs(sweeps: list[str], env: str) -> dict:
  """{reward label: metric rows} of every cell of `env` in the sweep folders (each
  `experiments.reproduce --out`); a label met again in a later folder is suffixed with
  that folder's name."""
  from mural_jax import rewards
  runs = {}
  for sweep in sweeps:
    cells = os.path.join(sweep, "runs", env)
    for cell in sorted(os.listdir(cells)) if os.path.isdir(cells) else ():
      rows = read_jsonl(os.path.join(cells, cell, "metrics.jsonl"))
      label = rewards.label(cell)
      if label in runs:
        label = f"{label} ({os.path.basename(os.path.normpath(sweep))})"
      if rows:
        runs[label] = rows
  return runs


def main(argv):
  f = flags.FLAGS
  runs = {os.path.basename(os.path.normpath(d)): read_jsonl(os.path.join(d, "metrics.jsonl"))
          for d in argv[1:]}
  if f.sweeps:
    if not f.env:
      raise app.UsageError("--sweeps needs --env, the environment whose cells to merge.")
    runs.update(sweep_runs(f.sweeps, f.env))
  runs = {label: rows for label, rows in runs.items() if rows}
  if not runs:
    raise app.UsageError("Give at least one run directory containing metrics.jsonl, or "
                         "--sweeps with cells of --env.")
  print(plot_learning_curves(runs, f.out))
  if f.trajectories and len(argv) > 1:
    print(plot_run_trajectories(argv[1], f.trajectories))


def define_flags():
  """This command's flags (defined when it runs: importers such as train define none)."""
  flags.DEFINE_string("out", "curves.png", "Output PNG of the learning curves.")
  flags.DEFINE_string("trajectories", None,
                      "Output PNG of the first run's latest evaluation episodes.")
  flags.DEFINE_list("sweeps", [], "Sweep folders (experiments.reproduce --out) whose cells "
                    "of --env are drawn in the same panels.")
  flags.DEFINE_string("env", None, "The environment of --sweeps.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
