"""Meta-NML's inner step and its exact query paths, as pure functions of the parameters.

A query q is answered, for each proposed label y in {0, 1}, by one SGD step
from theta_0 on the query (weight `inner_query_weight`) plus a shared context
of pool points (distance-weighted):

    theta_y = theta_0 - inner_lr * grad L(theta_0; context + (q, y))
    p_NML(1 | q) = p_{theta_1}(1 | q) / Z,  Z = p_{theta_0}(0 | q) + p_{theta_1}(1 | q),

with L the distance-weighted mean cross-entropy sum(w CE) / sum(w)
(`inner_loss`), the one loss of meta-training and of both query paths.

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

import functools

import jax
import jax.numpy as jnp
from flax import struct

from mural_jax.classifiers import common
from mural_jax.networks import Params, mlp_apply

METHODS = ("lowrank", "grad")
# Distance weight exp(-KERNEL_RATE * d / kernel_threshold): 0.1 at the threshold.
KERNEL_RATE = 2.3


@struct.dataclass
class Context:
  """Context points shared by a batch of queries."""

  x: jax.Array  # (C, D)
  y: jax.Array  # (C,) int32


# -- the inner step -------------------------------------------------------------------

def inner_loss(params: Params, x: jax.Array, y: jax.Array, w: jax.Array) -> jax.Array:
  """Weighted mean CE, sum(w * CE) / sum(w), of a batch x (n, D), y (n,), w (n,)."""
  return common.weighted_cross_entropy(common.log_probs(params, x), y, w, normalise=True)


def adapt(params: Params, x, y, w, lr: float) -> Params:
  """One SGD step on `inner_loss` (differentiable: MAML is second order)."""
  grads = jax.grad(inner_loss)(params, x, y, w)
  return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def distance_weights(query: jax.Array, x: jax.Array, threshold: float) -> jax.Array:
  """exp(-2.3 ||x - query|| / threshold): 1 at the query, 0.1 at the threshold."""
  return jnp.exp(-KERNEL_RATE * jnp.linalg.norm(x - query, axis=-1) / threshold)


def with_query(query, label, x, y, query_weight, threshold):
  """The batch `query` first (weight query_weight), then x, distance-weighted."""
  xs = jnp.concatenate([query[None], x])
  ys = jnp.concatenate([label[None].astype(y.dtype), y])
  ws = jnp.concatenate([jnp.full((1,), query_weight), distance_weights(query, x, threshold)])
  return xs, ys, ws


# -- the query paths --------------------------------------------------------------------

def _normalise(own_probs: jax.Array) -> tuple[jax.Array, jax.Array]:
  """own_probs (B, 2): p_{theta_y}(y | q). Returns p_NML(1 | q) (B,) and Z (B,)."""
  z = own_probs.sum(-1)
  return own_probs[:, 1] / z, z


def _own_label_probs(logits: jax.Array) -> jax.Array:
  """logits (..., 2 labels, 2 classes) of theta_y -> p_{theta_y}(y) (..., 2)."""
  return jnp.diagonal(jax.nn.softmax(logits), axis1=-2, axis2=-1)


def _grad_path(params, settings, queries, context, threshold, chunk_size):
  """vmap over queries and labels of one `adapt` step, then the query's forward."""
  def logits(query, label):
    x, y, w = with_query(query, label, context.x, context.y,
                         settings.inner_query_weight, threshold)
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


def _lowrank_path(params, settings, queries, context, threshold):
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
      queries, context.x, threshold)                                      # (B, C)
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


def nml_probs(params: Params, queries: jax.Array, context: Context, settings,
              method: str = "lowrank", chunk_size: int | None = None,
              threshold: jax.Array | float | None = None) -> tuple[jax.Array, jax.Array]:
  """Meta-NML p(success) (B,) and normaliser Z (B,) for queries (B, D).

  Z = p_{theta_0}(0 | q) + p_{theta_1}(1 | q); exact CNML has Z in [1, 2] and
  meta-NML learns to approximate it (log Z: the regret, an uncertainty score).

  One vmapped computation over queries x labels from theta_0 = `params`, with
  the inner step of `settings` (a `meta_nml.Settings`). `method`: "lowrank"
  (default) or "grad"; `chunk_size` bounds the "grad" path's memory (queries per
  vmapped chunk). `threshold`: the kernel threshold, default `settings.kernel_threshold`
  (meta-NML's state holds the one in use: a calibrated run's differs).
  """
  if method not in METHODS:
    raise ValueError(f"method={method!r} is invalid; valid: {', '.join(METHODS)}.")
  if chunk_size is not None and chunk_size < 1:
    raise ValueError(f"chunk_size={chunk_size} must be >= 1 or None.")
  threshold = settings.kernel_threshold if threshold is None else threshold
  return _nml_probs(params, queries, context, settings, method, chunk_size,
                    jnp.asarray(threshold, jnp.float32))


@functools.partial(jax.jit, static_argnames=("settings", "method", "chunk_size"))
def _nml_probs(params, queries, context, settings, method, chunk_size, threshold):
  if method == "grad":
    own = _grad_path(params, settings, queries, context, threshold, chunk_size)
  else:
    own = _lowrank_path(params, settings, queries, context, threshold)
  return _normalise(own)
