"""Dotted names for pytree leaves ("sac.critic.0.w"), shared by checkpoints and error messages."""

import jax
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey


def _part(key) -> str:
  if isinstance(key, DictKey):
    return str(key.key)
  if isinstance(key, SequenceKey):
    return str(key.idx)
  if isinstance(key, GetAttrKey):
    return key.name
  if isinstance(key, FlattenedIndexKey):
    return str(key.key)
  return str(key)


def named_leaves(tree) -> dict:
  """name -> leaf, in the order of `jax.tree.leaves(tree)`."""
  return {".".join(map(_part, path)): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
