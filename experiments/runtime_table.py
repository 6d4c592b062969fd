"""The paper's runtime table: wall time of one zigzag-maze epoch per reward classifier.

  python -m experiments.runtime_table --preset=cpu [--json]

One epoch = 1000 environment steps at the preset users train with (its environments,
SAC width, minibatch and update ratio: at `cpu` 4 environments, 2,000 updates on
minibatches of 64), rewards relabelled per minibatch (one call per vectorised step
for all its minibatches), and the classifier's between-epoch training. Rows:

* mle: measured (a later epoch, after compilation).
* meta_nml: measured, batched low-rank NML queries (one vmapped call per vectorised step).
  The two epochs are timed in turns, `--repeats` rounds, best of each (robust to
  load changes on a shared machine).
* meta_nml_per_point: the same queries answered one point at a time (the original
  scheme: the same JAX code, jitted for one point, called in a Python loop with a
  host sync per call). Extrapolated: the meta_nml epoch minus its batched query
  time, plus the per-point time of a timed sample of points times the epoch's queries.
* naive_cnml: exact CNML, two full fits of the classifier per query. Extrapolated:
  one query's fits timed with `--cnml_timed_steps` optimiser steps and scaled to
  the configured steps, times the epoch's queries, plus the mle epoch.
"""

import json
import time

from absl import app, flags

from experiments import cli, timing
from mural_jax import tasks

PAPER_SECONDS = {"mle": 23.50, "meta_nml": 39.05, "meta_nml_per_point": None,
                 "naive_cnml": 4 * 3600 + 13 * 60 + 34}


def _config(reward: str):
  from experiments.configs import zigzag_maze
  config = zigzag_maze.get_config(flags.FLAGS.preset)  # the SAC users train with
  config.reward = reward
  config.epoch_length = 1000
  config.warmup_steps = 0  # every step learns, as in any epoch after the first
  return config


def trained_one_epoch(reward: str):
  """The trainer of `reward` and its state after a first (compiling) epoch."""
  import jax
  from mural_jax import training
  trainer = training.Trainer(_config(reward))
  state, metrics = trainer.run_epoch(trainer.init(jax.random.key(0)))
  jax.block_until_ready(metrics)  # else its execution would leak into a timed epoch
  return trainer, state


def epoch_seconds(runs: dict) -> dict:
  """{reward: seconds of a later epoch} for runs = {reward: (trainer, state)}, timed in turns."""
  import jax
  import jax.numpy as jnp
  copy = lambda state: (jax.tree.map(jnp.copy, state),)  # run_epoch donates its state
  return timing.best_seconds({reward: (trainer.run_epoch, lambda state=state: copy(state))
                              for reward, (trainer, state) in runs.items()},
                             flags.FLAGS.repeats)


def query_seconds(trainer, state, points: int):
  """(batched seconds per vectorised step's call, seconds per point one at a time)."""
  import jax
  batch = state.replay.data["next_x"][:trainer.updates_per_step * trainer.config.sac.batch_size]
  rewards = jax.jit(trainer.source.rewards)
  key = jax.random.key(1)
  batched = timing.seconds(rewards, state.reward, batch, key, repeats=5)
  rewards(state.reward, batch[:1], key).block_until_ready()  # compiles for one point
  start = time.perf_counter()
  for i in range(points):  # host sync per point, as the original loop did
    float(rewards(state.reward, batch[i % batch.shape[0]][None], key)[0])
  return batched, (time.perf_counter() - start) / points


def cnml_query_seconds(timed_steps: int):
  """Seconds of one exact-CNML query (two fits), scaled from `timed_steps` fit steps."""
  import jax
  import jax.numpy as jnp
  from mural_jax.classifiers import cnml, common
  from mural_jax.config import RunConfig
  c = RunConfig.of(_config("cnml")).cnml
  key_x, key_p = jax.random.split(jax.random.key(2))
  x = jax.random.uniform(key_x, (c.data_size, 2), minval=-4, maxval=4)
  y = jnp.repeat(jnp.arange(2, dtype=jnp.int32), c.data_size // 2)
  params = common.mlp_params(key_p, 2, c.hidden)
  query = lambda: cnml.cnml_probs(common.log_probs, params, x, y, jnp.ones(c.data_size),
                                  x[:1], l2=c.l2, solver=c.solver, steps=timed_steps,
                                  learning_rate=c.learning_rate)
  return timing.seconds(query, repeats=2) * c.steps / timed_steps


def main(argv):
  del argv
  import jax
  f = flags.FLAGS
  runs = {reward: trained_one_epoch(reward) for reward in ("mle", "mural")}
  seconds = epoch_seconds(runs)
  mle_s, nml_s = seconds["mle"], seconds["mural"]
  trainer, state = runs["mural"]
  calls = trainer.steps_per_epoch
  queries = calls * trainer.updates_per_step * trainer.config.sac.batch_size
  batched_s, point_s = query_seconds(trainer, state, f.per_point_sample)
  rows = {
      "mle": {"seconds": mle_s, "measured": True},
      "meta_nml": {"seconds": nml_s, "measured": True},
      "meta_nml_per_point": {"seconds": nml_s - calls * batched_s + queries * point_s,
                             "measured": False},
      "naive_cnml": {"seconds": mle_s + queries * cnml_query_seconds(f.cnml_timed_steps),
                     "measured": False},
  }
  for name, row in rows.items():
    row["ratio_to_mle"] = row["seconds"] / mle_s
    row["paper_seconds"] = PAPER_SECONDS[name]
  device = f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})"
  info = {"device": device, "preset": f.preset, "repeats": f.repeats,
          "queries_per_epoch": queries,
          "batched_query_s": batched_s, "per_point_query_s": point_s}
  if f.json:
    print(json.dumps({**rows, "info": info}))
    return
  print(f"device: {device}; preset {f.preset}; epochs: best of {f.repeats}; "
        f"{queries:,d} reward queries per epoch "
        f"(batched {batched_s * 1e3:.2f} ms / {queries // calls} states; "
        f"one at a time {point_s * 1e3:.2f} ms / state)")
  print(f"{'classifier':<22}{'s / epoch':>14}{'x mle':>10}{'paper s':>10}{'paper x':>9}")
  for name, row in rows.items():
    paper = row["paper_seconds"]
    paper_cols = (f"{paper:>10.2f}{paper / PAPER_SECONDS['mle']:>9.2f}" if paper
                  else f"{'-':>10}{'-':>9}")
    flag = "" if row["measured"] else "  (extrapolated)"
    print(f"{name:<22}{row['seconds']:>14,.2f}{row['ratio_to_mle']:>10.2f}{paper_cols}{flag}")


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_enum("preset", "cpu", list(tasks.PRESETS), "Config preset (widths).")
  flags.DEFINE_integer("per_point_sample", 64, "Points timed one at a time.")
  flags.DEFINE_integer("cnml_timed_steps", 10, "Fit steps timed for naive CNML.")
  flags.DEFINE_integer("repeats", 3, "Timed rounds of the two epochs (best of each).")
  flags.DEFINE_bool("json", False, "Print one JSON object.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
