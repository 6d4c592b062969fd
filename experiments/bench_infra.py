"""Benchmarks: S seeds in one job vs S separate runs, and checkpoint cost.

  python -m experiments.bench_infra --seeds=1,4,16 --capacities=100000,1500000

Seeds: wall time of the `tiny` preset with the mle reward (sac/classifier widths 64) for S seeds in one
vmapped job vs S runs one after another, compile time reported apart. Checkpoints:
save and restore time and size of a whole state whose replay buffer is full of
random data (incompressible, as after a real run).
"""

import os
import shutil
import tempfile
import time

from absl import app, flags, logging
import jax
import jax.numpy as jnp

from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.checkpoints import Checkpointer

_SEEDS = flags.DEFINE_list("seeds", ["1", "4", "16"], "Seed counts S.")
_CAPACITIES = flags.DEFINE_list("capacities", ["100000", "1500000"], "Replay capacities.")


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
  start = time.perf_counter()
  state = trainer.init(trainer.keys())
  trainer.run_epoch.lower(state).compile()
  compiled = time.perf_counter()
  state, _ = training.run(trainer, state=state)
  jax.block_until_ready(state)
  return compiled - start, time.perf_counter() - compiled


def bench_seeds():
  _, single = _timed_run(_config())
  for s in map(int, _SEEDS.value):
    compile_s, job = _timed_run(_config(num_seeds=s))
    print(f"S={s:3d}: one job {job:7.2f} s (+{compile_s:.1f} s compile) | {s} separate runs "
          f"{s * single:7.2f} s (+compile each) | speed-up {s * single / job:5.2f}x", flush=True)


def bench_checkpoint():
  for capacity in map(int, _CAPACITIES.value):
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
      start = time.perf_counter()
      ckpt.save(state, 1)
      saved = time.perf_counter()
      Checkpointer(directory, config).restore(trainer.abstract_state)
      restored = time.perf_counter()
      size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(directory)
                 for f in fs)
      print(f"replay {capacity:>9,d}: save {saved - start:6.2f} s | restore "
            f"{restored - saved:6.2f} s | {size / 2**20:7.1f} MiB", flush=True)
    finally:
      shutil.rmtree(directory)


def main(argv):
  logging.set_verbosity(logging.WARNING)
  print(f"{jax.device_count()} x {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs")
  bench_checkpoint()
  bench_seeds()


if __name__ == "__main__":
  app.run(main)
