"""Every config field of a mural_jax run, with the reference's (paper) defaults.

Per-environment files call `get_config(env, preset)` and override what differs.
Presets: "paper" (the public code's settings), "gpu" (the paper's networks sized
for one GPU job: many environments per vectorised step), "cpu" (a budget that
finishes in minutes on two CPU cores) and "tiny" (seconds: smoke runs and tests).
"""

import ml_collections

PRESETS = ("paper", "gpu", "cpu", "tiny")


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


def get_config(env: str, preset: str = "paper") -> ml_collections.ConfigDict:
  """The config of `env` under `preset` (one of PRESETS)."""
  if preset not in PRESETS:
    raise ValueError(f"Unknown preset {preset!r}; valid choices: {', '.join(PRESETS)}.")
  c = ml_collections.ConfigDict()
  c.env = env
  c.env_kwargs = ml_collections.ConfigDict()  # overrides of the environment's defaults
  c.preset = preset
  c.reward = "mural"              # see mural_jax.rewards.names()
  c.relabel = "batch"             # batch: recompute per SAC minibatch; collect: store at collection
  c.seed = 0
  c.total_env_steps = 1_000_000   # 1000 epochs of 1000 steps
  c.epoch_length = 1000           # environment steps per epoch, summed over num_envs
  c.num_envs = 1
  c.eval_episodes = 3
  c.warmup_steps = 1000           # uniform-random actions before the policy acts
  c.replay_capacity = 1_500_000
  c.num_success_examples = 150
  c.episode_length = 0            # 0: the environment's own horizon

  c.sac = ml_collections.ConfigDict()
  c.sac.hidden = (256, 256)
  c.sac.actor_lr = 3e-4
  c.sac.critic_lr = 3e-4
  c.sac.alpha_lr = 3e-4
  c.sac.init_alpha = 1.0
  c.sac.target_entropy_scale = 1.0  # target entropy = -scale * dim(A)
  c.sac.discount = 0.99
  c.sac.tau = 0.005
  c.sac.batch_size = 256
  c.sac.updates_per_step = 1.0      # gradient updates per environment step

  # Success classifier of the `mle` (plain ablation) and `vice` rewards.
  c.classifier = ml_collections.ConfigDict()
  c.classifier.hidden = (256, 256)
  c.classifier.lr = 1e-4
  c.classifier.weight_decay = 5e-3  # L2 coefficient (mle: on every gradient; vice: Keras,
                                    # coefficient * sum(kernel^2) in the loss)
  c.classifier.batch_size = 128     # per class: 128 positives + 128 negatives
  c.classifier.steps_per_epoch = 2
  c.classifier.mixup_alpha = 0.0    # > 0: mixup with Beta(alpha, alpha)
  c.classifier.vice_loss = False    # vice: train as the pi-aware discriminator (VICE's loss)

  # Meta-NML (the `mural` reward): `mural_jax.classifiers.meta_nml.Settings(**c.meta_nml)`.
  c.meta_nml = ml_collections.ConfigDict()
  c.meta_nml.hidden = (2048, 2048)
  c.meta_nml.inner_lr = 0.01          # one SGD step; its effect on a logit grows with lr x width
  c.meta_nml.points_per_task = 64     # inner batch: the query + 63 context points
  c.meta_nml.pool_size = 2048         # half replay states (label 0), half success examples
  c.meta_nml.kernel_threshold = 0.5   # distance at which a point's weight is 0.1
  c.meta_nml.query_weight = 1.0       # inner: query_weight * 64 / 2048; outer: query_weight / 2
  c.meta_nml.num_tasks = 128          # replay states as task queries, each with BOTH labels
  c.meta_nml.num_positive_tasks = 0   # success examples as task queries too (ant: 128)
  c.meta_nml.meta_batch = 16
  c.meta_nml.meta_lr = 1e-3           # Adam, kept for the whole run
  c.meta_nml.first_passes = 10        # passes over the tasks after the first epoch
  c.meta_nml.later_passes = 1         # ... and after each later epoch

  # Exact CNML (the `cnml` reward): two full fits of an MLP per query
  # (`mural_jax.classifiers.cnml`), and its tabular closed form on a grid (the
  # `count` reward): p = (n1 + q) / (n1 + n0 + 2q) in the query's cell.
  c.cnml = ml_collections.ConfigDict()
  c.cnml.hidden = (2048, 2048)        # the meta-NML classifier's
  c.cnml.solver = "adam"              # adam | lbfgs (MLP); newton (linear models)
  c.cnml.steps = 1000                 # full-batch steps per fit
  c.cnml.learning_rate = 1e-2         # adam only
  c.cnml.l2 = 1.0                     # 0.5 * l2 * |weights|^2 on the summed CE; without it
                                      # a wide MLP fits any added point and p ~ 1/2 everywhere
  c.cnml.query_weight = 1.0
  c.cnml.data_size = 256              # fitted data: half success examples, half replay states
  c.cnml.grid_low = -4.0              # count rewards: [grid_low, grid_high]^D in
  c.cnml.grid_high = 4.0              # grid_resolution cells per dimension
  c.cnml.grid_resolution = 16

  # Task-agnostic exploration baselines: the sparse reward plus a bonus.
  c.exploration = ml_collections.ConfigDict()
  c.exploration.count_beta = 0.5          # count_bonus: beta / sqrt(visits of the cell)
  c.exploration.rnd_beta = 0.5            # rnd: beta * error / running std of the error
  c.exploration.rnd_hidden = (256, 256)   # predictor and target MLPs
  c.exploration.rnd_output_size = 64
  c.exploration.rnd_lr = 1e-3
  c.exploration.rnd_batch_size = 256
  c.exploration.rnd_steps_per_epoch = 32  # predictor steps per epoch, on replay states

  # Seeds and devices: num_seeds independent runs (seeds seed, seed+1, ...) in one job;
  # mesh.seeds devices split the seeds, mesh.data devices split one seed's
  # environments and minibatches (mesh.seeds * mesh.data devices in all).
  c.num_seeds = 1
  c.mesh = ml_collections.ConfigDict()
  c.mesh.seeds = 1
  c.mesh.data = 1

  c.checkpoint_every = 10         # epochs between checkpoints (and one at exit)
  c.keep_checkpoints = 3          # the latest K checkpoints are kept
  c.log_every_epochs = 1
  c.quiet = False                 # no progress lines (batch jobs)

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
    c.meta_nml.inner_lr = 0.08          # keeps inner_lr x width at the paper's 0.01 x 2048
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
  return c
