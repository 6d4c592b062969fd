"""Per-epoch metrics: JSON lines, TensorBoard events (and, optionally, Weights & Biases),
evaluation trajectories and a one-line progress display. Multi-seed metrics (leading
seed axis) become one row per seed; TensorBoard and W&B get the mean over seeds and
each seed's curve."""

import dataclasses
import json
import math
import os
import secrets
import statistics
import time
from typing import Optional

import numpy as np

SCALAR_TYPES = (int, float)
SOLVED = 0.9          # a seed is solved when its final and last-10% mean eval success
LAST_FRACTION = 0.1   # are at least SOLVED (the last 10% of epochs: at least one)
TRAJECTORIES = "eval_trajectories.npz"
WANDB_ID = "wandb_id"  # the workdir's W&B run id: a resumed workdir continues its run
WANDB_MODES = ("online", "offline", "disabled")


@dataclasses.dataclass(frozen=True)
class WandB:
  """Weights & Biases logging for `MetricsWriter` (off unless given): the W&B project,
  entity, run name and group. `mode="offline"` writes the run under the workdir's
  `wandb/` for a later `wandb sync` (clusters without network)."""
  project: str
  entity: Optional[str] = None
  mode: str = "online"
  name: Optional[str] = None
  group: Optional[str] = None

  def __post_init__(self):
    if self.mode not in WANDB_MODES:
      raise ValueError(f"W&B mode {self.mode!r} is not one of {', '.join(WANDB_MODES)}.")


def scalars(metrics: dict) -> dict:
  """The scalar entries of `metrics` (drops trajectories and other arrays)."""
  return {k: v for k, v in metrics.items() if isinstance(v, SCALAR_TYPES)}


def seed_rows(metrics: dict, seeds) -> list[dict]:
  """One row of scalars per seed, each with its `seed`; `metrics` values are
  scalars (shared by every seed, or one seed's) or arrays with a leading seed axis."""
  shared = scalars(metrics)
  if len(seeds) == 1:
    return [{**shared, "seed": int(seeds[0])}]
  per_seed = {k: v for k, v in metrics.items() if np.ndim(v) == 1}
  return [{**shared, **{k: v[i].item() for k, v in per_seed.items()}, "seed": int(s)}
          for i, s in enumerate(seeds)]


def _keep_epochs(path: str, last_epoch: int) -> None:
  """Rewrites `path` with the complete rows of epochs <= last_epoch (a resume drops
  the rows written after its checkpoint, and a row cut short by a crash)."""
  if not os.path.exists(path):
    return
  kept = []
  with open(path) as f:
    for line in f:
      try:
        if json.loads(line)["epoch"] <= last_epoch:
          kept.append(line if line.endswith("\n") else line + "\n")
      except (ValueError, KeyError):
        continue
  with open(path + ".tmp", "w") as f:
    f.writelines(kept)
  os.replace(path + ".tmp", path)


def epoch_scalars(rows: list[dict]) -> list[tuple[str, float]]:
  """The (name, value) pairs TensorBoard and W&B log for one epoch's rows (one per
  seed): each metric's mean over seeds as `name`, and with several seeds each seed's
  value as `seed_<k>/<name>`; `env_steps` is the step, not a scalar."""
  pairs = []
  for name in rows[0]:
    if name in ("env_steps", "seed"):
      continue
    pairs.append((name, np.mean([r[name] for r in rows])))
    if len(rows) > 1:
      pairs.extend((f"seed_{r['seed']}/{name}", r[name]) for r in rows)
  return pairs


def _wandb_run(settings: WandB, workdir: str, config: Optional[dict]):
  """Starts (or, with the id in `workdir/wandb_id`, resumes) the workdir's W&B run."""
  try:
    import wandb  # imported here: an optional dependency
  except ImportError as e:
    raise ImportError("W&B logging needs the wandb package: pip install -e .[wandb]") from e
  path = os.path.join(workdir, WANDB_ID)
  if not os.path.exists(path):
    with open(path, "w") as f:
      f.write(secrets.token_hex(8) + "\n")
  with open(path) as f:
    run_id = f.read().strip()
  return wandb.init(project=settings.project, entity=settings.entity, mode=settings.mode,
                    name=settings.name, group=settings.group, dir=workdir, config=config,
                    resume="allow", id=run_id)


class MetricsWriter:
  """Writes every epoch's metrics to `workdir`: `metrics.jsonl`, TensorBoard, the
  latest evaluation trajectories and, with `wandb`, the same scalars as TensorBoard to
  a W&B run (`config`: its run config). Resuming after `start_epoch` epochs first
  drops what was written after them; W&B cannot take steps back, but the resume replays
  those epochs with the same values (`wall_s` aside)."""

  def __init__(self, workdir: str, seeds, start_epoch: int = 0, start_env_steps: int = 0,
               wandb: Optional[WandB] = None, config: Optional[dict] = None):
    from tensorboardX import SummaryWriter  # imported here: only runs with a workdir need it
    self.workdir = workdir
    self.seeds = list(seeds)
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._wandb = _wandb_run(wandb, workdir, config) if wandb else None
    _keep_epochs(self.path, start_epoch)
    self._file = open(self.path, "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=start_env_steps + 1 if start_epoch else None)

  def write(self, metrics: dict) -> list[dict]:
    """Writes one epoch; returns its rows (one per seed)."""
    rows = seed_rows(metrics, self.seeds)
    self._file.writelines(json.dumps(row) + "\n" for row in rows)
    self._file.flush()
    step, pairs = rows[0]["env_steps"], epoch_scalars(rows)
    for name, value in pairs:
      self._tb.add_scalar(name, value, global_step=step)
    if self._wandb is not None:
      self._wandb.log(dict(pairs), step=step)
    if "eval_trajectories" in metrics:
      tmp = os.path.join(self.workdir, "tmp_" + TRAJECTORIES)
      np.savez(tmp, trajectories=metrics["eval_trajectories"], seeds=self.seeds,
               epoch=rows[0]["epoch"])
      os.replace(tmp, os.path.join(self.workdir, TRAJECTORIES))
    return rows

  def close(self) -> None:
    self._file.close()
    self._tb.close()
    if self._wandb is not None:
      self._wandb.finish()


def read_jsonl(path: str) -> list[dict]:
  """The rows of a metrics.jsonl, skipping a line cut short by a kill; [] if absent."""
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except ValueError:
        continue
  return rows


def clock(seconds: float) -> str:
  """h:mm:ss."""
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _summary(rows: list[dict], name: str, digits: int = 2) -> str:
  """`mean` of one seed, `mean ± std` over several."""
  values = [r[name] for r in rows]
  spread = f" ± {np.std(values):.{digits}f}" if len(values) > 1 else ""
  return f"{np.mean(values):.{digits}f}{spread}"


class Progress:
  """Formats `steps, steps/s, ETA, eval success and distance` lines for a run."""

  def __init__(self, total_env_steps: int, start_env_steps: int = 0):
    self.total = total_env_steps
    self.start = time.perf_counter()
    self._last = (self.start, start_env_steps)

  def line(self, rows: list[dict]) -> str:
    """`rows`: one epoch's rows, one per seed."""
    now, steps = time.perf_counter(), rows[0]["env_steps"]
    rate = (steps - self._last[1]) / max(now - self._last[0], 1e-9)
    self._last = (now, steps)
    eta = (self.total - steps) / rate if rate > 0 else float("nan")
    return (f"steps {steps:>9,d}/{self.total:,d} | {rate:8,.0f} steps/s | "
            f"eta {clock(eta) if np.isfinite(eta) else '?'} | "
            f"eval success {_summary(rows, 'eval_success')} | "
            f"distance {_summary(rows, 'eval_distance')}")

  def summary(self, rows: list[dict]) -> str:
    """Final eval success and distance (mean ± std over seeds)."""
    return (f"eval success {_summary(rows, 'eval_success')}, distance to goal "
            f"{_summary(rows, 'eval_distance')}")

  def elapsed(self) -> str:
    return clock(time.perf_counter() - self.start)


def last_window(num_epochs: int) -> int:
  """Epochs in the solved rule's window: the last 10 % of `num_epochs`, at least one."""
  return math.ceil(LAST_FRACTION * num_epochs)


def seed_summary(rows: list[dict], num_epochs: Optional[int] = None) -> dict:
  """One seed's result from its per-epoch metric rows (any order, at least one).

  The solved rule's window is the last 10 % of `num_epochs` (default: of the rows), so
  a run that stopped once solved is judged over the window its full budget ends with.
  """
  rows = sorted({r["epoch"]: r for r in rows}.values(), key=lambda r: r["epoch"])
  last = rows[-1]
  window = last_window(num_epochs or len(rows))
  tail = rows[-window:]
  final = last["eval_success"]
  tail_mean = statistics.fmean(r["eval_success"] for r in tail)
  reached = next((r for r in rows if r["eval_success"] >= SOLVED), None)
  return {
      "final_success": final,
      "last10_success": tail_mean,
      "first_success_steps": next((r["env_steps"] for r in rows if r["eval_success"] > 0),
                                  None),
      # The first epoch at the solved level: its env steps and the run's wall seconds
      # there (compilation included; None without `wall_s` rows): the time to solve.
      "reached_steps": reached["env_steps"] if reached else None,
      "reached_wall_s": reached.get("wall_s") if reached else None,
      "closest_approach": min(r.get("eval_min_distance", r["eval_distance"]) for r in rows),
      "final_success_any": last.get("eval_success_any"),
      "solved": len(tail) == window and final >= SOLVED and tail_mean >= SOLVED,
      "env_steps": last["env_steps"],
  }
