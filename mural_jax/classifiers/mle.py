"""Maximum-likelihood success classifiers: the plain `mle` ablation and the VICE baseline.

A 2-logit MLP trained with Adam on balanced batches of success examples
(label 1) and visited states (label 0), optionally with mixup. The two
rewards that use it differ as their originals do:

* `mle` (the plain-classifier ablation): the L2 penalty is added to every
  gradient (PyTorch's Adam ``weight_decay``, biases included); reward p(success).
* `vice` (Fu et al., 2018, as the MURAL code ran it): a Keras L2 penalty on the
  kernels only, coefficient * sum(w^2) in the loss (gradient 2 * coefficient * w);
  reward the logit f(s) = log p1 - log p0. With `vice_loss` the classifier is
  trained as VICE's discriminator D = exp f(s) / (exp f(s) + pi(a|s)): softmax
  cross-entropy over [log pi(a|s), f(s)], with a ~ pi(.|s) drawn at each state.
"""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax.networks import Params, mlp_apply, mlp_init

L2_STYLES = ("decay", "keras")


@struct.dataclass
class MLEState:
  params: Params
  opt_state: optax.OptState


def kernel_l2(params: Params) -> jax.Array:
  """sum(w^2) over the kernels (weight matrices) only, as Keras' l2 regulariser."""
  return sum(jnp.sum(layer["w"] ** 2) for layer in params)


@dataclasses.dataclass(frozen=True)
class MLEClassifier:
  input_size: int
  hidden: tuple = (256, 256)
  lr: float = 1e-4
  weight_decay: float = 5e-3  # L2 coefficient, applied as `l2_style` says
  batch_size: int = 128       # per class
  steps: int = 2              # gradient steps per `train` call
  mixup_alpha: float = 0.0
  l2_style: str = "decay"     # "decay": every gradient += coef * p; "keras": loss += coef * kernel_l2
  vice_loss: bool = False     # train as VICE's pi-aware discriminator (needs log pi, see train)

  def __post_init__(self):
    if self.l2_style not in L2_STYLES:
      raise ValueError(f"l2_style={self.l2_style!r}; valid choices: {', '.join(L2_STYLES)}.")
    if self.vice_loss and self.mixup_alpha > 0:
      raise ValueError(
          f"classifier.vice_loss=True with classifier.mixup_alpha={self.mixup_alpha}: the VICE "
          "loss takes the policy's log-probability at real states, so mixup must be 0.")

  @property
  def num_negatives(self) -> int:
    """Visited states consumed by one `train` call."""
    return self.steps * self.batch_size

  def _tx(self):
    if self.l2_style == "decay":
      return optax.chain(optax.add_decayed_weights(self.weight_decay), optax.adam(self.lr))
    return optax.adam(self.lr)

  def init(self, key: jax.Array) -> MLEState:
    params = mlp_init(key, (self.input_size, *self.hidden, 2))
    return MLEState(params=params, opt_state=self._tx().init(params))

  @staticmethod
  def logits(params: Params, x: jax.Array) -> jax.Array:
    """log p(success | x) - log p(failure | x): (..., D) -> (...)."""
    z = mlp_apply(params, x)
    return z[..., 1] - z[..., 0]

  @staticmethod
  def probs(params: Params, x: jax.Array) -> jax.Array:
    """p(success | x): (..., D) -> (...)."""
    return jax.nn.softmax(mlp_apply(params, x))[..., 1]

  def loss(self, params, x, y, log_pi=None):
    """Cross-entropy with soft labels y (B,) in [0, 1], plus the Keras penalty if chosen.

    With `vice_loss`, the two classes' logits are log_pi (B,) and f(x).
    """
    if self.vice_loss:
      logp = jax.nn.log_softmax(jnp.stack([log_pi, self.logits(params, x)], -1))
    else:
      logp = jax.nn.log_softmax(mlp_apply(params, x))
    ce = -jnp.mean(y * logp[:, 1] + (1 - y) * logp[:, 0])
    return ce + (self.weight_decay * kernel_l2(params) if self.l2_style == "keras" else 0.0)

  def train(self, state: MLEState, positives: jax.Array, negatives: jax.Array, key: jax.Array,
            positive_log_pi: Optional[jax.Array] = None,
            negative_log_pi: Optional[jax.Array] = None):
    """`steps` Adam steps; positives (P, D) are resampled, negatives (steps*batch, D) split.

    With `vice_loss`, positive_log_pi (P,) and negative_log_pi (steps*batch,) are
    log pi(a|s) of an action drawn from the policy at each of those states.
    """
    if self.vice_loss and (positive_log_pi is None or negative_log_pi is None):
      raise ValueError("vice_loss=True: train needs positive_log_pi and negative_log_pi.")
    if not self.vice_loss:
      positive_log_pi = jnp.zeros(positives.shape[:1])
      negative_log_pi = jnp.zeros(negatives.shape[:1])
    negatives = negatives.reshape(self.steps, self.batch_size, -1)
    negative_log_pi = negative_log_pi.reshape(self.steps, self.batch_size)
    keys = jax.random.split(key, self.steps)

    def step(state, inputs):
      neg, neg_log_pi, k = inputs
      k_pos, k_mix, k_perm = jax.random.split(k, 3)
      idx = jax.random.randint(k_pos, (self.batch_size,), 0, positives.shape[0])
      x = jnp.concatenate([positives[idx], neg])
      log_pi = jnp.concatenate([positive_log_pi[idx], neg_log_pi])
      y = jnp.concatenate([jnp.ones(self.batch_size), jnp.zeros(self.batch_size)])
      if self.mixup_alpha > 0:
        lam = jax.random.beta(k_mix, self.mixup_alpha, self.mixup_alpha, (x.shape[0],))
        perm = jax.random.permutation(k_perm, x.shape[0])
        x = lam[:, None] * x + (1 - lam[:, None]) * x[perm]
        y = lam * y + (1 - lam) * y[perm]
      loss, grad = jax.value_and_grad(self.loss)(state.params, x, y, log_pi)
      updates, opt_state = self._tx().update(grad, state.opt_state, state.params)
      return MLEState(optax.apply_updates(state.params, updates), opt_state), loss

    state, losses = jax.lax.scan(step, state, (negatives, negative_log_pi, keys))
    return state, {"classifier_loss": losses.mean()}
