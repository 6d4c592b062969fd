"""Reward sources: one interface the trainer calls, whatever the reward is.

A source is three pure functions over its own pytree state:

* ``init(key, positives) -> state``; positives: (P, D) success examples.
* ``train(state, data, key) -> (state, metrics)``, called between epochs with
  `TrainData` (``num_negatives`` replay states, or the whole buffer if
  ``whole_buffer``); ``None`` if it never trains.
* ``rewards(state, x, key) -> (B,)`` for classifier inputs x: (B, D).

The trainer calls ``rewards`` either on every SAC minibatch with the current
state ("batch" relabelling, the default) or once per transition at collection
time ("collect", the original scheme). It never asks which source it holds.

The learned sources wrap an object of `mural_jax.classifiers` (or `bonuses.RND`)
built from its typed config section (a `Settings`) and the classifier
input size; this module only wires its ``init``/``train``/``probs`` to the interface.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import struct

from mural_jax import bonuses
from mural_jax.config import RunConfig
from mural_jax.classifiers import cnml, common, meta_nml, mle


@struct.dataclass
class TrainData:
  positives: jax.Array  # (P, D) success examples
  negatives: jax.Array  # (N, D) classifier inputs of visited states: uniform from replay, or
                        # every slot of the buffer (`whole_buffer`), filled or not
  epoch: jax.Array      # int32: index of the epoch that just ended (0 = first)
  valid: Optional[jax.Array] = None             # (N,) bool: filled slots (`whole_buffer`)
  positive_log_pi: Optional[jax.Array] = None   # (P,) log pi(a|s), a ~ pi(.|s) (`needs_log_pi`)
  negative_log_pi: Optional[jax.Array] = None   # (N,)


@dataclasses.dataclass(frozen=True)
class RewardSource:
  name: str
  init: Callable[[jax.Array, jax.Array], Any]
  rewards: Callable[[Any, jax.Array, jax.Array], jax.Array]
  train: Optional[Callable[[Any, TrainData, jax.Array], tuple]] = None
  num_negatives: int = 0
  whole_buffer: bool = False  # train on every replay slot (with `valid`), not a sample
  needs_log_pi: bool = False  # train needs the policy's log-probabilities at the data


def _sparse(config, env) -> RewardSource:
  """1 in success states, else 0."""
  return RewardSource(
      name="sparse", init=lambda key, positives: (),
      rewards=lambda state, x, key: env.is_success(x).astype(jnp.float32))


def _l2(config, env) -> RewardSource:
  """Minus the Euclidean distance to the mean success example, in the coordinates the
  success test measures (`env.goal_coordinates`: the ant's torso xy, not its joints)."""
  goal = env.goal_coordinates
  return RewardSource(
      name="l2", init=lambda key, positives: goal(positives).mean(0),
      rewards=lambda center, x, key: -jnp.linalg.norm(goal(x) - center, axis=-1))


def _probability(name: str, clf) -> RewardSource:
  """p(success) of a classifier of the shared shape: init(key), train(state, positives,
  negatives, key), probs(state, x) and num_negatives."""
  return RewardSource(
      name=name, init=lambda key, positives: clf.init(key),
      rewards=lambda state, x, key: clf.probs(state, x),
      train=lambda state, data, key: clf.train(state, data.positives, data.negatives, key),
      num_negatives=clf.num_negatives)


def _mle(config, env) -> RewardSource:
  """Success probability of a plain maximum-likelihood classifier (the ablation)."""
  return _probability("mle", mle.Classifier(config.classifier,
                                            env.classifier_input_size))


def classifier_input_is_observation(env) -> bool:
  """Whether `env.classifier_input` is the identity (success examples are observations)."""
  probe = jnp.arange(env.observation_size, dtype=jnp.float32)
  return (env.classifier_input_size == env.observation_size
          and bool(jnp.all(env.classifier_input(probe) == probe)))


def _vice(config, env) -> RewardSource:
  """VICE: the classifier's logit, Keras kernel-only L2, optionally the pi-aware loss."""
  clf = mle.Classifier(config.classifier, env.classifier_input_size,
                       vice=True)
  if clf.vice_loss and not classifier_input_is_observation(env):
    raise ValueError(
        f"classifier.vice_loss=True needs the policy's log-probability at the success "
        f"examples, but {config.env}'s classifier input is not its observation; use "
        "classifier.vice_loss=False on this environment.")
  return RewardSource(
      name="vice", init=lambda key, positives: clf.init(key),
      rewards=lambda state, x, key: clf.logits(state, x),
      train=lambda state, data, key: clf.train(
          state, data.positives, data.negatives, key, data.positive_log_pi,
          data.negative_log_pi),
      num_negatives=clf.num_negatives, needs_log_pi=clf.vice_loss)


def _mural(config, env) -> RewardSource:
  """Meta-NML p(success): one vmapped low-rank NML query per state of the batch.

  Each `rewards` call draws one context from the last meta-training pool and
  shares it across the batch (the distance weights still depend on each query).
  """
  clf = meta_nml.Classifier(config.meta_nml,
                            env.classifier_input_size)
  return RewardSource(
      name="mural", init=lambda key, positives: clf.init(key),
      rewards=lambda state, x, key: clf.probs(state, x, key),
      train=lambda state, data, key: clf.train(
          state, data.positives, data.negatives, key,
          meta_nml.passes_for_epoch(clf.settings, data.epoch)),
      num_negatives=clf.num_negatives)


def _cnml(config, env) -> RewardSource:
  """Exact CNML p(success): two full MLP fits per queried state (slow: small studies)."""
  return _probability("cnml", cnml.Classifier(config.cnml,
                                              env.classifier_input_size))


MAX_GRID_CELLS = 2 ** 24


def max_grid_resolution(dims: int) -> int:
  """The largest cells per dimension whose dims-d grid has at most MAX_GRID_CELLS cells."""
  r = int(round(MAX_GRID_CELLS ** (1 / dims)))
  return r if r ** dims <= MAX_GRID_CELLS else r - 1


def count_grid(config, env):
  """The count rewards' grid: `config.cnml.grid_resolution` cells per dimension of the
  environment's workspace. Returns (cells of x, counts of x)."""
  r, d = config.cnml.grid_resolution, env.classifier_input_size
  if r ** d > MAX_GRID_CELLS:
    raise ValueError(
        f"cnml.grid_resolution={r} gives {r ** d} cells for {config.env}'s {d}-d classifier "
        f"input; valid: 1 <= cnml.grid_resolution <= {max_grid_resolution(d)} (at most "
        f"2**24 cells), or the rnd reward for high-dimensional inputs.")
  low, high = env.workspace
  cell_of = lambda x: cnml.grid_cells(x, low, high, r)
  counts = lambda x, valid: cnml.cell_counts(x, low, high, r, valid)
  return cell_of, counts


def _count(config, env) -> RewardSource:
  """Tabular CNML on a grid over the classifier input: (n1 + q) / (n1 + n0 + 2q).

  n0 counts every filled replay slot in the query's cell; n1 counts as many
  success examples, drawn with replacement, as there are filled slots (the
  reference's Laplace reward: equal numbers of positives and negatives).
  """
  cell_of, counts = count_grid(config, env)
  q = config.cnml.query_weight

  def train(n, data, key):
    positives = common.resample(key, data.positives, data.valid.shape[0])
    return (counts(positives, data.valid), counts(data.negatives, data.valid)), {}

  def init(key, positives):
    ones = jnp.ones(positives.shape[:1], bool)
    return counts(positives, ones), counts(positives, ~ones)

  return RewardSource(
      name="count", init=init, train=train, whole_buffer=True,
      rewards=lambda n, x, key: cnml.tabular_cnml(*n, cell_of(x), q))


def _count_bonus(config, env) -> RewardSource:
  """The sparse reward plus beta / sqrt(N(s)), N: visits of the cell over the whole buffer."""
  cell_of, counts = count_grid(config, env)
  beta = config.exploration.count_beta
  return RewardSource(
      name="count_bonus", whole_buffer=True,
      init=lambda key, positives: counts(positives, jnp.zeros(positives.shape[:1], bool)),
      train=lambda n0, data, key: (counts(data.negatives, data.valid), {}),
      rewards=lambda n0, x, key: (env.is_success(x).astype(jnp.float32)
                                  + bonuses.count_bonus(n0, cell_of(x), beta)))


def _rnd(config, env) -> RewardSource:
  """The sparse reward plus beta times the normalised RND bonus on the classifier input."""
  e = config.exploration
  rnd = bonuses.RND(e, env.classifier_input_size)
  return RewardSource(
      name="rnd", init=lambda key, positives: rnd.init(key),
      train=lambda state, data, key: rnd.train(state, data.negatives),
      rewards=lambda state, x, key: (env.is_success(x).astype(jnp.float32)
                                     + e.rnd_beta * rnd.bonus(state, x)),
      num_negatives=rnd.num_negatives)


_SOURCES = {
    "sparse": _sparse,
    "l2": _l2,
    "mle": _mle,
    "vice": _vice,
    "mural": _mural,
    "cnml": _cnml,
    "count": _count,
    "count_bonus": _count_bonus,
    "rnd": _rnd,
}

# How plots and tables name a reward where its name alone could mislead.
LABELS = {"mle": "mle (plain classifier)"}


def label(name: str) -> str:
  return LABELS.get(name, name)


def names() -> list[str]:
  return sorted(_SOURCES)


def check_name(name: str) -> None:
  if name not in _SOURCES:
    raise ValueError(f"Unknown reward {name!r}; valid choices: {', '.join(names())}.")


def make(name: str, config, env) -> RewardSource:
  """The reward source `name` for `env`, configured by the run's `config` (a
  `RunConfig`, or a ConfigDict / mapping of one)."""
  check_name(name)
  return _SOURCES[name](RunConfig.of(config), env)
