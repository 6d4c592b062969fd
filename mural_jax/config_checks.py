"""Validation of a run's config, before anything is built or compiled.

Every failure raises ValueError naming the field, the bad value and what is valid.
"""

import math

import envs
from mural_jax import rewards


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise ValueError(message)


def _positive_int(config, path: str) -> None:
  value = _get(config, path)
  _require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           f"{path} must be a positive integer, got {value!r}.")


def _positive(config, path: str) -> None:
  value = _get(config, path)
  _require(isinstance(value, (int, float)) and value > 0,
           f"{path} must be a positive number, got {value!r}.")


def _get(config, path: str):
  for part in path.split("."):
    config = config[part]
  return config


def _hidden(config, path: str) -> None:
  value = _get(config, path)
  _require(len(value) > 0 and all(isinstance(h, int) and h > 0 for h in value),
           f"{path} must be a non-empty list of positive layer widths, got {value!r}.")


def check_config(config) -> None:
  """Raises ValueError on the first inconsistency of `config`."""
  envs.check_name(config.env)
  rewards.check_name(config.reward)
  _require(config.relabel in rewards.RELABEL_MODES,
           f"Unknown relabel mode {config.relabel!r}; valid choices: "
           f"{', '.join(rewards.RELABEL_MODES)}.")
  for path in ("total_env_steps", "epoch_length", "num_envs", "eval_episodes",
               "replay_capacity", "num_success_examples", "sac.batch_size",
               "classifier.batch_size", "classifier.steps_per_epoch", "exploration.rnd_output_size",
               "exploration.rnd_batch_size", "exploration.rnd_steps_per_epoch", "num_seeds",
               "mesh.seeds",
               "mesh.data", "checkpoint_every", "keep_checkpoints", "log_every_epochs"):
    _positive_int(config, path)
  for path in ("sac.actor_lr", "sac.critic_lr", "sac.alpha_lr", "sac.init_alpha",
               "sac.updates_per_step", "classifier.lr", "exploration.count_beta",
               "exploration.rnd_beta", "exploration.rnd_lr"):
    _positive(config, path)
  for path in ("sac.hidden", "classifier.hidden", "exploration.rnd_hidden"):
    _hidden(config, path)
  _require(isinstance(config.warmup_steps, int) and config.warmup_steps >= 0,
           f"warmup_steps must be a non-negative integer, got {config.warmup_steps!r}.")
  _require(isinstance(config.episode_length, int) and config.episode_length >= 0,
           f"episode_length must be a non-negative integer (0: the environment's own), "
           f"got {config.episode_length!r}.")
  _require(config.epoch_length % config.num_envs == 0,
           f"epoch_length ({config.epoch_length}) must be a multiple of num_envs "
           f"({config.num_envs}).")
  _require(config.total_env_steps >= config.epoch_length,
           f"total_env_steps ({config.total_env_steps}) must be at least one epoch "
           f"(epoch_length = {config.epoch_length}).")
  _require(config.replay_capacity >= config.num_envs,
           f"replay_capacity ({config.replay_capacity}) must hold at least one vectorised "
           f"step (num_envs = {config.num_envs}).")
  updates = config.sac.updates_per_step * config.num_envs
  _require(updates >= 1 and math.isclose(updates, round(updates)),
           f"sac.updates_per_step * num_envs must be a whole number of updates per "
           f"vectorised step, >= 1; got {config.sac.updates_per_step} * {config.num_envs}.")
  _require(0 < config.sac.tau <= 1, f"sac.tau must be in (0, 1], got {config.sac.tau!r}.")
  _require(0 <= config.sac.discount <= 1,
           f"sac.discount must be in [0, 1], got {config.sac.discount!r}.")
  _require(config.classifier.weight_decay >= 0 and config.classifier.mixup_alpha >= 0,
           "classifier.weight_decay and classifier.mixup_alpha must be >= 0, got "
           f"{config.classifier.weight_decay!r} and {config.classifier.mixup_alpha!r}.")
  _require(config.num_seeds % config.mesh.seeds == 0,
           f"num_seeds ({config.num_seeds}) must be a multiple of mesh.seeds "
           f"({config.mesh.seeds}), the devices that split the seeds.")
  for path in ("num_envs", "sac.batch_size"):
    _require(_get(config, path) % config.mesh.data == 0,
             f"{path} ({_get(config, path)}) must be a multiple of mesh.data "
             f"({config.mesh.data}), the devices that split one seed's batch.")
