"""Exact conditional NML (CNML): one full refit per query and proposed label (`cnml` reward).

For a query q and label y, theta_y minimises the weighted objective

    J(theta) = sum_i w_i CE(theta; x_i, y_i) + query_weight * CE(theta; q, y)
               + 0.5 * l2 * (sum of squared "w" leaves; biases are not penalised)

and p_CNML(1 | q) = p_{theta_1}(1 | q) / Z with Z = p_{theta_0}(0 | q) +
p_{theta_1}(1 | q) in [1, 2]. The refits of a batch of queries are one vmapped
computation over (queries x labels). Every fit starts from the same given
parameters: for the convex linear models the optimum does not depend on the
start; for the non-convex MLP "the fit" is the optimum its solver reaches from
that start, the same for both labels, so Z compares like with like.

Models are given by `log_probs(params, x (..., D)) -> (..., 2)`:
`linear_log_probs` (logistic regression; one-hot inputs without intercept make
it the tabular model) and `common.log_probs` (the shared MLP with 2 logits).
`Classifier` is the `cnml` reward's: the MLP fitted to half success examples,
half replay states, queried by `cnml_probs`.

Solvers, for a fixed number of steps (static shapes, vmappable):
* "newton" (small convex models: linear, tabular): Newton with the dense
  Hessian; of the step sizes 16, 8, ..., 2^-15 it takes the largest at which
  the slope of J along the step is still <= 0, so J decreases (J is convex).
  Slopes, unlike values of J, stay accurate in float32 near the optimum, so
  it converges to float precision in tens of steps; where the optimum is at
  infinity (a cell with one label only) the logit grows by up to 16 a step.
* "adam" (the MLP, default choice there): full-batch Adam at a fixed learning
  rate. No inner while loops, so a vmapped batch of fits compiles and runs
  fast.
* "lbfgs": optax L-BFGS with its zoom line search; more exact per step, but
  its line-search while loops make vmapped fits slow on CPU.

The tabular closed form of the `count` reward is here too: exact CNML of one
free logit per grid cell is p = (w1 n1 + q) / (w1 n1 + w0 n0 + 2q).
"""

import dataclasses
import functools
from typing import Any, Callable

import jax
import numpy as np
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from mural_jax import checks, settings
from mural_jax.classifiers import common

SOLVERS = settings.CNML_SOLVERS
LogProbs = Callable[[object, jax.Array], jax.Array]
# Newton step sizes tried at every iteration, largest first: the largest at which
# the objective still decreases along the step is taken.
_NEWTON_STEP_SIZES = 2.0 ** np.arange(4, -16, -1)
# Ridge added to the Hessian, relative to its largest diagonal entry: only guards
# exact singularity (cells without data), small enough that a logit heading for
# an infinite optimum keeps moving until its probability is ~1e-9 from 0 or 1.
_NEWTON_DAMPING = 1e-10


Settings = settings.CNML  # its run config section, defined without jax


@struct.dataclass
class State:
  params: Any     # the MLP fitted on the data alone: every per-query fit starts here
  x: jax.Array    # (n, D) data: replay states (label 0), then success examples (label 1)
  y: jax.Array    # (n,) int32


@dataclasses.dataclass(frozen=True)
class Classifier:
  """Exact CNML of the shared MLP over inputs of size `input_size`: slow, for small studies."""

  settings: Settings
  input_size: int

  @property
  def num_negatives(self) -> int:
    """Replay states one `train` call fits: half the data."""
    return self.settings.data_size // 2

  def _fit_kwargs(self) -> dict:
    s = self.settings
    return dict(l2=s.l2, solver=s.solver, steps=s.steps, learning_rate=s.learning_rate)

  def init(self, key: jax.Array) -> State:
    n = self.settings.data_size
    return State(params=common.mlp_params(key, self.input_size, self.settings.hidden),
                 x=jnp.zeros((n, self.input_size)), y=jnp.zeros((n,), jnp.int32))

  def train(self, state: State, positives: jax.Array, negatives: jax.Array,
            key: jax.Array) -> tuple[State, dict]:
    """Refits a fresh MLP to negatives (data_size / 2, D) and as many resampled positives.

    The previous state is replaced, not continued: CNML is defined by the data.
    """
    k_pos, k_init = jax.random.split(key)
    x, y = common.balanced_batch(k_pos, positives, negatives)
    params = common.mlp_params(k_init, self.input_size, self.settings.hidden)
    params = fit(common.log_probs, params, x, y, jnp.ones(x.shape[0]), **self._fit_kwargs())
    return State(params=params, x=x, y=y), {}

  def probs(self, state: State, x: jax.Array) -> jax.Array:
    """Exact CNML p(success) (B,) of x (B, D): two refits per query from the fitted MLP."""
    return cnml_probs(common.log_probs, state.params, state.x, state.y,
                      jnp.ones(state.x.shape[0]), x, query_weight=self.settings.query_weight,
                      **self._fit_kwargs())[0]


# -- models ------------------------------------------------------------------

def linear_params(input_dim: int, intercept: bool = True) -> dict:
  """Zero logistic-regression parameters; without intercept on one-hot inputs: tabular."""
  params = {"w": jnp.zeros((input_dim,))}
  if intercept:
    params["b"] = jnp.zeros(())
  return params


def linear_log_probs(params: dict, x: jax.Array) -> jax.Array:
  """Logistic regression: logit x . w (+ b). x (..., D) -> log p (..., 2)."""
  z = x @ params["w"] + params.get("b", 0.0)
  return jnp.stack([jax.nn.log_sigmoid(-z), jax.nn.log_sigmoid(z)], -1)


# -- fitting -----------------------------------------------------------------

def objective(log_probs: LogProbs, params, x, y, w, l2: float) -> jax.Array:
  """Weighted summed cross-entropy of x (n, D), y (n,), w (n,) plus 0.5 * l2 * sum(w^2)."""
  return (common.weighted_cross_entropy(log_probs(params, x), y, w)
          + l2 * (0.5 * common.kernel_l2(params)))


def _newton(loss, params, steps):
  flat, unravel = ravel_pytree(params)
  flat_loss = lambda v: loss(unravel(v))

  def step(v, _):
    g, h = jax.grad(flat_loss)(v), jax.hessian(flat_loss)(v)
    ridge = _NEWTON_DAMPING * (1.0 + jnp.max(jnp.abs(jnp.diag(h))))
    d = -jnp.linalg.solve(h + ridge * jnp.eye(v.size), g)
    sizes = jnp.asarray(_NEWTON_STEP_SIZES, v.dtype)
    slopes = jax.vmap(lambda t: jnp.dot(jax.grad(flat_loss)(v + t * d), d))(sizes)
    ok = slopes <= 0
    size = jnp.where(ok.any(), sizes[jnp.argmax(ok)], 0.0)
    return v + size * d, None

  flat, _ = jax.lax.scan(step, flat, None, length=steps)
  return unravel(flat)


def _lbfgs(loss, params, steps):
  optimizer = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(loss)

  def step(carry, _):
    params, opt_state = carry
    value, grad = value_and_grad(params, state=opt_state)
    updates, opt_state = optimizer.update(grad, opt_state, params, value=value, grad=grad,
                                          value_fn=loss)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
  return params


def _adam(loss, params, steps, learning_rate):
  optimizer = optax.adam(learning_rate)

  def step(carry, _):
    params, opt_state = carry
    updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
  return params


def _check_solver(solver, steps, prefix: str = "") -> None:
  """Raises ValueError naming `prefix`solver or `prefix`steps and the valid values."""
  checks.choice(f"{prefix}solver", solver, SOLVERS)
  checks.positive_int(f"{prefix}steps", steps)


@functools.partial(jax.jit, static_argnames=("log_probs", "solver", "steps"))
def fit(log_probs: LogProbs, params, x, y, w, l2: float = 0.0, solver: str = "newton",
        steps: int = 50, learning_rate: float = 1e-2):
  """Minimises `objective` from `params` with `solver` for `steps` steps.

  `learning_rate` is used by "adam" only.
  """
  _check_solver(solver, steps)
  loss = lambda p: objective(log_probs, p, x, y, w, l2)
  if solver == "newton":
    return _newton(loss, params, steps)
  if solver == "adam":
    return _adam(loss, params, steps, learning_rate)
  return _lbfgs(loss, params, steps)


@functools.partial(jax.jit, static_argnames=("log_probs", "solver", "steps"))
def cnml_probs(log_probs: LogProbs, params, x, y, w, queries, l2: float = 0.0,
               query_weight: float = 1.0, solver: str = "newton", steps: int = 50,
               learning_rate: float = 1e-2) -> tuple[jax.Array, jax.Array]:
  """Exact CNML p(1 | q) (B,) and normaliser Z (B,) for queries (B, D).

  Data x (n, D), y (n,) int, w (n,) weights. Every (query, label) fit starts
  from `params` and runs `solver` for `steps` steps.
  """
  _check_solver(solver, steps)

  def own_prob(query, label):
    xs = jnp.concatenate([x, query[None]])
    ys = jnp.concatenate([y, label[None].astype(y.dtype)])
    ws = jnp.concatenate([w, jnp.full((1,), query_weight, w.dtype)])
    theta = fit(log_probs, params, xs, ys, ws, l2, solver, steps, learning_rate)
    return jnp.exp(log_probs(theta, query)[label])

  labels = jnp.arange(2)
  own = jax.vmap(lambda q: jax.vmap(own_prob, (None, 0))(q, labels))(queries)   # (B, 2)
  z = own.sum(-1)
  return own[:, 1] / z, z


# -- tabular closed form (the `count` reward) ----------------------------------

def grid_cells(x: jax.Array, low, high, resolution: int) -> jax.Array:
  """Flat index of the grid cell of each point x (..., D); outside points are clipped in.

  The box [low, high]^D (low, high: scalars or (D,)) is cut into `resolution`
  cells per dimension, resolution^D cells in all; a dimension with low == high (a
  coordinate that never changes) puts every point in its first cell.
  """
  if resolution < 1:
    raise ValueError(f"resolution={resolution} must be >= 1.")
  low, high = jnp.asarray(low, x.dtype), jnp.asarray(high, x.dtype)
  width = high - low
  scale = jnp.where(width > 0, resolution / jnp.where(width > 0, width, 1), 0)
  idx = jnp.floor((x - low) * scale).astype(jnp.int32)
  idx = jnp.clip(idx, 0, resolution - 1)
  strides = resolution ** jnp.arange(x.shape[-1] - 1, -1, -1)
  return jnp.sum(idx * strides, -1)


def cell_counts(x: jax.Array, low, high, resolution: int, valid=None) -> jax.Array:
  """Rows of x (N, D) per grid cell (resolution^D,); only rows where valid (N,) is True if given."""
  add = 1.0 if valid is None else valid.astype(jnp.float32)
  return jnp.zeros((resolution ** x.shape[-1],)).at[grid_cells(x, low, high, resolution)].add(add)


def tabular_cnml(n1: jax.Array, n0: jax.Array, cells: jax.Array, query_weight: float = 1.0,
                 positive_weight: float = 1.0, negative_weight: float = 1.0) -> jax.Array:
  """Exact CNML of a tabular model: (w1 n1 + q) / (w1 n1 + w0 n0 + 2q) at `cells`."""
  a, b = positive_weight * n1[cells], negative_weight * n0[cells]
  return (a + query_weight) / (a + b + 2 * query_weight)


def count_probs(positives, negatives, queries, low, high, resolution: int,
                query_weight: float = 1.0) -> jax.Array:
  """The `count` reward: tabular CNML of queries (B, D) on a grid; (n1+1)/(n1+n0+2)."""
  n1, n0 = (cell_counts(x, low, high, resolution) for x in (positives, negatives))
  return tabular_cnml(n1, n0, grid_cells(queries, low, high, resolution), query_weight)
