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
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import struct

from mural_jax import bonuses
from mural_jax.classifiers import cnml, meta_nml
from mural_jax.classifiers.mle import MLEClassifier


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


def _classifier(config, env, **kwargs) -> MLEClassifier:
  c = config.classifier
  return MLEClassifier(input_size=env.classifier_input_size, hidden=tuple(c.hidden), lr=c.lr,
                       weight_decay=c.weight_decay, batch_size=c.batch_size,
                       steps=c.steps_per_epoch, mixup_alpha=c.mixup_alpha, **kwargs)


def _mle(config, env) -> RewardSource:
  """Success probability of a plain maximum-likelihood classifier (the ablation)."""
  clf = _classifier(config, env)
  return RewardSource(
      name="mle", init=lambda key, positives: clf.init(key),
      rewards=lambda state, x, key: clf.probs(state.params, x),
      train=lambda state, data, key: clf.train(state, data.positives, data.negatives, key),
      num_negatives=clf.num_negatives)


def classifier_input_is_observation(env) -> bool:
  """Whether `env.classifier_input` is the identity (success examples are observations)."""
  probe = jnp.arange(env.observation_size, dtype=jnp.float32)
  return (env.classifier_input_size == env.observation_size
          and bool(jnp.all(env.classifier_input(probe) == probe)))


def _vice(config, env) -> RewardSource:
  """VICE: the classifier's logit, Keras kernel-only L2, optionally the pi-aware loss."""
  vice_loss = bool(config.classifier.vice_loss)
  if vice_loss and not classifier_input_is_observation(env):
    raise ValueError(
        f"classifier.vice_loss=True needs the policy's log-probability at the success "
        f"examples, but {config.env}'s classifier input is not its observation; use "
        "classifier.vice_loss=False on this environment.")
  clf = _classifier(config, env, l2_style="keras", vice_loss=vice_loss)
  return RewardSource(
      name="vice", init=lambda key, positives: clf.init(key),
      rewards=lambda state, x, key: clf.logits(state.params, x),
      train=lambda state, data, key: clf.train(
          state, data.positives, data.negatives, key, data.positive_log_pi,
          data.negative_log_pi),
      num_negatives=clf.num_negatives, needs_log_pi=vice_loss)


def meta_nml_settings(config) -> meta_nml.Settings:
  """The run's meta-NML settings (`config.meta_nml`)."""
  return meta_nml.Settings(**config.meta_nml.to_dict())


def _mural(config, env) -> RewardSource:
  """Meta-NML p(success): one vmapped low-rank NML query per state of the batch.

  Each `rewards` call draws one context from the last meta-training pool and
  shares it across the batch (the distance weights still depend on each query).
  """
  settings = meta_nml_settings(config)
  return RewardSource(
      name="mural",
      init=lambda key, positives: meta_nml.init(key, settings, positives.shape[-1]),
      rewards=lambda state, x, key: meta_nml.nml_probs(
          state, x, meta_nml.sample_context(state, key))[0],
      train=lambda state, data, key: meta_nml.meta_train(
          state, data.positives, data.negatives, key,
          meta_nml.passes_for_epoch(settings, data.epoch)),
      num_negatives=settings.num_negatives)


@struct.dataclass
class CNMLState:
  params: Any     # the MLP fitted on the data alone: every per-query fit starts here
  x: jax.Array    # (n, D) data: success examples (label 1) and replay states (label 0)
  y: jax.Array    # (n,) int32


def _cnml(config, env) -> RewardSource:
  """Exact CNML p(success): two full MLP fits per queried state (slow: small studies)."""
  c = config.cnml
  if c.data_size < 2 or c.data_size % 2:
    raise ValueError(f"cnml.data_size must be an even integer >= 2, got {c.data_size!r}.")
  if c.solver not in cnml.SOLVERS:
    raise ValueError(f"Unknown cnml.solver {c.solver!r}; valid choices: {', '.join(cnml.SOLVERS)}.")
  half = c.data_size // 2
  fit_kwargs = dict(l2=c.l2, solver=c.solver, steps=c.steps, learning_rate=c.learning_rate)

  def train(state, data, key):
    k_pos, k_init = jax.random.split(key)
    pos = data.positives[jax.random.randint(k_pos, (half,), 0, data.positives.shape[0])]
    x = jnp.concatenate([data.negatives, pos])
    y = jnp.repeat(jnp.arange(2, dtype=jnp.int32), half)
    params = cnml.mlp_params(k_init, x.shape[-1], tuple(c.hidden))
    params = cnml.fit(cnml.mlp_log_probs, params, x, y, jnp.ones(c.data_size), **fit_kwargs)
    return CNMLState(params=params, x=x, y=y), {}

  def rewards(state, x, key):
    p, _ = cnml.cnml_probs(cnml.mlp_log_probs, state.params, state.x, state.y,
                           jnp.ones(state.x.shape[0]), x, query_weight=c.query_weight,
                           **fit_kwargs)
    return p

  def init(key, positives):
    d = positives.shape[-1]
    return CNMLState(params=cnml.mlp_params(key, d, tuple(c.hidden)),
                     x=jnp.zeros((c.data_size, d)), y=jnp.zeros((c.data_size,), jnp.int32))

  return RewardSource(name="cnml", init=init, rewards=rewards, train=train,
                      num_negatives=half)


def _grid(config, env):
  """The count grid `cnml.grid_*` over the classifier input: (cells of x, counts of x)."""
  c = config.cnml
  cells = c.grid_resolution ** env.classifier_input_size
  if c.grid_resolution < 1 or cells > 2 ** 24:
    raise ValueError(
        f"cnml.grid_resolution={c.grid_resolution!r} gives {cells} cells for a "
        f"{env.classifier_input_size}-d classifier input; valid: 1 <= cells <= 2**24 "
        "(count rewards are for low-dimensional inputs).")
  cell_of = lambda x: cnml.grid_cells(x, c.grid_low, c.grid_high, c.grid_resolution)
  counts = lambda x, valid: bonuses.buffer_counts(x, valid, c.grid_low, c.grid_high,
                                                  c.grid_resolution)
  return cell_of, counts


def _count(config, env) -> RewardSource:
  """Tabular CNML on a grid over the classifier input: (n1 + q) / (n1 + n0 + 2q).

  n0 counts every filled replay slot in the query's cell; n1 counts as many
  success examples, drawn with replacement, as there are filled slots (the
  reference's Laplace reward: equal numbers of positives and negatives).
  """
  cell_of, counts = _grid(config, env)
  q = config.cnml.query_weight

  def train(n, data, key):
    idx = jax.random.randint(key, data.valid.shape, 0, data.positives.shape[0])
    return (counts(data.positives[idx], data.valid), counts(data.negatives, data.valid)), {}

  def init(key, positives):
    ones = jnp.ones(positives.shape[:1], bool)
    return counts(positives, ones), counts(positives, ~ones)

  return RewardSource(
      name="count", init=init, train=train, whole_buffer=True,
      rewards=lambda n, x, key: cnml.tabular_cnml(*n, cell_of(x), q))


def _count_bonus(config, env) -> RewardSource:
  """The sparse reward plus beta / sqrt(N(s)), N: visits of the cell over the whole buffer."""
  cell_of, counts = _grid(config, env)
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
  rnd = bonuses.RND(input_size=env.classifier_input_size, hidden=tuple(e.rnd_hidden),
                    output_size=e.rnd_output_size, lr=e.rnd_lr, batch_size=e.rnd_batch_size,
                    steps=e.rnd_steps_per_epoch)
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

RELABEL_MODES = ("batch", "collect")

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
  """The reward source `name` for `env`, configured by the run's `config`."""
  check_name(name)
  return _SOURCES[name](config, env)
