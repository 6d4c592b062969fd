"""Exact conditional NML (CNML): one full refit per query and proposed label.

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
it the tabular model) and `mlp_log_probs` (the shared MLP with 2 logits).

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

import functools
from typing import Callable

import jax
import numpy as np
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from mural_jax.networks import mlp_apply, mlp_init

SOLVERS = ("newton", "adam", "lbfgs")
LogProbs = Callable[[object, jax.Array], jax.Array]
# Newton step sizes tried at every iteration, largest first: the largest at which
# the objective still decreases along the step is taken.
_NEWTON_STEP_SIZES = 2.0 ** np.arange(4, -16, -1)
# Ridge added to the Hessian, relative to its largest diagonal entry: only guards
# exact singularity (cells without data), small enough that a logit heading for
# an infinite optimum keeps moving until its probability is ~1e-9 from 0 or 1.
_NEWTON_DAMPING = 1e-10


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


def mlp_params(key: jax.Array, input_dim: int, hidden) -> list:
  """Fresh parameters of the shared MLP with 2 logits."""
  return mlp_init(key, (input_dim, *hidden, 2))


def mlp_log_probs(params, x: jax.Array) -> jax.Array:
  """The shared ReLU MLP with 2 logits, softmax. x (..., D) -> log p (..., 2)."""
  return jax.nn.log_softmax(mlp_apply(params, x))


# -- fitting -----------------------------------------------------------------

def l2_penalty(params) -> jax.Array:
  """0.5 * sum of squared weights ("w" leaves), biases excluded."""
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  return 0.5 * sum(jnp.sum(leaf ** 2) for path, leaf in leaves
                   if getattr(path[-1], "key", None) == "w")


def objective(log_probs: LogProbs, params, x, y, w, l2: float) -> jax.Array:
  """Weighted summed cross-entropy of x (n, D), y (n,), w (n,) plus the L2 penalty."""
  log_p = jnp.take_along_axis(log_probs(params, x), y[:, None], -1)[:, 0]
  return -jnp.sum(w * log_p) + l2 * l2_penalty(params)


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


def _check(solver, steps):
  if solver not in SOLVERS:
    raise ValueError(f"solver={solver!r} is invalid; valid: {', '.join(SOLVERS)}.")
  if steps < 1:
    raise ValueError(f"steps={steps} must be >= 1.")


@functools.partial(jax.jit, static_argnames=("log_probs", "solver", "steps"))
def fit(log_probs: LogProbs, params, x, y, w, l2: float = 0.0, solver: str = "newton",
        steps: int = 50, learning_rate: float = 1e-2):
  """Minimises `objective` from `params` with `solver` for `steps` steps.

  `learning_rate` is used by "adam" only.
  """
  _check(solver, steps)
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
  _check(solver, steps)

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
  cells per dimension, resolution^D cells in all.
  """
  if resolution < 1:
    raise ValueError(f"resolution={resolution} must be >= 1.")
  low, high = jnp.asarray(low, x.dtype), jnp.asarray(high, x.dtype)
  idx = jnp.floor((x - low) / (high - low) * resolution).astype(jnp.int32)
  idx = jnp.clip(idx, 0, resolution - 1)
  strides = resolution ** jnp.arange(x.shape[-1] - 1, -1, -1)
  return jnp.sum(idx * strides, -1)


def grid_counts(positives: jax.Array, negatives: jax.Array, low, high,
                resolution: int) -> tuple[jax.Array, jax.Array]:
  """Positive and negative counts n1, n0 per grid cell, each (resolution^D,)."""
  cells = resolution ** positives.shape[-1]
  count = lambda x: jnp.zeros((cells,)).at[grid_cells(x, low, high, resolution)].add(1.0)
  return count(positives), count(negatives)


def tabular_cnml(n1: jax.Array, n0: jax.Array, cells: jax.Array, query_weight: float = 1.0,
                 positive_weight: float = 1.0, negative_weight: float = 1.0) -> jax.Array:
  """Exact CNML of a tabular model: (w1 n1 + q) / (w1 n1 + w0 n0 + 2q) at `cells`."""
  a, b = positive_weight * n1[cells], negative_weight * n0[cells]
  return (a + query_weight) / (a + b + 2 * query_weight)


def count_probs(positives, negatives, queries, low, high, resolution: int,
                query_weight: float = 1.0) -> jax.Array:
  """The `count` reward: tabular CNML of queries (B, D) on a grid; (n1+1)/(n1+n0+2)."""
  n1, n0 = grid_counts(positives, negatives, low, high, resolution)
  return tabular_cnml(n1, n0, grid_cells(queries, low, high, resolution), query_weight)
