"""Runs one MURAL experiment (one or several seeds), resuming from its workdir.

  python -m experiments.train --config=experiments/configs/zigzag_maze.py:cpu \
      --config.reward=mle --workdir=runs/zigzag

Every config field can be overridden as --config.<field>=<value> (see --helpfull).
Writes metrics.jsonl, TensorBoard events (and W&B with --wandb_project), checkpoints/, curves.png and
trajectories.png to the workdir. Re-running the same command on a workdir with
checkpoints resumes from the latest one, exactly. Bad input (including a
checkpoint of another config, or a damaged one) exits with status 2 before
anything is compiled; divergence (NaN/inf) and checkpoint write failures exit 1;
Ctrl-C or SIGTERM save a checkpoint after the current epoch and exit 130 / 143 (in a
distributed run, a signal to any process stops all of them after the same epoch); a
process that loses another one of a distributed run exits 1.
"""

import os
import socket
import sys
import time

from absl import app, flags, logging

from experiments import cli
from experiments.cli import fail


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  cli.define_config_flag()
  flags.DEFINE_string("workdir", None, "Output directory; default runs/<env>_<reward>_seed<seed>.")
  flags.DEFINE_string(
      "compilation_cache", os.path.expanduser("~/.cache/mural_jax/jit"),
      "JAX persistent compilation cache directory (reused across runs); empty disables it.")
  flags.DEFINE_string("wandb_project", None, "Also log the metrics to this Weights & Biases "
                      "project (pip install -e .[wandb]); unset: no W&B.")
  flags.DEFINE_string("wandb_entity", None, "With --wandb_project: the W&B entity (team).")
  flags.DEFINE_enum("wandb_mode", "online", ["online", "offline"], "With --wandb_project: "
                    "offline writes the run under the workdir for a later `wandb sync`.")
  flags.DEFINE_bool(
      "distributed", False,
      "Multi-host run: call jax.distributed.initialize() before anything else. On TPU pods "
      "and SLURM the flags below are detected; elsewhere give all three.")
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0, reachable from every process.")
  flags.DEFINE_integer("num_processes", None, "Number of processes (hosts).")
  flags.DEFINE_integer("process_id", None, "This process's index, 0 .. n - 1.")
  flags.DEFINE_integer(
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
  f = flags.FLAGS
  timeout = f.distributed_timeout_s
  print(f"distributed run: connecting to {f.coordinator_address or 'the detected coordinator'}, "
        f"waiting up to {timeout} s for every process...", file=sys.stderr, flush=True)
  if f.coordinator_address and f.process_id:  # process 0 runs the coordinator
    _wait_for_coordinator(f.coordinator_address, timeout)
  jax.distributed.initialize(
      f.coordinator_address, f.num_processes, f.process_id,
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


def main(argv):
  started = time.perf_counter()  # `wall_s` counts from here: compilation included
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  config = cli.config_from_flags()
  import jax  # imported after flag parsing, so --help and flag errors are fast
  if f.distributed:
    _initialize_distributed(jax)
    app.install_exception_handler(_LostProcess())
  if f.compilation_cache:
    jax.config.update("jax_compilation_cache_dir", f.compilation_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  from experiments.plot import plot_outputs
  from mural_jax import metrics, runner
  wandb = (metrics.WandB(f.wandb_project, f.wandb_entity, f.wandb_mode)
           if f.wandb_project else None)
  try:
    outcome = runner.run_workdir(config, f.workdir, handle_signals=True, started=started,
                                 figures=plot_outputs, wandb=wandb)
  except runner.BadInput as e:
    fail(str(e))
  except runner.RunFailed as e:
    fail(str(e), status=1)
  except runner.Stopped as e:
    print(e, file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)
  if jax.process_index() == 0:  # one process writes plots and the result
    print(f"{outcome.result_line()}; outputs in {outcome.workdir} ({', '.join(outcome.files)})")

if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
