"""Environment throughput and one-epoch wall time.

  python -m experiments.bench_env --envs=zigzag_maze,spiral_maze --batch_sizes=1,256,4096
  python -m experiments.bench_env --envs=sawyer_push,ant_maze --batch_sizes=1,64,1024 \
      --steps=20 --repeats=2 --epoch_reward=      # MJX tasks: slow on a CPU

For each environment and batch size: compile time and steps/s of a jitted
`lax.scan` of `--steps` auto-resetting steps with random actions (each step also
computes a fresh reset, as in training). Then (unless
--epoch_reward is empty) the wall time of one training epoch of `--epoch_env`
under its paper preset (1000 environment steps, 1000 SAC updates, classifier
training, evaluation), after compilation.
"""

import json

from absl import app, flags

from experiments import cli, timing

def bench_env(name: str, batch_size: int, steps: int, repeats: int) -> dict:
  import jax
  import envs

  env = envs.wrap_for_training(envs.make(name), num_envs=batch_size)
  action_size = env.action_size

  def rollout(state, key):
    def step(state, k):
      action = jax.random.uniform(k, (batch_size, action_size), minval=-1.0, maxval=1.0)
      return env.step(state, action), ()
    return jax.lax.scan(step, state, jax.random.split(key, steps))[0]

  state = jax.block_until_ready(jax.jit(env.reset)(jax.random.key(0)))
  compiled, compile_s = timing.compiled(rollout, state, jax.random.key(1))
  seconds = timing.seconds(compiled, state, jax.random.key(2), repeats=repeats)
  return {"env": name, "batch": batch_size, "compile_s": compile_s,
          "steps_per_s": batch_size * steps / seconds}


def bench_epoch(env: str, reward: str) -> dict:
  import jax
  import jax.numpy as jnp
  from experiments.configs import task_config
  from mural_jax import training

  config = task_config(env, "paper")
  config.reward = reward
  config.warmup_steps = 0  # every epoch step learns, as after the first epoch
  trainer = training.Trainer(config)
  state = trainer.init(jax.random.key(0))
  epoch = {"epoch": (trainer.run_epoch, lambda: (jax.tree.map(jnp.copy, state),))}  # donated
  first = timing.best_seconds(epoch, repeats=1, warmup=False)["epoch"]  # compiles
  later = timing.best_seconds(epoch, repeats=1, warmup=False)["epoch"]
  return {"env": env, "reward": reward, "epoch_s": later,
          "first_epoch_with_compile_s": first, "env_steps": config.epoch_length,
          "sac_updates": config.epoch_length}


def main(argv):
  del argv
  import jax
  f = flags.FLAGS
  device = f"{jax.devices()[0].platform.upper()} ({jax.devices()[0].device_kind}, " \
           f"{len(jax.devices())} device(s))"
  table = not f.json
  if table:  # rows are printed as they come: MJX tasks take minutes each on a CPU
    print(f"device: {device}")
    print(f"{'environment':<16}{'batch':>7}{'compile s':>11}{'steps/s':>15}", flush=True)
  rows = []
  for name in f.envs:
    for b in f.batch_sizes:
      r = bench_env(name, int(b), f.steps, f.repeats)
      rows.append(r)
      if table:
        print(f"{r['env']:<16}{r['batch']:>7}{r['compile_s']:>11.2f}{r['steps_per_s']:>15,.0f}",
              flush=True)
  epoch = bench_epoch(f.epoch_env, f.epoch_reward) if f.epoch_reward else None
  if not table:
    print(json.dumps({"device": device, "env_steps": rows, "epoch": epoch}))
  elif epoch:
    print(f"one epoch of {epoch['env']} with the {epoch['reward']} reward "
          f"({epoch['env_steps']} env steps, {epoch['sac_updates']} SAC updates): "
          f"{epoch['epoch_s']:.2f} s (first epoch incl. compile {epoch['first_epoch_with_compile_s']:.2f} s)")


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_list("envs", ["zigzag_maze", "spiral_maze"], "Environments to time.")
  flags.DEFINE_list("batch_sizes", ["1", "256", "4096"], "Vectorised batch sizes.")
  flags.DEFINE_integer("steps", 1000, "Steps per timed rollout (per environment).")
  flags.DEFINE_integer("repeats", 3, "Timed rollouts; the best is reported.")
  flags.DEFINE_string("epoch_env", "zigzag_maze", "Environment of the epoch timing.")
  flags.DEFINE_string("epoch_reward", "mle", "Reward of the epoch timing; empty skips it.")
  flags.DEFINE_bool("json", False, "Print one JSON object instead of tables.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
