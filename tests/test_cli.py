"""The absl runner: bad input exits 2 with a clear message; a tiny run writes its outputs."""

import importlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

from experiments import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300, env=None):
  return subprocess.run([sys.executable, "-m", "experiments.train", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout,
                        env={**os.environ, **(env or {})})


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
    (["--config=experiments/configs/claw_valve.py:tiny",
      "--config.env_kwargs.example_fingers=down"],
     "example_fingers='down'; valid choices: retracted, any."),
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


def test_short_run_writes_metrics_tensorboard_wandb_and_plot(tmp_path):
  wandb_env = {f"WANDB_{d}_DIR": str(tmp_path / "wandb_home") for d in ("CACHE", "CONFIG", "DATA")}
  result = _run("--config=experiments/configs/zigzag_maze.py:tiny",
                "--config.total_env_steps=1000", "--config.epoch_length=500",
                f"--workdir={tmp_path}", "--wandb_project=mural-test", "--wandb_mode=offline",
                env={**wandb_env, "WANDB_SILENT": "true"})
  assert result.returncode == 0, result.stderr
  rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [r["env_steps"] for r in rows] == [500, 1000]
  assert all({"eval_success", "eval_distance", "eval_success_any", "eval_min_distance"} <= set(r)
             for r in rows)
  assert 0 < rows[0]["wall_s"] < rows[1]["wall_s"]
  assert os.listdir(tmp_path / "tensorboard")
  assert (tmp_path / "curves.png").stat().st_size > 1000
  assert (tmp_path / "wandb_id").exists() and list((tmp_path / "wandb").glob("offline-run-*"))
  last = result.stdout.strip().splitlines()[-1]
  assert last.startswith("result: zigzag_maze with the mural reward, seed 0: not solved (")


def _leaves(values, prefix=""):
  for name, value in values.items():
    if isinstance(value, dict) and value:
      yield from _leaves(value, f"{prefix}{name}.")
    else:
      yield prefix + name


def test_help_lists_every_field_without_loading_jax():
  from mural_jax.config import RunConfig
  result = subprocess.run([sys.executable, "-X", "importtime", "-m", "experiments.train",
                           "--helpfull"], cwd=ROOT, capture_output=True, text=True, timeout=120)
  loaded = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:")}
  assert "absl" in loaded and "mural_jax.config" in loaded  # the import log is read
  assert not loaded & {"jax", "flax", "brax", "mujoco", "optax", "numpy"}, loaded
  paper = RunConfig.for_task("zigzag_maze").to_dict()
  for field in _leaves({k: v for k, v in paper.items() if k not in ("env", "env_kwargs")}):
    value = paper
    for part in field.split("."):
      value = value[part]
    assert f"--config.{field} (default {value!r})" in result.stdout, field
  assert "--config.env (one of ant_maze, claw_valve," in result.stdout


def test_set_is_the_same_override_as_config_field():
  for args in (["--set=num_envs=abc"], ["--config.num_envs=abc"]):
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert "num_envs=abc: num_envs must be of type int, got 'abc'." in result.stderr


@pytest.mark.parametrize("text, current, expected", [
    ("mle", "mural", "mle"), ("1e-3", "x", "1e-3"),        # text for strings
    ("true", False, True), ("False", True, False), ("1", False, True),
    ("2", 0.5, 2.0), ("0.25", 1.0, 0.25), ("3", 1, 3),   # an int given for a float is a float
    ("64,64", (256, 256), (64, 64)), ("(8,)", (256,), (8,)), ("[1, 2]", (3,), [1, 2]),
    ("maybe", False, "maybe"),                           # left for the config to refuse
])
def test_override_values_are_read_as_the_fields_type(text, current, expected):
  config = {"f": current}
  cli.apply_override(config, f"f={text}")
  assert config["f"] == expected and type(config["f"]) is type(expected)


def test_importing_a_command_defines_no_flags():
  names = sorted(p.stem for p in pathlib.Path(ROOT, "experiments").glob("*.py")
                 if p.stem != "__init__")
  code = ("from absl import flags; import importlib; "
          f"[importlib.import_module('experiments.' + n) for n in {names!r}]; "
          "print(sorted(m for m in flags.FLAGS.flags_by_module_dict() if 'experiments' in m))")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "[]"
  assert len(names) >= 15


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
