"""The ml_collections config of a mural_jax run: `mural_jax.config.RunConfig`'s fields
and paper defaults, with the preset's changes.

Per-environment files call `get_config(env, preset)` and override what differs.
Presets: "paper" (the public code's settings), "gpu" (the paper's networks sized
for one GPU job: many environments per vectorised step), "cpu" (a budget that
finishes in minutes on two CPU cores) and "tiny" (seconds: smoke runs and tests).
"""

import ml_collections

from mural_jax.config import RunConfig  # the one source of fields and paper defaults

PRESETS = ("paper", "gpu", "cpu", "tiny")

# The reference's meta-NML inner step: SGD at lr 0.01 on a network of its task's width
# (2048; 512 on door and pick). A step's effect on a logit grows with lr x width (the
# network's tangent kernel), so every preset but tiny derives inner_lr from its width to
# keep the task's product: 0.08 at width 256 for most tasks, 0.02 on door and pick.
PAPER_INNER_LR = 0.01


def size_mjx_gpu_job(c, epoch_length: int, epochs: int, num_envs: int = 64) -> None:
  """An MJX task's `gpu` preset: `num_envs` environments per vectorised step and
  `epochs` epochs of `epoch_length` steps, each making 1024 SAC updates (a paper epoch's
  ~1000), one meta-training pass and one evaluation; the replay keeps the whole run.

  Sized so that 3 vmapped seeds of MURAL are estimated to finish in under 9 minutes on
  one H100/H200 (WORKSPACE_NOTES.md, MJX gpu presets: an estimate, not a timed run).
  """
  c.num_envs = num_envs
  c.epoch_length = epoch_length
  c.sac.updates_per_step = 1024 / epoch_length
  c.total_env_steps = epochs * epoch_length
  c.replay_capacity = epochs * epoch_length
  c.checkpoint_every = max(1, epochs // 3)


def get_config(env: str, preset: str = "paper",
               nml_width: int = 2048) -> ml_collections.ConfigDict:
  """The config of `env` under `preset` (one of PRESETS); `nml_width`: the width of the
  task's meta-NML network in the paper (and `gpu`) preset, which sets the inner step."""
  if preset not in PRESETS:
    raise ValueError(f"Unknown preset {preset!r}; valid choices: {', '.join(PRESETS)}.")
  c = ml_collections.ConfigDict(RunConfig(env=env, preset=preset).to_dict())
  c.meta_nml.hidden = (nml_width, nml_width)
  if preset == "gpu":
    # The paper's networks and meta-NML; 40 environments per vectorised step and a
    # quarter SAC update per environment step, so a 4000-step epoch makes a paper
    # epoch's 1000 updates and one meta-training pass, and evaluates once.
    c.num_envs = 40
    c.epoch_length = 4000
    c.sac.updates_per_step = 0.25
    c.checkpoint_every = 25         # 100k steps: a 1.5M-state replay per seed is slow to save
  if preset == "cpu":
    c.total_env_steps = 300_000
    c.epoch_length = 1000
    c.num_envs = 4
    c.warmup_steps = 1000
    # Never forgets within the budget, as the paper's 1.5M buffer never does: with
    # 100k, states visited early dropped out of the buffer, read as unvisited (reward
    # ~1/2) again and drew the agent back (see WORKSPACE_NOTES.md, maze levers).
    c.replay_capacity = 300_000
    c.eval_episodes = 8
    c.sac.updates_per_step = 0.25
    c.meta_nml.hidden = (256, 256)
    c.meta_nml.pool_size = 512          # 4x cheaper meta-training; query_weight keeps the
    c.meta_nml.query_weight = 0.25      # paper's inner (1/32) and outer weight ratios
    c.cnml.hidden = (64, 64)
    c.cnml.steps = 300
  if preset == "tiny":
    c.total_env_steps = 400
    c.epoch_length = 100
    c.num_envs = 2
    c.warmup_steps = 100
    c.replay_capacity = 1000
    c.eval_episodes = 2
    c.sac.hidden = (16, 16)
    c.sac.batch_size = 16
    c.sac.updates_per_step = 0.5
    c.classifier.hidden = (16, 16)
    c.classifier.batch_size = 16
    c.exploration.update(rnd_hidden=(16, 16), rnd_output_size=8, rnd_batch_size=16,
                         rnd_steps_per_epoch=2)
    c.meta_nml.update(hidden=(16, 16), inner_lr=1.0, pool_size=64, num_tasks=8,
                      points_per_task=16, meta_batch=4)
    c.checkpoint_every = 1
  else:
    c.meta_nml.inner_lr = PAPER_INNER_LR * nml_width / max(c.meta_nml.hidden)
  return c


def calibrated_kernel(c, share: float = 0.1) -> None:
  """Meta-NML's kernel for a task whose visited states lie closer than its reference
  threshold (push, pick, door, the pusher): the threshold calibrated so that the median
  replay state holds `share` of its inner batch, and half the task queries success
  examples, at the same cost. A narrow kernel leaves the goal unread unless success
  examples are tasks too (WORKSPACE_NOTES.md, kernel calibration; experiments/nml_probes)."""
  c.meta_nml.kernel_share = share
  c.meta_nml.num_positive_tasks = c.meta_nml.num_tasks // 2
  c.meta_nml.num_tasks -= c.meta_nml.num_positive_tasks


def maze_config(env: str, preset: str = "paper") -> ml_collections.ConfigDict:
  """A point maze's config: `get_config` with the success examples' disc as a field,
  overridable (`--config.env_kwargs.example_radius=0.45`); default the reference's 0.05.

  The mazes' cpu preset makes twice the paper's SAC updates per environment step (8x
  the other tasks' cpu presets), paid for by a (64, 64) SAC on minibatches of 64: the
  lever that solved the zigzag in 5 of 5 seeds in 300k steps, where the other cpu
  settings solved 2 of 5 (WORKSPACE_NOTES.md, maze levers)."""
  from envs import point_maze
  c = get_config(env, preset)
  c.env_kwargs.example_radius = point_maze.EXAMPLE_RADIUS
  if preset == "cpu":
    c.sac.update(hidden=(64, 64), batch_size=64, updates_per_step=2.0)
  return c
