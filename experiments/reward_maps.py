"""Heat maps of the MLE, meta-NML and exact-CNML rewards over a maze, for the same data.

  python -m experiments.reward_maps --out=DIR [--env=zigzag_maze] [--visited=corridor|FILE.npy]

Data: the environment's success examples (label 1) and visited states (label 0):
either a synthetic corridor-prefix visitation (the agent has explored the first
part of the path: up the left corridor to `--frontier_y`) or an (N, 2) array of
visited positions saved from a run. Classifier settings come from the config
preset. Writes DIR/reward_maps.png with the walls drawn.
"""

import os

from absl import app, flags
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_OUT = flags.DEFINE_string("out", None, "Output directory.", required=True)
_ENV = flags.DEFINE_enum("env", "zigzag_maze", ["zigzag_maze", "spiral_maze"], "Maze.")
_VISITED = flags.DEFINE_string("visited", "corridor", "'corridor' or an .npy file of (N, 2) positions.")
_FRONTIER = flags.DEFINE_float("frontier_y", 0.0, "Corridor visitation reaches this height.")
_PRESET = flags.DEFINE_enum("preset", "cpu", ["cpu", "paper"], "Classifier widths and settings.")
_GRID = flags.DEFINE_integer("grid", 33, "Grid points per axis.")
_PASSES = flags.DEFINE_integer("passes", 10, "Meta-NML meta-training passes.")
_MLE_STEPS = flags.DEFINE_integer("mle_steps", 2000, "Adam steps of the MLE classifier.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")


def corridor_visits(rng: np.random.Generator, n: int, frontier_y: float) -> np.ndarray:
  """Positions spread along the zigzag's left corridor from the start up to `frontier_y`."""
  y = rng.uniform(-3.8, frontier_y, n)
  x = np.clip(-3.0 + rng.normal(0.0, 0.6, n), -3.95, -1.6)
  return np.stack([x, y], -1).astype(np.float32)


def reward_maps(env, positives, visited, config, key, grid: int, passes: int, mle_steps: int):
  """(grid points (G*G, 2), {name: rewards (G*G,)}) for mle, meta_nml and cnml."""
  import jax
  import jax.numpy as jnp
  from mural_jax import rewards
  from mural_jax.classifiers import cnml, meta_nml
  from mural_jax.classifiers.mle import MLEClassifier

  axis = np.linspace(-env.arena, env.arena, grid, dtype=np.float32)
  points = jnp.asarray(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2))
  k_mle, k_nml, k_cnml = jax.random.split(key, 3)

  c = config.classifier
  clf = MLEClassifier(input_size=2, hidden=tuple(c.hidden), lr=c.lr, weight_decay=c.weight_decay,
                      batch_size=c.batch_size, steps=mle_steps)
  negatives = visited[np.random.default_rng(0).integers(0, len(visited), clf.num_negatives)]
  state, _ = jax.jit(clf.train)(clf.init(k_mle), positives, jnp.asarray(negatives), k_mle)
  maps = {"mle": clf.probs(state.params, points)}

  maps["meta_nml"], _ = meta_nml.fit_and_query(
      k_nml, positives, visited, points, rewards.meta_nml_settings(config), num_passes=passes,
      num_contexts=8)

  cc = config.cnml
  half = cc.data_size // 2
  x = jnp.concatenate([jnp.asarray(visited[:half]), positives[:half]])
  y = jnp.repeat(jnp.arange(2, dtype=jnp.int32), half)
  fit = dict(l2=cc.l2, solver=cc.solver, steps=cc.steps, learning_rate=cc.learning_rate)
  base = cnml.fit(cnml.mlp_log_probs, cnml.mlp_params(k_cnml, 2, tuple(cc.hidden)), x, y,
                  jnp.ones(cc.data_size), **fit)
  maps["cnml"] = jnp.concatenate([  # chunks bound the memory of the vmapped fits
      cnml.cnml_probs(cnml.mlp_log_probs, base, x, y, jnp.ones(cc.data_size), chunk,
                      query_weight=cc.query_weight, **fit)[0]
      for chunk in jnp.array_split(points, max(1, len(points) // 128))])
  return np.asarray(points), {k: np.asarray(v) for k, v in maps.items()}


def plot(env, points, maps, positives, visited, path):
  grid = int(round(np.sqrt(len(points))))
  titles = {"mle": "MLE classifier", "meta_nml": "meta-NML (MURAL)", "cnml": "exact CNML"}
  fig, axes = plt.subplots(1, len(maps), figsize=(4.4 * len(maps), 4))
  extent = (-env.arena, env.arena, -env.arena, env.arena)
  for ax, (name, values) in zip(axes, maps.items()):
    im = ax.imshow(values.reshape(grid, grid), origin="lower", extent=extent, vmin=0, vmax=1,
                   cmap="viridis")
    ax.scatter(*visited[::4].T, s=1, c="white", alpha=0.4)
    ax.scatter(*np.asarray(positives).T, s=2, c="red")
    for (x0, y0), (x1, y1) in env.walls:
      ax.plot([x0, x1], [y0, y1], c="black", lw=3)
    ax.set(title=titles[name], xticks=[], yticks=[])
  fig.colorbar(im, ax=axes, shrink=0.8, label="reward p(success)")
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def main(argv):
  del argv
  import jax
  import envs
  from experiments.configs import base
  env = envs.make(_ENV.value)
  config = base.get_config(_ENV.value, _PRESET.value)
  if _VISITED.value == "corridor":
    visited = corridor_visits(np.random.default_rng(_SEED.value), 2000, _FRONTIER.value)
  else:
    visited = np.load(_VISITED.value).astype(np.float32).reshape(-1, 2)
  key = jax.random.key(_SEED.value)
  positives = env.success_examples(jax.random.fold_in(key, 1), config.num_success_examples)
  points, maps = reward_maps(env, positives, visited, config, key, _GRID.value, _PASSES.value,
                             _MLE_STEPS.value)
  os.makedirs(_OUT.value, exist_ok=True)
  print(plot(env, points, maps, positives, visited, os.path.join(_OUT.value, "reward_maps.png")))


if __name__ == "__main__":
  app.run(main)
