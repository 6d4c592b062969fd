"""The baselines as the paper ran them: VICE, exact buffer counts, count bonus, RND, l2.

References are independent: NumPy histograms and formulas, straight-line
distances, and a hand-written forward pass.
"""

import numpy as np
import pytest
from scipy.stats import spearmanr

import jax
import jax.numpy as jnp

import envs
from experiments.configs import zigzag_maze
from mural_jax.config import RunConfig
from mural_jax import bonuses, rewards, training
from mural_jax.classifiers import common, mle

GOAL = np.array([3.0, 3.0])


def _config(reward):
  c = zigzag_maze.get_config("tiny")
  c.reward = reward
  c.cnml.grid_resolution = 8
  return c


def _buffer(rng, capacity=500, filled=300):
  """A replay's next_x (capacity, 2): `filled` uniform states, then stale slots at one point."""
  x = np.full((capacity, 2), -3.9, np.float32)
  x[:filled] = rng.uniform(-4, 4, (filled, 2))
  return x, np.arange(capacity) < filled


def _numpy_counts(x):
  """Visits per cell of the 8 x 8 grid over [-4, 4]^2, flattened x-major."""
  h, _ = np.histogramdd(x, bins=8, range=[(-4, 4), (-4, 4)])
  return h.reshape(-1)


def _cell(x):
  return np.minimum(((np.asarray(x) + 4) // 1.0).astype(int), 7) @ np.array([8, 1])


def test_count_reward_counts_the_whole_buffer_and_as_many_positives():
  env = envs.make("zigzag_maze")
  source = rewards.make("count", RunConfig.of(_config("count")), env)
  assert source.whole_buffer
  rng = np.random.default_rng(0)
  x, valid = _buffer(rng)
  positives = env.success_examples(jax.random.key(0), 150)
  data = rewards.TrainData(positives=positives, negatives=jnp.asarray(x), epoch=jnp.int32(0),
                           valid=jnp.asarray(valid))
  n1, n0 = source.train(source.init(jax.random.key(1), positives), data, jax.random.key(2))[0]
  np.testing.assert_array_equal(n0, _numpy_counts(x[valid]))      # stale slots not counted
  assert float(n1.sum()) == valid.sum()                            # as many positives
  assert set(np.flatnonzero(np.asarray(n1))) <= set(_cell(positives))
  queries = rng.uniform(-4, 4, (200, 2)).astype(np.float32)
  queries[:5] = np.asarray(positives[:5])
  got = source.rewards((n1, n0), jnp.asarray(queries), None)
  n1_np, n0_np = np.asarray(n1)[_cell(queries)], _numpy_counts(x[valid])[_cell(queries)]
  np.testing.assert_allclose(got, (n1_np + 1) / (n1_np + n0_np + 2), rtol=1e-6)


def test_count_bonus_is_sparse_plus_beta_over_root_visits():
  env = envs.make("zigzag_maze")
  config = _config("count_bonus")
  config.exploration.count_beta = 0.7
  source = rewards.make("count_bonus", RunConfig.of(config), env)
  rng = np.random.default_rng(1)
  x, valid = _buffer(rng)
  data = rewards.TrainData(positives=env.success_examples(jax.random.key(0), 10),
                           negatives=jnp.asarray(x), epoch=jnp.int32(0), valid=jnp.asarray(valid))
  n0, _ = source.train(source.init(jax.random.key(1), data.positives), data, None)
  queries = np.concatenate([rng.uniform(-4, 4, (100, 2)), [[3.0, 3.0], [3.2, 2.9]]]).astype(
      np.float32)
  visits = _numpy_counts(x[valid])[_cell(queries)]
  expected = (np.linalg.norm(queries - GOAL, axis=-1) <= 0.5) + 0.7 / np.sqrt(
      np.maximum(visits, 1))
  np.testing.assert_allclose(source.rewards(n0, jnp.asarray(queries), None), expected, rtol=1e-6)


@pytest.mark.parametrize("reward", ["count", "count_bonus"])
def test_trainer_counts_every_filled_slot(reward):
  trainer = training.Trainer(_config(reward))
  state, _ = trainer.run_epoch(trainer.init(jax.random.key(0)))
  n0 = state.reward[1] if reward == "count" else state.reward
  assert int(state.replay.size) == 100 and float(n0.sum()) == 100.0


def test_rnd_error_falls_on_visited_states_and_stays_high_elsewhere():
  """Visited: the zigzag's left corridor; unvisited: right of the second wall."""
  rng = np.random.default_rng(0)
  left = lambda n: np.stack([rng.uniform(-4, -1.5, n), rng.uniform(-4, 2, n)], -1)
  right = np.stack([rng.uniform(1.5, 4, 500), rng.uniform(-2, 4, 500)], -1)
  rnd = bonuses.RND(bonuses.Settings(), 2)
  state = rnd.init(jax.random.key(0))
  train = jax.jit(rnd.train)
  held_out = jnp.asarray(left(500), jnp.float32)
  start = float(rnd.errors(state, held_out).mean())
  for _ in range(10):
    state, _ = train(state, jnp.asarray(left(rnd.num_negatives), jnp.float32))
  visited, unvisited = (float(rnd.bonus(state, jnp.asarray(v, jnp.float32)).mean())
                        for v in (held_out, right))
  assert float(rnd.errors(state, held_out).mean()) < 0.2 * start
  assert unvisited > 5 * visited             # measured: 16x


def test_rnd_reward_is_sparse_plus_scaled_bonus_and_takes_any_input_size():
  config = _config("rnd")
  env = envs.make("zigzag_maze")
  source = rewards.make("rnd", RunConfig.of(config), env)
  state = source.init(jax.random.key(0), env.success_examples(jax.random.key(1), 8))
  x = jnp.asarray([[3.0, 3.0], [-3.0, -3.0]])
  bonus = bonuses.RND(bonuses.Settings(rnd_hidden=(16, 16), rnd_output_size=8), 2).bonus(state, x)
  np.testing.assert_allclose(source.rewards(state, x, None),
                             np.array([1.0, 0.0]) + config.exploration.rnd_beta * bonus, rtol=1e-6)
  rnd = bonuses.RND(bonuses.Settings(rnd_hidden=(8,), rnd_batch_size=4, rnd_steps_per_epoch=2), 37)
  state, metrics = rnd.train(rnd.init(jax.random.key(2)), jnp.ones((8, 37)))
  assert rnd.bonus(state, jnp.zeros((3, 37))).shape == (3,)


def test_running_moments_match_numpy():
  data = np.random.default_rng(0).normal(2.0, 3.0, (300, 4)).astype(np.float32)
  moments = bonuses.RunningMoments.zeros((4,))
  for batch in np.split(data, 3):
    moments = moments.update(jnp.asarray(batch))
  np.testing.assert_allclose(moments.mean, data.mean(0), rtol=1e-5)
  np.testing.assert_allclose(moments.var, data.var(0), rtol=1e-4)


def test_vice_loss_matches_a_numpy_forward_pass():
  """Softmax CE over [log pi(a|s), f(s)] plus Keras L2 (coefficient * sum of kernels^2)."""
  clf = mle.Classifier(mle.Settings(hidden=(5,), weight_decay=0.01, vice_loss=True), 2,
                       vice=True)
  params = clf.init(jax.random.key(0)).params
  rng = np.random.default_rng(0)
  x, log_pi = rng.normal(size=(6, 2)), rng.normal(size=6)
  y = np.array([1, 1, 1, 0, 0, 0], np.float64)
  w1, b1 = (np.asarray(params[0][k], np.float64) for k in ("w", "b"))
  w2, b2 = (np.asarray(params[1][k], np.float64) for k in ("w", "b"))
  z = np.maximum(x @ w1 + b1, 0) @ w2 + b2
  f = z[:, 1] - z[:, 0]
  log_d = f - np.logaddexp(f, log_pi)          # log D, D = e^f / (e^f + pi)
  log_1md = log_pi - np.logaddexp(f, log_pi)
  expected = -np.mean(y * log_d + (1 - y) * log_1md) + 0.01 * (np.sum(w1 ** 2) + np.sum(w2 ** 2))
  got = clf.loss(params, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32),
                 jnp.asarray(log_pi, jnp.float32))
  assert float(got) == pytest.approx(expected, rel=1e-5)
  # The penalty's gradient is 2 * coefficient * w on kernels and nothing on biases.
  grad = jax.grad(lambda p: 0.01 * common.kernel_l2(p))(params)
  np.testing.assert_allclose(grad[0]["w"], 0.02 * np.asarray(params[0]["w"]), rtol=1e-6)
  assert float(jnp.abs(grad[0]["b"]).max()) == 0.0


def test_vice_logit_ranks_visited_states_by_straight_line_closeness():
  """The misleading slope: trained on the zigzag's first two corridors, VICE's logit
  rises toward the goal in a straight line, through the second wall. In the middle
  corridor the path to the goal goes down (under the wall) while the straight line
  goes up: the logit follows the straight line, not the path."""
  env = envs.make("zigzag_maze")
  config = _config("vice")
  config.classifier.update(hidden=(256, 256), batch_size=128, steps_per_epoch=200)
  source = rewards.make("vice", RunConfig.of(config), env)
  rng = np.random.default_rng(0)
  visited = np.stack([rng.uniform(-4, 1.2, 3000), rng.uniform(-4, 4, 3000)], -1)
  visited = visited.astype(np.float32)
  positives = env.success_examples(jax.random.key(0), 150)
  data = rewards.TrainData(positives=positives, epoch=jnp.int32(0),
                           negatives=jnp.asarray(visited[rng.integers(0, 3000, 200 * 128)]))
  state, _ = jax.jit(source.train)(source.init(jax.random.key(1), positives), data,
                                   jax.random.key(2))
  middle = visited[:1000][visited[:1000, 0] > -1.2]
  logit = np.asarray(source.rewards(state, jnp.asarray(middle), None))
  straight = spearmanr(logit, -np.linalg.norm(middle - GOAL, axis=-1)).statistic
  path = spearmanr(logit, -np.asarray(jax.vmap(env.geodesic_distance)(middle))).statistic
  assert straight > 0.45 and path < 0.2, (straight, path)   # measured: 0.66 and -0.13
  assert float(source.rewards(state, positives, None).min()) > logit.max()


def test_vice_loss_trains_with_the_policy_log_probabilities():
  config = _config("vice")
  config.classifier.vice_loss = True
  trainer = training.Trainer(config)
  state = trainer.init(jax.random.key(0))
  state, metrics = trainer.run_epoch(state)
  data = trainer.train_data(state, jax.random.key(1))
  assert data.positive_log_pi.shape == (config.num_success_examples,)
  assert data.negative_log_pi.shape == (trainer.source.num_negatives,)
  assert np.isfinite(metrics["classifier_loss"])


@pytest.mark.parametrize("env_name", ["pusher_2d", "ant_maze"])
def test_vice_loss_refuses_a_classifier_input_that_is_not_the_observation(env_name):
  config = _config("vice")
  config.env = env_name
  config.classifier.vice_loss = True
  with pytest.raises(ValueError, match=f"{env_name}'s classifier input is not its observation"):
    rewards.make("vice", RunConfig.of(config), envs.make(env_name))


def test_vice_loss_refuses_mixup():
  config = _config("vice")
  config.classifier.update(vice_loss=True, mixup_alpha=0.2)
  with pytest.raises(ValueError, match="mixup_alpha=0.2"):
    training.Trainer(config)


@pytest.mark.parametrize("cls,kwargs,match", [
    (mle.Settings, {"batch_size": 0}, r"classifier\.batch_size must be a positive integer, got 0"),
    (mle.Settings, {"lr": -1e-4}, r"classifier\.lr must be a positive number, got -0\.0001"),
    (mle.Settings, {"weight_decay": -1.0}, r"classifier\.weight_decay must be a number >= 0"),
    (mle.Settings, {"hidden": [16, 0]}, r"classifier\.hidden .*got \(16, 0\)"),
    (bonuses.Settings, {"rnd_steps_per_epoch": 0},
     r"exploration\.rnd_steps_per_epoch must be a positive integer, got 0"),
    (bonuses.Settings, {"count_beta": 0.0}, r"exploration\.count_beta must be a positive number"),
    (bonuses.Settings, {"rnd_hidden": ()}, r"exploration\.rnd_hidden .*got \(\)")])
def test_bad_settings_name_the_field_and_value(cls, kwargs, match):
  with pytest.raises(ValueError, match=match):
    cls(**kwargs)


def test_l2_measures_the_ant_torso_xy_only():
  env = envs.make("ant_maze")
  config = _config("l2")
  source = rewards.make("l2", RunConfig.of(config), env)
  positives = jax.random.normal(jax.random.key(0), (16, env.classifier_input_size))
  center = source.init(None, positives)
  np.testing.assert_allclose(center, np.asarray(positives)[:, :2].mean(0), rtol=1e-6)
  x = np.asarray(jax.random.normal(jax.random.key(1), (4, env.classifier_input_size)))
  moved_joints = x.copy()
  moved_joints[:, 2:] += 1.0
  r = source.rewards(center, jnp.asarray(x), None)
  np.testing.assert_allclose(r, -np.linalg.norm(x[:, :2] - center, axis=-1), rtol=1e-6)
  np.testing.assert_allclose(source.rewards(center, jnp.asarray(moved_joints), None), r)
