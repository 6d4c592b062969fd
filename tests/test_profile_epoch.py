"""profile_epoch on the tiny preset: every part of an epoch, with the epoch's counts."""

import pytest

from experiments import profile_epoch
from experiments.configs import zigzag_maze


def test_tiny_mural_profile():
  config = zigzag_maze.get_config("tiny")
  result = profile_epoch.profile(config, repeats=1)
  parts, info = result["parts"], result["info"]
  # tiny: 100 steps per epoch in 2 environments, 0.5 updates per step: 50 of each.
  assert {name: row["count"] for name, row in parts.items()} == {
      "env steps": 50, "SAC updates": 50, "reward queries": 50, "reward-source training": 1,
      "evaluation": 1, profile_epoch.OVERHEAD: 1}
  assert all(row["seconds"] > 0 for name, row in parts.items() if name != profile_epoch.OVERHEAD)
  assert sum(row["seconds"] for row in parts.values()) == pytest.approx(info["epoch_seconds"])
  assert info["device"].startswith("cpu") and info["preset"] == "tiny"
  table = profile_epoch.table(result)
  assert all(name in table for name in parts) and "whole epoch" in table


def test_collect_relabelling_queries_once_per_step_and_one_seed_only():
  config = zigzag_maze.get_config("tiny")
  config.reward, config.relabel = "l2", "collect"
  parts = profile_epoch.profile(config, repeats=1)["parts"]
  assert parts["reward queries"]["count"] == 50 and "reward-source training" not in parts
  config.num_seeds = 2
  with pytest.raises(ValueError, match="num_seeds=2"):
    profile_epoch.profile(config)


def test_meta_training_split_into_a_meta_steps_parts():
  config = zigzag_maze.get_config("tiny")
  result = profile_epoch.profile(config, repeats=1)
  meta = result["meta_training"]
  steps = config.meta_nml.num_tasks * 2 // config.meta_nml.meta_batch   # tiny: 16 / 4
  assert {n: r["count"] for n, r in meta.items() if n != "pass - (gradient + Adam)"} == {
      "context draws": steps, "inner steps": steps, "meta-loss": steps,
      "meta-gradient": steps, "Adam update": steps, "pass": 1}
  assert meta["pass - (gradient + Adam)"]["seconds"] == pytest.approx(
      meta["pass"]["seconds"] - meta["meta-gradient"]["seconds"] - meta["Adam update"]["seconds"])
  assert "meta-training, one pass" in profile_epoch.table(result)
  config.reward = "mle"
  assert "meta_training" not in profile_epoch.profile(config, repeats=1)
