"""Maximum-likelihood success classifier (the VICE-style, overconfident baseline).

A 2-logit MLP trained with Adam on balanced batches of success examples
(label 1) and visited states (label 0), with an L2 penalty (added to the
gradient, as PyTorch's Adam ``weight_decay`` does) and optional mixup.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax.networks import Params, mlp_apply, mlp_init


@struct.dataclass
class MLEState:
  params: Params
  opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class MLEClassifier:
  input_size: int
  hidden: tuple = (256, 256)
  lr: float = 1e-4
  weight_decay: float = 5e-3
  batch_size: int = 128   # per class
  steps: int = 2          # gradient steps per `train` call
  mixup_alpha: float = 0.0

  @property
  def num_negatives(self) -> int:
    """Visited states consumed by one `train` call."""
    return self.steps * self.batch_size

  def _tx(self):
    return optax.chain(optax.add_decayed_weights(self.weight_decay), optax.adam(self.lr))

  def init(self, key: jax.Array) -> MLEState:
    params = mlp_init(key, (self.input_size, *self.hidden, 2))
    return MLEState(params=params, opt_state=self._tx().init(params))

  @staticmethod
  def probs(params: Params, x: jax.Array) -> jax.Array:
    """p(success | x): (..., D) -> (...)."""
    return jax.nn.softmax(mlp_apply(params, x))[..., 1]

  def _loss(self, params, x, y):
    """Cross-entropy with soft labels y (B,) in [0, 1]."""
    logp = jax.nn.log_softmax(mlp_apply(params, x))
    return -jnp.mean(y * logp[:, 1] + (1 - y) * logp[:, 0])

  def train(self, state: MLEState, positives: jax.Array, negatives: jax.Array, key: jax.Array):
    """`steps` Adam steps; positives (P, D) are resampled, negatives (steps*batch, D) split."""
    negatives = negatives.reshape(self.steps, self.batch_size, -1)
    keys = jax.random.split(key, self.steps)

    def step(state, inputs):
      neg, k = inputs
      k_pos, k_mix, k_perm = jax.random.split(k, 3)
      pos = positives[jax.random.randint(k_pos, (self.batch_size,), 0, positives.shape[0])]
      x = jnp.concatenate([pos, neg])
      y = jnp.concatenate([jnp.ones(self.batch_size), jnp.zeros(self.batch_size)])
      if self.mixup_alpha > 0:
        lam = jax.random.beta(k_mix, self.mixup_alpha, self.mixup_alpha, (x.shape[0],))
        perm = jax.random.permutation(k_perm, x.shape[0])
        x = lam[:, None] * x + (1 - lam[:, None]) * x[perm]
        y = lam * y + (1 - lam) * y[perm]
      loss, grad = jax.value_and_grad(self._loss)(state.params, x, y)
      updates, opt_state = self._tx().update(grad, state.opt_state, state.params)
      return MLEState(optax.apply_updates(state.params, updates), opt_state), loss

    state, losses = jax.lax.scan(step, state, (negatives, keys))
    return state, {"classifier_loss": losses.mean()}
