"""Run a workdir: restore, train, write metrics, checkpoint, and stop cleanly.

`run_workdir(config, workdir)` is the one owner of a run's files:
``config.json``, ``metrics.jsonl`` (+ TensorBoard events; optionally a W&B run) and
``checkpoints/``.
Running it again on the same workdir resumes from the latest checkpoint,
exactly. `experiments/train.py` (and the sweep, through it) is flag parsing
around this call; in a notebook::

    from mural_jax import runner
    outcome = runner.run_workdir(config, "runs/zigzag")
    print(outcome.result_line())

Failures are typed, so a command can map them to exit statuses: `BadInput`
(config, workdir, a checkpoint of another config; raised before anything
compiles), `RunFailed` (divergence, a checkpoint write), `Stopped` (a signal,
with `handle_signals=True`: a checkpoint is saved after the current epoch).
With `config.stop_when_solved` the run ends early, checkpointed, once every seed
is solved over the window its whole budget would end with.
In a distributed run only process 0 writes metrics and config.json.
"""

import contextlib
import dataclasses
import os
import signal
import sys
import time
from typing import Callable, Optional

import jax
import numpy as np
from absl import logging

from mural_jax import parallel, training
from mural_jax.checkpoints import Checkpointer, CheckpointError
from mural_jax.metrics import (LAST_FRACTION, SOLVED, WANDB_ID, MetricsWriter, Progress,
                               WandB, clock, last_window, read_jsonl, seed_summary)


class BadInput(ValueError):
  """The run cannot start as asked; nothing was compiled or trained."""


class RunFailed(RuntimeError):
  """Training stopped with an error (divergence, a failed checkpoint write)."""


class _Solved(Exception):
  """Every seed is solved (`config.stop_when_solved`); the checkpoint is saved."""


class Stopped(Exception):
  """A signal stopped the run after an epoch; its checkpoint is saved."""

  def __init__(self, signum: int, message: str):
    super().__init__(message)
    self.signum = signum


@dataclasses.dataclass
class Outcome:
  """What a finished `run_workdir` leaves: its workdir, metric rows and seeds."""
  config: object
  workdir: str
  rows: list           # metrics.jsonl rows, one per epoch and seed (empty off process 0)
  seeds: tuple
  progress: Progress
  num_epochs: int      # the whole budget's; fewer rows when it stopped once solved
  files: tuple = ()    # what it wrote in the workdir (process 0)

  @property
  def stopped_early(self) -> bool:
    return self.rows[-1]["epoch"] < self.num_epochs

  def solved(self) -> int:
    """Seeds solved by the `mural_jax.metrics` rule, over the whole budget's window."""
    return sum(seed_summary([r for r in self.rows if r["seed"] == s], self.num_epochs)["solved"]
               for s in self.seeds)

  def result_line(self) -> str:
    c, seeds = self.config, ", ".join(map(str, self.seeds))
    last = [r for r in self.rows if r["epoch"] == self.rows[-1]["epoch"]]
    verdict = (f"solved in {self.solved()} of {len(self.seeds)} seeds" if len(self.seeds) > 1
               else "goal reached, solved" if self.solved() else "not solved")
    window = (f"the last {last_window(self.num_epochs)} epochs, {LAST_FRACTION:.0%} of the "
              "budget; stopped early" if self.stopped_early
              else f"the last {LAST_FRACTION:.0%} of epochs")
    reached = ""
    if len(self.seeds) == 1:
      summary = seed_summary(self.rows, self.num_epochs)
      if summary["reached_steps"] is not None:
        reached = (f"; eval success first >= {SOLVED} after {summary['reached_steps']:,d} "
                   f"steps, {clock(summary['reached_wall_s'])} into the run")
    return (f"result: {c.env} with the {c.reward} reward, seed {seeds}: {verdict} (eval "
            f"success >= {SOLVED} at the end and over {window}); "
            f"{self.progress.summary(last)} after {last[0]['env_steps']:,d} steps in "
            f"{self.progress.elapsed()}{reached}")


def default_workdir(config) -> str:
  return os.path.join("runs", f"{config.env}_{config.reward}_seed{config.seed}")


def _prepare_workdir(path: str) -> str:
  if os.path.exists(path) and not os.path.isdir(path):
    raise BadInput(f"--workdir {path!r} exists and is not a directory.")
  os.makedirs(path, exist_ok=True)
  if not os.access(path, os.W_OK):
    raise BadInput(f"--workdir {path!r} is not writable.")
  return path


class _StopRequest:
  """While active, the first SIGINT / SIGTERM asks to checkpoint and stop after the
  current epoch; a second one stops at once. The old handlers come back on exit."""

  def __init__(self, active: bool):
    self.active, self.signum, self._old = active, None, {}

  def __enter__(self):
    if self.active:
      for signum in (signal.SIGINT, signal.SIGTERM):
        self._old[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._old.items():
      signal.signal(signum, handler)

  def _handle(self, signum, frame):
    self.signum = signum
    signal.signal(signum, signal.SIG_DFL)
    print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this epoch, then "
          "stopping (again to abort without saving).", file=sys.stderr, flush=True)

  def agreed(self):
    """The signal to stop on after this epoch, or None; the same in every process of a
    distributed run (one that stopped alone would leave the others waiting in a
    collective), so any process's signal stops all of them."""
    # Read once: a signal arriving later counts after the next epoch.
    return _max_over_processes(self.signum or 0) or None


def run_workdir(config, workdir: Optional[str] = None, *, handle_signals: bool = False,
                started: Optional[float] = None,
                figures: Optional[Callable[[str, str], list]] = None,
                wandb: Optional[WandB] = None) -> Outcome:
  """Trains `config` in `workdir` (default `default_workdir(config)`), resuming it.

  `started` (a `time.perf_counter()` value, default now) is where the metrics'
  `wall_s` counts from, summed over the runs of a workdir. Progress lines go to
  stdout unless `config.quiet`. `figures(workdir, label)`, if given (e.g.
  `experiments.plot.plot_outputs`), draws the run's figures into the workdir at the
  end and returns their file names: the library itself draws nothing. `wandb`, if
  given, also logs TensorBoard's scalars to a Weights & Biases run with the config
  (needs `pip install -e .[wandb]`); its id in `workdir/wandb_id` makes a resume of
  the workdir continue the same W&B run.
  """
  started = time.perf_counter() if started is None else started
  try:
    trainer = training.Trainer(config)  # checks the config; compiles nothing
  except ValueError as e:
    raise BadInput(str(e)) from e
  config = trainer.config  # the typed RunConfig
  workdir = _prepare_workdir(workdir or default_workdir(config))
  with contextlib.ExitStack() as stack:
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config)
    stack.callback(checkpointer.close)
    start = checkpointer.latest_epoch()
    try:
      state = None if start is None else checkpointer.restore(trainer.abstract_state)
    except CheckpointError as e:
      raise BadInput(str(e)) from e

    lead = jax.process_index() == 0  # one process writes metrics and progress
    seeds = ", ".join(map(str, trainer.seeds))
    logging.info("env=%s reward=%s seeds=%s workdir=%s start_epoch=%s", config.env,
                 config.reward, seeds, workdir, start)
    start_steps = (start or 0) * config.epoch_length
    progress = Progress(config.total_env_steps, start_steps)
    writer, history = None, []
    if lead:
      with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=2))
      writer = MetricsWriter(workdir, trainer.seeds, start or 0, start_steps, wandb=wandb,
                             config=config.to_dict())
      stack.callback(writer.close)
      history = read_jsonl(writer.path)  # earlier runs of this workdir, then this one's rows
      wall_before = history[-1].get("wall_s", 0.0) if history else 0.0
      resume = f"resuming after epoch {start}" if start else "starting"
      print(f"{config.env} | reward {config.reward} | seed {seeds} | {resume}; compiling the "
            "epoch...", flush=True)
    stop = stack.enter_context(_StopRequest(handle_signals))

    def on_epoch(metrics, state):
      epoch = int(np.max(metrics["epoch"]))
      if lead:
        rows = writer.write({**metrics, "wall_s": wall_before + time.perf_counter() - started})
        history.extend(rows)
        if not config.quiet and epoch % config.log_every_epochs == 0:
          print(progress.line(rows), flush=True)
      signum = stop.agreed()
      solved = config.stop_when_solved and bool(_max_over_processes(
          int(lead and _every_seed_solved(history, trainer))))
      if (epoch % config.checkpoint_every == 0 or epoch == trainer.num_epochs
          or signum is not None or solved):
        checkpointer.save(state, epoch)
      if solved:
        raise _Solved()
      if signum is not None:
        raise Stopped(signum, f"stopped by {signal.Signals(signum).name} after epoch {epoch}; "
                      f"checkpoint saved in {checkpointer.directory}. Run the same command "
                      "to resume.")

    try:
      training.run(trainer, callback=on_epoch, state=state)
    except _Solved:
      pass
    except (training.Diverged, training.Uncalibrated) as e:
      raise RunFailed(f"{e} The last good checkpoint (epoch {checkpointer.latest_epoch()}) is "
                      f"in {checkpointer.directory}.") from e
    except CheckpointError as e:
      raise RunFailed(str(e)) from e
  rows, files = [], ()
  if lead:
    rows = read_jsonl(writer.path)
    files = ("config.json", "metrics.jsonl", "tensorboard/", "checkpoints/")
    if wandb is not None:  # disabled W&B keeps the id and writes no run
      files += (WANDB_ID, "wandb/") if wandb.mode != "disabled" else (WANDB_ID,)
    if figures:
      files += tuple(figures(workdir, f"{config.env} {config.reward}"))
  return Outcome(config=config, workdir=workdir, rows=rows, seeds=tuple(trainer.seeds),
                 progress=progress, num_epochs=trainer.num_epochs, files=files)


def _every_seed_solved(rows: list, trainer: training.Trainer) -> bool:
  """Whether every seed's rows meet the solved rule over the whole budget's window."""
  by_seed = ([r for r in rows if r["seed"] == s] for s in trainer.seeds)
  return all(seed_rows and seed_summary(seed_rows, trainer.num_epochs)["solved"]
             for seed_rows in by_seed)


def _max_over_processes(value: int) -> int:
  """The largest `value` of any process, the same in all (a collective in a distributed
  run): one process's stop request stops every process."""
  if jax.process_count() > 1:
    return int(parallel.to_host(jax.numpy.array([value])).max())
  return value
