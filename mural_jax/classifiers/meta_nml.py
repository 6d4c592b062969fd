"""Meta-NML: conditional NML amortised by second-order MAML (the `mural` reward).

Meta-training learns an initialisation theta_0 such that ONE SGD step on "a
context batch plus the query with a proposed label" approximates the CNML fit
for that label; `nml_query` holds that step and the queries it answers:
p_NML(1 | q) = p_{theta_1}(1 | q) / (p_{theta_0}(0 | q) + p_{theta_1}(1 | q)).
Its loss is the distance-weighted mean cross-entropy sum(w CE) / sum(w). The
normalisation by sum(w) is what makes the method optimistic: far from all data
the context weights vanish, the query dominates its batch and either proposed
label is fitted, so Z -> 2 and p -> 1/2.

Context sampling. Meta-training draws a fresh context (points_per_task - 1
points, uniformly without replacement from the pool) for every task. Queries
share ONE context sample per `Classifier.probs` call (`Classifier.sample_context`);
the distance weights still depend on each query. Sharing lets the context's
forward and backward passes be computed once per batch; averaging over several
contexts (`fit_and_query(num_contexts=...)`) reduces the sampling noise.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct

from mural_jax import checks, settings
from mural_jax.classifiers import common, nml_query
from mural_jax.classifiers.nml_query import Context, adapt, inner_loss, nml_probs, with_query
from mural_jax.networks import Params
from mural_jax.optim import gradient_step


Settings = settings.MetaNML  # its run config section, defined without jax


@struct.dataclass
class State:
  """Meta-learned classifier, its Adam state (never reset) and the context pool."""

  params: Params
  opt_state: optax.OptState
  pool_x: jax.Array       # (pool_size, D): the last meta-training pool, source of contexts
  pool_y: jax.Array       # (pool_size,) int32
  epoch: jax.Array        # () int32: train calls so far
  kernel_threshold: jax.Array  # () float32: the one in use (set by the first `train` if
                               # kernel_share > 0, then fixed for the run)


def passes_for_epoch(settings: Settings, epoch) -> jax.Array:
  """Passes over the tasks after epoch `epoch` (0-based): first_passes, then later_passes."""
  return jnp.where(jnp.asarray(epoch) == 0, settings.first_passes, settings.later_passes)


@dataclasses.dataclass(frozen=True)
class Classifier:
  """Meta-NML over inputs of size `input_size`."""

  settings: Settings
  input_size: int

  def __post_init__(self):
    checks.require(self.input_size >= 1, f"input_size must be >= 1, got {self.input_size!r}.")

  @property
  def num_negatives(self) -> int:
    return self.settings.num_negatives

  def init(self, key: jax.Array) -> State:
    """Fresh classifier (2 logits), Adam state and an all-zero pool (until `train`)."""
    s = self.settings
    params = common.mlp_params(key, self.input_size, s.hidden)
    return State(
        params=params,
        opt_state=optax.adam(s.meta_lr).init(params),
        pool_x=jnp.zeros((s.pool_size, self.input_size)),
        pool_y=jnp.repeat(jnp.arange(2, dtype=jnp.int32), s.pool_size // 2),
        epoch=jnp.zeros((), jnp.int32),
        kernel_threshold=jnp.asarray(s.kernel_threshold, jnp.float32))

  def train(self, state: State, positives: jax.Array, negatives: jax.Array, key: jax.Array,
            num_passes) -> tuple[State, dict]:
    """Second-order MAML on a fresh pool and task set built from the data.

    positives (P, D): success examples, resampled with replacement; negatives
    (N, D): visited states, split without overlap into the pool's label-0 half
    and the task queries (`_split_negatives`). `num_passes` (int or traced int,
    e.g. `passes_for_epoch(settings, epoch)`; one compiled program serves every
    value) passes over the tasks in meta-batches of `meta_batch`; a last partial
    batch wraps around. Returns the new state (its pool is the context source of
    later queries) and metrics: mean outer loss `meta_loss` and `meta_steps`.
    """
    return _meta_train(self.settings, state, positives, negatives, key,
                       jnp.asarray(num_passes, jnp.int32))

  def sample_context(self, state: State, key: jax.Array) -> Context:
    """points_per_task - 1 pool points, uniformly without replacement, for a batch of queries."""
    s = self.settings
    idx = jax.random.choice(key, s.pool_size, (s.context_size,), replace=False)
    return Context(x=state.pool_x[idx], y=state.pool_y[idx])

  def probs(self, state: State, x: jax.Array, key: jax.Array) -> jax.Array:
    """Meta-NML p(success) (B,) of x (B, D), all queries sharing one context drawn with `key`."""
    return nml_probs(state.params, x, self.sample_context(state, key), self.settings,
                     threshold=state.kernel_threshold)[0]


# -- meta-training -------------------------------------------------------------

def _split_negatives(key, negatives, settings):
  """Disjoint pool negatives (pool_size / 2, D) and task queries (num_tasks, D).

  One draw of pool_size / 2 + num_tasks visited states, without replacement
  when `negatives` has that many rows (the trainer passes exactly that many),
  split in two as the reference does: no task query also sits in the pool.
  """
  half, needed = settings.pool_size // 2, settings.num_negatives
  idx = jax.random.choice(key, negatives.shape[0], (needed,), replace=negatives.shape[0] < needed)
  return negatives[idx[:half]], negatives[idx[half:]]


def _sample_tasks(key, positives, task_negatives, settings):
  """Task queries (T, D) and proposed labels (T,): every query with BOTH labels.

  The queries are `task_negatives` then num_positive_tasks success examples.
  """
  points = jnp.concatenate([
      task_negatives, common.resample(key, positives, settings.num_positive_tasks)])
  labels = jnp.repeat(jnp.arange(2, dtype=jnp.int32), points.shape[0])
  return jnp.concatenate([points, points]), labels


def adapted_params(params, query, label, context_idx, pool_x, pool_y, settings, threshold):
  """A task's inner step: one SGD step on the query (weight inner_query_weight) and its
  context, the pool points `context_idx`, weighted by distance to the query."""
  x, y, w = with_query(query, label, pool_x[context_idx], pool_y[context_idx],
                       settings.inner_query_weight, threshold)
  return adapt(params, x, y, w, settings.inner_lr)


def outer_batch(query, label, pool_x, pool_y, settings, threshold):
  """A task's outer set (x, y, w), (1 + pool_size,) each: the query at weight
  query_weight / 2, then the whole distance-weighted pool (the reference: 1023 + 1023 of
  its points)."""
  return with_query(query, label, pool_x, pool_y, settings.outer_query_weight, threshold)


def task_loss(params, query, label, context_idx, pool_x, pool_y, settings, threshold):
  """Outer loss of one task: adapt on query + context, score on the outer set."""
  adapted = adapted_params(params, query, label, context_idx, pool_x, pool_y, settings,
                           threshold)
  return inner_loss(adapted, *outer_batch(query, label, pool_x, pool_y, settings, threshold))


def positive_share(settings: Settings, state: State, queries: jax.Array) -> jax.Array:
  """Share of a task's outer-loss weight that falls on the pool's success examples, for
  tasks queried at `queries` (Q, D) -> (Q,).

  The outer set is weighted by distance to the query, so success examples shape theta_0
  only through tasks queried near them: where no visited state is, the goal's reading is
  the network's extrapolation unless success examples are task queries too
  (`num_positive_tasks`).
  """
  def share(query):
    _, y, w = with_query(query, jnp.zeros((), jnp.int32), state.pool_x, state.pool_y,
                         settings.outer_query_weight, state.kernel_threshold)
    return jnp.sum(w[1:] * (y[1:] == 1)) / jnp.sum(w)   # w[0]: the query itself
  return jax.vmap(share)(queries)


def meta_loss(params, queries, labels, key, pool_x, pool_y, settings, threshold):
  """Mean outer loss of a meta-batch of tasks, each with its own context draw."""
  keys = jax.random.split(key, queries.shape[0])
  context_idx = jax.vmap(lambda k: jax.random.choice(
      k, settings.pool_size, (settings.context_size,), replace=False))(keys)
  losses = jax.vmap(task_loss, (None, 0, 0, 0, None, None, None, None))(
      params, queries, labels, context_idx, pool_x, pool_y, settings, threshold)
  return jnp.mean(losses)


# -- the kernel threshold's calibration -----------------------------------------------

CALIBRATION_DRAWS = 64  # context draws the expected query share is averaged over


def share_draws(key: jax.Array, settings: Settings, draws: int = CALIBRATION_DRAWS):
  """Pool indices (draws, C) of `draws` contexts, each C = points_per_task - 1 points drawn
  uniformly without replacement, as a query's context is: the draws `query_share` uses."""
  return jax.vmap(lambda k: jax.random.choice(
      k, settings.pool_size, (settings.context_size,), replace=False))(
          jax.random.split(key, draws))


def _context_distances(pool_x, draws):
  """Distances (Q, draws, C) from each replay state (label 0, the pool's first half) to
  the points of every context draw; inf where the draw holds the query itself."""
  q = pool_x.shape[0] // 2
  d = jnp.linalg.norm(pool_x[:q, None, None] - pool_x[draws][None], axis=-1)
  return jnp.where(draws[None] == jnp.arange(q)[:, None, None], jnp.inf, d)


def _median_share(distances, settings, threshold):
  """Median over queries of the mean over draws of w_q / (w_q + sum of context weights)."""
  w = jnp.exp(-nml_query.KERNEL_RATE * distances / threshold)       # 0 at the query itself
  wq = settings.inner_query_weight
  return jnp.median(jnp.mean(wq / (wq + w.sum(-1)), -1))


def query_share(pool_x, settings: Settings, threshold, draws) -> jax.Array:
  """The share of its inner batch that a query at the median replay state of the pool
  holds, expected over the context draws `draws` (`share_draws`), at kernel threshold
  `threshold` and the inner query weight: () float. Far from the data it tends to 1 (the
  query alone is fitted: optimism), among many near neighbours to 0."""
  return _median_share(_context_distances(pool_x, draws), settings, threshold)


def calibrate(pool_x, settings: Settings, draws, iterations: int = 64) -> jax.Array:
  """The kernel threshold at which `query_share` is `settings.kernel_share`, by bisection
  in log threshold over [1e-6, 1e6] x the largest distance (with the draws fixed, the
  share falls as the threshold grows). Where the share cannot be reached (points all
  alike: it stays near w_q / (w_q + C)), a bracket's end comes back, and `query_share`
  there says so."""
  d = _context_distances(pool_x, draws)
  scale = jnp.maximum(jnp.max(jnp.where(jnp.isfinite(d), d, 0.0)), 1e-12)
  target = settings.kernel_share

  def halve(_, bounds):
    lo, hi = bounds
    mid = 0.5 * (lo + hi)
    too_wide = _median_share(d, settings, jnp.exp(mid)) < target
    return jnp.where(too_wide, lo, mid), jnp.where(too_wide, mid, hi)

  lo, hi = jax.lax.fori_loop(0, iterations, halve,
                             (jnp.log(scale * 1e-6), jnp.log(scale * 1e6)))
  return jnp.exp(0.5 * (lo + hi))


@functools.partial(jax.jit, static_argnums=0)
def _meta_train(settings, state, positives, negatives, key, num_passes):
  k_split, k_pool, k_tasks, k_passes = jax.random.split(key, 4)
  pool_negatives, task_negatives = _split_negatives(k_split, negatives, settings)
  pool_x, pool_y = common.balanced_batch(k_pool, positives, pool_negatives)
  queries, labels = _sample_tasks(k_tasks, positives, task_negatives, settings)
  # Folded, not split: the other keys are those of an uncalibrated run.
  draws = share_draws(jax.random.fold_in(key, 1), settings)
  threshold = state.kernel_threshold
  if settings.kernel_share > 0:  # the first pool sets it; later epochs keep it
    threshold = jnp.where(state.epoch == 0, calibrate(pool_x, settings, draws), threshold)
  optimizer = optax.adam(settings.meta_lr)
  steps, batch = settings.steps_per_pass, settings.meta_batch

  def meta_step(carry, xs):
    params, opt_state = carry
    idx, k = xs
    params, opt_state, loss = gradient_step(meta_loss, optimizer, params, opt_state,
                                            queries[idx], labels[idx], k, pool_x, pool_y,
                                            settings, threshold)
    return (params, opt_state), loss

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
                        epoch=state.epoch + 1, kernel_threshold=threshold)
  return state, {"meta_loss": loss_sum / jnp.maximum(meta_steps, 1), "meta_steps": meta_steps,
                 "meta_nml_kernel_threshold": threshold,
                 "meta_nml_query_share": query_share(pool_x, settings, threshold, draws)}


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
  clf = Classifier(settings, queries.shape[-1])
  passes = settings.first_passes if num_passes is None else num_passes
  state, _ = clf.train(clf.init(k_init), positives, negatives, k_train, passes)
  contexts = jax.vmap(clf.sample_context, (None, 0))(state, jax.random.split(k_ctx, num_contexts))
  p, z = jax.vmap(lambda c: nml_probs(state.params, queries, c, settings,
                                       threshold=state.kernel_threshold))(contexts)
  return p.mean(0), z.mean(0)
