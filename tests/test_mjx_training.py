"""Every MJX task trains end to end under its own config (tiny preset, MURAL reward)."""

import importlib

import numpy as np
import pytest

import envs
from mural_jax import training

MJX_TASKS = ("sawyer_push", "sawyer_pick", "sawyer_door", "pusher_2d", "claw_valve", "ant_maze")


@pytest.mark.parametrize("name", MJX_TASKS)
def test_tiny_mural_run_is_finite(name):
  config = importlib.import_module(f"experiments.configs.{name}").get_config("tiny")
  config.total_env_steps = 2 * config.epoch_length   # a warm-up epoch, then a learning one
  _, history = training.train(config)
  assert [int(m["env_steps"]) for m in history] == [config.epoch_length, 2 * config.epoch_length]
  last = history[-1]
  for key in ("critic_loss", "actor_loss", "meta_loss", "batch_reward", "eval_distance"):
    assert np.isfinite(last[key]), (key, last[key])
  paths = np.asarray(last["eval_trajectories"])  # (episodes, T + 1, classifier input)
  env = envs.make(name)
  assert paths.shape == (config.eval_episodes, env.episode_length + 1, env.classifier_input_size)
  assert np.all(np.isfinite(paths))
