"""The trainer: one trace, determinism, truncated transitions, both relabelling modes."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.networks import mlp_apply


def _small_config(**overrides):
  c = zigzag_maze.get_config("tiny")
  c.reward = "mle"
  c.total_env_steps, c.epoch_length, c.warmup_steps = 600, 200, 200
  for k, v in overrides.items():
    c[k] = v
  return c


@pytest.mark.parametrize("num_seeds, seed_batch", [(1, 0), (4, 2)])
def test_one_trace_for_all_epochs(num_seeds, seed_batch):
  config = _small_config(num_seeds=num_seeds)
  config.mesh.seed_batch = seed_batch  # 4 seeds: a loop of two vmapped pairs
  trainer = training.Trainer(config)
  state = trainer.init(trainer.keys())
  for _ in range(3):
    state, _ = trainer.run_epoch(state)
  assert trainer.trace_count == 1
  assert np.all(state.epoch == 3) and np.all(state.env_steps == 600)
  assert state.epoch.shape == ((num_seeds,) if num_seeds > 1 else ())


def test_same_key_same_run():
  config = _small_config()
  state_a, hist_a = training.train(config, key=jax.random.key(7))
  state_b, hist_b = training.train(config, key=jax.random.key(7))
  state_c, hist_c = training.train(config, key=jax.random.key(8))
  scalars = lambda h: [{k: v for k, v in m.items() if k != "eval_trajectories"} for m in h]
  assert scalars(hist_a) == scalars(hist_b)
  for a, b in zip(jax.tree.leaves(state_a.sac), jax.tree.leaves(state_b.sac)):
    np.testing.assert_array_equal(a, b)
  assert scalars(hist_a) != scalars(hist_c)


def test_truncated_transition_keeps_the_true_next_observation():
  """Transition 100 of an env ends its episode: its next_obs is where the point went,
  it is bootstrapped (discount 1), and the next transition starts from the start."""
  config = _small_config(num_envs=1, epoch_length=200, total_env_steps=200, warmup_steps=200)
  config.sac.updates_per_step = 1.0
  trainer = training.Trainer(config)
  state, _ = trainer.run_epoch(trainer.init(jax.random.key(1)))
  data = jax.device_get(state.replay.data)
  start = np.array([-3.0, -3.0])
  last = trainer.env.episode_length - 1
  np.testing.assert_allclose(data["obs"][last + 1], start)
  assert not np.allclose(data["next_obs"][last], start)
  assert np.linalg.norm(data["next_obs"][last] - data["obs"][last]) <= 0.5 * np.sqrt(2) + 1e-5
  np.testing.assert_array_equal(data["discount"][:200], np.ones(200))
  # Consecutive transitions chain, except across the reset.
  chained = np.linalg.norm(data["next_obs"][:199] - data["obs"][1:200], axis=-1) < 1e-6
  assert not chained[last] and chained[:last].all() and chained[last + 1:].all()


def test_collect_mode_stores_rewards_of_the_next_state():
  config = _small_config(reward="l2", relabel="collect", total_env_steps=200)
  trainer = training.Trainer(config)
  state, _ = trainer.run_epoch(trainer.init(jax.random.key(2)))
  data = jax.device_get(state.replay.data)
  center = np.asarray(state.positives).mean(0)
  expected = -np.linalg.norm(data["next_x"][:200] - center, axis=-1)
  np.testing.assert_allclose(data["reward"][:200], expected, rtol=1e-5)
  np.testing.assert_allclose(data["next_x"][:200], data["next_obs"][:200])


def test_batch_mode_relabels_with_the_current_classifier():
  """Stored rewards stay 0 in batch mode; the trainer's batch reward is the classifier's."""
  config = _small_config(reward="mle", total_env_steps=400)
  trainer = training.Trainer(config)
  state = trainer.init(jax.random.key(3))
  state, _ = trainer.run_epoch(state)
  assert float(jnp.abs(state.replay.data["reward"]).max()) == 0.0
  batch = {"next_x": state.replay.data["next_x"][:64], "reward": jnp.zeros(64)}
  relabelled = trainer._relabel(state.reward, batch, jax.random.key(0))
  expected = jax.nn.softmax(mlp_apply(state.reward.params, batch["next_x"]))[:, 1]
  np.testing.assert_allclose(relabelled["reward"], expected, rtol=1e-6)


def test_sparse_reward_is_the_success_test():
  config = _small_config(reward="sparse")
  trainer = training.Trainer(config)
  x = jnp.asarray([[3.0, 3.0], [2.6, 2.6], [0.0, 0.0]])  # 0, 0.57, 4.2 from the goal
  np.testing.assert_array_equal(trainer.source.rewards((), x, None), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("field, value, message", [
    ("reward", "vicee", "valid choices: .*mle"),
    ("env", "maze", "valid choices: .*zigzag_maze"),
    ("relabel", "never", "valid choices: batch, collect"),
    ("num_envs", 0, "num_envs must be a positive integer"),
    ("epoch_length", 999, "multiple of num_envs"),
])
def test_bad_config_fails_before_compiling(field, value, message):
  with pytest.raises(ValueError, match=message):
    training.Trainer(_small_config(**{field: value}))


def test_one_call_relabels_a_steps_minibatches_as_separate_calls_would():
  """The trainer queries all minibatches of a vectorised step (U, B, D) in one call; given
  the same context, each minibatch's rewards equal its own meta-NML call's."""
  from mural_jax.classifiers import meta_nml
  from mural_jax.classifiers.nml_query import nml_probs
  config = _small_config(reward="mural")
  trainer = training.Trainer(config)
  state, _ = trainer.run_epoch(trainer.init(jax.random.key(5)))
  x = state.replay.data["next_x"][:48].reshape(3, 16, -1)        # U=3 minibatches of B=16
  key = jax.random.key(1)
  merged = trainer._relabel(state.reward, {"next_x": x}, key)["reward"]
  assert merged.shape == (3, 16)
  clf = meta_nml.Classifier(trainer.config.meta_nml, x.shape[-1])
  context = clf.sample_context(state.reward, key)
  separate = jnp.stack([nml_probs(state.reward.params, b, context, clf.settings)[0] for b in x])
  np.testing.assert_allclose(merged, separate, rtol=1e-5, atol=1e-6)
  assert float(jnp.std(merged)) > 0  # not a constant reward
