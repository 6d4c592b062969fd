"""Plots: learning curves of several runs (seed bands) and maze trajectories, as PNGs."""

import os
import subprocess
import sys

from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.metrics import MetricsWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_plot_script_draws_curves_and_trajectories(tmp_path):
  config = zigzag_maze.get_config("tiny")
  config.total_env_steps, config.num_seeds = 200, 2
  trainer = training.Trainer(config)
  for name in ("run_a", "run_b"):
    workdir = tmp_path / name
    os.makedirs(workdir)
    (workdir / "config.json").write_text(config.to_json_best_effort())
    writer = MetricsWriter(str(workdir), trainer.seeds)
    training.run(trainer, callback=lambda m, s: writer.write(m))
    writer.close()
  result = subprocess.run(
      [sys.executable, "-m", "experiments.plot", str(tmp_path / "run_a"), str(tmp_path / "run_b"),
       f"--out={tmp_path / 'curves.png'}", f"--trajectories={tmp_path / 'paths.png'}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  for name in ("curves.png", "paths.png"):
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / name).stat().st_size > 5000


def test_panels_from_hand_made_rows(tmp_path):
  from experiments.plot import _over_seeds, plot_panels
  rows = [{"env_steps": 100 * e, "seed": s, "eval_success": e * s / 4} for e in (1, 2)
          for s in (1, 2, 3)]
  steps, mean, low, high = _over_seeds(rows, "eval_success")
  assert steps.tolist() == [100, 200]
  assert mean.tolist() == [0.5, 1.0] and low.tolist() == [0.25, 0.5] and high.tolist() == [0.75, 1.5]
  path = plot_panels([("maze a", {"mle": rows, "sparse": rows[:3]}, "eval_success"),
                      ("maze b", {"sparse": rows}, "eval_success")], str(tmp_path / "p.png"))
  assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
