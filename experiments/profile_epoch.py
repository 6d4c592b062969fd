"""Where one training epoch's time goes: env steps, SAC updates, reward queries, ...

  python -m experiments.profile_epoch --config=experiments/configs/zigzag_maze.py:cpu \
      [--config.reward=mural] [--config.<field>=<value> ...] [--repeats=3] [--json]

The config flag is experiments/train.py's (`file:preset`, any override). One
seed is profiled. A first real epoch fills the replay (and runs the first
meta-training schedule); then each part of the next epoch is jitted on its own,
with the epoch's exact shapes, as a `lax.scan` over its per-epoch count (so
dispatch is amortised as inside the compiled epoch):

* env steps: act in `num_envs` environments, step, insert into the replay (the
  trainer's own step, with learning switched off by a warm-up step count);
* SAC updates: minibatch sample + update;
* reward queries: the reward source on each vectorised step's minibatches, all in one
  call (relabel=batch), or on each step's `num_envs` next states (relabel=collect);
* reward-source training: meta-training / classifier training between epochs;
* evaluation: the deterministic episodes.

The whole compiled epoch (`Trainer.run_epoch`) is timed too; "host work /
overhead" is it minus the parts' sum (noise can make it slightly negative).
The parts and the epoch are timed in turns, `--repeats` rounds after compilation,
and the best run of each is reported. With the `mural` reward a second table splits
one meta-training pass: a meta-step's context draws, inner steps, meta-loss,
second-order meta-gradient and Adam update, each times the pass's meta-steps.
"""

import dataclasses
import json

from absl import app, flags, logging

from experiments import cli, timing
from experiments.cli import fail

OVERHEAD = "host work / overhead"


def _parts(trainer, ts):
  """{part: (calls per epoch, jitted fn of one argument: a key)} for the epoch after `ts`."""
  import jax
  import jax.numpy as jnp
  from mural_jax import training
  from mural_jax.evaluation import evaluate
  from mural_jax.replay import replay_sample

  c = trainer.config
  steps = trainer.steps_per_epoch
  # Vectorised steps of this epoch past warm-up (every one, after the first epoch).
  start = int(ts.env_steps)
  learning = sum(start + (i + 1) * c.num_envs >= c.warmup_steps for i in range(steps))
  updates = learning * trainer.updates_per_step

  # The trainer's own env step, never learning: a step count far below warm-up makes its
  # lax.cond skip the updates; relabel=batch keeps collect-time rewards out (timed below).
  acting = trainer
  if c.relabel == "collect":
    acting = training.Trainer(dataclasses.replace(c, relabel="batch"))
  warm_up = ts.replace(env_steps=jnp.full_like(ts.env_steps, jnp.iinfo(jnp.int32).min // 2))

  def env_steps(key):
    return jax.lax.scan(acting._env_step, warm_up.replace(key=key), None, steps)[0]

  def sac_updates(key):
    def update(sac_state, k):
      k_sample, k_update = jax.random.split(k)
      batch = replay_sample(ts.replay, k_sample, c.sac.batch_size)
      return trainer.sac.update(sac_state, batch, k_update)[0], None
    return jax.lax.scan(update, ts.sac, jax.random.split(key, updates))[0]

  # Queries: replay states with the epoch's shapes: one call per vectorised step, of all
  # its minibatches (relabel=batch) or of its num_envs next states (relabel=collect).
  queries, size = ((learning, trainer.updates_per_step * c.sac.batch_size)
                   if c.relabel == "batch" else (steps, c.num_envs))

  def reward_queries(key):
    k_x, k_rew = jax.random.split(key)
    x = replay_sample(ts.replay, k_x, queries * size)["next_x"].reshape(queries, size, -1)
    return jax.lax.map(lambda a: trainer.source.rewards(ts.reward, *a),
                       (x, jax.random.split(k_rew, queries)))

  def source_training(key):
    k_neg, k_train = jax.random.split(key)
    return trainer.source.train(ts.reward, trainer.train_data(ts, k_neg), k_train)

  def evaluation(key):
    policy = lambda obs: trainer.sac.deterministic_action(ts.sac.actor, obs)
    return evaluate(trainer.env, policy, key, c.eval_episodes, trainer.episode_length)

  parts = {"env steps": (steps, env_steps), "SAC updates": (updates, sac_updates),
           "reward queries": (queries, reward_queries)}
  if trainer.source.trains:
    parts["reward-source training"] = (1, source_training)
  parts["evaluation"] = (1, evaluation)
  return {name: (count, jax.jit(fn)) for name, (count, fn) in parts.items()}


def _meta_training_parts(trainer, ts):
  """{part: (calls per meta-training pass, jitted fn of a key)} of meta-NML's training.

  One meta-step (a meta-batch of tasks) split into: the tasks' context draws, the
  inner SGD steps, the meta-loss (inner steps and outer losses over the pool), its
  second-order gradient, and the Adam update; "pass" is one whole `train` call.
  """
  import jax
  import jax.numpy as jnp
  import optax
  from mural_jax.classifiers import meta_nml, nml_query

  s, state = trainer.config.meta_nml, ts.reward
  queries = state.pool_x[:s.meta_batch]
  labels = jnp.arange(s.meta_batch, dtype=jnp.int32) % 2
  loss = lambda params, key: meta_nml.meta_loss(params, queries, labels, key, state.pool_x,
                                                state.pool_y, s, state.kernel_threshold)
  draw = lambda key: jax.vmap(lambda k: jax.random.choice(
      k, s.pool_size, (s.context_size,), replace=False))(jax.random.split(key, s.meta_batch))

  def inner_steps(key):
    def one(query, label, idx):
      x, y, w = nml_query.with_query(query, label, state.pool_x[idx], state.pool_y[idx],
                                     s.inner_query_weight, state.kernel_threshold)
      return nml_query.adapt(state.params, x, y, w, s.inner_lr)
    return jax.vmap(one)(queries, labels, draw(key))

  grads = jax.grad(loss)(state.params, jax.random.key(0))
  adam = optax.adam(s.meta_lr)
  steps = s.steps_per_pass
  parts = {
      "context draws": (steps, draw),
      "inner steps": (steps, inner_steps),
      "meta-loss": (steps, lambda key: loss(state.params, key)),
      "meta-gradient": (steps, lambda key: jax.value_and_grad(loss)(state.params, key)),
      "Adam update": (steps, lambda key: adam.update(grads, state.opt_state, state.params)),
      "pass": (1, lambda key: trainer.source.train(
          state, trainer.train_data(ts, key), jax.random.fold_in(key, 1))),
  }
  return {name: (count, jax.jit(fn)) for name, (count, fn) in parts.items()}


def profile(config, repeats: int = 3) -> dict:
  """Seconds per epoch of each part, the whole epoch and the overhead, with run info."""
  import jax
  import jax.numpy as jnp
  from mural_jax import training

  if config.num_seeds != 1:
    raise ValueError(f"num_seeds={config.num_seeds}: profile_epoch profiles one seed (1).")
  if repeats < 1:
    raise ValueError(f"repeats={repeats} must be >= 1.")
  trainer = training.Trainer(config)
  ts, _ = jax.block_until_ready(trainer.run_epoch(trainer.init(trainer.keys())))

  parts = _parts(trainer, ts)
  timed = {name: (fn, lambda key=jax.random.key(i): (key,))
           for i, (name, (count, fn)) in enumerate(parts.items()) if count}
  # run_epoch donates its state: every run gets a fresh copy.
  timed["epoch"] = (trainer.run_epoch, lambda: (jax.tree.map(jnp.copy, ts),))
  seconds = timing.best_seconds(timed, repeats)
  rows = {name: {"count": count, "seconds": seconds.get(name, 0.0)}
          for name, (count, _) in parts.items()}
  epoch_s = seconds["epoch"]
  rows[OVERHEAD] = {"count": 1, "seconds": epoch_s - sum(r["seconds"] for r in rows.values())}
  for row in rows.values():
    row["ms_per_call"] = 1e3 * row["seconds"] / max(row["count"], 1)
    row["percent"] = 100 * row["seconds"] / epoch_s
  result = {}
  if config.reward == "mural":   # where a meta-training pass goes, one meta-step's parts
    meta = _meta_training_parts(trainer, ts)
    seconds = timing.best_seconds({name: (fn, lambda key=jax.random.key(i): (key,))
                            for i, (name, (_, fn)) in enumerate(meta.items())}, repeats)
    result["meta_training"] = {name: {"count": count, "seconds": count * seconds[name],
                                      "ms_per_call": 1e3 * seconds[name]}
                               for name, (count, _) in meta.items()}
    t = result["meta_training"]
    rest = t["pass"]["seconds"] - t["meta-gradient"]["seconds"] - t["Adam update"]["seconds"]
    t["pass - (gradient + Adam)"] = {"count": 1, "seconds": rest, "ms_per_call": 1e3 * rest}
  device = jax.devices()[0]
  info = {"device": f"{device.platform} ({device.device_kind})", "preset": config.preset,
          "env": config.env, "reward": config.reward, "relabel": config.relabel,
          "epoch_seconds": epoch_s, "repeats": repeats}
  return {"parts": rows, **result, "info": info}


def table(result: dict) -> str:
  info, rows = result["info"], result["parts"]
  lines = [f"device: {info['device']}; preset {info['preset']}; {info['env']}, reward "
           f"{info['reward']} (relabel {info['relabel']}); a later epoch, best of "
           f"{info['repeats']}",
           f"{'part':<24}{'calls':>8}{'ms / call':>12}{'s / epoch':>12}{'%':>8}"]
  for name, row in rows.items():
    lines.append(f"{name:<24}{row['count']:>8,d}{row['ms_per_call']:>12.3f}"
                 f"{row['seconds']:>12.3f}{row['percent']:>8.1f}")
  lines.append(f"{'whole epoch (measured)':<24}{'':>20}{info['epoch_seconds']:>12.3f}{100:>8.1f}")
  if "meta_training" in result:
    lines += ["", "meta-training, one pass (after a later epoch); a meta-step's parts:",
              f"{'part':<24}{'calls':>8}{'ms / call':>12}{'s / pass':>12}"]
    for name, row in result["meta_training"].items():
      lines.append(f"{name:<24}{row['count']:>8,d}{row['ms_per_call']:>12.3f}"
                   f"{row['seconds']:>12.3f}")
  return "\n".join(lines)


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  cli.define_config_flag()
  flags.DEFINE_integer("repeats", 3, "Timed rounds (the best run of each is reported).")
  flags.DEFINE_bool("json", False, "Print one JSON object instead of the table.")


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    result = profile(cli.config_from_flags(), flags.FLAGS.repeats)
  except ValueError as e:  # bad config: exit 2 with the message, as experiments/train.py
    fail(str(e))
  print(json.dumps(result) if flags.FLAGS.json else table(result))


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
