"""Runs one MURAL experiment (one or several seeds), resuming from its workdir.

  python -m experiments.train --config=experiments/configs/zigzag_maze.py:cpu \
      --config.reward=mle --workdir=runs/zigzag

Every config field can be overridden as --config.<field>=<value> (see --helpfull).
Writes metrics.jsonl, TensorBoard events, checkpoints/, curves.png and
trajectories.png to the workdir. Re-running the same command on a workdir with
checkpoints resumes from the latest one, exactly. Bad input (including a
checkpoint of another config, or a damaged one) exits with status 2 before
anything is compiled; divergence (NaN/inf) and checkpoint write failures exit 1;
Ctrl-C or SIGTERM save a checkpoint after the current epoch and exit 130 / 143 (in a
distributed run, a signal to any process stops all of them after the same epoch); a
process that loses another one of a distributed run exits 1.
"""

import os
import signal
import socket
import sys
import time

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from experiments.cli import fail, parse_flags


def _fields_help() -> str:
  """Every overridable field with its paper default, from the one config source."""
  from experiments.configs import base

  def walk(config, prefix=""):
    for name, value in config.items():
      if isinstance(value, ml_collections.ConfigDict) and len(value):
        yield from walk(value, f"{prefix}{name}.")
      else:
        yield f"--config.{prefix}{name} (default {value!r})"
  return "\n".join(walk(base.get_config("zigzag_maze")))


_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/zigzag_maze.py:cpu",
    "Config file, optionally with a preset after ':' (paper | cpu | tiny). Its fields, "
    "overridable as --config.<field>=<value> (paper defaults; the file may differ):\n"
    + _fields_help())
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory; default runs/<env>_<reward>_seed<seed>.")
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.path.expanduser("~/.cache/mural_jax/jit"),
    "JAX persistent compilation cache directory (reused across runs); empty disables it.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False,
    "Multi-host run: call jax.distributed.initialize() before anything else. On TPU pods "
    "and SLURM the flags below are detected; elsewhere give all three.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0, reachable from every process.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes (hosts).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0 .. n - 1.")
_DISTRIBUTED_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout_s", 120,
    "With --distributed: how long processes wait for the coordinator and for each other "
    "at start and at exit, and how long a process may stop responding before the others "
    "stop with an error.", lower_bound=1)


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
  """Returns once `address` (host:port) accepts connections; exits with a clear error
  if it does not within `timeout_s` (JAX itself would abort with a gRPC deadline)."""
  host, _, port = address.rpartition(":")
  if not host or not port.isdigit():
    fail(f"--coordinator_address {address!r} is not host:port.")
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
      return
    except OSError as e:
      if time.monotonic() > deadline:
        fail(f"could not reach the coordinator {address} within --distributed_timeout_s="
              f"{timeout_s:g} s ({e}). Start process 0 (--process_id=0) on that host, and "
              "check that the address is reachable from here.", status=1)
    time.sleep(0.5)


def _initialize_distributed(jax) -> None:
  """jax.distributed.initialize with every wait bounded by --distributed_timeout_s."""
  timeout = _DISTRIBUTED_TIMEOUT.value
  print(f"distributed run: connecting to {_COORDINATOR.value or 'the detected coordinator'}, "
        f"waiting up to {timeout} s for every process...", file=sys.stderr, flush=True)
  if _COORDINATOR.value and _PROCESS_ID.value:  # process 0 runs the coordinator
    _wait_for_coordinator(_COORDINATOR.value, timeout)
  jax.distributed.initialize(
      _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
      initialization_timeout=timeout, heartbeat_timeout_seconds=timeout,
      shutdown_timeout_seconds=timeout)


class _LostProcess(app.ExceptionHandler):
  """A JAX runtime error in a distributed run, typically a collective whose peer
  process died: says so and exits at once with status 1. (A normal exit would wait
  --distributed_timeout_s at JAX's shutdown barrier for the dead process, then abort.)"""

  def wants(self, exc):
    import jax
    return isinstance(exc, jax.errors.JaxRuntimeError)

  def handle(self, exc):
    brief = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    print(f"error: {brief}\n  In a distributed run this usually means that another process "
          "died or cannot be reached: see its log. Run the same command in every process to "
          "resume from the last checkpoint.", file=sys.stderr, flush=True)
    os._exit(1)


def _prepare_workdir(path: str) -> str:
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"--workdir {path!r} exists and is not a directory.")
  os.makedirs(path, exist_ok=True)
  if not os.access(path, os.W_OK):
    raise ValueError(f"--workdir {path!r} is not writable.")
  return path


class _StopRequest:
  """Turns the first SIGINT / SIGTERM into a request to checkpoint and stop after the
  current epoch; a second one stops at once."""

  def __init__(self):
    self.signum = None
    for signum in (signal.SIGINT, signal.SIGTERM):
      signal.signal(signum, self._handle)

  def _handle(self, signum, frame):
    self.signum = signum
    signal.signal(signum, signal.SIG_DFL)
    print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this epoch, then "
          "stopping (again to abort without saving).", file=sys.stderr, flush=True)

  def agreed(self):
    """The signal to stop on after this epoch, or None; the same in every process of a
    distributed run (one that stopped alone would leave the others waiting in a
    collective), so any process's signal stops all of them."""
    import jax
    signum = self.signum  # read once: a signal arriving later counts after the next epoch
    if jax.process_count() > 1:
      from mural_jax import parallel
      signum = int(parallel.to_host(jax.numpy.array([signum or 0])).max()) or None
    return signum


class _Stopped(Exception):
  def __init__(self, signum: int, message: str):
    super().__init__(message)
    self.signum = signum


def main(argv):
  started = time.perf_counter()  # `wall_s` counts from here: compilation included
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  import jax  # imported after flag parsing, so --help and flag errors are fast
  if _DISTRIBUTED.value:
    _initialize_distributed(jax)
    app.install_exception_handler(_LostProcess())
  if _CACHE.value:
    jax.config.update("jax_compilation_cache_dir", _CACHE.value)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  import numpy as np
  from mural_jax import training
  from mural_jax.checkpoints import Checkpointer, CheckpointError
  try:
    trainer = training.Trainer(config)  # checks the config; compiles nothing
    workdir = _prepare_workdir(
        _WORKDIR.value or os.path.join("runs", f"{config.env}_{config.reward}_seed{config.seed}"))
  except ValueError as e:
    fail(str(e))
  checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config)
  start = checkpointer.latest_epoch()
  try:
    state = None if start is None else checkpointer.restore(trainer.abstract_state)
  except CheckpointError as e:
    checkpointer.close()
    fail(str(e))

  from experiments.plot import plot_learning_curves, plot_run_trajectories
  from mural_jax.metrics import (LAST_FRACTION, SOLVED, TRAJECTORIES, MetricsWriter, Progress,
                                 read_jsonl, seed_summary)

  lead = jax.process_index() == 0  # one process writes metrics, plots and progress
  seeds = ", ".join(map(str, trainer.seeds))
  logging.info("env=%s reward=%s seeds=%s workdir=%s start_epoch=%s", config.env, config.reward,
               seeds, workdir, start)
  start_steps = (start or 0) * config.epoch_length
  progress = Progress(config.total_env_steps, start_steps)
  writer = None
  if lead:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))
    writer = MetricsWriter(workdir, trainer.seeds, start or 0, start_steps)
    kept = read_jsonl(writer.path)
    wall_before = kept[-1].get("wall_s", 0.0) if kept else 0.0  # earlier runs of this workdir
    resume = f"resuming after epoch {start}" if start else "starting"
    print(f"{config.env} | reward {config.reward} | seed {seeds} | {resume}; compiling the "
          "epoch...", flush=True)
  stop = _StopRequest()

  def on_epoch(metrics, state):
    epoch = int(np.max(metrics["epoch"]))
    if lead:
      rows = writer.write({**metrics, "wall_s": wall_before + time.perf_counter() - started})
      if not config.quiet and epoch % config.log_every_epochs == 0:
        print(progress.line(rows), flush=True)
    signum = stop.agreed()
    if (epoch % config.checkpoint_every == 0 or epoch == trainer.num_epochs
        or signum is not None):
      checkpointer.save(state, epoch)
    if signum is not None:
      raise _Stopped(signum, f"stopped by {signal.Signals(signum).name} after epoch {epoch}; "
                     f"checkpoint saved in {checkpointer.directory}. Run the same command "
                     "to resume.")

  try:
    training.run(trainer, callback=on_epoch, state=state)
  except training.Diverged as e:
    fail(f"{e} The last good checkpoint (epoch {checkpointer.latest_epoch()}) is in "
          f"{checkpointer.directory}.", status=1)
  except CheckpointError as e:
    fail(str(e), status=1)
  except _Stopped as e:
    print(e, file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)
  finally:
    if writer is not None:
      writer.close()
    checkpointer.close()
  if not lead:
    return
  rows = read_jsonl(writer.path)
  curves = plot_learning_curves({f"{config.env} {config.reward}": rows},
                                os.path.join(workdir, "curves.png"))
  outputs = [os.path.basename(writer.path), "tensorboard/", "checkpoints/",
             os.path.basename(curves)]
  if os.path.exists(os.path.join(workdir, TRAJECTORIES)):
    outputs.append(os.path.basename(
        plot_run_trajectories(workdir, os.path.join(workdir, "trajectories.png"))))
  last = [r for r in rows if r["epoch"] == rows[-1]["epoch"]]
  solved = sum(seed_summary([r for r in rows if r["seed"] == s])["solved"] for s in trainer.seeds)
  verdict = (f"solved in {solved} of {len(trainer.seeds)} seeds" if len(trainer.seeds) > 1
             else "goal reached, solved" if solved else "not solved")
  print(f"result: {config.env} with the {config.reward} reward, seed {seeds}: {verdict} "
        f"(eval success >= {SOLVED} at the end and over the last {LAST_FRACTION:.0%} of "
        f"epochs); {progress.summary(last)} after {last[0]['env_steps']:,d} steps in "
        f"{progress.elapsed()}; outputs in {workdir} ({', '.join(outputs)})")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
