"""Runs one MURAL experiment.

  python -m experiments.train --config=experiments/configs/zigzag_maze.py:cpu \
      --config.reward=mle --workdir=runs/zigzag

Every config field can be overridden as --config.<field>=<value> (see --helpfull).
Writes metrics.jsonl, TensorBoard events and curves.png to the workdir. Bad input
exits with status 2 before anything is compiled.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/zigzag_maze.py:cpu",
    "Config file, optionally with a preset after ':' (paper | cpu).")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory; default runs/<env>_<reward>_seed<seed>.")
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.path.expanduser("~/.cache/mural_jax/jit"),
    "JAX persistent compilation cache directory (reused across runs); empty disables it.")


def _fail(message: str):
  lines = [line for line in message.splitlines() if line.strip()]
  if "Traceback" in message:  # config-file errors embed a traceback: keep its conclusion
    lines = [lines[0], lines[-1]]
  print("error: " + "\n  ".join(lines), file=sys.stderr)
  sys.exit(2)


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except (flags.Error, ValueError) as e:
    _fail(str(e))


def _prepare_workdir(path: str) -> str:
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"--workdir {path!r} exists and is not a directory.")
  os.makedirs(path, exist_ok=True)
  if not os.access(path, os.W_OK):
    raise ValueError(f"--workdir {path!r} is not writable.")
  return path


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  import jax  # imported after flag parsing, so --help and flag errors are fast
  if _CACHE.value:
    jax.config.update("jax_compilation_cache_dir", _CACHE.value)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  from mural_jax import training
  try:
    trainer = training.Trainer(config)  # checks the config; compiles nothing
    workdir = _prepare_workdir(
        _WORKDIR.value or os.path.join("runs", f"{config.env}_{config.reward}_seed{config.seed}"))
  except ValueError as e:
    _fail(str(e))

  from experiments.plot import plot_learning_curves
  from mural_jax.metrics import MetricsWriter, Progress

  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  writer = MetricsWriter(workdir)
  progress = Progress(config.total_env_steps)
  logging.info("env=%s reward=%s seed=%d workdir=%s", config.env, config.reward, config.seed,
               workdir)
  print(f"{config.env} | reward {config.reward} | seed {config.seed} | compiling the epoch...",
        flush=True)

  def on_epoch(metrics, state):
    writer.write(metrics)
    if not config.quiet and metrics["epoch"] % config.log_every_epochs == 0:
      print(progress.line(metrics), flush=True)

  _, history = training.run(trainer, callback=on_epoch)
  writer.close()
  curves = plot_learning_curves({f"{config.env} {config.reward}": history},
                                os.path.join(workdir, "curves.png"))
  last = history[-1]
  print(f"result: {config.env} with the {config.reward} reward, seed {config.seed}: "
        f"eval success {last['eval_success']:.2f}, distance to goal "
        f"{last['eval_distance']:.2f} after {last['env_steps']:,d} steps in "
        f"{progress.elapsed()}; outputs in {workdir} ({os.path.basename(writer.path)}, "
        f"tensorboard/, {os.path.basename(curves)})")


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
