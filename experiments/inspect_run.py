"""Why a point-maze seed is stuck: its reward, data and policy at a checkpoint.

  python -m experiments.inspect_run WORKDIR --out=inspect.png [--epoch=N] [--draws=8] \
      [--points='4,3;3.5,3'] [--config.meta_nml.inner_lr=0.32]

One column per seed, from the checkpoint of `--epoch` (default: the latest):
the reward over the arena (meta-NML's depends on the context drawn, so it is averaged
over `--draws` draws), where the replay's states lie (log counts), and the
deterministic policy's action on a grid. Prints per seed the replay's states inside
the success disc, the reward at the goal and at `--points`, and (meta-NML) how much
of a meta-training task's outer loss the success examples carry when replay states
are the queries: ~0 means nothing in the meta-objective holds the goal's reading.
`--config.<field>=<value>` reads the checkpoint with other reward settings than the
run's (how the same data would be rewarded with, say, a larger meta-NML step); they
must keep the state's shapes. A run on another environment than the point mazes is
refused: the maps need the observation to be the (x, y) position.
"""

import copy
import json
import os

from absl import app, flags, logging
import numpy as np
from matplotlib.figure import Figure


from experiments import cli
from experiments.plot import draw_arena

ARROWS = 17  # policy arrows per axis
SHARE_QUERIES = 2048  # replay states whose task's success-example share is measured
# Config sections an override may change: the reward sources' settings.
REWARD_SECTIONS = ("meta_nml", "cnml", "classifier", "exploration")


def load(workdir: str, epoch=None, overrides=()):
  """(trainer, state) of the run in `workdir` at `epoch` (None: the latest checkpoint).

  `overrides` (`field=value`, in REWARD_SECTIONS) build the trainer with other reward
  settings than the run's; the state is the checkpoint's, so they must keep its shapes.
  """
  import envs
  from mural_jax.checkpoints import Checkpointer, CheckpointError
  from mural_jax.config import RunConfig
  from mural_jax.training import Trainer
  with open(os.path.join(workdir, "config.json")) as f:
    recorded = json.load(f)
  config = run_config = RunConfig.of(recorded)
  if config.env not in envs.point_mazes():
    raise ValueError(f"{workdir} is a {config.env} run; inspect_run maps the point mazes: "
                     f"{', '.join(envs.point_mazes())}.")
  if overrides:
    changed = copy.deepcopy(recorded)
    for override in overrides:
      if override.partition("=")[0].strip().split(".")[0] not in REWARD_SECTIONS:
        raise ValueError(f"--config.{override}: only reward settings can be changed on a "
                         f"checkpoint (fields of {', '.join(REWARD_SECTIONS)}).")
      cli.apply_override(changed, override)
    config = RunConfig.of(changed)
  trainer = Trainer(config)
  checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), run_config)
  try:
    if checkpointer.latest_epoch() is None:
      raise ValueError(f"{workdir} has no checkpoint.")
    try:
      state = checkpointer.restore(trainer.abstract_state, epoch)
    except CheckpointError:
      if not overrides:
        raise
      raise ValueError(f"{', '.join('--config.' + o for o in overrides)} changes the shapes of the run's "
                       "state; only settings that keep them can be read.") from None
  finally:
    checkpointer.close()
  return trainer, state


def seed_views(trainer, state, grid: int, draws: int, key, points=()) -> list[dict]:
  """Per seed: reward (grid, grid), replay positions (N, 2), actions (ARROWS, ARROWS, 2),
  reward at the goal and at `points` (P, 2) (P,), and for meta-NML the success
  examples' outer-loss share of tasks queried at up to SHARE_QUERIES replay states."""
  import jax
  import jax.numpy as jnp
  from mural_jax.classifiers import meta_nml
  env = trainer.env
  def lattice(n):
    axis = np.linspace(-env.arena, env.arena, n)
    return jnp.asarray(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2), jnp.float32)
  points = jnp.asarray(points, jnp.float32).reshape(-1, 2)
  queries = jnp.concatenate([lattice(grid), env.goal[None], points])  # grid, goal, points
  views = []
  for s in range(trainer.num_seeds):
    one = jax.tree.map(lambda x: x[s], state) if trainer.batched else state
    key, k, k_share = jax.random.split(key, 3)
    reward = np.mean([trainer.source.rewards(one.reward, queries, d)
                      for d in jax.random.split(k, draws)], 0)
    visited = np.asarray(one.replay.data["next_x"][:int(one.replay.size)])
    actions = np.asarray(trainer.sac.deterministic_action(one.sac.actor, lattice(ARROWS)))
    views.append({"seed": int(trainer.seeds[s]),
                  "reward": reward[:grid * grid].reshape(grid, grid),
                  "goal_reward": float(reward[grid * grid]),
                  "point_rewards": reward[grid * grid + 1:], "visited": visited,
                  "actions": actions.reshape(ARROWS, ARROWS, 2),
                  "in_success_disc": int(np.sum(np.asarray(env.is_success(visited))))})
    if isinstance(one.reward, meta_nml.State):
      sample = jax.random.choice(k_share, len(visited), (min(SHARE_QUERIES, len(visited)),),
                                 replace=False)
      views[-1]["positive_share"] = np.asarray(meta_nml.positive_share(
          trainer.config.meta_nml, one.reward, jnp.asarray(visited)[sample]))
  return views


def plot(env, views: list[dict], path: str, title: str) -> str:
  extent = (-env.arena, env.arena, -env.arena, env.arena)
  fig = Figure(figsize=(3.6 * len(views), 10.5))
  axes = fig.subplots(3, len(views), squeeze=False)
  for col, v in zip(axes.T, views):
    image = col[0].imshow(v["reward"], origin="lower", extent=extent, vmin=0, vmax=1)
    col[0].set_title(f"seed {v['seed']}: reward")
    counts, _, _ = np.histogram2d(v["visited"][:, 0], v["visited"][:, 1], bins=40,
                                  range=[extent[:2], extent[2:]])
    col[1].imshow(np.log1p(counts.T), origin="lower", extent=extent, cmap="magma")
    col[1].set_title(f"replay visits (log), {v['in_success_disc']} in the disc")
    axis = np.linspace(-env.arena, env.arena, ARROWS)
    spacing = axis[1] - axis[0]  # an action of norm 1 is drawn 0.9 spacings long
    col[2].quiver(axis, axis, v["actions"][..., 0], v["actions"][..., 1], angles="xy",
                  scale_units="xy", scale=1 / (0.9 * spacing), width=0.005)
    col[2].set_title("deterministic action")
    for ax in col:
      draw_arena(ax, env)
      ax.set(aspect="equal", xlim=extent[:2], ylim=extent[2:])
  fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
  fig.suptitle(title)
  fig.savefig(path, dpi=80)
  return path


def main(argv):
  f = flags.FLAGS
  if not f["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  import jax
  if len(argv) != 2:
    cli.fail("Give one run directory (with config.json and checkpoints/).")
  try:
    points = parse_points(f.points)
    overrides = cli.overrides()
    trainer, state = load(argv[1], f.epoch, overrides)
  except (ValueError, OSError) as e:
    cli.fail(str(e))
  views = seed_views(trainer, state, f.grid, f.draws, jax.random.key(0), points)
  epoch = int(np.max(np.asarray(state.epoch)))
  for v in views:
    at = "".join(f", at ({x:g}, {y:g}) {r:.2f}" for (x, y), r in zip(points, v["point_rewards"]))
    print(f"seed {v['seed']}: reward at the goal {v['goal_reward']:.2f}{at}; "
          f"{v['in_success_disc']} replay states in the success disc")
    if "positive_share" in v:
      share = v["positive_share"]
      print(f"  success examples' share of a task's outer loss, replay states as queries: "
            f"median {np.median(share):.1e}, above 1 % for {np.mean(share > 0.01):.1%}; "
            f"success examples used as task queries: "
            f"{trainer.config.meta_nml.num_positive_tasks}")
  title = f"{trainer.config.env}, {trainer.config.reward}: epoch {epoch}"
  print(plot(trainer.env, views, f.out,
             title + (f" (read with {', '.join(overrides)})" if overrides else "")))


def parse_points(text: str) -> list[tuple[float, float]]:
  """`--points` ("x,y;x,y") as (x, y) pairs; ValueError naming a malformed one."""
  points = []
  for item in filter(str.strip, text.split(";")):
    try:
      x, y = (float(v) for v in item.split(","))
    except ValueError:
      raise ValueError(f"--points: {item.strip()!r} is not an x,y pair "
                       "(points are separated by ';', e.g. --points='4,3;3.5,3').") from None
    points.append((x, y))
  return points


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_string("out", "inspect.png", "Output PNG.")
  flags.DEFINE_integer("epoch", None, "Checkpoint epoch (default: the latest).")
  flags.DEFINE_integer("draws", 8, "Reward draws averaged (contexts of meta-NML).",
                       lower_bound=1)
  flags.DEFINE_integer("grid", 33, "Grid points per axis.", lower_bound=2)
  flags.DEFINE_string("points", "", "Positions whose reward is printed per seed, "
                      "'x,y;x,y' (e.g. '4,3;3.5,3').")
  cli.define_override_flag(
      "reward settings to read the checkpoint with instead of the run's (fields of " +
      ", ".join(REWARD_SECTIONS) + "; e.g. --config.meta_nml.inner_lr=0.32); they must keep "
      "the state's shapes.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
