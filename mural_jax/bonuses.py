"""Task-agnostic exploration signals: visit counts on a grid, random network distillation.

* Grid counts of every filled replay slot (`cnml.cell_counts`, as the
  reference's Laplace reward counts its whole recent buffer) feed the
  `count` reward (tabular CNML) and the `count_bonus` reward,
  sparse + beta / sqrt(N(s)).
* RND (Burda et al., 2019): a predictor MLP learns to match a fixed random
  target MLP on visited states; its squared error stays high on states it has
  not seen. As is usual for RND, inputs are whitened by running statistics and
  clipped to [-5, 5], and the bonus is divided by the running standard deviation
  of the error. (The RND paper normalises by the deviation of intrinsic returns;
  rewards here are recomputed per minibatch of single transitions, so the
  deviation of the per-state error is the one available.)
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax import settings
from mural_jax.networks import Params, mlp_apply, mlp_init
from mural_jax.optim import gradient_step


Settings = settings.Exploration  # its run config section, defined without jax


# -- count bonus ----------------------------------------------------------------

def count_bonus(n0: jax.Array, cells: jax.Array, beta: float) -> jax.Array:
  """beta / sqrt(N) at `cells`; a cell not counted yet (N = 0) counts as one visit."""
  return beta / jnp.sqrt(jnp.maximum(n0[cells], 1.0))


# -- random network distillation ----------------------------------------------------

@struct.dataclass
class RunningMoments:
  """Mean and variance of a stream of batches (Chan et al.'s parallel update)."""
  mean: jax.Array
  var: jax.Array
  count: jax.Array  # () float32

  @classmethod
  def zeros(cls, shape=()) -> "RunningMoments":
    return cls(mean=jnp.zeros(shape), var=jnp.ones(shape), count=jnp.zeros(()))

  def update(self, batch: jax.Array) -> "RunningMoments":
    """Merges a batch (n, *shape)."""
    n = batch.shape[0]
    b_mean, b_var = batch.mean(0), batch.var(0)
    total = self.count + n
    delta = b_mean - self.mean
    m2 = self.var * self.count + b_var * n + delta ** 2 * self.count * n / total
    return RunningMoments(mean=self.mean + delta * n / total, var=m2 / total, count=total)


@struct.dataclass
class RNDState:
  target: Params          # fixed random network
  predictor: Params
  opt_state: optax.OptState
  inputs: RunningMoments  # per-feature statistics of visited states, (D,)
  errors: RunningMoments  # statistics of the prediction error, ()


@dataclasses.dataclass(frozen=True)
class RND:
  """Random network distillation over inputs of size `input_size` (the rnd_* settings)."""
  settings: Settings
  input_size: int

  @property
  def num_negatives(self) -> int:
    """Visited states consumed by one `train` call."""
    return self.settings.rnd_steps_per_epoch * self.settings.rnd_batch_size

  def init(self, key: jax.Array) -> RNDState:
    s = self.settings
    k_target, k_pred = jax.random.split(key)
    sizes = (self.input_size, *s.rnd_hidden, s.rnd_output_size)
    predictor = mlp_init(k_pred, sizes)
    return RNDState(target=mlp_init(k_target, sizes), predictor=predictor,
                    opt_state=optax.adam(s.rnd_lr).init(predictor),
                    inputs=RunningMoments.zeros((self.input_size,)),
                    errors=RunningMoments.zeros())

  @staticmethod
  def _errors(predictor, state: RNDState, x: jax.Array) -> jax.Array:
    """Mean squared prediction error (...,) of whitened, clipped inputs x (..., D)."""
    x = jnp.clip((x - state.inputs.mean) / jnp.sqrt(state.inputs.var + 1e-8), -5.0, 5.0)
    return jnp.mean((mlp_apply(predictor, x) - mlp_apply(state.target, x)) ** 2, -1)

  def errors(self, state: RNDState, x: jax.Array) -> jax.Array:
    """Raw prediction error (...,) of the current predictor."""
    return self._errors(state.predictor, state, x)

  def bonus(self, state: RNDState, x: jax.Array) -> jax.Array:
    """Prediction error divided by its running standard deviation, (...,)."""
    return self.errors(state, x) / jnp.sqrt(state.errors.var + 1e-8)

  def train(self, state: RNDState, visited: jax.Array):
    """`rnd_steps_per_epoch` Adam steps on batches of visited states (`num_negatives`, D).

    The input statistics take in all of `visited` first; the error statistics
    take in each batch's errors before its step.
    """
    s = self.settings
    state = state.replace(inputs=state.inputs.update(visited))
    tx = optax.adam(s.rnd_lr)

    def step(state, batch):
      def loss_fn(predictor):
        errors = self._errors(predictor, state, batch)
        return errors.mean(), errors
      predictor, opt_state, (loss, errors) = gradient_step(
          loss_fn, tx, state.predictor, state.opt_state, has_aux=True)
      return state.replace(predictor=predictor, opt_state=opt_state,
                           errors=state.errors.update(errors)), loss

    state, losses = jax.lax.scan(
        step, state, visited.reshape(s.rnd_steps_per_epoch, s.rnd_batch_size, -1))
    return state, {"rnd_loss": losses.mean()}
