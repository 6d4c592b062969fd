"""What every success classifier shares: the two-logit MLP, cross-entropy, balanced data.

Labels are 1 for success examples and 0 for visited (replay) states; the MLP's
logits are ordered (failure, success).
"""

from typing import Sequence

import jax
import jax.numpy as jnp

from mural_jax.networks import Params, mlp_apply, mlp_init


# -- the two-logit MLP ------------------------------------------------------------

def mlp_params(key: jax.Array, input_size: int, hidden: Sequence[int]) -> Params:
  """Fresh parameters of the shared ReLU MLP with 2 logits."""
  return mlp_init(key, (input_size, *hidden, 2))


def log_probs(params: Params, x: jax.Array) -> jax.Array:
  """log p(failure), log p(success): x (..., D) -> (..., 2)."""
  return jax.nn.log_softmax(mlp_apply(params, x))


def probs(params: Params, x: jax.Array) -> jax.Array:
  """p(success | x): (..., D) -> (...)."""
  return jax.nn.softmax(mlp_apply(params, x))[..., 1]


def logits(params: Params, x: jax.Array) -> jax.Array:
  """log p(success | x) - log p(failure | x): (..., D) -> (...)."""
  z = mlp_apply(params, x)
  return z[..., 1] - z[..., 0]


def kernel_l2(params) -> jax.Array:
  """sum(w^2) over the kernels ("w" leaves) only, biases excluded, as Keras' l2 regulariser."""
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  return sum(jnp.sum(leaf ** 2) for path, leaf in leaves
             if getattr(path[-1], "key", None) == "w")


# -- cross-entropy --------------------------------------------------------------------

def cross_entropy(log_p: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-example -log p(label): log_p (..., 2), integer labels (...) -> (...)."""
  return -jnp.take_along_axis(log_p, labels[..., None], -1)[..., 0]


def soft_cross_entropy(log_p: jax.Array, y: jax.Array) -> jax.Array:
  """Per-example CE with soft labels y (...) in [0, 1] (mixup): log_p (..., 2) -> (...)."""
  return -(y * log_p[..., 1] + (1 - y) * log_p[..., 0])


def weighted_cross_entropy(log_p: jax.Array, labels: jax.Array, w: jax.Array,
                           normalise: bool = False) -> jax.Array:
  """sum(w * CE) over a batch (n, 2), (n,), (n,); divided by sum(w) if `normalise`."""
  total = jnp.sum(w * cross_entropy(log_p, labels))
  return total / jnp.sum(w) if normalise else total


# -- balanced data ---------------------------------------------------------------------

def resample(key: jax.Array, tree, n: int):
  """n rows drawn uniformly with replacement, the same rows of every leaf of `tree`."""
  rows = jax.tree.leaves(tree)[0].shape[0]
  idx = jax.random.randint(key, (n,), 0, rows)
  return jax.tree.map(lambda a: a[idx], tree)


def balanced_batch(key: jax.Array, positives, negatives, positives_first: bool = False):
  """Replay states `negatives` (label 0) and as many resampled success examples (label 1).

  positives, negatives: arrays (P, ...), (N, ...) or pytrees of them (a state and
  its log pi resampled together). Returns the concatenated rows (2N, ...) and
  int32 labels (2N,): negatives first, or success examples first if
  `positives_first` (order matters where rows are paired by position, as mixup does).
  """
  n = jax.tree.leaves(negatives)[0].shape[0]
  halves = [negatives, resample(key, positives, n)]
  labels = jnp.repeat(jnp.arange(2, dtype=jnp.int32), n)
  if positives_first:
    halves, labels = halves[::-1], labels[::-1]
  return jax.tree.map(lambda *parts: jnp.concatenate(parts), *halves), labels
