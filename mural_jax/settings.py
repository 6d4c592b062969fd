"""Every section of the run config: frozen dataclasses with the paper's defaults, each
checking its fields when built.

They hold no arrays and import no jax, so the command line lists and checks fields
(`--help`, a misspelt `--config.<field>`) without loading the accelerator stack. Each
component reads its own section under its own name (`sac.Settings` is `SAC`,
`meta_nml.Settings` is `MetaNML`, ...); `mural_jax.config.RunConfig` composes them.
"""

import dataclasses

from mural_jax import checks

CNML_SOLVERS = ("newton", "adam", "lbfgs")


@dataclasses.dataclass(frozen=True)
class SAC:
  """SAC's settings (the run config's `sac` section), with the paper's values."""
  hidden: tuple = (256, 256)
  actor_lr: float = 3e-4
  critic_lr: float = 3e-4
  alpha_lr: float = 3e-4
  init_alpha: float = 1.0
  target_entropy_scale: float = 1.0  # target entropy = -scale * dim(A)
  discount: float = 0.99
  tau: float = 0.005
  batch_size: int = 256
  updates_per_step: float = 1.0      # gradient updates per environment step
  layer_norm: bool = False           # the critic's hidden layers layer-normalised

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(self.hidden))
    checks.hidden("sac.hidden", self.hidden)
    checks.positive_int("sac.batch_size", self.batch_size)
    for name in ("actor_lr", "critic_lr", "alpha_lr", "init_alpha", "updates_per_step"):
      checks.positive(f"sac.{name}", getattr(self, name))
    checks.require(0 < self.tau <= 1, f"sac.tau must be in (0, 1], got {self.tau!r}.")
    checks.require(isinstance(self.layer_norm, bool),
                   f"sac.layer_norm must be true or false, got {self.layer_norm!r}.")
    checks.require(0 <= self.discount <= 1,
                   f"sac.discount must be in [0, 1], got {self.discount!r}.")


@dataclasses.dataclass(frozen=True)
class Classifier:
  """The classifier of the `mle` and `vice` rewards (run config section `classifier`)."""

  hidden: tuple[int, ...] = (256, 256)
  lr: float = 1e-4
  weight_decay: float = 5e-3   # L2 coefficient (mle: on every gradient; vice: Keras,
                               # coefficient * sum(kernel^2) in the loss)
  batch_size: int = 128        # per class: 128 positives + 128 negatives
  steps_per_epoch: int = 2     # Adam steps per `train` call
  mixup_alpha: float = 0.0     # > 0: mixup with Beta(alpha, alpha)
  vice_loss: bool = False      # vice: train as the pi-aware discriminator (VICE's loss)

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(self.hidden))
    checks.hidden("classifier.hidden", self.hidden)
    checks.positive("classifier.lr", self.lr)
    checks.positive_int("classifier.batch_size", self.batch_size)
    checks.positive_int("classifier.steps_per_epoch", self.steps_per_epoch)
    for name in ("weight_decay", "mixup_alpha"):
      value = getattr(self, name)
      checks.require(isinstance(value, (int, float)) and value >= 0,
                     f"classifier.{name} must be a number >= 0, got {value!r}.")
    checks.require(not (self.vice_loss and self.mixup_alpha > 0),
                   f"classifier.vice_loss=True with classifier.mixup_alpha={self.mixup_alpha}: "
                   "the VICE loss takes the policy's log-probability at real states, so "
                   "mixup must be 0.")


@dataclasses.dataclass(frozen=True)
class MetaNML:
  """Meta-NML settings (run config section `meta_nml`); the defaults are the reference's."""

  hidden: tuple[int, ...] = (2048, 2048)
  inner_lr: float = 0.01            # one SGD step; its effect on a logit grows with lr x width
  points_per_task: int = 64         # inner batch: the query + points_per_task - 1 context points
  pool_size: int = 2048             # half replay states (label 0), half success examples (label 1)
  kernel_threshold: float = 0.5     # distance at which a point's weight is 0.1
  kernel_share: float = 0.0         # > 0: calibrate the threshold to the data (`calibrate`)
  query_weight: float = 1.0         # inner: query_weight * 64 / 2048; outer: query_weight / 2
  num_tasks: int = 128              # replay states used as task queries, each with both labels
  num_positive_tasks: int = 0       # success examples used as task queries too (ant: 128)
  meta_batch: int = 16
  meta_lr: float = 1e-3             # Adam, kept for the whole run
  first_passes: int = 10            # passes over the tasks after the first epoch
  later_passes: int = 1             # ... and after every later epoch

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(self.hidden))
    checks.hidden("meta_nml.hidden", self.hidden)
    for name in ("inner_lr", "kernel_threshold", "query_weight", "meta_lr"):
      checks.positive(f"meta_nml.{name}", getattr(self, name))
    checks.positive_int("meta_nml.meta_batch", self.meta_batch)
    checks.require(isinstance(self.kernel_share, (int, float)) and not isinstance(
        self.kernel_share, bool) and (self.kernel_share == 0 or 0 < self.kernel_share < 1),
                   f"meta_nml.kernel_share must lie in (0, 1), or be 0 to keep "
                   f"kernel_threshold as given; got {self.kernel_share!r}.")
    for name in ("num_tasks", "num_positive_tasks", "first_passes", "later_passes"):
      checks.non_negative_int(f"meta_nml.{name}", getattr(self, name))
    pool = self.pool_size
    checks.require(isinstance(pool, int) and pool >= 2 and pool % 2 == 0,
                   f"meta_nml.pool_size must be an even integer >= 2, got {pool!r}.")
    checks.require(isinstance(self.points_per_task, int) and 1 <= self.points_per_task <= pool,
                   f"meta_nml.points_per_task must be an integer in [1, pool_size = {pool}], "
                   f"got {self.points_per_task!r}.")
    checks.require(self.num_tasks + self.num_positive_tasks >= 1,
                   "meta_nml.num_tasks + meta_nml.num_positive_tasks must be >= 1, got "
                   f"{self.num_tasks} + {self.num_positive_tasks}.")

  @property
  def context_size(self) -> int:
    return self.points_per_task - 1

  @property
  def inner_query_weight(self) -> float:
    """The query's weight in the inner batch: it is in every batch, so downweighted."""
    return self.query_weight * self.points_per_task / self.pool_size

  @property
  def outer_query_weight(self) -> float:
    return self.query_weight / 2

  @property
  def num_negatives(self) -> int:
    """Visited states one `train` call uses: the pool's label-0 half, then the tasks."""
    return self.pool_size // 2 + self.num_tasks

  @property
  def num_task_queries(self) -> int:
    return 2 * (self.num_tasks + self.num_positive_tasks)

  @property
  def steps_per_pass(self) -> int:
    return -(-self.num_task_queries // self.meta_batch)


@dataclasses.dataclass(frozen=True)
class CNML:
  """Exact CNML (`cnml` reward) and its tabular form on a grid (`count`): run config `cnml`."""

  hidden: tuple[int, ...] = (2048, 2048)  # the meta-NML classifier's
  solver: str = "adam"          # adam | lbfgs (MLP); newton (linear models)
  steps: int = 1000             # full-batch steps per fit
  learning_rate: float = 1e-2   # adam only
  l2: float = 1.0               # 0.5 * l2 * |weights|^2 on the summed CE; without it a wide
                                # MLP fits any added point and p ~ 1/2 everywhere
  query_weight: float = 1.0
  data_size: int = 256          # fitted data: half success examples, half replay states
  grid_resolution: int = 16     # count rewards: cells per dimension of the task's workspace

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(self.hidden))
    checks.hidden("cnml.hidden", self.hidden)
    checks.choice("cnml.solver", self.solver, CNML_SOLVERS)
    checks.positive_int("cnml.steps", self.steps)
    checks.positive("cnml.learning_rate", self.learning_rate)
    checks.positive("cnml.query_weight", self.query_weight)
    checks.require(isinstance(self.l2, (int, float)) and self.l2 >= 0,
                   f"cnml.l2 must be a number >= 0, got {self.l2!r}.")
    checks.require(isinstance(self.data_size, int) and self.data_size >= 2
                   and self.data_size % 2 == 0,
                   f"cnml.data_size must be an even integer >= 2, got {self.data_size!r}.")
    checks.positive_int("cnml.grid_resolution", self.grid_resolution)


@dataclasses.dataclass(frozen=True)
class Exploration:
  """The task-agnostic exploration baselines' settings (run config section `exploration`)."""

  count_beta: float = 0.5               # count_bonus: beta / sqrt(visits of the cell)
  rnd_beta: float = 0.5                 # rnd: beta * error / running std of the error
  rnd_hidden: tuple[int, ...] = (256, 256)  # predictor and target MLPs
  rnd_output_size: int = 64
  rnd_lr: float = 1e-3
  rnd_batch_size: int = 256
  rnd_steps_per_epoch: int = 32         # predictor steps per epoch, on replay states

  def __post_init__(self):
    object.__setattr__(self, "rnd_hidden", tuple(self.rnd_hidden))
    checks.hidden("exploration.rnd_hidden", self.rnd_hidden)
    for name in ("count_beta", "rnd_beta", "rnd_lr"):
      checks.positive(f"exploration.{name}", getattr(self, name))
    for name in ("rnd_output_size", "rnd_batch_size", "rnd_steps_per_epoch"):
      checks.positive_int(f"exploration.{name}", getattr(self, name))


@dataclasses.dataclass(frozen=True)
class Mesh:
  """The run config's `mesh` section: `seeds` devices split the seeds, `data` devices
  split one seed's environments and minibatches (seeds * data devices in all).
  `seed_batch` seeds are computed together (vmapped), the rest wait their turn in a
  `lax.map` loop; 0 vmaps every seed. On two CPU cores one seed at a time is faster
  (benchmark: experiments/bench_seeds.py); an accelerator wants them all at once."""
  seeds: int = 1
  data: int = 1
  seed_batch: int = 0

  def __post_init__(self):
    checks.positive_int("mesh.seeds", self.seeds)
    checks.positive_int("mesh.data", self.data)
    checks.non_negative_int("mesh.seed_batch", self.seed_batch, " (0: every seed at once)")
