"""Reward sources as the trainer sees them: mural and cnml wiring, count grid limits."""

import pytest

import jax
import jax.numpy as jnp

import envs
from experiments.configs import zigzag_maze
from mural_jax import bonuses, rewards, training
from mural_jax.classifiers import cnml, meta_nml, mle
from mural_jax.config import RunConfig


def _config(reward, **meta):
  c = zigzag_maze.get_config("tiny")
  c.reward = reward
  c.meta_nml.update(hidden=(16, 16), inner_lr=1.0, pool_size=64, num_tasks=8,
                    points_per_task=16, meta_batch=4, first_passes=3, later_passes=1, **meta)
  c.cnml.update(hidden=(16, 16), steps=100, data_size=32, l2=0.1, grid_resolution=8)
  return c


@pytest.mark.parametrize("env,resolution,cells,largest", [
    ("zigzag_maze", 5000, 25000000, 4096), ("sawyer_pick", 16, 16 ** 7, 10)])
@pytest.mark.parametrize("reward", ["count", "count_bonus"])
def test_count_rewards_reject_a_grid_too_large_naming_the_largest(env, resolution, cells,
                                                                  largest, reward):
  config = _config(reward)
  config.env = env
  config.cnml.grid_resolution = resolution
  with pytest.raises(ValueError, match=rf"grid_resolution={resolution} gives {cells} cells for "
                     rf"{env}'s .*valid: 1 <= cnml.grid_resolution <= {largest} "):
    rewards.make(reward, RunConfig.of(config), envs.make(env))


def test_max_grid_resolution_is_the_largest_within_the_cell_budget():
  assert rewards.max_grid_resolution(1) == 2 ** 24
  for dims in range(2, 16):
    r = 1
    while (r + 1) ** dims <= 2 ** 24:
      r += 1
    assert rewards.max_grid_resolution(dims) == r


@pytest.mark.parametrize("cls,section", [(mle.Settings, "classifier"),
                                         (meta_nml.Settings, "meta_nml"),
                                         (cnml.Settings, "cnml"),
                                         (bonuses.Settings, "exploration")])
def test_a_config_section_types_as_its_settings(cls, section):
  """A ConfigDict section builds its Settings field by field; a typed config passes unchanged."""
  config = _config("mural")
  typed = RunConfig.of(config)
  settings = getattr(typed, section)
  assert isinstance(settings, cls)
  expected = {k: tuple(v) if isinstance(v, (list, tuple)) else v
              for k, v in config[section].to_dict().items()}
  assert vars(settings) == expected
  assert RunConfig.of(typed) is typed


def test_mural_follows_the_meta_training_schedule_in_the_trainer():
  """10-then-1 passes (here 3-then-1) per epoch, one compiled epoch, rewards in (0, 1)."""
  config = _config("mural")
  trainer = training.Trainer(config)
  state = trainer.init(jax.random.key(0))
  steps_per_pass = RunConfig.of(config).meta_nml.steps_per_pass
  meta_steps = []
  for _ in range(3):
    state, metrics = trainer.run_epoch(state)
    meta_steps.append(int(metrics["meta_steps"]))
  assert meta_steps == [3 * steps_per_pass, steps_per_pass, steps_per_pass]
  assert trainer.trace_count == 1
  x = state.replay.data["next_x"][:64]
  r = trainer.source.rewards(state.reward, x, jax.random.key(1))
  assert r.shape == (64,) and bool(jnp.all((r > 0) & (r < 1)))


@pytest.mark.parametrize("relabel", ["batch", "collect"])
def test_mural_and_cnml_rank_success_above_visited_states(relabel):
  for reward in ("mural", "cnml"):
    config = _config(reward)
    config.relabel = relabel
    config.total_env_steps = 200
    trainer = training.Trainer(config)
    state, _ = trainer.run_epoch(trainer.init(jax.random.key(2)))
    visited = state.replay.data["next_x"][:100]
    at_goal = trainer.source.rewards(state.reward, state.positives[:32], jax.random.key(3))
    at_visited = trainer.source.rewards(state.reward, visited, jax.random.key(3))
    assert float(at_goal.mean()) > float(at_visited.mean()) + 0.2, (reward, relabel)
    if relabel == "collect":  # stored at collection: rewards of the untrained classifier
      stored = state.replay.data["reward"][:100]
      assert bool(jnp.all((stored > 0) & (stored < 1)))
