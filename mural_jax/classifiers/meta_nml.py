"""Meta-NML: conditional NML amortised by second-order MAML, as pure functions.

Meta-training learns an initialisation theta_0 such that ONE SGD step on "a
context batch plus the query with a proposed label" approximates the CNML fit
for that label. A query is then answered, for y in {0, 1}, by

    theta_y = theta_0 - inner_lr * grad L(theta_0; context + (q, y))
    p_NML(1 | q) = p_{theta_1}(1 | q) / Z,  Z = p_{theta_0}(0 | q) + p_{theta_1}(1 | q),

with L the distance-weighted mean cross-entropy sum(w CE) / sum(w)
(`inner_loss`), the one loss of meta-training and of both query paths. The
normalisation by sum(w) is what makes the method optimistic: far from all data
the context weights vanish, the query dominates its batch and either proposed
label is fitted, so Z -> 2 and p -> 1/2.

Context sampling. Meta-training draws a fresh context (points_per_task - 1
points, uniformly without replacement from the pool) for every task. Queries
share ONE context sample per call of `nml_probs` (see `sample_context`); the
distance weights still depend on each query. Sharing lets the context's
forward and backward passes be computed once per batch; averaging over several
contexts (`fit_and_query(num_contexts=...)`) reduces the sampling noise.

Query paths (`nml_probs(method=...)`), equal to float tolerance:
* "lowrank" (default): exact, without a per-query copy of any weight. The
  inner gradient of a dense layer is sum_j c_j a_j delta_j^T (a_j: the layer's
  input, delta_j: dCE_j/d(pre-activation), c_j = w_j / sum(w), all at theta_0),
  so the adapted layer applied to the query's activation h is

      h W + b - inner_lr * sum_j c_j (h . a_j + 1) delta_j.

  Layers are applied in order, so each adapted layer sees activations made by
  the adapted layers below it. Memory O(batch x (context + width)). Cost: one
  forward and one backward pass at theta_0 of context and queries together,
  then one forward pass per label through the adapted hidden layers after the
  first (whose input, the query, both labels share: its product and context
  correction come from the theta_0 pass), and a dot product per label for the
  last layer (only the adapted margin z_1 - z_0 is needed).
* "grad": vmap over queries and labels of a `jax.grad` SGD step, then a forward
  pass; O(batch x params) memory (`chunk_size` bounds it).

To compare the two paths on GPU/TPU, run under
``jax.default_matmul_precision("highest")`` (CPU float32 is exact already).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax.networks import Params, mlp_apply, mlp_init

METHODS = ("lowrank", "grad")
# Distance weight exp(-_KERNEL_RATE * d / kernel_threshold): 0.1 at the threshold.
_KERNEL_RATE = 2.3


@dataclasses.dataclass(frozen=True)
class Settings:
  """Static meta-NML settings; the defaults are the reference's (2-D mazes)."""

  hidden: tuple[int, ...] = (2048, 2048)
  inner_lr: float = 0.01            # SGD step size of the one adaptation step
  points_per_task: int = 64         # inner batch: the query + points_per_task - 1 context points
  pool_size: int = 2048             # half replay states (label 0), half success examples (label 1)
  kernel_threshold: float = 0.5     # distance at which a point's weight is 0.1
  query_weight: float = 1.0
  num_tasks: int = 128              # replay states used as task queries, each with both labels
  num_positive_tasks: int = 0       # success examples used as task queries too (ant: 128)
  meta_batch: int = 16
  meta_lr: float = 1e-3
  first_passes: int = 10            # passes over the tasks after the first epoch
  later_passes: int = 1             # ... and after every later epoch

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
    if not self.hidden or min(self.hidden) < 1:
      raise ValueError(f"hidden={self.hidden} must be a non-empty tuple of positive sizes.")
    _check(self, "inner_lr", self.inner_lr > 0, "> 0")
    _check(self, "kernel_threshold", self.kernel_threshold > 0, "> 0")
    _check(self, "query_weight", self.query_weight > 0, "> 0")
    _check(self, "meta_lr", self.meta_lr > 0, "> 0")
    _check(self, "pool_size", self.pool_size >= 2 and self.pool_size % 2 == 0,
           "an even integer >= 2")
    _check(self, "points_per_task", 1 <= self.points_per_task <= self.pool_size,
           f"1..pool_size={self.pool_size}")
    _check(self, "num_tasks", self.num_tasks >= 0, ">= 0")
    _check(self, "num_positive_tasks", self.num_positive_tasks >= 0, ">= 0")
    _check(self, "num_tasks", self.num_tasks + self.num_positive_tasks >= 1,
           ">= 1 together with num_positive_tasks")
    _check(self, "meta_batch", self.meta_batch >= 1, ">= 1")
    _check(self, "first_passes", self.first_passes >= 0, ">= 0")
    _check(self, "later_passes", self.later_passes >= 0, ">= 0")

  @property
  def context_size(self) -> int:
    return self.points_per_task - 1

  @property
  def inner_query_weight(self) -> float:
    """The query's weight in the inner batch: it is in every batch, so downweighted."""
    return self.query_weight * self.points_per_task / self.pool_size

  @property
  def outer_query_weight(self) -> float:
    return self.query_weight / 2

  @property
  def num_negatives(self) -> int:
    """Visited states one `meta_train` call uses: the pool's label-0 half, then the tasks."""
    return self.pool_size // 2 + self.num_tasks

  @property
  def num_task_queries(self) -> int:
    return 2 * (self.num_tasks + self.num_positive_tasks)

  @property
  def steps_per_pass(self) -> int:
    return -(-self.num_task_queries // self.meta_batch)


def _check(settings, name, ok, valid):
  if not ok:
    raise ValueError(f"{name}={getattr(settings, name)!r} is invalid; valid: {valid}.")


@struct.dataclass
class State:
  """Meta-learned classifier, its Adam state (never reset) and the context pool."""

  params: Params
  opt_state: optax.OptState
  pool_x: jax.Array       # (pool_size, D): the last meta-training pool, source of contexts
  pool_y: jax.Array       # (pool_size,) int32
  epoch: jax.Array        # () int32: meta_train calls so far; passes_for_epoch(settings, epoch)
  settings: Settings = struct.field(pytree_node=False)


@struct.dataclass
class Context:
  """Context points shared by a batch of queries."""

  x: jax.Array  # (C, D)
  y: jax.Array  # (C,) int32


def _meta_optimizer(settings: Settings) -> optax.GradientTransformation:
  return optax.adam(settings.meta_lr)


def init(key: jax.Array, settings: Settings, input_dim: int) -> State:
  """Fresh classifier (2 logits), Adam state and an all-zero pool (until meta_train)."""
  if input_dim < 1:
    raise ValueError(f"input_dim={input_dim} must be >= 1.")
  params = mlp_init(key, (input_dim, *settings.hidden, 2))
  half = settings.pool_size // 2
  return State(
      params=params,
      opt_state=_meta_optimizer(settings).init(params),
      pool_x=jnp.zeros((settings.pool_size, input_dim)),
      pool_y=jnp.repeat(jnp.arange(2, dtype=jnp.int32), half),
      epoch=jnp.zeros((), jnp.int32),
      settings=settings)


# -- the loss ------------------------------------------------------------------

def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-example CE of 2-logit outputs. logits (..., 2), labels (...) -> (...)."""
  log_p = jax.nn.log_softmax(logits)
  return -jnp.take_along_axis(log_p, labels[..., None], -1)[..., 0]


def inner_loss(params: Params, x: jax.Array, y: jax.Array, w: jax.Array) -> jax.Array:
  """Weighted mean CE, sum(w * CE) / sum(w), of a batch x (n, D), y (n,), w (n,)."""
  return jnp.sum(w * cross_entropy(mlp_apply(params, x), y)) / jnp.sum(w)


def adapt(params: Params, x, y, w, lr: float) -> Params:
  """One SGD step on `inner_loss` (differentiable: MAML is second order)."""
  grads = jax.grad(inner_loss)(params, x, y, w)
  return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def distance_weights(query: jax.Array, x: jax.Array, threshold: float) -> jax.Array:
  """exp(-2.3 ||x - query|| / threshold): 1 at the query, 0.1 at the threshold."""
  return jnp.exp(-_KERNEL_RATE * jnp.linalg.norm(x - query, axis=-1) / threshold)


def with_query(query, label, x, y, query_weight, threshold):
  """The batch `query` first (weight query_weight), then x, distance-weighted."""
  xs = jnp.concatenate([query[None], x])
  ys = jnp.concatenate([label[None].astype(y.dtype), y])
  ws = jnp.concatenate([jnp.full((1,), query_weight), distance_weights(query, x, threshold)])
  return xs, ys, ws


# -- meta-training -------------------------------------------------------------

def passes_for_epoch(settings: Settings, epoch) -> jax.Array:
  """Passes over the tasks after epoch `epoch` (0-based): first_passes, then later_passes."""
  return jnp.where(jnp.asarray(epoch) == 0, settings.first_passes, settings.later_passes)


def _split_negatives(key, negatives, settings):
  """Disjoint pool negatives (pool_size / 2, D) and task queries (num_tasks, D).

  One draw of pool_size / 2 + num_tasks visited states, without replacement
  when `negatives` has that many rows (the trainer passes exactly that many),
  split in two as the reference does: no task query also sits in the pool.
  """
  half, needed = settings.pool_size // 2, settings.num_negatives
  idx = jax.random.choice(key, negatives.shape[0], (needed,), replace=negatives.shape[0] < needed)
  return negatives[idx[:half]], negatives[idx[half:]]


def _sample_pool(key, positives, pool_negatives):
  """The pool: the given replay states (label 0), then as many success examples (label 1)."""
  half = pool_negatives.shape[0]
  pos = positives[jax.random.randint(key, (half,), 0, positives.shape[0])]
  return (jnp.concatenate([pool_negatives, pos]),
          jnp.repeat(jnp.arange(2, dtype=jnp.int32), half))


def _sample_tasks(key, positives, task_negatives, settings):
  """Task queries (T, D) and proposed labels (T,): every query with BOTH labels.

  The queries are `task_negatives` then num_positive_tasks success examples.
  """
  points = jnp.concatenate([
      task_negatives,
      positives[jax.random.randint(key, (settings.num_positive_tasks,), 0, positives.shape[0])]])
  labels = jnp.repeat(jnp.arange(2, dtype=jnp.int32), points.shape[0])
  return jnp.concatenate([points, points]), labels


def _task_loss(params, query, label, context_idx, pool_x, pool_y, settings):
  """Outer loss of one task: adapt on query + context, score on the pool + query.

  The outer set is the whole distance-weighted pool (the reference: 1023 + 1023
  of its points) plus the query at weight query_weight / 2.
  """
  x, y, w = with_query(query, label, pool_x[context_idx], pool_y[context_idx],
                        settings.inner_query_weight, settings.kernel_threshold)
  adapted = adapt(params, x, y, w, settings.inner_lr)
  x, y, w = with_query(query, label, pool_x, pool_y,
                        settings.outer_query_weight, settings.kernel_threshold)
  return inner_loss(adapted, x, y, w)


def _meta_loss(params, queries, labels, key, pool_x, pool_y, settings):
  """Mean outer loss of a meta-batch of tasks, each with its own context draw."""
  keys = jax.random.split(key, queries.shape[0])
  context_idx = jax.vmap(lambda k: jax.random.choice(
      k, settings.pool_size, (settings.context_size,), replace=False))(keys)
  losses = jax.vmap(_task_loss, (None, 0, 0, 0, None, None, None))(
      params, queries, labels, context_idx, pool_x, pool_y, settings)
  return jnp.mean(losses)


def meta_train(state: State, positives: jax.Array, negatives: jax.Array, key: jax.Array,
               num_passes) -> tuple[State, dict]:
  """Second-order MAML on a fresh pool and task set built from the data.

  positives (P, D): success examples, resampled with replacement; negatives
  (N, D): visited states, split without overlap into the pool's label-0 half
  and the task queries (`_split_negatives`). `num_passes` (int or traced int, e.g.
  `passes_for_epoch(settings, epoch)`; one compiled program serves every value)
  passes over the tasks in meta-batches of `meta_batch`; a last partial
  batch wraps around. Returns the new state (its pool is the context source of
  later queries) and metrics: mean outer loss `meta_loss` and `meta_steps`.
  """
  return _meta_train(state, positives, negatives, key, jnp.asarray(num_passes, jnp.int32))


@jax.jit
def _meta_train(state, positives, negatives, key, num_passes):
  settings = state.settings
  k_split, k_pool, k_tasks, k_passes = jax.random.split(key, 4)
  pool_negatives, task_negatives = _split_negatives(k_split, negatives, settings)
  pool_x, pool_y = _sample_pool(k_pool, positives, pool_negatives)
  queries, labels = _sample_tasks(k_tasks, positives, task_negatives, settings)
  optimizer = _meta_optimizer(settings)
  steps, batch = settings.steps_per_pass, settings.meta_batch

  def meta_step(carry, xs):
    params, opt_state = carry
    idx, k = xs
    loss, grads = jax.value_and_grad(_meta_loss)(
        params, queries[idx], labels[idx], k, pool_x, pool_y, settings)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  def one_pass(i, carry):
    params, opt_state, loss_sum = carry
    k_perm, k_ctx = jax.random.split(jax.random.fold_in(k_passes, i))
    order = jax.random.permutation(k_perm, settings.num_task_queries)
    order = jnp.resize(order, (steps * batch,)).reshape(steps, batch)  # wrap around
    (params, opt_state), losses = jax.lax.scan(
        meta_step, (params, opt_state), (order, jax.random.split(k_ctx, steps)))
    return params, opt_state, loss_sum + losses.sum()

  params, opt_state, loss_sum = jax.lax.fori_loop(
      0, num_passes, one_pass, (state.params, state.opt_state, jnp.zeros(())))
  meta_steps = num_passes * steps
  state = state.replace(params=params, opt_state=opt_state, pool_x=pool_x, pool_y=pool_y,
                        epoch=state.epoch + 1)
  return state, {"meta_loss": loss_sum / jnp.maximum(meta_steps, 1), "meta_steps": meta_steps}


# -- queries ------------------------------------------------------------------

def sample_context(state: State, key: jax.Array) -> Context:
  """points_per_task - 1 pool points, uniformly without replacement, for a batch of queries."""
  idx = jax.random.choice(key, state.settings.pool_size, (state.settings.context_size,),
                          replace=False)
  return Context(x=state.pool_x[idx], y=state.pool_y[idx])


def _params_and_settings(state_or_params, settings):
  if isinstance(state_or_params, State):
    return state_or_params.params, state_or_params.settings
  if settings is None:
    raise ValueError("settings=None: pass Settings when querying with bare params.")
  return state_or_params, settings


def _normalise(own_probs: jax.Array) -> tuple[jax.Array, jax.Array]:
  """own_probs (B, 2): p_{theta_y}(y | q). Returns p_NML(1 | q) (B,) and Z (B,)."""
  z = own_probs.sum(-1)
  return own_probs[:, 1] / z, z


def _own_label_probs(logits: jax.Array) -> jax.Array:
  """logits (..., 2 labels, 2 classes) of theta_y -> p_{theta_y}(y) (..., 2)."""
  return jnp.diagonal(jax.nn.softmax(logits), axis1=-2, axis2=-1)


def _grad_path(params, settings, queries, context, chunk_size):
  """vmap over queries and labels of one `adapt` step, then the query's forward."""
  def logits(query, label):
    x, y, w = with_query(query, label, context.x, context.y,
                          settings.inner_query_weight, settings.kernel_threshold)
    return mlp_apply(adapt(params, x, y, w, settings.inner_lr), query)

  def per_query(query):
    return jax.vmap(logits, (None, 0))(query, jnp.arange(2))     # (2, 2)

  if chunk_size is None:
    out = jax.vmap(per_query)(queries)
  else:
    out = jax.lax.map(per_query, queries, batch_size=chunk_size)
  return _own_label_probs(out)                                      # (B, 2)


def _taps(params: Params, x: jax.Array):
  """Forward and margin backward at theta_0 of a batch x (n, D).

  Returns the margins z_1 - z_0 (n,), every layer's input a_l (n, in_l) and, for
  every layer but the last, m_l = d(z_1 - z_0)/dz_l (n, out_l) (at the last
  layer it is (-1, 1) for every example), and the first layer's z_0 (n, out_0).
  """
  inputs, pre = [], []
  for layer in params:
    inputs.append(x)
    pre.append(x @ layer["w"] + layer["b"])
    x = jax.nn.relu(pre[-1])
  w_out = params[-1]["w"]
  m = jnp.where(pre[-2] > 0, w_out[:, 1] - w_out[:, 0], 0.0)      # (n, out_{L-2})
  margins = [m]
  for layer, z in zip(params[-2:0:-1], pre[-3::-1]):
    m = jnp.where(z > 0, m @ layer["w"].T, 0.0)
    margins.insert(0, m)
  return pre[-1][:, 1] - pre[-1][:, 0], inputs, margins, pre[0]


def _lowrank_path(params, settings, queries, context):
  """Exact adapted-network probabilities from per-example outer products; no weight copies.

  With 2 logits each example's delta at layer l is c_j * m_j, where m_j =
  d(z_1 - z_0)/dz_l does not depend on the label and c_j = dCE/dz_1 does; one
  backward pass of context and queries together thus serves both labels. The
  query is each label's input to the first layer, so that layer's product and
  context correction are computed once for both; the last layer only needs the
  adapted margin, a dot product with a per-query vector.
  """
  n_ctx, lr, wq = context.x.shape[0], settings.inner_lr, settings.inner_query_weight
  margin, inputs, margins, z_first = _taps(params, jnp.concatenate([context.x, queries]))
  ctx, qry = slice(None, n_ctx), slice(n_ctx, None)
  w_ctx = jax.vmap(distance_weights, (0, None, None))(
      queries, context.x, settings.kernel_threshold)                      # (B, C)
  total = w_ctx.sum(-1, keepdims=True) + wq                              # (B, 1)
  p1 = jax.nn.sigmoid(margin)                                            # p_theta0(1 | x)
  coef_ctx = w_ctx / total * (p1[ctx] - context.y)                       # (B, C): c_j
  coef_q = wq / total * (p1[qry, None] - jnp.arange(2))                  # (B, 2): per label

  # First layer: the same input q for both labels.
  a, m = inputs[0], margins[0]
  z_ctx = z_first[qry] - lr * ((queries @ a[ctx].T + 1) * coef_ctx) @ m[ctx]   # (B, out)
  s_q = (jnp.sum(queries * queries, -1, keepdims=True) + 1) * coef_q          # (B, 2)
  h = jax.nn.relu(z_ctx[:, None] - lr * s_q[..., None] * m[qry, None])        # (B, 2, out)
  for layer, a, m in zip(params[1:-1], inputs[1:-1], margins[1:]):
    s_q = (jnp.einsum("byi,bi->by", h, a[qry]) + 1) * coef_q                  # (B, 2)
    s_ctx = (h @ a[ctx].T + 1) * coef_ctx[:, None]                            # (B, 2, C)
    h = jax.nn.relu(h @ layer["w"] + layer["b"]
                    - lr * (s_ctx @ m[ctx] + s_q[..., None] * m[qry, None]))
  # Last layer: only the adapted margin z_1 - z_0; m_j = (-1, 1) there, so every example
  # moves the margin's weights w_1 - w_0 by -2 lr c_j a_j and its bias by -2 lr c_j.
  a, w, b = inputs[-1], params[-1]["w"], params[-1]["b"]
  v = (w[:, 1] - w[:, 0]) - 2 * lr * (coef_ctx @ a[ctx])                    # (B, in)
  u = (jnp.einsum("byi,bi->by", h, v) + (b[1] - b[0]) - 2 * lr * coef_ctx.sum(-1, keepdims=True)
       - 2 * lr * coef_q * (jnp.einsum("byi,bi->by", h, a[qry]) + 1))        # (B, 2)
  return jax.nn.sigmoid(jnp.stack([-u[:, 0], u[:, 1]], -1))                 # p_theta_y(y | q)


def nml_probs(state_or_params, queries: jax.Array, context: Context,
              settings: Settings | None = None, method: str = "lowrank",
              chunk_size: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Meta-NML p(success) (B,) and normaliser Z (B,) for queries (B, D).

  Z = p_{theta_0}(0 | q) + p_{theta_1}(1 | q); exact CNML has Z in [1, 2] and
  meta-NML learns to approximate it (log Z: the regret, an uncertainty score).

  One vmapped computation over queries x labels. `state_or_params`: a `State`,
  or bare params with `settings`. `method`: "lowrank" (default) or "grad";
  `chunk_size` bounds the "grad" path's memory (queries per vmapped chunk).
  """
  if method not in METHODS:
    raise ValueError(f"method={method!r} is invalid; valid: {', '.join(METHODS)}.")
  if chunk_size is not None and chunk_size < 1:
    raise ValueError(f"chunk_size={chunk_size} must be >= 1 or None.")
  params, settings = _params_and_settings(state_or_params, settings)
  return _nml_probs(params, queries, context, settings, method, chunk_size)


@functools.partial(jax.jit, static_argnames=("settings", "method", "chunk_size"))
def _nml_probs(params, queries, context, settings, method, chunk_size):
  if method == "grad":
    own = _grad_path(params, settings, queries, context, chunk_size)
  else:
    own = _lowrank_path(params, settings, queries, context)
  return _normalise(own)


def mle_probs(state_or_params, x: jax.Array) -> jax.Array:
  """Plain p(success) (...) of the meta-learned classifier at theta_0, no adaptation."""
  params = state_or_params.params if isinstance(state_or_params, State) else state_or_params
  return jax.nn.softmax(mlp_apply(params, x))[..., 1]


def fit_and_query(key: jax.Array, positives, negatives, queries,
                  settings: Settings = Settings(), num_passes: int | None = None,
                  num_contexts: int = 1) -> tuple[jax.Array, jax.Array]:
  """Meta-NML probabilities of `queries` on arbitrary data, from scratch.

  Initialises, meta-trains for `num_passes` (default: settings.first_passes)
  on success examples `positives` (P, D) vs visited states `negatives` (N, D),
  and returns p_NML(1 | q) and Z, averaged over `num_contexts` context draws.

  Example (in a notebook)::

    settings = meta_nml.Settings(hidden=(64, 64), pool_size=512)
    p, z = meta_nml.fit_and_query(jax.random.key(0), success, visited, grid_points,
                                  settings, num_passes=20, num_contexts=8)
  """
  if num_contexts < 1:
    raise ValueError(f"num_contexts={num_contexts} must be >= 1.")
  positives, negatives, queries = map(jnp.asarray, (positives, negatives, queries))
  k_init, k_train, k_ctx = jax.random.split(key, 3)
  state = init(k_init, settings, queries.shape[-1])
  passes = settings.first_passes if num_passes is None else num_passes
  state, _ = meta_train(state, positives, negatives, k_train, passes)
  contexts = jax.vmap(sample_context, (None, 0))(state, jax.random.split(k_ctx, num_contexts))
  p, z = jax.vmap(lambda c: nml_probs(state, queries, c))(contexts)
  return p.mean(0), z.mean(0)
