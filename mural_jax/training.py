"""The MURAL trainer: one jitted call per epoch; training is a pure function of a key.

One epoch (`Trainer.run_epoch`, compiled once) is a `lax.scan` over vectorised
environment steps: act in `num_envs` environments, insert the transitions,
then `updates_per_step * num_envs` SAC updates on minibatches relabelled by the
reward source. After the scan the reward source trains on success examples
and replay states, and the deterministic policy is evaluated.

With `num_seeds` > 1 every leaf of the state gains a leading seed axis; the
epoch is vmapped over it, or with `mesh.seed_batch` mapped over it that many
seeds at a time (faster on a CPU of few cores). The `mesh` config places seeds and one
seed's environments and minibatches on devices (see `parallel`). After every
epoch the host checks losses and parameters and raises `Diverged` on NaN/inf.
"""

import functools
import math
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import envs
from mural_jax import parallel, rewards
from mural_jax.config import RunConfig
from mural_jax.evaluation import evaluate
from mural_jax.replay import ReplayState, replay_init, replay_insert, replay_sample
from mural_jax.sac import SAC, SACState
from mural_jax.trees import named_leaves


@struct.dataclass
class TrainState:
  """Everything a resume needs, and nothing else."""
  sac: SACState
  reward: Any            # the reward source's state
  replay: ReplayState
  env_state: envs.State  # (num_envs, ...) batched
  positives: jax.Array   # (P, D) success examples
  key: jax.Array
  env_steps: jax.Array   # int32, summed over environments
  epoch: jax.Array       # int32, completed epochs


class Diverged(FloatingPointError):
  """A loss or parameter became NaN or inf; the message names them and the epoch."""


PROBE_STATES = 256   # replay states of the reward probes (`Trainer.reward_probes`)
NOVEL_FRACTION = 0.5  # the novel probes: visited states moved this far to the goal


class Uncalibrated(RuntimeError):
  """meta_nml.kernel_share could not be reached on the first pool; the message says why."""


class Trainer:
  """Builds the environment, SAC and reward source of `config`, and the jitted epoch."""

  def __init__(self, config):
    """`config`: a `RunConfig`, or a ConfigDict / mapping of one (checked here, before
    anything is built or compiled: ValueError names the bad field)."""
    self.config = config = RunConfig.of(config)
    self.env = envs.make(config.env, **config.env_kwargs)
    self.episode_length = config.episode_length or self.env.episode_length
    self.train_env = envs.wrap_for_training(self.env, config.num_envs, self.episode_length)
    self.sac = SAC(self.env.observation_size, self.env.action_size, config.sac)
    self.source = rewards.make(config.reward, config, self.env)
    self.steps_per_epoch = config.epoch_length // config.num_envs
    self.updates_per_step = round(config.sac.updates_per_step * config.num_envs)
    self.num_epochs = math.ceil(config.total_env_steps / config.epoch_length)
    self.trace_count = 0  # times `_epoch` was traced; a retrace is a bug

    self.num_seeds = config.num_seeds
    self.batched = config.num_seeds > 1  # a leading seed axis on every state leaf
    self.seeds = config.seed + np.arange(config.num_seeds)
    self.mesh = parallel.make_mesh(config.mesh.seeds, config.mesh.data)
    init = jax.vmap(self._init) if self.batched else self._init
    epoch, seed_batch = self._epoch, config.mesh.seed_batch
    if self.batched and seed_batch:  # `seed_batch` seeds at a time, in a loop
      epoch = functools.partial(jax.lax.map, self._epoch,
                                batch_size=seed_batch if seed_batch > 1 else None)
    elif self.batched:
      epoch = jax.vmap(self._epoch, spmd_axis_name=parallel.SEEDS)
    abstract = jax.eval_shape(init, self.keys())
    self.shardings = parallel.state_shardings(abstract, self.mesh, self.batched)
    #: Shapes, dtypes and shardings of the state, without computing it (restore target).
    self.abstract_state = jax.tree.map(
        lambda s, sharding: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
        abstract, self.shardings)
    replicated = parallel.replicated(self.mesh)
    # init is jitted: this also gives every leaf its own donatable buffer.
    self.init = jax.jit(init, out_shardings=self.shardings)
    self.run_epoch = jax.jit(epoch, out_shardings=(self.shardings, replicated),
                             donate_argnums=0)
    self._finite = jax.jit(self._finite_leaves, out_shardings=replicated)

  def keys(self, key: Optional[jax.Array] = None) -> jax.Array:
    """The PRNG key of each seed: by default `key(config.seed + i)` for seed i.

    A given `key` is used as is, or split into `num_seeds` keys if it is one key
    and the job has several seeds.
    """
    if key is None:
      return (jax.vmap(jax.random.key)(jnp.asarray(self.seeds)) if self.batched
              else jax.random.key(self.config.seed))
    return jax.random.split(key, self.num_seeds) if self.batched and key.ndim == 0 else key

  # -- state ---------------------------------------------------------------------------
  def _init(self, key: jax.Array) -> TrainState:
    k_env, k_sac, k_pos, k_rew, key = jax.random.split(key, 5)
    env_state = self.train_env.reset(k_env)
    positives = self.env.success_examples(k_pos, self.config.num_success_examples)
    obs = jnp.zeros((self.env.observation_size,))
    example = {"obs": obs, "action": jnp.zeros((self.env.action_size,)), "next_obs": obs,
               "next_x": positives[0], "reward": jnp.zeros(()), "discount": jnp.zeros(())}
    return TrainState(
        sac=self.sac.init(k_sac), reward=self.source.init(k_rew, positives),
        replay=replay_init(example, self.config.replay_capacity), env_state=env_state,
        positives=positives, key=key, env_steps=jnp.zeros((), jnp.int32),
        epoch=jnp.zeros((), jnp.int32))

  # -- one epoch -------------------------------------------------------------------------
  def _relabel(self, reward_state, batch: dict, key) -> dict:
    """Rewards of a stack of minibatches (U, B, ...) in one reward-source call.

    All U x B next states are queried together: they come from the same replay and the
    same reward-source state, so one call equals U calls given the same draws, and a
    source that draws (meta-NML's context) draws once per vectorised step.
    """
    if self.config.relabel == "batch":
      x = batch["next_x"]
      r = self.source.rewards(reward_state, x.reshape(-1, x.shape[-1]), key)
      batch = {**batch, "reward": r.reshape(x.shape[:-1])}
    return batch

  def _updates(self, ts: TrainState, key):
    """`updates_per_step` SAC updates on fresh minibatches, relabelled in one call."""
    k_sample, k_rew, k_upd = jax.random.split(key, 3)
    batches = jax.vmap(replay_sample, (None, 0, None))(          # (U, B, ...)
        ts.replay, jax.random.split(k_sample, self.updates_per_step), self.config.sac.batch_size)
    batches = parallel.constrain(batches, self.mesh, None, parallel.DATA)  # B over 'data'
    batches = self._relabel(ts.reward, batches, k_rew)

    def update(sac_state, xs):
      batch, k = xs
      sac_state, metrics = self.sac.update(sac_state, batch, k)
      return sac_state, {**metrics, "batch_reward": batch["reward"].mean()}
    sac_state, metrics = jax.lax.scan(
        update, ts.sac, (batches, jax.random.split(k_upd, self.updates_per_step)))
    return sac_state, jax.tree.map(jnp.mean, metrics)

  def _env_step(self, ts: TrainState, _):
    key, k_act, k_rand, k_rew, k_upd = jax.random.split(ts.key, 5)
    obs = ts.env_state.obs
    policy_action, _ = self.sac.sample_action(ts.sac.actor, obs, k_act)
    random_action = jax.random.uniform(k_rand, policy_action.shape, minval=-1.0, maxval=1.0)
    action = jnp.where(ts.env_steps < self.config.warmup_steps, random_action, policy_action)
    env_state = self.train_env.step(ts.env_state, action)
    next_obs = env_state.info["final_obs"]  # the true next observation, also at truncation
    next_x = self.env.classifier_input(next_obs)
    terminal = env_state.done * (1.0 - env_state.info["truncation"])
    reward = (self.source.rewards(ts.reward, next_x, k_rew) if self.config.relabel == "collect"
              else jnp.zeros(next_x.shape[0]))
    transition = {"obs": obs, "action": action, "next_obs": next_obs, "next_x": next_x,
                  "reward": reward, "discount": 1.0 - terminal}
    ts = ts.replace(replay=parallel.constrain(replay_insert(ts.replay, transition), self.mesh),
                    env_state=parallel.constrain(env_state, self.mesh, parallel.DATA), key=key,
                    env_steps=ts.env_steps + self.config.num_envs)

    learning = ts.env_steps >= self.config.warmup_steps
    no_metrics = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                              jax.eval_shape(self._updates, ts, k_upd)[1])
    sac_state, metrics = jax.lax.cond(
        learning, self._updates, lambda ts, k: (ts.sac, no_metrics), ts, k_upd)
    done = env_state.done
    step_info = {"learning": learning.astype(jnp.float32), "episodes": done.sum(),
                 "episode_success": (done * env_state.metrics["success"]).sum()}
    return ts.replace(sac=sac_state), (metrics, step_info)

  def _epoch(self, ts: TrainState):
    self.trace_count += 1
    ts, (update_metrics, info) = jax.lax.scan(self._env_step, ts, None, self.steps_per_epoch)
    n_learning = jnp.maximum(info["learning"].sum(), 1.0)
    metrics = {k: (v * info["learning"]).sum() / n_learning for k, v in update_metrics.items()}
    metrics["train_success"] = info["episode_success"].sum() / jnp.maximum(info["episodes"].sum(), 1)

    key, k_neg, k_train, k_eval = jax.random.split(ts.key, 4)
    reward_state = ts.reward
    if self.source.trains:
      reward_state, reward_metrics = self.source.train(
          reward_state, self.train_data(ts, k_neg), k_train)
      metrics.update(reward_metrics)
    # An own key stream (folded from the evaluation's): the training's keys stay as they were.
    metrics.update(self.reward_probes(ts, reward_state, jax.random.fold_in(k_eval, 1)))
    policy = lambda obs: self.sac.deterministic_action(ts.sac.actor, obs)
    metrics.update(evaluate(self.env, policy, k_eval, self.config.eval_episodes,
                            self.episode_length))
    ts = ts.replace(reward=reward_state, key=key, epoch=ts.epoch + 1)
    metrics.update(env_steps=ts.env_steps, epoch=ts.epoch)
    return ts, metrics

  def reward_probes(self, ts: TrainState, reward_state, key: jax.Array) -> dict:
    """The mean reward the trained source gives at three probe sets: `reward_visited`,
    PROBE_STATES replay states (a fresh draw); `reward_novel`, the same states with their
    goal coordinates moved halfway to the goal (`env.toward_goal`); `reward_goal`, the
    success examples. An explorer reads visited low, novel higher, goal high."""
    k_sample, k_visited, k_novel, k_goal = jax.random.split(key, 4)
    visited = replay_sample(ts.replay, k_sample, PROBE_STATES)["next_x"]
    mean = lambda x, k: self.source.rewards(reward_state, x, k).mean()
    return {"reward_visited": mean(visited, k_visited),
            "reward_novel": mean(self.env.toward_goal(visited, NOVEL_FRACTION), k_novel),
            "reward_goal": mean(ts.positives, k_goal)}

  def train_data(self, ts: TrainState, key: jax.Array) -> rewards.TrainData:
    """What the reward source trains on after an epoch: replay states (a uniform sample,
    or every slot), and the policy's log-probabilities there if the source needs them."""
    k_sample, k_pi = jax.random.split(key)
    if self.source.whole_buffer:
      sample = ts.replay.data
      valid = jnp.arange(ts.replay.capacity) < ts.replay.size
    else:
      sample = replay_sample(ts.replay, k_sample, self.source.num_negatives)
      valid = None
    data = rewards.TrainData(positives=ts.positives, negatives=sample["next_x"], epoch=ts.epoch,
                             valid=valid)
    if self.source.needs_log_pi:  # the classifier input is the observation (checked in make)
      k_pos, k_neg = jax.random.split(k_pi)
      log_pi = lambda obs, k: self.sac.sample_action(ts.sac.actor, obs, k)[1]
      data = data.replace(positive_log_pi=log_pi(ts.positives, k_pos),
                          negative_log_pi=log_pi(sample["next_obs"], k_neg))
    return data

  # -- divergence ---------------------------------------------------------------------------
  def _finite_leaves(self, ts: TrainState):
    """Whether every entry of each SAC and reward-source leaf is finite: (S,) or ()."""
    def finite(x):
      seed_axes = x.shape[:int(self.batched)]
      if not jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.ones(seed_axes, bool)
      return jnp.isfinite(x).reshape(seed_axes + (-1,)).all(-1)
    return jax.tree.map(finite, {"sac": ts.sac, "reward": ts.reward})

  def check_finite(self, ts: TrainState, metrics: dict) -> None:
    """Raises `Diverged` naming every non-finite parameter and loss (and its seeds)."""
    finite = {**{k: np.isfinite(v) for k, v in metrics.items() if not k.startswith("eval_")},
              **named_leaves(jax.device_get(self._finite(ts)))}
    bad = [name + (f" (seed {', '.join(map(str, self.seeds[~ok]))})" if self.batched else "")
           for name, ok in finite.items() if not np.all(ok)]
    if bad:
      more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
      raise Diverged(f"Training diverged in epoch {int(np.max(metrics['epoch']))}: NaN or inf "
                     f"in {', '.join(bad[:8])}{more}.")


  def check_calibration(self, metrics: dict) -> None:
    """After the first epoch of a run with `meta_nml.kernel_share` > 0: raises
    `Uncalibrated` if the threshold's bisection did not reach the share (it cannot where
    the pool's points are all alike), naming the task and the share reached."""
    target = self.config.meta_nml.kernel_share
    if (not target or "meta_nml_query_share" not in metrics
        or int(np.max(metrics["epoch"])) != 1):
      return
    reached = np.atleast_1d(metrics["meta_nml_query_share"])
    off = np.abs(reached - target) > 0.01 * target
    if off.any():
      seeds = f" (seed {', '.join(map(str, self.seeds[off]))})" if self.batched else ""
      raise Uncalibrated(
          f"meta_nml.kernel_share={target} on {self.config.env}: no kernel threshold gives "
          f"the median replay state that share of its inner batch; the nearest reached is "
          f"{float(reached[off][0]):.4g}{seeds}. The pool's states are (nearly) all alike; "
          f"set meta_nml.kernel_share=0 and a meta_nml.kernel_threshold instead.")


def train(config, key: Optional[jax.Array] = None,
          callback: Optional[Callable[[dict, TrainState], None]] = None):
  """Trains `config` from `key` (default: `config.seed`).

  Returns the final `TrainState` and the list of per-epoch metrics (floats;
  arrays over seeds if `config.num_seeds` > 1).
  `callback(metrics, state)`, if given, runs on the host after every epoch.
  """
  return run(Trainer(config), key, callback)


def run(trainer: Trainer, key: Optional[jax.Array] = None,
        callback: Optional[Callable[[dict, TrainState], None]] = None,
        state: Optional[TrainState] = None):
  """`train` with an already built `Trainer`; continues `state` (a restored
  checkpoint) if given. With several seeds, metrics have a leading seed axis.

  Raises `Diverged` after the first epoch with NaN or inf, and `Uncalibrated` after a
  first epoch whose kernel calibration failed, before `callback` sees that epoch.
  """
  ts = trainer.init(trainer.keys(key)) if state is None else state
  history = []
  for _ in range(int(parallel.to_host(ts.epoch).max()), trainer.num_epochs):
    ts, metrics = trainer.run_epoch(ts)
    metrics = host_metrics(metrics)
    trainer.check_finite(ts, metrics)
    trainer.check_calibration(metrics)
    history.append(metrics)
    if callback is not None:
      callback(metrics, ts)
  return ts, history


def host_metrics(metrics: dict) -> dict:
  """Scalars to Python numbers; arrays (per-seed values, trajectories) stay NumPy arrays."""
  metrics = jax.device_get(metrics)
  return {k: (v.item() if getattr(v, "ndim", 1) == 0 else v) for k, v in metrics.items()}
