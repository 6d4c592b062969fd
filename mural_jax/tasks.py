"""Each task's settings as data: the paper's values and the named presets.

A task's run config is built in layers, each a table of dotted field overrides:
`RunConfig`'s defaults (the paper's, shared by every task), the task's paper values
(`PAPER`), the preset's overrides shared by every task (`SHARED`), the task's own
overrides under that preset (`OWN`), and one derived rule: every preset but `tiny`
scales meta-NML's inner step with its width (`inner_lr`). `RunConfig.for_task(env,
preset)` builds the typed config; `overrides` gives the merged table.

Presets: `paper` (the public code's settings), `gpu` (the paper's networks sized for one
GPU job: many environments per vectorised step), `cpu` (a budget for two CPU cores) and
`tiny` (seconds: smoke runs and tests).
"""

PRESETS = ("paper", "gpu", "cpu", "tiny")

# The reference's meta-NML inner step: SGD at lr 0.01 on a network of its task's width
# (2048; 512 on door and pick). A step's effect on a logit grows with lr x width (the
# network's tangent kernel), so every preset but tiny derives inner_lr from its width to
# keep the task's product: 0.08 at width 256 for most tasks, 0.02 on door and pick.
PAPER_INNER_LR = 0.01
PAPER_NML_WIDTH = 2048

# The point mazes' success-example disc is a config field so that it can be overridden
# (`--config.env_kwargs.example_radius=0.45`); the reference's 0.05.
_MAZE = {"env_kwargs": {"example_radius": 0.05}}

# The reference's hand box for the pick, 1/16 of the default box's xy area: 0.1 x 0.1 x
# 0.24 m around the object (z keeps our floor, which the fingers need to pass under the
# bar), starting above it. The cpu preset's; paper and gpu keep the default box.
PICK_REFERENCE_GEOMETRY = {"hand_low": (-0.05, 0.55, 0.005), "hand_high": (0.05, 0.65, 0.245),
                           "hand_start": (0.0, 0.6, 0.12)}

# Per task, the reference's values where they differ from RunConfig's defaults.
PAPER = {
    "zigzag_maze": _MAZE,
    "spiral_maze": _MAZE,
    "sawyer_push": {"meta_nml.kernel_threshold": 0.6},
    "sawyer_pick": {"meta_nml.kernel_threshold": 0.6, "meta_nml.hidden": (512, 512)},
    "sawyer_door": {"meta_nml.kernel_threshold": 0.25, "meta_nml.hidden": (512, 512),
                    "meta_nml.query_weight": 2.0},
    # The reference gives no classifier settings for this domain: the Sawyer push's 0.6
    # scaled by the ratio of the two tasks' success radii (0.15 / 0.03 = 5), so the kernel
    # is as broad against the distance from start to success (~3.4 against ~0.25).
    "pusher_2d": {"meta_nml.kernel_threshold": 3.0},
    # No reference settings for its (unreleased) hand task: the defaults; the input (nine
    # joint angles in rad, the valve angle as cos, sin) is unit-scale like the others'.
    # Where the success examples hold the fingers is a config field so that it can be
    # overridden (`--config.env_kwargs.example_fingers=any`).
    "claw_valve": {"env_kwargs": {"example_fingers": "retracted"}},
    # Meta-training on 256 points: the 128 replay-state tasks and as many success examples.
    "ant_maze": {"meta_nml.kernel_threshold": 1.0, "meta_nml.num_positive_tasks": 128},
}

# Every task's overrides under each preset.
SHARED = {
    "paper": {},
    # The paper's networks and meta-NML; 40 environments per vectorised step and a quarter
    # SAC update per environment step, so a 4000-step epoch makes a paper epoch's 1000
    # updates and one meta-training pass, and evaluates once. A checkpoint every 100k
    # steps: a 1.5M-state replay per seed is slow to save.
    "gpu": {"num_envs": 40, "epoch_length": 4000, "sac.updates_per_step": 0.25,
            "checkpoint_every": 25},
    # The replay never forgets within the budget, as the paper's 1.5M buffer never does:
    # with 100k, states visited early dropped out, read as unvisited (reward ~1/2) again
    # and drew the agent back (WORKSPACE_NOTES.md, maze levers). A 512-state pool makes
    # meta-training 4x cheaper; query_weight 0.25 keeps the paper's inner (1/32) and outer
    # weight ratios.
    "cpu": {"total_env_steps": 300_000, "epoch_length": 1000, "num_envs": 4,
            "warmup_steps": 1000, "replay_capacity": 300_000, "eval_episodes": 8,
            "sac.updates_per_step": 0.25, "meta_nml.hidden": (256, 256),
            "meta_nml.pool_size": 512, "meta_nml.query_weight": 0.25,
            "cnml.hidden": (64, 64), "cnml.steps": 300},
    "tiny": {"total_env_steps": 400, "epoch_length": 100, "num_envs": 2, "warmup_steps": 100,
             "replay_capacity": 1000, "eval_episodes": 2, "checkpoint_every": 1,
             "sac.hidden": (16, 16), "sac.batch_size": 16, "sac.updates_per_step": 0.5,
             "classifier.hidden": (16, 16), "classifier.batch_size": 16,
             "exploration.rnd_hidden": (16, 16), "exploration.rnd_output_size": 8,
             "exploration.rnd_batch_size": 16, "exploration.rnd_steps_per_epoch": 2,
             "meta_nml.hidden": (16, 16), "meta_nml.inner_lr": 1.0, "meta_nml.pool_size": 64,
             "meta_nml.num_tasks": 8, "meta_nml.points_per_task": 16, "meta_nml.meta_batch": 4},
}


def mjx_gpu_job(epoch_length: int, epochs: int, num_envs: int = 64) -> dict:
  """An MJX task's `gpu` preset: `num_envs` environments per vectorised step and `epochs`
  epochs of `epoch_length` steps, each making 1024 SAC updates (a paper epoch's ~1000), one
  meta-training pass and one evaluation; the replay keeps the whole run.

  Sized so that 3 vmapped seeds of MURAL are estimated to finish in under 9 minutes on one
  H100/H200 (WORKSPACE_NOTES.md, MJX gpu presets: an estimate, not a timed run).
  """
  return {"num_envs": num_envs, "epoch_length": epoch_length,
          "sac.updates_per_step": 1024 / epoch_length,
          "total_env_steps": epochs * epoch_length, "replay_capacity": epochs * epoch_length,
          "checkpoint_every": max(1, epochs // 3)}


# Meta-NML's kernel where visited states lie closer than the reference threshold (push,
# pick, door, the pusher): calibrated so that the median replay state holds 10 % of its
# inner batch, and half the task queries success examples, at the same cost. A narrow
# kernel leaves the goal unread unless success examples are tasks too (WORKSPACE_NOTES.md,
# kernel calibration; experiments/nml_probes).
CALIBRATED_KERNEL = {"meta_nml.kernel_share": 0.1, "meta_nml.num_tasks": 64,
                     "meta_nml.num_positive_tasks": 64}

# The mazes' cpu preset makes twice the paper's SAC updates per environment step (8x the
# other tasks' cpu presets), paid for by a (64, 64) SAC on minibatches of 64: the lever
# that solved the zigzag in 5 of 5 seeds in 300k steps, where the other cpu settings
# solved 2 of 5 (WORKSPACE_NOTES.md, maze levers).
_MAZE_CPU = {"sac.hidden": (64, 64), "sac.batch_size": 64, "sac.updates_per_step": 2.0}
# The push's: the mazes' lever with a layer-normalised critic. In one seed each (250k steps,
# two shared CPU cores, ~8 s per epoch) the lever alone ended at eval success 0.38 and
# never held the puck in the disc; with the critic normalised it held it from 146k on
# (WORKSPACE_NOTES.md, MJX cpu presets).
_PUSH_CPU = {**_MAZE_CPU, "sac.layer_norm": True}

# Per task, its own overrides under a preset (after SHARED's). The cpu budgets' times are
# for one seed on two CPU cores.
OWN = {
    "zigzag_maze": {"cpu": _MAZE_CPU},
    "spiral_maze": {"cpu": _MAZE_CPU},
    "sawyer_push": {"gpu": mjx_gpu_job(8192, 123),   # the paper's 1M steps
                    "cpu": {**CALIBRATED_KERNEL, **_PUSH_CPU, "total_env_steps": 250_000}},
    # 81 ms a step at 4096 environments on one H100 (50k steps/s): ~230k steps fit. On two
    # cores the grasp's physics (10 substeps, 20 solver iterations) is the slowest of the
    # Sawyer tasks (17 ms per 4-environment step), so the push's SAC makes one update per
    # step here, not two, and 4 evaluation episodes instead of 8 save a sixth of each
    # epoch. 10.3 s per cpu epoch (one seed, two idle cores): ~26 min for 150k.
    "sawyer_pick": {"gpu": mjx_gpu_job(16384, 14),
                    "cpu": {**CALIBRATED_KERNEL, **_PUSH_CPU, "sac.updates_per_step": 1.0,
                            "env_kwargs": PICK_REFERENCE_GEOMETRY,
                            "total_env_steps": 150_000, "eval_episodes": 4}},
    # query_weight: the reference's 2x, scaled like the preset's pool. The push's SAC: in
    # a one-seed pilot (250k steps) MURAL first held eval success >= 0.9 at 135k, ending
    # at a last-10 % mean of 0.54 (results/sawyer_door/pilots). ~5 s per cpu epoch.
    "sawyer_door": {"gpu": mjx_gpu_job(8192, 123),
                    "cpu": {**CALIBRATED_KERNEL, **_PUSH_CPU, "total_env_steps": 250_000,
                            "meta_nml.query_weight": 0.5}},
    # The push's SAC, as on the other 4-5-D tasks: in a one-seed pilot (300k steps) MURAL
    # reached the goal from 83k and held it in 15-22 % of the late evaluations
    # (results/pusher_2d/pilots).
    "pusher_2d": {"gpu": mjx_gpu_job(8192, 123), "cpu": {**CALIBRATED_KERNEL, **_PUSH_CPU}},
    # The valve steps ~3x slower than the push: 800k of the 1M steps fit. The push's SAC:
    # 9.4 s per cpu epoch (one seed, two idle cores), ~39 min for 250k.
    "claw_valve": {"gpu": mjx_gpu_job(16384, 49),
                   "cpu": {**CALIBRATED_KERNEL, **_PUSH_CPU, "total_env_steps": 250_000}},
    # The ant steps ~4x slower than the push and evaluates 400-step episodes: ~300k steps
    # fit one GPU job. On two cores it steps at ~200 steps/s; 2000-step epochs and 4
    # evaluation episodes instead of 8 keep evaluation under a fifth of each epoch (the
    # episodes start alike). The push's SAC: 31 s per 2000-step cpu epoch (one seed, two
    # idle cores), ~39 min for 150k. tiny: as many success-example tasks as replay-state ones.
    "ant_maze": {"gpu": mjx_gpu_job(16384, 18),
                 "cpu": {**CALIBRATED_KERNEL, **_PUSH_CPU, "total_env_steps": 150_000,
                         "epoch_length": 2000, "eval_episodes": 4},
                 "tiny": {"meta_nml.num_positive_tasks": 8}},
}


def names() -> list[str]:
  """The tasks with settings here: every registered environment (tested)."""
  return sorted(PAPER)


def check_preset(preset: str) -> None:
  if preset not in PRESETS:
    raise ValueError(f"Unknown preset {preset!r}; valid choices: {', '.join(PRESETS)}.")


def check_task(env: str) -> None:
  if env not in PAPER:
    raise ValueError(f"Unknown environment {env!r}; valid choices: {', '.join(names())}.")


def overrides(env: str, preset: str = "paper") -> dict:
  """The dotted field overrides of RunConfig's defaults that make `env` under `preset`."""
  check_task(env)
  check_preset(preset)
  merged = {"env": env, "preset": preset, **PAPER[env], **SHARED[preset],
            **OWN[env].get(preset, {})}
  if "meta_nml.inner_lr" not in merged:
    paper_width = max(PAPER[env].get("meta_nml.hidden", (PAPER_NML_WIDTH,)))
    width = max(merged.get("meta_nml.hidden", (PAPER_NML_WIDTH,)))
    merged["meta_nml.inner_lr"] = PAPER_INNER_LR * paper_width / width
  return merged
