"""Soft actor-critic as pure functions: tanh-Gaussian actor, twin Q, learned temperature.

Batches are dicts with ``obs`` (B, O), ``action`` (B, A), ``reward`` (B,),
``discount`` (B,) (0 where the episode terminated, 1 where it goes on or was
truncated by the time limit, so truncation bootstraps) and ``next_obs`` (B, O),
the true next observation.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax import settings
from mural_jax.networks import Params, mlp_apply, mlp_init
from mural_jax.optim import gradient_step

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@struct.dataclass
class SACState:
  actor: Params
  critic: Params         # twin critic: every leaf has a leading axis of 2
  target_critic: Params
  log_alpha: jax.Array
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  alpha_opt: optax.OptState


Settings = settings.SAC  # its run config section, defined without jax


@dataclasses.dataclass(frozen=True)
class SAC:
  """SAC for one observation and action size, and the pure functions that use it."""
  obs_size: int
  action_size: int
  settings: Settings = Settings()

  @property
  def target_entropy(self) -> float:
    return -self.settings.target_entropy_scale * self.action_size

  def _optimizers(self):
    s = self.settings
    return optax.adam(s.actor_lr), optax.adam(s.critic_lr), optax.adam(s.alpha_lr)

  def init(self, key: jax.Array) -> SACState:
    k_actor, k_critic = jax.random.split(key)
    hidden = self.settings.hidden
    actor = mlp_init(k_actor, (self.obs_size, *hidden, 2 * self.action_size))
    critic = jax.vmap(lambda k: mlp_init(k, (self.obs_size + self.action_size, *hidden, 1)))(
        jax.random.split(k_critic))
    log_alpha = jnp.log(jnp.asarray(self.settings.init_alpha, jnp.float32))
    actor_tx, critic_tx, alpha_tx = self._optimizers()
    return SACState(actor=actor, critic=critic, target_critic=critic, log_alpha=log_alpha,
                    actor_opt=actor_tx.init(actor), critic_opt=critic_tx.init(critic),
                    alpha_opt=alpha_tx.init(log_alpha))

  # -- networks ----------------------------------------------------------------
  def _gaussian(self, actor: Params, obs: jax.Array):
    mean, log_std = jnp.split(mlp_apply(actor, obs), 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)

  def sample_action(self, actor: Params, obs: jax.Array, key: jax.Array):
    """A squashed Gaussian sample in (-1, 1)^A and its log-probability."""
    mean, log_std = self._gaussian(actor, obs)
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    normal_logp = jnp.sum(
        -0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)
    # log(1 - tanh(u)^2), written stably.
    log_det = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), -1)
    return jnp.tanh(u), normal_logp - log_det

  def deterministic_action(self, actor: Params, obs: jax.Array) -> jax.Array:
    return jnp.tanh(self._gaussian(actor, obs)[0])

  def q_values(self, critic: Params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """Both critics' Q(s, a): (2, B)."""
    x = jnp.concatenate([obs, action], -1)
    q = lambda params: mlp_apply(params, x, layer_norm=self.settings.layer_norm)
    return jax.vmap(q)(critic)[..., 0]

  # -- losses --------------------------------------------------------------------
  def critic_loss(self, critic, state: SACState, batch: dict, key):
    next_action, next_logp = self.sample_action(state.actor, batch["next_obs"], key)
    next_q = self.q_values(state.target_critic, batch["next_obs"], next_action).min(0)
    alpha = jnp.exp(state.log_alpha)
    soft_next = next_q - alpha * next_logp
    target = batch["reward"] + self.settings.discount * batch["discount"] * soft_next
    q = self.q_values(critic, batch["obs"], batch["action"])
    return 0.5 * jnp.mean((q - jax.lax.stop_gradient(target)) ** 2, axis=1).sum(), q.mean()

  def actor_loss(self, actor, state: SACState, batch: dict, key):
    action, logp = self.sample_action(actor, batch["obs"], key)
    q = self.q_values(state.critic, batch["obs"], action).min(0)
    return jnp.mean(jnp.exp(state.log_alpha) * logp - q), logp

  def alpha_loss(self, log_alpha, logp):
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(logp + self.target_entropy))

  # -- one update -------------------------------------------------------------------
  def update(self, state: SACState, batch: dict, key: jax.Array):
    """One gradient step on critic, actor and temperature, then Polyak targets."""
    k_critic, k_actor = jax.random.split(key)
    actor_tx, critic_tx, alpha_tx = self._optimizers()

    critic, critic_opt, (c_loss, q_mean) = gradient_step(
        self.critic_loss, critic_tx, state.critic, state.critic_opt, state, batch, k_critic,
        has_aux=True)
    state = state.replace(critic=critic, critic_opt=critic_opt)
    actor, actor_opt, (a_loss, logp) = gradient_step(
        self.actor_loss, actor_tx, state.actor, state.actor_opt, state, batch, k_actor,
        has_aux=True)
    log_alpha, alpha_opt, t_loss = gradient_step(self.alpha_loss, alpha_tx, state.log_alpha,
                                                 state.alpha_opt, logp)
    target = optax.incremental_update(state.critic, state.target_critic, self.settings.tau)
    state = state.replace(actor=actor, actor_opt=actor_opt, log_alpha=log_alpha,
                          alpha_opt=alpha_opt, target_critic=target)
    metrics = {"critic_loss": c_loss, "actor_loss": a_loss, "alpha_loss": t_loss,
               "alpha": jnp.exp(state.log_alpha), "q_mean": q_mean, "entropy": -logp.mean()}
    return state, metrics
