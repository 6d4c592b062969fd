"""The reproduction sweep: every (environment, reward) cell, its seeds vmapped in one
training job; resumable; a results table, learning curves and maze trajectories.

  python -m experiments.reproduce --envs=zigzag_maze,spiral_maze \
      --rewards=mural,mle,l2,sparse --seeds=5 --preset=cpu --out=runs/sweep

Each cell runs `python -m experiments.train` in its own process on
DIR/runs/<env>/<cell> (output in log.txt there), so a crash loses only that cell.
Rerunning the command skips finished cells and resumes the others from their
checkpoints. After every cell and at the end experiments.sweep_results writes
DIR/results.json (one row per environment, cell and seed), DIR/results.md (one row
per environment and cell), DIR/curves.png, DIR/trajectories_<env>_<cell>.png and
DIR/configs/<env>_<cell>.json (each cell's resolved config). `--question` records what
the sweep asks in DIR/about.json, if the folder has none (experiments.results_index).
Bad input exits 2 before anything runs; failed or unfinished cells make the sweep
exit 1 after the others ran, naming them.
"""

import dataclasses
import importlib
import math
import os
import pathlib
import shlex
import signal
import statistics
import subprocess
import sys
import time

from absl import app, flags, logging

from experiments import cli
from experiments.cli import fail
from experiments.sweep_results import (is_finished, mark_finished, read_json,
                                       rows_without_runs, workdir, write_about, write_json,
                                       write_results)
from mural_jax import rewards
from mural_jax.metrics import read_jsonl

ROOT = pathlib.Path(__file__).resolve().parent.parent
POLL_S = 2.0          # how often a running cell's wall time and timeout are checked
GRACE_S = 120.0       # after SIGTERM a cell saves a checkpoint at the epoch's end; then SIGKILL
# train's exit status after a SIGINT / SIGTERM it answered by checkpointing and stopping.
STOPPED_BY = {128 + signal.SIGINT: "SIGINT", 128 + signal.SIGTERM: "SIGTERM"}
LOCK = "running.pid"  # in a cell's directory while a job runs it: a second job skips the cell
# Config fields the sweep sets itself: the command line may not override them.
SWEEP_FIELDS = ("env", "reward", "num_seeds", "preset", "quiet")


@dataclasses.dataclass(frozen=True)
class Variant:
  """A named cell: a reward with config overrides (`field=value`)."""
  reward: str
  overrides: tuple[str, ...]
  about: str


# The ablations of issue 34 undo one part of the calibrated kernel each (on the tasks whose
# preset calibrates it: 64 replay-state and 64 success-example task queries, share 0.1).
VARIANTS = {
    "mural_no_meta": Variant("mural", ("meta_nml.first_passes=0", "meta_nml.later_passes=0"),
                             "meta-NML rewards from a network that is never meta-trained"),
    "mural_reference_kernel": Variant(
        "mural", ("meta_nml.kernel_share=0.0",),
        "the reference's kernel threshold as given, not calibrated to the data"),
    "mural_no_example_tasks": Variant(
        "mural", ("meta_nml.num_tasks=128", "meta_nml.num_positive_tasks=0"),
        "all 128 task queries replay states: no success examples among them"),
}


@dataclasses.dataclass(frozen=True)
class Cell:
  """One training job of the sweep: an environment and a reward (or variant)."""
  env: str
  name: str                   # reward or variant name, the cell's directory
  reward: str                 # the reward source it trains with
  preset: str
  overrides: tuple[str, ...]  # field=value: the variant's, then the sweep's
  seeds: tuple[int, ...]
  num_epochs: int
  total_env_steps: int

  def train_args(self) -> list[str]:
    """experiments.train's config flags (the workdir comes separately)."""
    return [f"--config=experiments/configs/{self.env}.py:{self.preset}",
            f"--config.reward={self.reward}", f"--config.num_seeds={len(self.seeds)}",
            "--config.quiet=True", *(f"--config.{o}" for o in self.overrides)]

  def spec(self) -> dict:
    return {"env": self.env, "cell": self.name, "reward": self.reward, "preset": self.preset,
            "overrides": list(self.overrides), "seeds": list(self.seeds)}


# -- cells and their configs ----------------------------------------------------------------

def env_names() -> list[str]:
  """The tasks (mural_jax.tasks), each with its config file experiments/configs/<env>.py."""
  from mural_jax import tasks
  return tasks.names()


def cell_names() -> list[str]:
  return rewards.names() + sorted(VARIANTS)


def make_cells(env_list, names, preset: str, num_seeds: int, overrides, total_env_steps: int):
  """The sweep's cells, their configs loaded as experiments.train loads them and
  checked. Raises ValueError naming the first bad name or value (with the valid
  choices) before anything is compiled."""
  from mural_jax import tasks
  from mural_jax.config import RunConfig
  tasks.check_preset(preset)
  for name in env_list:
    if name not in env_names():
      raise ValueError(f"Unknown environment {name!r}; valid choices: "
                       f"{', '.join(env_names())}.")
  for name in names:
    if name not in cell_names():
      raise ValueError(f"Unknown reward or variant {name!r}; valid choices: "
                       f"{', '.join(cell_names())}.")
  if not env_list or not names:
    raise ValueError(f"--envs and --rewards need at least one name each; environments: "
                     f"{', '.join(env_names())}; rewards and variants: {', '.join(cell_names())}.")
  if num_seeds < 1:
    raise ValueError(f"--seeds must be a positive integer, got {num_seeds}.")
  if total_env_steps < 0:
    raise ValueError(f"--total_env_steps must be >= 0 (0: the preset's), got {total_env_steps}.")
  overrides = tuple(overrides) + ((f"total_env_steps={total_env_steps}",)
                                  if total_env_steps else ())
  cells = []
  for env in env_list:
    for name in names:
      variant = VARIANTS.get(name, Variant(name, (), ""))
      config = importlib.import_module(f"experiments.configs.{env}").get_config(preset)
      config.reward, config.num_seeds = variant.reward, num_seeds
      cell_overrides = variant.overrides + overrides
      try:
        for override in cell_overrides:
          field = override.partition("=")[0].strip()
          if field in SWEEP_FIELDS:
            raise ValueError(f"--config.{field}=... is set by the sweep; use its own flags "
                             "(--envs, --rewards, --seeds, --preset).")
          cli.apply_override(config, override)
        RunConfig.of(config)  # raises on a bad field or value
      except ValueError as e:
        raise ValueError(f"{env} {name}: {e}") from None
      cells.append(Cell(env, name, variant.reward, preset, cell_overrides,
                        tuple(config.seed + i for i in range(num_seeds)),
                        math.ceil(config.total_env_steps / config.epoch_length),
                        config.total_env_steps))
  return cells


# -- running a cell -------------------------------------------------------------------------

def reached_final_epoch(rows: list[dict], cell: Cell) -> bool:
  """Whether every seed of `cell` has a metrics row of its final epoch."""
  done = {r["seed"] for r in rows if r["epoch"] >= cell.num_epochs}
  return set(cell.seeds) <= done


def environment() -> dict:
  """Where the sweep runs: device (from jax, without preallocating GPU memory), jax
  version and commit (`+dirty` with uncommitted changes to tracked files)."""
  import jax
  devices = jax.devices()
  kind = (f"cpu ({os.cpu_count()} cores)" if devices[0].platform == "cpu"
          else devices[0].device_kind)
  git = lambda *args: subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                                     text=True, check=True).stdout.strip()
  try:
    commit = git("rev-parse", "--short", "HEAD")
    commit += "+dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
  except (OSError, subprocess.CalledProcessError):
    commit = "unknown"
  return {"device": kind if len(devices) == 1 else f"{len(devices)} x {kind}",
          "jax_version": jax.__version__, "commit": commit}


def run_cell(cell: Cell, out: str, where: dict, timeout_s: float, child_env: dict) -> str:
  """Runs (or resumes) one cell; returns "finished", "timed out", "stopped by ..." (its
  train process was signalled, e.g. by hand, and checkpointed) or "failed (...)".
  Its wall seconds accumulate over runs in cell.json; finished.json marks it done."""
  directory = workdir(out, cell)
  os.makedirs(directory, exist_ok=True)
  lock = os.path.join(directory, LOCK)
  other = running_pid(lock)
  if other is not None:  # two trainings of one workdir would undo each other's epochs
    return f"skipped (another job, pid {other}, is running it)"
  with open(lock, "w") as f:
    f.write(str(os.getpid()))
  try:
    return _run_cell(cell, directory, where, timeout_s, child_env)
  finally:
    os.remove(lock)


def repo_relative(path: str) -> str:
  """`path` relative to the repository (the train child's working directory) when it
  lies inside it, so logs and printed checkpoint paths read the same on every checkout."""
  relative = os.path.relpath(path, ROOT)
  return path if relative.startswith(os.pardir) else relative


def running_pid(lock: str) -> int | None:
  """The pid in `lock` if that process is alive, else None (no lock, or a stale one
  left by a killed job)."""
  try:
    with open(lock) as f:
      pid = int(f.read())
    os.kill(pid, 0)
  except (FileNotFoundError, ValueError, ProcessLookupError):
    return None
  except PermissionError:  # alive, another user's
    pass
  return pid


def _run_cell(cell: Cell, directory: str, where: dict, timeout_s: float,
              child_env: dict) -> str:
  state_path = os.path.join(directory, "cell.json")
  state = {**read_json(state_path, {"wall_s": 0.0, "runs": 0}), **cell.spec(), **where}
  state["runs"] += 1
  args = ["-m", "experiments.train", *cell.train_args(), f"--workdir={repo_relative(directory)}"]
  wall_before, start = state["wall_s"], time.monotonic()

  def record(returncode=None):
    write_json(state_path, {**state, "wall_s": wall_before + time.monotonic() - start,
                            "returncode": returncode})

  with open(os.path.join(directory, "log.txt"), "a") as log:
    log.write(f"=== run {state['runs']} ({time.strftime('%Y-%m-%d %H:%M:%S')}): "
              f"{shlex.join(['python', *args])}\n")
    log.flush()
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=child_env)
    try:
      returncode, timed_out = _wait(process, timeout_s, record)
    except KeyboardInterrupt:  # SIGTERM: the child checkpoints after its epoch and exits
      process.terminate()
      record(process.wait())
      raise
    record(returncode)
  if returncode == 0 and reached_final_epoch(
      read_jsonl(os.path.join(directory, "metrics.jsonl")), cell):
    mark_finished(cell, directory)
    return "finished"
  if timed_out:
    return "timed out"
  if returncode in STOPPED_BY:  # train caught the signal and checkpointed (128 + signum)
    return f"stopped by {STOPPED_BY[returncode]}, resumable"
  return (f"failed (exit {returncode})" if returncode else
          "failed (metrics.jsonl lacks the final epoch)")


def _wait(process, timeout_s: float, record) -> tuple[int, bool]:
  """The exit status of `process`, and whether `timeout_s` (> 0) stopped it: SIGTERM
  (the run checkpoints at the end of its epoch), SIGKILL after GRACE_S."""
  start = time.monotonic()
  while True:
    try:
      return process.wait(timeout=POLL_S), False
    except subprocess.TimeoutExpired:
      record()
    if timeout_s and time.monotonic() - start > timeout_s:
      process.terminate()
      try:
        return process.wait(timeout=GRACE_S), True
      except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(), True


# -- the command -------------------------------------------------------------------------------

def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_list("envs", ["zigzag_maze", "spiral_maze"], "Environments.")
  flags.DEFINE_list(
      "rewards", ["mural", "mle", "l2", "sparse"],
      "Cells of each environment: reward names, or variants: " + "; ".join(
          f"{name} = {v.reward} with {', '.join(v.overrides)} ({v.about})"
          for name, v in VARIANTS.items()) + ".")
  flags.DEFINE_integer("seeds", 5, "Seeds per cell, trained together in one job.")
  flags.DEFINE_string("preset", "cpu", "Config preset of every cell (budgets).")
  flags.DEFINE_string("out", None, "Output directory (required); rerun on it to resume.")
  flags.DEFINE_integer("total_env_steps", 0, "Environment steps per seed; 0: the preset's.")
  cli.define_override_flag("every cell's, fields as in experiments.train.")
  flags.DEFINE_float(
      "cell_timeout_s", 0.0, "Stop a cell after this many seconds of this run (0: no limit); "
      "it is left resumable and reported as unfinished.")
  flags.DEFINE_string(
      "question", "", "What the sweep asks, written to <out>/about.json for "
      "experiments.results_index if the folder has no about.json yet (never overwritten).")


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  if not f.out:
    fail("--out is required: the sweep's output directory (rerun on it to resume).")
  out = os.path.abspath(f.out)
  if os.path.exists(out) and not os.path.isdir(out):
    fail(f"--out {f.out!r} exists and is not a directory.")
  if f.cell_timeout_s < 0:
    fail(f"--cell_timeout_s must be >= 0 (0: no limit), got {f.cell_timeout_s}.")
  child_env = dict(os.environ)  # children keep the caller's memory settings
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # this process only
  try:
    cells = make_cells(list(dict.fromkeys(f.envs)), list(dict.fromkeys(f.rewards)), f.preset,
                       f.seeds, cli.overrides(), f.total_env_steps)
  except ValueError as e:
    fail(str(e))
  if lost := rows_without_runs(out):
    fail(f"{f.out}/results.json holds results whose run files are not in {f.out}/runs "
         f"({', '.join(lost)}): this sweep would retrain those cells or drop their rows. "
         "Give another --out.")
  signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
  command = "python -m experiments.reproduce " + shlex.join(sys.argv[1:])
  where = environment()
  os.makedirs(out, exist_ok=True)
  if f.question:
    write_about(out, f.question)
  print(f"sweep: {len(cells)} cells x {f.seeds} seeds, preset {f.preset}, "
        f"{where['device']}, commit {where['commit']}; outputs in {out}", flush=True)
  problems = []
  try:
    for i, cell in enumerate(cells, 1):
      label = f"[{i}/{len(cells)}] {cell.env} {cell.name}"
      if is_finished(cell, workdir(out, cell)):
        print(f"{label}: finished before, skipped", flush=True)
        continue
      print(f"{label}: running, log in {os.path.join(workdir(out, cell), 'log.txt')}",
            flush=True)
      status = run_cell(cell, out, where, f.cell_timeout_s, child_env)
      if status != "finished":
        problems.append(f"{cell.env} {cell.name} ({status})")
      rows = [r for r in write_results(out, cells, command)
              if r["env"] == cell.env and r["reward"] == cell.name]
      if rows:
        status += (f"; final eval success {statistics.fmean(r['final_success'] for r in rows):.2f}"
                   f", {sum(r['solved'] for r in rows)}/{len(rows)} seeds solved")
      print(f"{label}: {status}", flush=True)
  except KeyboardInterrupt:
    write_results(out, cells, command)
    fail("interrupted; run the same command to resume.", status=130)
  write_results(out, cells, command)
  print(f"results: {os.path.join(out, 'results.md')} (and results.json, curves.png)")
  if problems:
    fail(f"unfinished cells: {'; '.join(problems)}. Logs in {out}/runs/<env>/<cell>/log.txt; "
          "rerun the same command to resume them.", status=1)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
