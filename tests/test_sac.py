"""SAC numerics against independent NumPy references, and a learning check."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.sac import SAC, Settings


@pytest.fixture(scope="module")
def sac():
  return SAC(3, 2, Settings(hidden=(16, 16), discount=0.9, init_alpha=0.5))


def _np_mlp(params, x, layer_norm=False):
  for i, layer in enumerate(params):
    x = x @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
    if i < len(params) - 1:
      if layer_norm:
        x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
      x = np.maximum(x, 0)
  return x


def test_tanh_gaussian_log_prob_matches_change_of_variables(sac):
  state = sac.init(jax.random.key(0))
  obs = jax.random.normal(jax.random.key(1), (64, 3))
  key = jax.random.key(2)
  action, logp = sac.sample_action(state.actor, obs, key)
  out = _np_mlp(state.actor, np.asarray(obs, np.float64))
  mean, log_std = np.split(out, 2, -1)
  log_std = np.clip(log_std, -20, 2)
  u = np.arctanh(np.clip(np.asarray(action, np.float64), -1 + 1e-7, 1 - 1e-7))
  gauss = -0.5 * ((u - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
  expected = (gauss - np.log(1 - np.tanh(u) ** 2)).sum(-1)
  mask = np.abs(np.asarray(action)).max(-1) < 0.999  # arctanh is ill-conditioned near +-1
  np.testing.assert_allclose(np.asarray(logp)[mask], expected[mask], rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_critic_target_bootstraps_truncation_and_cuts_termination(layer_norm):
  """The loss equals a NumPy reference: r + gamma * d * (min target Q - alpha * logp);
  with layer_norm, every critic hidden layer normalised before its ReLU."""
  sac = SAC(3, 2, Settings(hidden=(16, 16), discount=0.9, init_alpha=0.5,
                           layer_norm=layer_norm))
  state = sac.init(jax.random.key(0))
  k = jax.random.split(jax.random.key(3), 4)
  batch = {"obs": jax.random.normal(k[0], (8, 3)), "action": jnp.tanh(jax.random.normal(k[1], (8, 2))),
           "next_obs": jax.random.normal(k[2], (8, 3)), "reward": jax.random.normal(k[3], (8,)),
           "discount": jnp.asarray([1, 0, 1, 0, 1, 1, 0, 1], jnp.float32)}
  key = jax.random.key(4)
  loss, _ = sac.critic_loss(state.critic, state, batch, key)
  next_a, next_logp = sac.sample_action(state.actor, batch["next_obs"], key)
  f64 = lambda x: np.asarray(x, np.float64)
  x_next = np.concatenate([f64(batch["next_obs"]), f64(next_a)], -1)
  target_params = [jax.tree.map(lambda p: p[i], state.target_critic) for i in range(2)]
  q_np = lambda p, x: _np_mlp(p, x, layer_norm)[:, 0]
  next_q = np.minimum(*[q_np(p, x_next) for p in target_params])
  target = f64(batch["reward"]) + 0.9 * f64(batch["discount"]) * (next_q - 0.5 * f64(next_logp))
  x = np.concatenate([f64(batch["obs"]), f64(batch["action"])], -1)
  expected = sum(0.5 * np.mean((q_np(p, x) - target) ** 2) for p in target_params)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


def test_a_non_boolean_layer_norm_is_refused():
  with pytest.raises(ValueError, match="sac.layer_norm must be true or false, got 1"):
    Settings(layer_norm=1)


def test_polyak_targets_and_temperature_move(sac):
  state = sac.init(jax.random.key(0))
  k = jax.random.split(jax.random.key(5), 3)
  batch = {"obs": jax.random.normal(k[0], (32, 3)), "action": jnp.zeros((32, 2)),
           "next_obs": jax.random.normal(k[1], (32, 3)), "reward": jnp.ones(32),
           "discount": jnp.ones(32)}
  new, metrics = jax.jit(sac.update)(state, batch, k[2])
  # target <- tau * new critic + (1 - tau) * old target.
  expected = jax.tree.map(lambda c, t: 0.005 * c + 0.995 * t, new.critic, state.target_critic)
  for a, b in zip(jax.tree.leaves(new.target_critic), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert float(new.log_alpha) != float(state.log_alpha)
  assert sac.target_entropy == -2.0


def test_sac_learns_a_dense_reaching_task():
  """Open ground in front of the start, goal 2.8 away, dense -distance reward."""
  config = zigzag_maze.get_config("cpu")
  config.env_kwargs = {"goal": (-1.5, -0.5)}
  config.reward = "l2"
  config.total_env_steps = 6000
  config.num_envs = 4
  config.sac.updates_per_step = 0.5
  config.sac.hidden = (64, 64)
  config.warmup_steps = 1000
  config.eval_episodes = 2
  _, history = training.train(config, key=jax.random.key(0))
  assert history[0]["eval_success"] == 0.0
  assert history[-1]["eval_success"] == 1.0, [h["eval_distance"] for h in history]
  assert history[-1]["eval_distance"] < 0.5
