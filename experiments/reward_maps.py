"""Heat maps of every reward over a maze, for the same data: one column per reward.

  python -m experiments.reward_maps --out=DIR [--env=zigzag_maze] [--visited=corridor|FILE.npy]

Data: the environment's success examples (label 1) and visited states (label 0):
either a synthetic corridor-prefix visitation (the agent has explored the first
part of the path: up the left corridor to `--frontier_y`) or an (N, 2) array of
visited positions saved from a run. Every reward is built by `rewards.make` from
the config preset and trained once on that data, as the trainer would after an
epoch (`--passes` meta-NML passes, `--steps` steps of the mle, vice and RND
networks). The map is what one SAC minibatch would see: one key for all queries
(meta-NML: one context draw). Writes DIR/reward_maps.png with the walls drawn.
`--context_draws=N` prints instead the context draw's share of meta-NML's reward noise.
"""

import os

from absl import app, flags
import numpy as np
from matplotlib.figure import Figure

from experiments import cli

QUERY_CHUNK = 128  # queries per call: bounds the memory of exact CNML's vmapped fits


def left_corridor_visits(rng: np.random.Generator, n: int, frontier_y: float) -> np.ndarray:
  """Positions spread along the zigzag's left corridor from the start up to `frontier_y`."""
  y = rng.uniform(-3.8, frontier_y, n)
  x = np.clip(-3.0 + rng.normal(0.0, 0.6, n), -3.95, -1.6)
  return np.stack([x, y], -1).astype(np.float32)


def trained(name, env, positives, visited, config, key, passes: int, steps: int):
  """Reward source `name` built from `config`, trained once on the data as the trainer would
  after an epoch: (source, state)."""
  import jax
  import jax.numpy as jnp
  from mural_jax import rewards
  from mural_jax.config import RunConfig

  config = config.copy_and_resolve_references()
  config.meta_nml.first_passes = passes
  config.classifier.steps_per_epoch = steps
  config.exploration.rnd_steps_per_epoch = steps
  source = rewards.make(name, RunConfig.of(config), env)
  k_init, k_train = jax.random.split(key)
  state = source.init(k_init, positives)
  if source.trains:
    rng = np.random.default_rng(0)
    negatives = (visited if source.whole_buffer
                 else visited[rng.integers(0, len(visited), source.num_negatives)])
    data = rewards.TrainData(positives=positives, negatives=jnp.asarray(negatives),
                             epoch=jnp.int32(0), valid=jnp.ones(len(negatives), bool))
    state, _ = jax.jit(source.train)(state, data, k_train)
  return source, state


def grid_points(env, grid: int) -> np.ndarray:
  axis = np.linspace(-env.arena, env.arena, grid, dtype=np.float32)
  return np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)


def reward_maps(env, positives, visited, config, key, grid: int, passes: int, steps: int):
  """(grid points (G*G, 2), {reward name: values (G*G,)}) for every reward, in
  `rewards.REWARDS`' order (the figure's columns)."""
  import jax
  import jax.numpy as jnp
  from mural_jax import rewards
  points = jnp.asarray(grid_points(env, grid))
  maps = {}
  for name, k in zip(rewards.REWARDS, jax.random.split(key, len(rewards.REWARDS))):
    k_train, k_query = jax.random.split(k)
    source, state = trained(name, env, positives, visited, config, k_train, passes, steps)
    query = jax.jit(source.rewards)
    maps[name] = np.concatenate([
        np.asarray(query(state, chunk, k_query))
        for chunk in jnp.array_split(points, max(1, len(points) // QUERY_CHUNK))])
  return np.asarray(points), maps


def context_noise(env, positives, visited, config, key, grid: int, passes: int, draws: int):
  """How much meta-NML's reward at a state depends on the context draw, against how much it
  varies over the maze: {"context_std": mean over grid points of the std over `draws`
  context draws, "map_std": std over grid points of the mean over draws}."""
  import jax
  k_train, k_query = jax.random.split(key)
  source, state = trained("mural", env, positives, visited, config, k_train, passes, 1)
  points = jax.numpy.asarray(grid_points(env, grid))
  p = np.asarray(jax.jit(jax.vmap(source.rewards, (None, None, 0)))(
      state, points, jax.random.split(k_query, draws)))                    # (draws, G*G)
  return {"context_std": float(p.std(0).mean()), "map_std": float(p.mean(0).std()),
          "draws": draws, "grid_points": int(p.shape[1])}


def plot(env, points, maps, positives, visited, path):
  from mural_jax import rewards
  grid = int(round(np.sqrt(len(points))))
  fig = Figure(figsize=(3.3 * len(maps), 3.6))
  axes = fig.subplots(1, len(maps))
  extent = (-env.arena, env.arena, -env.arena, env.arena)
  for ax, (name, values) in zip(axes, maps.items()):
    im = ax.imshow(values.reshape(grid, grid), origin="lower", extent=extent, cmap="viridis")
    ax.scatter(*visited[::4].T, s=1, c="white", alpha=0.4)
    ax.scatter(*np.asarray(positives).T, s=2, c="red")
    for (x0, y0), (x1, y1) in env.walls:
      ax.plot([x0, x1], [y0, y1], c="black", lw=3)
    ax.set(title=rewards.REWARDS[name].title, xticks=[], yticks=[])
    fig.colorbar(im, ax=ax, orientation="horizontal", pad=0.03, shrink=0.9)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  return path


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_string("out", None, "Output directory.", required=True)
  flags.DEFINE_enum("env", "zigzag_maze", ["zigzag_maze", "spiral_maze"], "Maze.")
  flags.DEFINE_string("visited", "corridor", "'corridor' or an .npy file of (N, 2) positions.")
  flags.DEFINE_float("frontier_y", 0.0, "Corridor visitation reaches this height.")
  flags.DEFINE_enum("preset", "cpu", ["cpu", "paper"], "Classifier widths and settings.")
  flags.DEFINE_integer("grid", 33, "Grid points per axis.")
  flags.DEFINE_integer("passes", 10, "Meta-NML meta-training passes.")
  flags.DEFINE_integer("steps", 1000, "Adam steps of the mle, vice and RND networks.")
  flags.DEFINE_integer("seed", 0, "PRNG seed.")
  flags.DEFINE_integer("context_draws", 0, "If > 0: instead of the maps, print how much "
                       "meta-NML's reward varies over this many context draws.")


def main(argv):
  del argv
  import jax
  import envs
  from experiments.configs import task_config
  f = flags.FLAGS
  env = envs.make(f.env)
  config = task_config(f.env, f.preset)
  if f.visited == "corridor":
    visited = left_corridor_visits(np.random.default_rng(f.seed), 2000, f.frontier_y)
  else:
    visited = np.load(f.visited).astype(np.float32).reshape(-1, 2)
  key = jax.random.key(f.seed)
  positives = env.success_examples(jax.random.fold_in(key, 1), config.num_success_examples)
  if f.context_draws:
    print(context_noise(env, positives, visited, config, key, f.grid, f.passes,
                        f.context_draws))
    return
  points, maps = reward_maps(env, positives, visited, config, key, f.grid, f.passes, f.steps)
  os.makedirs(f.out, exist_ok=True)
  print(plot(env, points, maps, positives, visited, os.path.join(f.out, "reward_maps.png")))


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
