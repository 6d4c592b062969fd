"""Task-agnostic exploration signals: visit counts on a grid, random network distillation.

* Grid counts (`buffer_counts`) count every filled replay slot, as the
  reference's Laplace reward counts its whole recent buffer; they feed the
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

from mural_jax.classifiers.cnml import grid_cells
from mural_jax.networks import Params, mlp_apply, mlp_init


# -- grid counts ----------------------------------------------------------------

def buffer_counts(x: jax.Array, valid: jax.Array, low, high, resolution: int) -> jax.Array:
  """Visits per grid cell (resolution^D,) of the rows of x (N, D) where valid (N,) is True."""
  cells = resolution ** x.shape[-1]
  return jnp.zeros((cells,)).at[grid_cells(x, low, high, resolution)].add(
      valid.astype(jnp.float32))


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
  """Random network distillation over inputs of size `input_size`."""
  input_size: int
  hidden: tuple = (256, 256)
  output_size: int = 64
  lr: float = 1e-3
  batch_size: int = 256
  steps: int = 32           # predictor steps per `train` call

  @property
  def num_negatives(self) -> int:
    """Visited states consumed by one `train` call."""
    return self.steps * self.batch_size

  def init(self, key: jax.Array) -> RNDState:
    k_target, k_pred = jax.random.split(key)
    sizes = (self.input_size, *self.hidden, self.output_size)
    predictor = mlp_init(k_pred, sizes)
    return RNDState(target=mlp_init(k_target, sizes), predictor=predictor,
                    opt_state=optax.adam(self.lr).init(predictor),
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
    """`steps` Adam steps on batches of visited states (steps * batch_size, D).

    The input statistics take in all of `visited` first; the error statistics
    take in each batch's errors before its step.
    """
    state = state.replace(inputs=state.inputs.update(visited))
    tx = optax.adam(self.lr)

    def step(state, batch):
      def loss_fn(predictor):
        errors = self._errors(predictor, state, batch)
        return errors.mean(), errors
      (loss, errors), grad = jax.value_and_grad(loss_fn, has_aux=True)(state.predictor)
      updates, opt_state = tx.update(grad, state.opt_state)
      return state.replace(predictor=optax.apply_updates(state.predictor, updates),
                           opt_state=opt_state, errors=state.errors.update(errors)), loss

    state, losses = jax.lax.scan(step, state, visited.reshape(self.steps, self.batch_size, -1))
    return state, {"rnd_loss": losses.mean()}
