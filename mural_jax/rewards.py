"""Reward sources: one interface the trainer calls, whatever the reward is.

A source (`RewardSource`) has three pure methods over its own pytree state:

* ``init(key, positives) -> state``; positives: (P, D) success examples.
* ``train(state, data, key) -> (state, metrics)``, called between epochs with
  `TrainData` (``num_negatives`` replay states, or the whole buffer if
  ``whole_buffer``), where ``trains``.
* ``rewards(state, x, key) -> (B,)`` for classifier inputs x: (B, D).

The trainer calls ``rewards`` either on every SAC minibatch with the current
state ("batch" relabelling, the default) or once per transition at collection
time ("collect", the original scheme). It never asks which source it holds.

The sources are small adapters, one per shape of reward: a classifier's probability
(`Probability`: mle, cnml; `MetaNML`: mural), its logit (`Logit`: vice), a table
(`Count`), the sparse reward plus a bonus (`CountBonus`, `RNDBonus`), and the two
fixed ones (`Sparse`, `L2`). The learned ones hold an object of `mural_jax.classifiers`
(or `bonuses.RND`) built from its typed config section and the classifier input size.
`REWARDS` names every reward, how to build it and how plots name it.
"""

import abc
import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import struct

from mural_jax import bonuses
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


@dataclasses.dataclass(frozen=True, eq=False)
class RewardSource(abc.ABC):
  """The interface; a source that never trains keeps the default `train`."""
  trains = True           # whether the trainer calls `train` between epochs
  whole_buffer = False    # train on every replay slot (with `valid`), not a sample
  needs_log_pi = False    # train needs the policy's log-probabilities at the data

  @property
  def num_negatives(self) -> int:
    """Replay states `train` takes (when not `whole_buffer`)."""
    return 0

  @abc.abstractmethod
  def init(self, key: jax.Array, positives: jax.Array) -> Any:
    """The source's state before any training."""

  @abc.abstractmethod
  def rewards(self, state, x: jax.Array, key: jax.Array) -> jax.Array:
    """Rewards (B,) of classifier inputs x (B, D)."""

  def train(self, state, data: TrainData, key: jax.Array) -> tuple[Any, dict]:
    return state, {}


def _success(env, x: jax.Array) -> jax.Array:
  return env.is_success(x).astype(jnp.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class Sparse(RewardSource):
  """1 in success states, else 0."""
  env: Any
  trains = False

  def init(self, key, positives):
    return ()

  def rewards(self, state, x, key):
    return _success(self.env, x)


@dataclasses.dataclass(frozen=True, eq=False)
class L2(RewardSource):
  """Minus the Euclidean distance to the mean success example, in the coordinates the
  success test measures (`env.goal_coordinates`: the ant's torso xy, not its joints)."""
  env: Any
  trains = False

  def init(self, key, positives):
    return self.env.goal_coordinates(positives).mean(0)

  def rewards(self, center, x, key):
    return -jnp.linalg.norm(self.env.goal_coordinates(x) - center, axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class Probability(RewardSource):
  """p(success) of a classifier of the shared shape: init(key), train(state, positives,
  negatives, key), probs(state, x) and num_negatives (`mle`, `cnml`)."""
  classifier: Any

  @property
  def num_negatives(self):
    return self.classifier.num_negatives

  def init(self, key, positives):
    return self.classifier.init(key)

  def rewards(self, state, x, key):
    return self.classifier.probs(state, x)

  def train(self, state, data, key):
    return self.classifier.train(state, data.positives, data.negatives, key)


@dataclasses.dataclass(frozen=True, eq=False)
class MetaNML(Probability):
  """Meta-NML p(success): one vmapped low-rank NML query per state of the batch.

  Each `rewards` call draws one context from the last meta-training pool and shares it
  across the batch (the distance weights still depend on each query); `train` runs the
  epoch's passes (`meta_nml.passes_for_epoch`).
  """

  def rewards(self, state, x, key):
    return self.classifier.probs(state, x, key)

  def train(self, state, data, key):
    return self.classifier.train(state, data.positives, data.negatives, key,
                                 meta_nml.passes_for_epoch(self.classifier.settings, data.epoch))


@dataclasses.dataclass(frozen=True, eq=False)
class Logit(Probability):
  """VICE: the classifier's logit, Keras kernel-only L2, optionally the pi-aware loss."""

  @property
  def needs_log_pi(self):
    return self.classifier.vice_loss

  def rewards(self, state, x, key):
    return self.classifier.logits(state, x)

  def train(self, state, data, key):
    return self.classifier.train(state, data.positives, data.negatives, key,
                                 data.positive_log_pi, data.negative_log_pi)


def classifier_input_is_observation(env) -> bool:
  """Whether `env.classifier_input` is the identity (success examples are observations)."""
  probe = jnp.arange(env.observation_size, dtype=jnp.float32)
  return (env.classifier_input_size == env.observation_size
          and bool(jnp.all(env.classifier_input(probe) == probe)))


MAX_GRID_CELLS = 2 ** 24


def max_grid_resolution(dims: int) -> int:
  """The largest cells per dimension whose dims-d grid has at most MAX_GRID_CELLS cells."""
  r = int(round(MAX_GRID_CELLS ** (1 / dims)))
  return r if r ** dims <= MAX_GRID_CELLS else r - 1


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
  """The count rewards' grid: `resolution` cells per dimension of the box [low, high]."""
  low: Any          # (D,)
  high: Any         # (D,)
  resolution: int

  @classmethod
  def of(cls, config, env) -> "Grid":
    """`config.cnml.grid_resolution` cells per dimension of the environment's workspace."""
    r, d = config.cnml.grid_resolution, env.classifier_input_size
    if r ** d > MAX_GRID_CELLS:
      raise ValueError(
          f"cnml.grid_resolution={r} gives {r ** d} cells for {config.env}'s {d}-d classifier "
          f"input; valid: 1 <= cnml.grid_resolution <= {max_grid_resolution(d)} (at most "
          f"2**24 cells), or the rnd reward for high-dimensional inputs.")
    return cls(*env.workspace, r)

  def cells(self, x: jax.Array) -> jax.Array:
    return cnml.grid_cells(x, self.low, self.high, self.resolution)

  def counts(self, x: jax.Array, valid: jax.Array) -> jax.Array:
    return cnml.cell_counts(x, self.low, self.high, self.resolution, valid)


@dataclasses.dataclass(frozen=True, eq=False)
class Count(RewardSource):
  """Tabular CNML on a grid over the classifier input: (n1 + q) / (n1 + n0 + 2q).

  n0 counts every filled replay slot in the query's cell; n1 counts as many success
  examples, drawn with replacement, as there are filled slots (the reference's Laplace
  reward: equal numbers of positives and negatives).
  """
  grid: Grid
  query_weight: float
  whole_buffer = True

  def init(self, key, positives):
    ones = jnp.ones(positives.shape[:1], bool)
    return self.grid.counts(positives, ones), self.grid.counts(positives, ~ones)

  def rewards(self, n, x, key):
    return cnml.tabular_cnml(*n, self.grid.cells(x), self.query_weight)

  def train(self, n, data, key):
    positives = common.resample(key, data.positives, data.valid.shape[0])
    return (self.grid.counts(positives, data.valid),
            self.grid.counts(data.negatives, data.valid)), {}


@dataclasses.dataclass(frozen=True, eq=False)
class CountBonus(RewardSource):
  """The sparse reward plus beta / sqrt(N(s)), N: visits of the cell over the whole buffer."""
  env: Any
  grid: Grid
  beta: float
  whole_buffer = True

  def init(self, key, positives):
    return self.grid.counts(positives, jnp.zeros(positives.shape[:1], bool))

  def rewards(self, n0, x, key):
    return _success(self.env, x) + bonuses.count_bonus(n0, self.grid.cells(x), self.beta)

  def train(self, n0, data, key):
    return self.grid.counts(data.negatives, data.valid), {}


@dataclasses.dataclass(frozen=True, eq=False)
class RNDBonus(RewardSource):
  """The sparse reward plus beta times the normalised RND bonus on the classifier input."""
  env: Any
  rnd: bonuses.RND
  beta: float

  @property
  def num_negatives(self):
    return self.rnd.num_negatives

  def init(self, key, positives):
    return self.rnd.init(key)

  def rewards(self, state, x, key):
    return _success(self.env, x) + self.beta * self.rnd.bonus(state, x)

  def train(self, state, data, key):
    return self.rnd.train(state, data.negatives)


def _vice(config, env) -> RewardSource:
  clf = mle.Classifier(config.classifier, env.classifier_input_size, vice=True)
  if clf.vice_loss and not classifier_input_is_observation(env):
    raise ValueError(
        f"classifier.vice_loss=True needs the policy's log-probability at the success "
        f"examples, but {config.env}'s classifier input is not its observation; use "
        "classifier.vice_loss=False on this environment.")
  return Logit(clf)


@dataclasses.dataclass(frozen=True)
class Reward:
  """A reward by name: how to build its source, and how plots and tables name it."""
  build: Callable[[Any, Any], RewardSource]   # (typed run config, environment) -> source
  label: str        # curves and tables, where the name alone could mislead
  title: str        # the reward maps' column: what its map shows


# In the reward maps' column order.
REWARDS = {
    "mural": Reward(lambda c, env: MetaNML(meta_nml.Classifier(c.meta_nml,
                                                                env.classifier_input_size)),
                    "mural", "mural: meta-NML p"),
    "cnml": Reward(lambda c, env: Probability(cnml.Classifier(c.cnml, env.classifier_input_size)),
                   "cnml", "cnml: exact CNML p"),
    "count": Reward(lambda c, env: Count(Grid.of(c, env), c.cnml.query_weight),
                    "count", "count: tabular CNML p"),
    "mle": Reward(lambda c, env: Probability(mle.Classifier(c.classifier,
                                                            env.classifier_input_size)),
                  "mle (plain classifier)", "mle: plain classifier p"),
    "vice": Reward(_vice, "vice", "vice: classifier logit"),
    "l2": Reward(lambda c, env: L2(env), "l2", "l2: -distance"),
    "count_bonus": Reward(lambda c, env: CountBonus(env, Grid.of(c, env),
                                                    c.exploration.count_beta),
                          "count_bonus", "count_bonus: sparse + bonus"),
    "rnd": Reward(lambda c, env: RNDBonus(env, bonuses.RND(c.exploration,
                                                           env.classifier_input_size),
                                          c.exploration.rnd_beta),
                  "rnd", "rnd: sparse + bonus"),
    "sparse": Reward(lambda c, env: Sparse(env), "sparse", "sparse"),
}


def label(name: str) -> str:
  return REWARDS[name].label if name in REWARDS else name


def names() -> list[str]:
  return sorted(REWARDS)


def check_name(name: str) -> None:
  if name not in REWARDS:
    raise ValueError(f"Unknown reward {name!r}; valid choices: {', '.join(names())}.")


def make(name: str, config, env) -> RewardSource:
  """The reward source `name` for `env`, configured by the run's typed `config`
  (`RunConfig`; `RunConfig.of` types a ConfigDict)."""
  check_name(name)
  return REWARDS[name].build(config, env)
