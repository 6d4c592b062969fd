"""Benchmarks: S seeds in one job vs S separate runs, checkpoint cost, and a task's
epoch with its seeds vmapped or looped.

  python -m experiments.bench_infra --seeds=1,4,16 --capacities=100000,1500000
  python -m experiments.bench_infra --parts=seed_loop --task=sawyer_pick:cpu --seeds=3

Seeds: wall time of the `tiny` preset with the mle reward (sac/classifier widths 64) for S seeds in one
vmapped job vs S runs one after another, compile time reported apart. Checkpoints:
save and restore time and size of a whole state whose replay buffer is full of
random data (incompressible, as after a real run). Seed loop: one epoch past warm-up
of `--task` (`env:preset`, its own reward) with S seeds vmapped (`mesh.seed_batch=0`),
one at a time (`mesh.seed_batch=1`), and of one seed alone, timed in turns.
"""

import dataclasses
import os
import shutil
import tempfile
import time

from absl import app, flags, logging
import jax
import jax.numpy as jnp

from experiments import cli, timing
from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.checkpoints import Checkpointer
from mural_jax.config import RunConfig

def _config(**overrides):
  c = zigzag_maze.get_config("tiny")
  c.reward = "mle"  # the infrastructure's cost, not meta-NML's
  c.total_env_steps, c.sac.hidden, c.classifier.hidden = 1000, (64, 64), (64, 64)
  for k, v in overrides.items():
    c[k] = v
  return c


def _timed_run(config):
  """(compile seconds, run seconds) of a whole training."""
  trainer = training.Trainer(config)
  state = trainer.init(trainer.keys())
  _, compile_s = timing.compiled(trainer.run_epoch, state)
  return compile_s, timing.seconds(lambda: training.run(trainer, state=state)[0], repeats=1,
                                   warmup=False)


def bench_seeds():
  _, single = _timed_run(_config())
  for s in map(int, flags.FLAGS.seeds):
    compile_s, job = _timed_run(_config(num_seeds=s))
    print(f"S={s:3d}: one job {job:7.2f} s (+{compile_s:.1f} s compile) | {s} separate runs "
          f"{s * single:7.2f} s (+compile each) | speed-up {s * single / job:5.2f}x", flush=True)


def _task_config() -> RunConfig:
  """--task's config; exits 2 naming a bad task or preset."""
  env, _, preset = flags.FLAGS.task.partition(":")
  try:
    return RunConfig.for_task(env, preset or "cpu")
  except ValueError as e:
    cli.fail(f"--task={flags.FLAGS.task}: {e}")


def bench_seed_loop():
  base = _task_config()
  seeds = int(flags.FLAGS.seeds[-1])
  layouts = {f"{seeds} seeds vmapped": (seeds, 0), f"{seeds} seeds one at a time": (seeds, 1),
             "1 seed": (1, 0)}
  timed = {}
  for name, (num_seeds, seed_batch) in layouts.items():
    config = dataclasses.replace(base, num_seeds=num_seeds,
                                 mesh=dataclasses.replace(base.mesh, seed_batch=seed_batch))
    trainer = training.Trainer(config)
    start = time.perf_counter()  # compile + the warm-up epoch; the timed epochs follow it
    after_warmup = jax.block_until_ready(trainer.run_epoch(trainer.init(trainer.keys()))[0])
    print(f"{name}: compile and first epoch {time.perf_counter() - start:.1f} s", flush=True)
    timed[name] = (trainer.run_epoch,
                   lambda s=after_warmup: (jax.tree.map(jnp.copy, s),))  # run_epoch donates
  best = timing.best_seconds(timed, flags.FLAGS.repeats, warmup=False)
  single = best["1 seed"]
  print(f"{flags.FLAGS.task} ({base.reward}), one epoch of {base.epoch_length} env steps:")
  for name, s in best.items():
    print(f"  {name:>24}: {s:6.2f} s ({s / single:4.2f}x one seed)", flush=True)


def bench_checkpoint():
  for capacity in map(int, flags.FLAGS.capacities):
    config = zigzag_maze.get_config("cpu")
    config.replay_capacity = capacity
    trainer = training.Trainer(config)
    state = trainer.init(trainer.keys())
    data = jax.tree.map(lambda x: jax.random.normal(jax.random.key(0), x.shape, x.dtype),
                        state.replay.data)
    state = state.replace(replay=state.replay.replace(data=data, size=jnp.int32(capacity)))
    directory = tempfile.mkdtemp()
    try:
      ckpt = Checkpointer(directory, config)
      save_s = timing.seconds(lambda: ckpt.save(state, 1), repeats=1, warmup=False)
      restore_s = timing.seconds(
          lambda: Checkpointer(directory, config).restore(trainer.abstract_state), repeats=1,
          warmup=False)
      size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(directory)
                 for f in fs)
      print(f"replay {capacity:>9,d}: save {save_s:6.2f} s | restore "
            f"{restore_s:6.2f} s | {size / 2**20:7.1f} MiB", flush=True)
    finally:
      shutil.rmtree(directory)


def main(argv):
  logging.set_verbosity(logging.WARNING)
  print(f"{jax.device_count()} x {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs")
  parts = {"checkpoint": bench_checkpoint, "seeds": bench_seeds, "seed_loop": bench_seed_loop}
  for part in flags.FLAGS.parts:
    if part not in parts:
      cli.fail(f"--parts: unknown part {part!r}; valid choices: {', '.join(parts)}.")
  if "seed_loop" in flags.FLAGS.parts:
    _task_config()  # a bad --task exits before anything is timed
  for part in flags.FLAGS.parts:
    parts[part]()


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_list("seeds", ["1", "4", "16"], "Seed counts S.")
  flags.DEFINE_list("capacities", ["100000", "1500000"], "Replay capacities.")
  flags.DEFINE_list("parts", ["checkpoint", "seeds"], "What to time: checkpoint, seeds, seed_loop.")
  flags.DEFINE_string("task", "sawyer_pick:cpu", "seed_loop's task and preset (env:preset).")
  flags.DEFINE_integer("repeats", 2, "seed_loop's timed rounds.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
