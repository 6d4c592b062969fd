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
