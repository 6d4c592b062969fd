"""Reward sources: one interface the trainer calls, whatever the reward is.

A source is three pure functions over its own pytree state:

* ``init(key, positives) -> state``; positives: (P, D) success examples.
* ``train(state, data, key) -> (state, metrics)``, called between epochs with
  `TrainData` (``num_negatives`` replay states); ``None`` if it never trains.
* ``rewards(state, x, key) -> (B,)`` for classifier inputs x: (B, D).

The trainer calls ``rewards`` either on every SAC minibatch with the current
state ("batch" relabelling, the default) or once per transition at collection
time ("collect", the original scheme). It never asks which source it holds.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import struct

from mural_jax.classifiers.mle import MLEClassifier


@struct.dataclass
class TrainData:
  positives: jax.Array  # (P, D) success examples
  negatives: jax.Array  # (N, D) classifier inputs of visited states, uniform from replay
  epoch: jax.Array      # int32: index of the epoch that just ended (0 = first)


@dataclasses.dataclass(frozen=True)
class RewardSource:
  name: str
  init: Callable[[jax.Array, jax.Array], Any]
  rewards: Callable[[Any, jax.Array, jax.Array], jax.Array]
  train: Optional[Callable[[Any, TrainData, jax.Array], tuple]] = None
  num_negatives: int = 0


def _sparse(config, env) -> RewardSource:
  """1 in success states, else 0."""
  return RewardSource(
      name="sparse", init=lambda key, positives: (),
      rewards=lambda state, x, key: env.is_success(x).astype(jnp.float32))


def _l2(config, env) -> RewardSource:
  """Minus the Euclidean distance to the mean success example."""
  return RewardSource(
      name="l2", init=lambda key, positives: positives.mean(0),
      rewards=lambda center, x, key: -jnp.linalg.norm(x - center, axis=-1))


def _mle(config, env) -> RewardSource:
  """Success probability of a maximum-likelihood classifier."""
  c = config.classifier
  clf = MLEClassifier(input_size=env.classifier_input_size, hidden=tuple(c.hidden), lr=c.lr,
                      weight_decay=c.weight_decay, batch_size=c.batch_size,
                      steps=c.steps_per_epoch, mixup_alpha=c.mixup_alpha)
  return RewardSource(
      name="mle", init=lambda key, positives: clf.init(key),
      rewards=lambda state, x, key: clf.probs(state.params, x),
      train=lambda state, data, key: clf.train(state, data.positives, data.negatives, key),
      num_negatives=clf.num_negatives)


_SOURCES = {
    "sparse": _sparse,
    "l2": _l2,
    "mle": _mle,
}

RELABEL_MODES = ("batch", "collect")


def names() -> list[str]:
  return sorted(_SOURCES)


def check_name(name: str) -> None:
  if name not in _SOURCES:
    raise ValueError(f"Unknown reward {name!r}; valid choices: {', '.join(names())}.")


def make(name: str, config, env) -> RewardSource:
  """The reward source `name` for `env`, configured by the run's `config`."""
  check_name(name)
  return _SOURCES[name](config, env)
