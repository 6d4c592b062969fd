"""Why a seed is stuck or drifts off the goal: its reward, data and policy at a checkpoint.

  python -m experiments.inspect_run WORKDIR --out=inspect.png [--epoch=N] [--draws=8] \
      [--points='4,3;3.5,3'] [--config.meta_nml.inner_lr=0.32]

From the checkpoint of `--epoch` (default: the latest), on every task: where the
deterministic policy's evaluation episodes end, and the reward along the line from
those final states to the goal and as far past it (the goal coordinates moved, the
rest of the state as it ends): whether the reward pays the agent to close its last
gap, or reads the end as well as the goal. Prints per seed the final distance and
success, the stochastic policy's success from the same starts (where its samples
succeed and its mean action misses, the policy, not the reward, loses the goal), the
reward at the final states, at the goal and at the success examples, and the replay's
success states. On the tasks with a scripted controller, that controller takes over at
the final states (is the goal still within reach from there?) and the critic compares
its action with the policy's (does the critic value the move the actor does not make?).
On the point mazes, also one column per seed: the reward over the arena, where the replay's states lie (log counts), the deterministic action
on a grid, the reward at `--points`, and (meta-NML) how much of a meta-training task's
outer loss the success examples carry when replay states are the queries (~0: nothing
in the meta-objective holds the goal's reading). Meta-NML's reward depends on the
context drawn, so it is averaged over `--draws` draws. `--config.<field>=<value>` reads
the checkpoint with other reward settings than the run's (how the same data would be
rewarded with, say, a larger meta-NML step); they must keep the state's shapes.
"""

import copy
import json
import os

from absl import app, flags, logging
import numpy as np
from matplotlib.figure import Figure


from experiments import cli
from experiments.plot import draw_arena

ARROWS = 17  # policy arrows per axis
# Of the way from an evaluation episode's final state to the goal: 0 as it ends, 1 at the
# goal, 2 as far past the goal as the episode ended short of it.
FRACTIONS = np.linspace(0.0, 2.0, 21)
EPISODES = 8  # evaluation episodes per seed
SHARE_QUERIES = 2048  # replay states whose task's success-example share is measured
# Config sections an override may change: the reward sources' settings.
REWARD_SECTIONS = ("meta_nml", "cnml", "classifier", "exploration")


def load(workdir: str, epoch=None, overrides=()):
  """(trainer, state) of the run in `workdir` at `epoch` (None: the latest checkpoint).

  `overrides` (`field=value`, in REWARD_SECTIONS) build the trainer with other reward
  settings than the run's; the state is the checkpoint's, so they must keep its shapes.
  """
  from mural_jax.checkpoints import Checkpointer, CheckpointError
  from mural_jax.config import RunConfig
  from mural_jax.training import Trainer
  with open(os.path.join(workdir, "config.json")) as f:
    recorded = json.load(f)
  config = run_config = RunConfig.of(recorded)
  if overrides:
    changed = copy.deepcopy(recorded)
    for override in overrides:
      if override.partition("=")[0].strip().split(".")[0] not in REWARD_SECTIONS:
        raise ValueError(f"--config.{override}: only reward settings can be changed on a "
                         f"checkpoint (fields of {', '.join(REWARD_SECTIONS)}).")
      cli.apply_override(changed, override)
    config = RunConfig.of(changed)
  trainer = Trainer(config)
  checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), run_config)
  try:
    if checkpointer.latest_epoch() is None:
      raise ValueError(f"{workdir} has no checkpoint.")
    try:
      state = checkpointer.restore(trainer.abstract_state, epoch)
    except CheckpointError:
      if not overrides:
        raise
      raise ValueError(f"{', '.join('--config.' + o for o in overrides)} changes the shapes of the run's "
                       "state; only settings that keep them can be read.") from None
  finally:
    checkpointer.close()
  return trainer, state


def seed_views(trainer, state, grid: int, draws: int, key, points=()) -> list[dict]:
  """Per seed: reward (grid, grid), replay positions (N, 2), actions (ARROWS, ARROWS, 2),
  reward at the goal and at `points` (P, 2) (P,), and for meta-NML the success
  examples' outer-loss share of tasks queried at up to SHARE_QUERIES replay states."""
  import jax
  import jax.numpy as jnp
  from mural_jax.classifiers import meta_nml
  env = trainer.env
  def lattice(n):
    axis = np.linspace(-env.arena, env.arena, n)
    return jnp.asarray(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2), jnp.float32)
  points = jnp.asarray(points, jnp.float32).reshape(-1, 2)
  queries = jnp.concatenate([lattice(grid), env.goal[None], points])  # grid, goal, points
  views = []
  for s in range(trainer.num_seeds):
    one = jax.tree.map(lambda x: x[s], state) if trainer.batched else state
    key, k, k_share = jax.random.split(key, 3)
    reward = np.mean([trainer.source.rewards(one.reward, queries, d)
                      for d in jax.random.split(k, draws)], 0)
    visited = np.asarray(one.replay.data["next_x"][:int(one.replay.size)])
    actions = np.asarray(trainer.sac.deterministic_action(one.sac.actor, lattice(ARROWS)))
    views.append({"seed": int(trainer.seeds[s]),
                  "reward": reward[:grid * grid].reshape(grid, grid),
                  "goal_reward": float(reward[grid * grid]),
                  "point_rewards": reward[grid * grid + 1:], "visited": visited,
                  "actions": actions.reshape(ARROWS, ARROWS, 2),
                  "in_success_disc": int(np.sum(np.asarray(env.is_success(visited))))})
    if isinstance(one.reward, meta_nml.State):
      sample = jax.random.choice(k_share, len(visited), (min(SHARE_QUERIES, len(visited)),),
                                 replace=False)
      views[-1]["positive_share"] = np.asarray(meta_nml.positive_share(
          trainer.config.meta_nml, one.reward, jnp.asarray(visited)[sample]))
  return views


def goal_profiles(trainer, state, draws: int, key) -> list[dict]:
  """Per seed, from EPISODES deterministic evaluation episodes: `final_distance` and
  `success` (E,) at their last step, `sampled_success` (E,) of the stochastic policy
  from the same starts (the one that collected the replay), `profile` (F,) the mean reward over the episodes'
  final states with their goal coordinates moved FRACTIONS of the way to the goal,
  `example_reward` the mean reward at the success examples, and `in_success_region`,
  the replay states that are successes (of `replay_size`). On tasks with a scripted
  controller, also from the final states: `handoff_success` (E,), the controller's
  success after another episode's steps (can the goal still be reached from where the
  policy stops?), and `critic_preference` (E,), min-of-both-critics Q(s, scripted action)
  minus Q(s, policy action) (> 0: the critic values the controller's move more, so the
  actor has not found the critic's maximum), beside `policy_q` (E,) for scale."""
  import jax
  import jax.numpy as jnp
  from mural_jax.evaluation import rollout
  env, sac, steps = trainer.env, trainer.sac, trainer.episode_length
  starts = lambda k: jax.vmap(env.reset)(jax.random.split(k, EPISODES))
  run = jax.jit(lambda actor, k: rollout(
      env, lambda obs: sac.deterministic_action(actor, obs), starts(k), steps)[0])
  sampled = jax.jit(lambda actor, k, k_act: rollout(
      env, lambda obs, k: sac.sample_action(actor, obs, k)[0], starts(k), steps, k_act)[0])
  scripted = getattr(env, "scripted_action", None)
  if scripted is not None:
    handoff = jax.jit(lambda end: rollout(env, scripted, end, steps)[0].metrics["success"])
    preference = jax.jit(lambda one, obs: (
        sac.q_values(one.critic, obs, scripted(obs)).min(0),
        sac.q_values(one.critic, obs, sac.deterministic_action(one.actor, obs)).min(0)))
  profiles = []
  for s in range(trainer.num_seeds):
    one = jax.tree.map(lambda x: x[s], state) if trainer.batched else state
    key, k_eval, k_act, k_reward = jax.random.split(key, 4)
    end = run(one.sac.actor, k_eval)
    final = env.classifier_input(end.obs)  # (E, D)
    # The same starts (k_eval) for both policies: a paired comparison.
    sampled_final = env.classifier_input(sampled(one.sac.actor, k_eval, k_act).obs)
    moved = jnp.stack([env.toward_goal(final, float(f)) for f in FRACTIONS])  # (F, E, D)
    queries = jnp.concatenate([moved.reshape(-1, final.shape[-1]), one.positives])
    reward = np.mean([trainer.source.rewards(one.reward, queries, d)
                      for d in jax.random.split(k_reward, draws)], 0)
    visited = one.replay.data["next_x"][:int(one.replay.size)]
    profiles.append({
        "seed": int(trainer.seeds[s]),
        "final_distance": np.asarray(env.goal_distance(final)),
        "success": np.asarray(env.is_success(final)),
        "sampled_success": np.asarray(env.is_success(sampled_final)),
        "profile": reward[:moved.shape[0] * moved.shape[1]].reshape(moved.shape[:2]).mean(1),
        "example_reward": float(reward[moved.shape[0] * moved.shape[1]:].mean()),
        "in_success_region": int(np.sum(np.asarray(env.is_success(visited)))),
        "replay_size": int(visited.shape[0])})
    if scripted is not None:
      scripted_q, policy_q = preference(one.sac, end.obs)
      profiles[-1].update(handoff_success=np.asarray(handoff(end)),
                          critic_preference=np.asarray(scripted_q - policy_q),
                          policy_q=np.asarray(policy_q))
  return profiles


def plot_profiles(env, profiles: list[dict], path: str, title: str) -> str:
  """The reward against the fraction of the way from the final states to the goal."""
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for p in profiles:
    ax.plot(FRACTIONS, p["profile"], marker=".",
            label=f"seed {p['seed']}: ends {np.mean(p['final_distance']):.3g} from the goal")
  ax.axvline(1.0, color="gold", linestyle="--", label="goal")
  ax.set(xlabel="fraction of the way from the final states to the goal (goal coordinates only)",
         ylabel="reward", ylim=(0, 1.02), title=title)
  ax.legend(fontsize=7)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  return path


def plot(env, views: list[dict], path: str, title: str) -> str:
  extent = (-env.arena, env.arena, -env.arena, env.arena)
  fig = Figure(figsize=(3.6 * len(views), 10.5))
  axes = fig.subplots(3, len(views), squeeze=False)
  for col, v in zip(axes.T, views):
    image = col[0].imshow(v["reward"], origin="lower", extent=extent, vmin=0, vmax=1)
    col[0].set_title(f"seed {v['seed']}: reward")
    counts, _, _ = np.histogram2d(v["visited"][:, 0], v["visited"][:, 1], bins=40,
                                  range=[extent[:2], extent[2:]])
    col[1].imshow(np.log1p(counts.T), origin="lower", extent=extent, cmap="magma")
    col[1].set_title(f"replay visits (log), {v['in_success_disc']} in the disc")
    axis = np.linspace(-env.arena, env.arena, ARROWS)
    spacing = axis[1] - axis[0]  # an action of norm 1 is drawn 0.9 spacings long
    col[2].quiver(axis, axis, v["actions"][..., 0], v["actions"][..., 1], angles="xy",
                  scale_units="xy", scale=1 / (0.9 * spacing), width=0.005)
    col[2].set_title("deterministic action")
    for ax in col:
      draw_arena(ax, env)
      ax.set(aspect="equal", xlim=extent[:2], ylim=extent[2:])
  fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
  fig.suptitle(title)
  fig.savefig(path, dpi=80)
  return path


def main(argv):
  f = flags.FLAGS
  if not f["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  import jax
  if len(argv) != 2:
    cli.fail("Give one run directory (with config.json and checkpoints/).")
  try:
    points = parse_points(f.points)
    overrides = cli.overrides()
    trainer, state = load(argv[1], f.epoch, overrides)
  except (ValueError, OSError) as e:
    cli.fail(str(e))
  import envs
  if points and trainer.config.env not in envs.point_mazes():
    cli.fail(f"--points are arena positions of the point mazes ({', '.join(envs.point_mazes())}); "
             f"this is a {trainer.config.env} run.")
  epoch = int(np.max(np.asarray(state.epoch)))
  title = f"{trainer.config.env}, {trainer.config.reward}: epoch {epoch}"
  if overrides:
    title += f" (read with {', '.join(overrides)})"
  k_views, k_profiles = jax.random.split(jax.random.key(0))
  profiles = goal_profiles(trainer, state, f.draws, k_profiles)
  at = {float(x): i for i, x in enumerate(FRACTIONS)}
  for p in profiles:
    print(f"seed {p['seed']}: {EPISODES} evaluation episodes end {np.mean(p['final_distance']):.3g} "
          f"from the goal (success radius {trainer.env.success_radius:g}), "
          f"{int(p['success'].sum())} / {EPISODES} successes (the stochastic policy from the same "
          f"starts: {int(p['sampled_success'].sum())} / {EPISODES}); reward at their final states "
          f"{p['profile'][0]:.2f}, halfway to the goal {p['profile'][at[0.5]]:.2f}, at the goal "
          f"{p['profile'][at[1.0]]:.2f}, as far past it {p['profile'][-1]:.2f}, at the success "
          f"examples {p['example_reward']:.2f}; {p['in_success_region']} of "
          f"{p['replay_size']} replay states are successes")
    if "handoff_success" in p:
      preference = p["critic_preference"]
      print(f"  the scripted controller, taking over at those final states: "
            f"{int(np.sum(p['handoff_success'] > 0))} / {EPISODES} successes after "
            f"{trainer.episode_length} more steps; the critic's Q(s, its action) - Q(s, the "
            f"policy's action) there: mean {np.mean(preference):.3g}, > 0 in "
            f"{int(np.sum(preference > 0))} / {EPISODES} (the policy's Q: mean "
            f"{np.mean(p['policy_q']):.3g})")
  stem, ext = os.path.splitext(f.out)
  if trainer.config.env not in envs.point_mazes():
    print(plot_profiles(trainer.env, profiles, f.out, title))
    return
  print(plot_profiles(trainer.env, profiles, f"{stem}_goal_profile{ext}", title))
  views = seed_views(trainer, state, f.grid, f.draws, k_views, points)
  for v in views:
    at = "".join(f", at ({x:g}, {y:g}) {r:.2f}" for (x, y), r in zip(points, v["point_rewards"]))
    print(f"seed {v['seed']}: reward at the goal {v['goal_reward']:.2f}{at}; "
          f"{v['in_success_disc']} replay states in the success disc")
    if "positive_share" in v:
      share = v["positive_share"]
      print(f"  success examples' share of a task's outer loss, replay states as queries: "
            f"median {np.median(share):.1e}, above 1 % for {np.mean(share > 0.01):.1%}; "
            f"success examples used as task queries: "
            f"{trainer.config.meta_nml.num_positive_tasks}")
  print(plot(trainer.env, views, f.out, title))


def parse_points(text: str) -> list[tuple[float, float]]:
  """`--points` ("x,y;x,y") as (x, y) pairs; ValueError naming a malformed one."""
  points = []
  for item in filter(str.strip, text.split(";")):
    try:
      x, y = (float(v) for v in item.split(","))
    except ValueError:
      raise ValueError(f"--points: {item.strip()!r} is not an x,y pair "
                       "(points are separated by ';', e.g. --points='4,3;3.5,3').") from None
    points.append((x, y))
  return points


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_string("out", "inspect.png", "Output PNG.")
  flags.DEFINE_integer("epoch", None, "Checkpoint epoch (default: the latest).")
  flags.DEFINE_integer("draws", 8, "Reward draws averaged (contexts of meta-NML).",
                       lower_bound=1)
  flags.DEFINE_integer("grid", 33, "Grid points per axis.", lower_bound=2)
  flags.DEFINE_string("points", "", "Positions whose reward is printed per seed, "
                      "'x,y;x,y' (e.g. '4,3;3.5,3').")
  cli.define_override_flag(
      "reward settings to read the checkpoint with instead of the run's (fields of " +
      ", ".join(REWARD_SECTIONS) + "; e.g. --config.meta_nml.inner_lr=0.32); they must keep "
      "the state's shapes.")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
