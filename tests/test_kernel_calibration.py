"""The kernel threshold calibrated to the data (meta_nml.kernel_share), and its readings."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs
from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.classifiers import common, meta_nml
from mural_jax.config import RunConfig

SETTINGS = meta_nml.Settings(hidden=(16, 16), pool_size=128, points_per_task=32,
                             query_weight=0.25, kernel_share=0.1)


def _brute_force_share(pool_x, threshold, settings, draws):
  """Median over the pool's replay half of the mean over context draws of
  w_q / (w_q + sum of the draw's weights, the query itself left out), in NumPy."""
  x, draws = np.asarray(pool_x, np.float64), np.asarray(draws)
  wq = settings.inner_query_weight
  shares = []
  for i in range(len(x) // 2):
    per_draw = []
    for idx in draws:
      others = idx[idx != i]
      w = np.exp(-2.3 * np.linalg.norm(x[others] - x[i], axis=-1) / threshold)
      per_draw.append(wq / (wq + w.sum()))
    shares.append(np.mean(per_draw))
  return np.median(shares)


def _pool(key, n=64):
  k_neg, k_pos, k_pool = jax.random.split(key, 3)
  negatives = jax.random.normal(k_neg, (n, 3)) * jnp.asarray([1.0, 0.3, 0.05])
  positives = 2.0 + 0.1 * jax.random.normal(k_pos, (20, 3))
  return common.balanced_batch(k_pool, positives, negatives)


def test_bisection_finds_the_brute_force_threshold():
  pool_x, _ = _pool(jax.random.key(0))
  draws = meta_nml.share_draws(jax.random.key(1), SETTINGS, draws=8)
  found = float(meta_nml.calibrate(pool_x, SETTINGS, draws))
  grid = np.geomspace(1e-3, 1e2, 600)
  shares = np.array([_brute_force_share(pool_x, t, SETTINGS, draws) for t in grid])
  assert np.all(np.diff(shares) <= 1e-12)              # the share falls as the threshold grows
  i = np.searchsorted(-shares, -SETTINGS.kernel_share)  # first grid threshold below 0.1
  assert grid[i - 1] <= found <= grid[i]
  assert _brute_force_share(pool_x, found, SETTINGS, draws) == pytest.approx(0.1, abs=1e-4)
  assert float(meta_nml.query_share(pool_x, SETTINGS, found, draws)) == pytest.approx(
      0.1, abs=1e-4)


def test_identical_points_cannot_reach_the_share_and_the_run_says_so():
  pool_x = jnp.ones((128, 3))
  draws = meta_nml.share_draws(jax.random.key(1), SETTINGS)
  t = meta_nml.calibrate(pool_x, SETTINGS, draws)
  reached = float(meta_nml.query_share(pool_x, SETTINGS, t, draws))
  floor = SETTINGS.inner_query_weight / (SETTINGS.inner_query_weight + SETTINGS.context_size)
  assert np.isfinite(float(t)) and floor <= reached < 0.1 / 2
  config = zigzag_maze.get_config("tiny")
  config.meta_nml.kernel_share = 0.1
  trainer = training.Trainer(config)
  with pytest.raises(training.Uncalibrated, match=r"kernel_share=0.1 on zigzag_maze.*0.0"):
    trainer.check_calibration({"epoch": 1, "meta_nml_query_share": reached})
  trainer.check_calibration({"epoch": 1, "meta_nml_query_share": 0.1})   # reached: no error


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5, True])
def test_kernel_share_outside_the_range_is_refused(share):
  config = zigzag_maze.get_config("tiny")
  config.meta_nml.kernel_share = share
  with pytest.raises(ValueError, match=r"meta_nml.kernel_share must lie in \(0, 1\)"):
    RunConfig.of(config)


def test_first_epoch_sets_the_threshold_later_epochs_keep_it_and_log_it():
  config = zigzag_maze.get_config("tiny")
  config.meta_nml.kernel_share = 0.2
  trainer = training.Trainer(config)
  state = trainer.init(jax.random.key(0))
  assert float(state.reward.kernel_threshold) == config.meta_nml.kernel_threshold
  state, first = trainer.run_epoch(state)
  settings = trainer.config.meta_nml
  assert float(first["meta_nml_query_share"]) == pytest.approx(0.2, abs=1e-3)
  expected = first["meta_nml_kernel_threshold"]
  assert float(state.reward.kernel_threshold) == pytest.approx(float(expected), rel=1e-5)
  draws = meta_nml.share_draws(jax.random.key(3), settings)
  assert float(meta_nml.query_share(state.reward.pool_x, settings, expected, draws)) == (
      pytest.approx(0.2, abs=0.03))   # other draws, nearly the same share
  state, second = trainer.run_epoch(state)
  assert float(state.reward.kernel_threshold) == pytest.approx(float(expected), rel=1e-6)
  assert float(second["meta_nml_query_share"]) != pytest.approx(0.2, abs=1e-6)  # a new pool
  for name in ("reward_visited", "reward_novel", "reward_goal"):
    assert 0.0 <= float(second[name]) <= 1.0


def test_zigzag_warm_up_threshold_is_near_the_references():
  """The cpu preset's first pool from random-action warm-up on the zigzag: at a 10 % share
  the threshold comes out near the reference's 0.5 (issue reading: 0.46)."""
  config = RunConfig.of(zigzag_maze.get_config("cpu"))
  settings = meta_nml.Settings(**{**config.meta_nml.__dict__, "kernel_share": 0.1})
  env = envs.make("zigzag_maze")
  train_env = envs.wrap_for_training(env, config.num_envs, env.episode_length)

  def step(state, key):
    action = jax.random.uniform(key, (config.num_envs, env.action_size), minval=-1, maxval=1)
    state = train_env.step(state, action)
    return state, env.classifier_input(state.info["final_obs"])
  keys = jax.random.split(jax.random.key(0), config.warmup_steps // config.num_envs + 1)
  _, visited = jax.lax.scan(step, train_env.reset(keys[0]), keys[1:])
  visited = visited.reshape(-1, env.classifier_input_size)
  positives = env.success_examples(jax.random.key(1), config.num_success_examples)
  k_neg, k_pool = jax.random.split(jax.random.key(2))
  negatives = visited[jax.random.choice(k_neg, len(visited), (settings.pool_size // 2,),
                                        replace=False)]
  pool_x, _ = common.balanced_batch(k_pool, positives, negatives)
  threshold = float(meta_nml.calibrate(pool_x, settings,
                                       meta_nml.share_draws(jax.random.key(3), settings)))
  assert 0.35 <= threshold <= 0.65, threshold


@pytest.mark.slow
def test_meta_nml_explores_on_the_zigzag_warm_up():
  """The probe study on the zigzag: visited low, novel higher, goal high (minutes)."""
  from experiments import nml_probes
  rows = {r["setting"]: r for r in nml_probes.probe("zigzag_maze", jax.random.key(0))}
  for row in rows.values():
    assert row["reward_visited"] <= 0.2 and row["reward_novel"] >= 0.3, row
    assert row["reward_goal"] >= 0.9, row
  assert rows["calibrated"]["query_share"] == pytest.approx(0.1, abs=1e-3)
  assert rows["calibrated + examples"]["num_positive_tasks"] == 64
