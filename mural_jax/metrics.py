"""Per-epoch metrics: JSON lines, TensorBoard events and a one-line progress display."""

import json
import os
import time

import numpy as np

SCALAR_TYPES = (int, float)


def scalars(metrics: dict) -> dict:
  """The scalar entries of `metrics` (drops trajectories and other arrays)."""
  return {k: v for k, v in metrics.items() if isinstance(v, SCALAR_TYPES)}


class MetricsWriter:
  """Appends every epoch's scalars to `metrics.jsonl` and TensorBoard in `workdir`."""

  def __init__(self, workdir: str):
    from tensorboardX import SummaryWriter  # imported here: only runs with a workdir need it
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._file = open(self.path, "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, metrics: dict) -> None:
    row = scalars(metrics)
    self._file.write(json.dumps(row) + "\n")
    self._file.flush()
    for name, value in row.items():
      if name != "env_steps":
        self._tb.add_scalar(name, value, global_step=row["env_steps"])

  def close(self) -> None:
    self._file.close()
    self._tb.close()


def read_jsonl(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _clock(seconds: float) -> str:
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
  """Formats `steps, steps/s, ETA, eval success and distance` lines for a run."""

  def __init__(self, total_env_steps: int):
    self.total = total_env_steps
    self.start = time.perf_counter()
    self._last = (self.start, 0)

  def line(self, metrics: dict) -> str:
    now, steps = time.perf_counter(), metrics["env_steps"]
    rate = (steps - self._last[1]) / max(now - self._last[0], 1e-9)
    self._last = (now, steps)
    eta = (self.total - steps) / rate if rate > 0 else float("nan")
    return (f"steps {steps:>9,d}/{self.total:,d} | {rate:8,.0f} steps/s | "
            f"eta {_clock(eta) if np.isfinite(eta) else '?'} | "
            f"eval success {metrics['eval_success']:.2f} | "
            f"distance {metrics['eval_distance']:.2f}")

  def elapsed(self) -> str:
    return _clock(time.perf_counter() - self.start)
