"""Maximum-likelihood success classifiers: the plain `mle` ablation and the VICE baseline.

A 2-logit MLP trained with Adam on balanced batches of success examples
(label 1) and visited states (label 0), optionally with mixup. The two
rewards that use it differ as their originals do:

* `mle` (the plain-classifier ablation, `Classifier(settings, d)`): the L2
  penalty is added to every gradient (PyTorch's Adam ``weight_decay``, biases
  included); reward p(success).
* `vice` (Fu et al., 2018, as the MURAL code ran it, `Classifier(settings, d,
  vice=True)`): a Keras L2 penalty on the kernels only, coefficient * sum(w^2)
  in the loss (gradient 2 * coefficient * w); reward the logit
  f(s) = log p1 - log p0. With `settings.vice_loss` the classifier is trained as
  VICE's discriminator D = exp f(s) / (exp f(s) + pi(a|s)): softmax
  cross-entropy over [log pi(a|s), f(s)], with a ~ pi(.|s) drawn at each state.
"""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax import settings
from mural_jax.classifiers import common
from mural_jax.networks import Params
from mural_jax.optim import gradient_step


Settings = settings.Classifier  # its run config section, defined without jax


@struct.dataclass
class MLEState:
  params: Params
  opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class Classifier:
  """The plain MLE classifier over inputs of size `input_size`, or VICE's if `vice`."""

  settings: Settings
  input_size: int
  vice: bool = False  # Keras kernel L2 in the loss, and settings.vice_loss applies

  @property
  def vice_loss(self) -> bool:
    """Whether `train` uses VICE's pi-aware loss (and needs log pi)."""
    return self.vice and self.settings.vice_loss

  @property
  def num_negatives(self) -> int:
    """Visited states consumed by one `train` call."""
    return self.settings.steps_per_epoch * self.settings.batch_size

  def _tx(self):
    s = self.settings
    if self.vice:
      return optax.adam(s.lr)
    return optax.chain(optax.add_decayed_weights(s.weight_decay), optax.adam(s.lr))

  def init(self, key: jax.Array) -> MLEState:
    params = common.mlp_params(key, self.input_size, self.settings.hidden)
    return MLEState(params=params, opt_state=self._tx().init(params))

  def probs(self, state: MLEState, x: jax.Array) -> jax.Array:
    """p(success | x): (..., D) -> (...)."""
    return common.probs(state.params, x)

  def logits(self, state: MLEState, x: jax.Array) -> jax.Array:
    """log p(success | x) - log p(failure | x), VICE's reward: (..., D) -> (...)."""
    return common.logits(state.params, x)

  def loss(self, params: Params, x, y, log_pi=None) -> jax.Array:
    """Mean cross-entropy with soft labels y (B,) in [0, 1], plus VICE's Keras penalty.

    With `vice_loss`, the two classes' logits are log_pi (B,) and f(x).
    """
    if self.vice_loss:
      log_p = jax.nn.log_softmax(jnp.stack([log_pi, common.logits(params, x)], -1))
    else:
      log_p = common.log_probs(params, x)
    ce = jnp.mean(common.soft_cross_entropy(log_p, y))
    return ce + (self.settings.weight_decay * common.kernel_l2(params) if self.vice else 0.0)

  def train(self, state: MLEState, positives: jax.Array, negatives: jax.Array, key: jax.Array,
            positive_log_pi: Optional[jax.Array] = None,
            negative_log_pi: Optional[jax.Array] = None) -> tuple[MLEState, dict]:
    """`steps_per_epoch` Adam steps; positives (P, D) resampled, negatives (steps*batch, D) split.

    With `vice_loss`, positive_log_pi (P,) and negative_log_pi (steps*batch,) are
    log pi(a|s) of an action drawn from the policy at each of those states.
    """
    s = self.settings
    if self.vice_loss and (positive_log_pi is None or negative_log_pi is None):
      raise ValueError("classifier.vice_loss=True: train needs positive_log_pi and "
                       "negative_log_pi.")
    if not self.vice_loss:
      positive_log_pi = jnp.zeros(positives.shape[:1])
      negative_log_pi = jnp.zeros(negatives.shape[:1])
    negatives = negatives.reshape(s.steps_per_epoch, s.batch_size, -1)
    negative_log_pi = negative_log_pi.reshape(s.steps_per_epoch, s.batch_size)
    keys = jax.random.split(key, s.steps_per_epoch)

    def step(state, inputs):
      neg, neg_log_pi, k = inputs
      k_pos, k_mix, k_perm = jax.random.split(k, 3)
      (x, log_pi), y = common.balanced_batch(k_pos, (positives, positive_log_pi),
                                             (neg, neg_log_pi), positives_first=True)
      if s.mixup_alpha > 0:
        lam = jax.random.beta(k_mix, s.mixup_alpha, s.mixup_alpha, (x.shape[0],))
        perm = jax.random.permutation(k_perm, x.shape[0])
        x = lam[:, None] * x + (1 - lam[:, None]) * x[perm]
        y = lam * y + (1 - lam) * y[perm]
      params, opt_state, loss = gradient_step(self.loss, self._tx(), state.params,
                                              state.opt_state, x, y, log_pi)
      return MLEState(params, opt_state), loss

    state, losses = jax.lax.scan(step, state, (negatives, negative_log_pi, keys))
    return state, {"classifier_loss": losses.mean()}
