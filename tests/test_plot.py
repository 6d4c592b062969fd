"""Plots: learning curves of several runs (seed bands), merged sweeps, and evaluation
trajectories in goal coordinates, as PNGs."""

import os
import subprocess
import sys

import numpy as np
import pytest

import envs
from experiments import plot
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


def _rows(success):
  """Metric rows from {seed: eval success per epoch}, epochs 100 steps apart."""
  return [{"env_steps": 100 * (e + 1), "seed": s, "eval_success": v, "eval_distance": 1 - v}
          for s, values in success.items() for e, v in enumerate(values)]


def test_per_seed_values_and_seeds_reached_from_hand_made_rows(tmp_path):
  from experiments.plot import SEEDS_REACHED, per_seed, plot_panels
  rows = _rows({1: [0.25, 0.5, 0.9], 2: [1.0, 0.0, 0.0], 3: [0.0, 0.0, 0.1]})
  steps, values = per_seed(rows, "eval_success")
  assert steps.tolist() == [100, 200, 300]
  assert values.tolist() == [[0.25, 0.5, 0.9], [1.0, 0.0, 0.0], [0.0, 0.0, 0.1]]
  # Seed 2 reached 0.9 at 100 and keeps counting; seed 1 at 300; seed 3 never.
  assert per_seed(rows, SEEDS_REACHED)[1].sum(0).tolist() == [1, 1, 2]
  path = plot_panels([("maze a", {"mle": rows, "sparse": rows[:3]}, "eval_success"),
                      ("maze b", {"sparse": rows}, SEEDS_REACHED)], str(tmp_path / "p.png"))
  assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_sweeps_merge_into_one_figure(tmp_path):
  """Two sweep folders' cells of one environment in the same panels; a reward met in both
  keeps both, the second named by its folder."""
  import json
  from experiments.plot import sweep_runs
  for sweep, cells in (("mural_sweep", ("mural",)), ("baselines", ("mle", "mural"))):
    for cell in cells:
      directory = tmp_path / sweep / "runs" / "zigzag_maze" / cell
      os.makedirs(directory)
      (directory / "metrics.jsonl").write_text(
          "".join(json.dumps(r) + "\n" for r in _rows({0: [0.1, 0.95], 1: [0.0, 0.2]})))
  runs = sweep_runs([str(tmp_path / "mural_sweep"), str(tmp_path / "baselines")], "zigzag_maze")
  assert sorted(runs) == ["mle (plain classifier)", "mural", "mural (baselines)"]
  result = subprocess.run(
      [sys.executable, "-m", "experiments.plot", "--env=zigzag_maze",
       f"--sweeps={tmp_path / 'mural_sweep'},{tmp_path / 'baselines'}",
       f"--out={tmp_path / 'merged.png'}"], cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "merged.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["sawyer_door", "sawyer_push", "sawyer_pick"])
def test_trajectories_in_goal_coordinates(tmp_path, name):
  """1, 2 and 3 goal coordinates (door angle, puck xy, object xyz): the episodes'
  coordinates and distances are read through the task's goal contract, and drawn."""
  env = envs.make(name)
  low, high = env.workspace
  x = np.random.default_rng(0).uniform(low, high, (2, 3, 6, env.classifier_input_size))
  g, distance = plot.goal_paths(x, env)  # (seeds, episodes, T + 1, D) -> (6, T + 1, K)
  k = np.asarray(env.goal).size
  coordinates = x.reshape(6, 6, -1)[..., env.goal_slice]
  np.testing.assert_allclose(g, coordinates, rtol=1e-6)
  np.testing.assert_allclose(distance, np.linalg.norm(coordinates - np.asarray(env.goal), axis=-1),
                             rtol=1e-5)
  assert g.shape == (6, 6, k)
  path = plot.plot_trajectories(x, str(tmp_path / "paths.png"), env, name)
  assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
