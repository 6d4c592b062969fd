"""The absl runner: bad input exits 2 with a clear message; a tiny run writes its outputs."""

import importlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "experiments.train", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--config.reward=vicee"], "Unknown reward 'vicee'; valid choices: cnml, count, count_bonus, l2, "
                                "mle, mural, rnd, sparse, vice."),
    (["--config.env=maze"], "Unknown environment 'maze'; valid choices:"),
    (["--config.total_env_steps=-5"], "total_env_steps must be a positive integer, got -5"),
    (["--config.num_envs=abc"], "--config.num_envs=abc"),
    (["--config=experiments/configs/zigzag_maze.py:fast"], "valid choices: paper, gpu, cpu, tiny"),
    (["--config.meta_nml.nonexistent=1"], "--config.meta_nml.nonexistent=1: Unknown config "
                                          "field 'meta_nml.nonexistent'; valid fields of "
                                          "meta_nml: hidden, inner_lr,"),
    (["--config.sac.hidden.x=1"], "Unknown config field 'sac.hidden.x': 'sac.hidden' has no "
                                  "fields."),
    (["--config=experiments/configs/nonexistent.py"],
     "--config file 'experiments/configs/nonexistent.py' does not exist; valid: "
     "experiments/configs/ant_maze.py, experiments/configs/claw_valve.py,"),
])
def test_bad_input_exits_2_with_the_valid_choices(args, message):
  result = _run(*args)
  assert result.returncode == 2, result.stderr
  assert message in result.stderr
  assert "Traceback" not in result.stderr


def test_workdir_that_is_a_file(tmp_path):
  path = tmp_path / "file"
  path.write_text("")
  result = _run(f"--workdir={path}")
  assert result.returncode == 2 and "is not a directory" in result.stderr


def test_short_run_writes_metrics_tensorboard_and_plot(tmp_path):
  result = _run("--config=experiments/configs/zigzag_maze.py:tiny",
                "--config.total_env_steps=1000", "--config.epoch_length=500",
                f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [r["env_steps"] for r in rows] == [500, 1000]
  assert all({"eval_success", "eval_distance", "eval_success_any", "eval_min_distance"} <= set(r)
             for r in rows)
  assert 0 < rows[0]["wall_s"] < rows[1]["wall_s"]
  assert os.listdir(tmp_path / "tensorboard")
  assert (tmp_path / "curves.png").stat().st_size > 1000
  last = result.stdout.strip().splitlines()[-1]
  assert last.startswith("result: zigzag_maze with the mural reward, seed 0: not solved (")


def test_helpfull_documents_every_config_field():
  from experiments.configs import task_config
  text = _run("--helpfull").stdout
  for field in ("reward", "sac.batch_size", "meta_nml.inner_lr", "cnml.grid_resolution",
                "num_seeds", "mesh.data"):
    assert f"--config.{field} (default" in text, field
  assert text.count("--config.") >= len(task_config("zigzag_maze").to_dict())


@pytest.mark.parametrize("name", sorted(
    p.stem for p in pathlib.Path(ROOT, "experiments", "configs").glob("*.py")
    if p.stem != "__init__"))
def test_every_shipped_config_and_preset_is_valid(name):
  from mural_jax import tasks
  from mural_jax.config import RunConfig
  module = importlib.import_module(f"experiments.configs.{name}")
  for preset in tasks.PRESETS:
    config = module.get_config(preset)
    assert config.env == name
    assert RunConfig.of(config).to_dict() == config.to_dict()
