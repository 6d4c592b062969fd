"""The typed run config: one frozen dataclass tree, the single source of every default.

Each section is its component's settings class (`mural_jax.settings`: `sac`,
`classifier`, `meta_nml`, `cnml`, `exploration`, `mesh`), which validates its fields
when built; `RunConfig` checks the run-level fields and the ones that span sections.
Defaults are the paper's (the public code's). Nothing here imports jax.

`RunConfig.for_task(env, preset)` applies a task's settings and a preset
(`mural_jax.tasks`); the `--config` files in `experiments/configs` wrap it for
ml_collections, and the command line overrides those; `RunConfig.of` turns the result
into this typed object, and that is what the trainer, runner and checkpoints read.
"""

import dataclasses
import json
import math
from typing import Any, Mapping

from mural_jax import checks, settings, tasks

RELABEL_MODES = ("batch", "collect")

# Run-level fields that must be positive integers.
_POSITIVE_INTS = ("total_env_steps", "epoch_length", "num_envs", "eval_episodes",
                  "replay_capacity", "num_success_examples", "num_seeds", "checkpoint_every",
                  "keep_checkpoints", "log_every_epochs")


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Every setting of a mural_jax run."""
  env: str
  env_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # env overrides
  preset: str = "paper"          # the mural_jax.tasks preset it was built from
  reward: str = "mural"          # see mural_jax.rewards.names()
  relabel: str = "batch"         # batch: recompute per SAC minibatch; collect: store at collection
  seed: int = 0
  total_env_steps: int = 1_000_000  # 1000 epochs of 1000 steps
  epoch_length: int = 1000       # environment steps per epoch, summed over num_envs
  num_envs: int = 1
  eval_episodes: int = 3
  warmup_steps: int = 1000       # uniform-random actions before the policy acts
  replay_capacity: int = 1_500_000
  num_success_examples: int = 150
  episode_length: int = 0        # 0: the environment's own horizon
  sac: settings.SAC = settings.SAC()
  classifier: settings.Classifier = settings.Classifier()    # the `mle` and `vice` rewards
  meta_nml: settings.MetaNML = settings.MetaNML()            # the `mural` reward
  cnml: settings.CNML = settings.CNML()                      # the `cnml` and `count` rewards
  exploration: settings.Exploration = settings.Exploration() # `count_bonus` and `rnd`
  # num_seeds independent runs (seeds seed, seed+1, ...) in one job; see settings.Mesh.
  num_seeds: int = 1
  mesh: settings.Mesh = settings.Mesh()
  checkpoint_every: int = 10     # epochs between checkpoints (and one at exit)
  keep_checkpoints: int = 3      # the latest K checkpoints are kept
  log_every_epochs: int = 1
  quiet: bool = False            # no progress lines (batch jobs)
  # End once every seed meets the solved rule over the window a full run ends with (a
  # demo's budget); sweeps keep it off so that every curve has the whole budget.
  stop_when_solved: bool = False

  def __post_init__(self):
    # Not at import time: the command line reads the fields without loading jax.
    import envs
    from mural_jax import rewards
    envs.check_name(self.env)
    rewards.check_name(self.reward)
    checks.choice("relabel mode", self.relabel, RELABEL_MODES)
    for name in _POSITIVE_INTS:
      checks.positive_int(name, getattr(self, name))
    checks.non_negative_int("warmup_steps", self.warmup_steps)
    checks.non_negative_int("episode_length", self.episode_length,
                            " (0: the environment's own)")
    checks.require(self.epoch_length % self.num_envs == 0,
                   f"epoch_length ({self.epoch_length}) must be a multiple of num_envs "
                   f"({self.num_envs}).")
    checks.require(self.total_env_steps >= self.epoch_length,
                   f"total_env_steps ({self.total_env_steps}) must be at least one epoch "
                   f"(epoch_length = {self.epoch_length}).")
    checks.require(self.replay_capacity >= self.num_envs,
                   f"replay_capacity ({self.replay_capacity}) must hold at least one "
                   f"vectorised step (num_envs = {self.num_envs}).")
    updates = self.sac.updates_per_step * self.num_envs
    checks.require(updates >= 1 and math.isclose(updates, round(updates)),
                   f"sac.updates_per_step * num_envs must be a whole number of updates per "
                   f"vectorised step, >= 1; got {self.sac.updates_per_step} * {self.num_envs}.")
    checks.require(self.num_seeds % self.mesh.seeds == 0,
                   f"num_seeds ({self.num_seeds}) must be a multiple of mesh.seeds "
                   f"({self.mesh.seeds}), the devices that split the seeds.")
    if self.mesh.seed_batch:
      checks.require(self.mesh.seeds == 1,
                     f"mesh.seed_batch ({self.mesh.seed_batch}) loops over the seeds on one "
                     f"device; with mesh.seeds = {self.mesh.seeds} set it to 0.")
      checks.require(self.num_seeds % self.mesh.seed_batch == 0,
                     f"num_seeds ({self.num_seeds}) must be a multiple of mesh.seed_batch "
                     f"({self.mesh.seed_batch}), the seeds computed together.")
    for name, value in (("num_envs", self.num_envs), ("sac.batch_size", self.sac.batch_size)):
      checks.require(value % self.mesh.data == 0,
                     f"{name} ({value}) must be a multiple of mesh.data ({self.mesh.data}), "
                     "the devices that split one seed's batch.")

  @classmethod
  def of(cls, config) -> "RunConfig":
    """`config` as a RunConfig: itself, or built from a ConfigDict or nested mapping.

    Raises ValueError naming an unknown field and the valid ones, or a bad value.
    """
    if isinstance(config, cls):
      return config
    return _build(cls, config.to_dict() if hasattr(config, "to_dict") else dict(config), "")

  @classmethod
  def for_task(cls, env: str, preset: str = "paper",
               overrides: Mapping[str, Any] | None = None) -> "RunConfig":
    """`env`'s config under `preset` (see `mural_jax.tasks`), then `overrides`: dotted
    fields and their values, e.g. ``{"sac.batch_size": 32, "reward": "mle"}``."""
    values = dataclasses.asdict(cls(env=env))
    for key, value in {**tasks.overrides(env, preset), **(overrides or {})}.items():
      check_field(key)
      *path, name = key.split(".")
      node = values
      for part in path:
        node = node.setdefault(part, {})
      node[name] = value
    return _build(cls, values, "")

  def to_dict(self) -> dict:
    """Nested plain dict (tuples stay tuples): the input of ml_collections configs."""
    return dataclasses.asdict(self)

  def to_json(self, **kwargs) -> str:
    return json.dumps(self.to_dict(), **kwargs)


def _unknown_field(name: str, prefix: str, fields) -> ValueError:
  return ValueError(f"Unknown config field {prefix + name!r}; valid fields"
                    f"{' of ' + prefix[:-1] if prefix else ''}: {', '.join(fields)}.")


def check_field(path: str) -> None:
  """Raises ValueError naming `path` (dotted, e.g. "meta_nml.inner_lr") and the valid
  fields where it names no RunConfig field. Keys under env_kwargs are the environment's."""
  kind, prefix = RunConfig, ""
  for part in path.split("."):
    fields = {f.name: f.type for f in dataclasses.fields(kind)}
    if part not in fields:
      raise _unknown_field(part, prefix, fields)
    if part == "env_kwargs" and not prefix:
      return
    kind, prefix = fields[part], f"{prefix}{part}."
    if not dataclasses.is_dataclass(kind):
      rest = path[len(prefix):]
      if rest:
        raise ValueError(f"Unknown config field {path!r}: {prefix[:-1]!r} has no fields.")
      return


def _build(cls, values: Mapping, prefix: str):
  """`cls(**values)`, building dataclass-typed fields from their nested mappings."""
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise _unknown_field(unknown[0], prefix, fields)
  kwargs = {}
  for name, value in values.items():
    kind = fields[name].type
    if dataclasses.is_dataclass(kind) and not isinstance(value, kind):
      value = _build(kind, dict(value), f"{prefix}{name}.")
    elif name == "env_kwargs":
      value = dict(value)
    elif isinstance(value, list):
      value = tuple(value)
    kwargs[name] = value
  return cls(**kwargs)
