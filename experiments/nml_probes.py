"""Does meta-NML explore on a task's warm-up data? Its reward at visited, novel and goal states.

  python -m experiments.nml_probes --envs=sawyer_push,sawyer_door [--json=FILE]

Per task: the cpu preset's first replay, approximated as the trainer's warm-up makes it
(`num_envs` environments, `warmup_steps` steps; half the environments act at random,
half follow the task's scripted controller where it has one, so that states near the
goal are in the data as a learning agent's would soon be). Meta-NML is meta-trained on it
as after the first epoch (`first_passes`), then read at the trainer's probe sets
(`Trainer.reward_probes`): held-out visited states, the same states with the goal
coordinates moved halfway to the goal (novel), and the success examples (goal). Three
settings, the rest of the cpu preset unchanged:

* reference: the task's paper kernel threshold and task queries;
* calibrated: `kernel_share=0.1` (the threshold that gives the median replay state a
  10 % share of its inner batch);
* calibrated + examples: the same, with half the task queries success examples
  (num_tasks / 2 replay states + as many success examples: the same cost).

An explorer reads visited low, novel higher and goal high (the issue's check: visited
<= 0.2, novel >= 0.3, goal >= 0.9).
"""

import dataclasses
import json

from absl import app, flags

from experiments import cli



def warm_up_states(env, config, key):
  """Classifier inputs (N, D) of a warm-up: random actions in half the environments, the
  scripted controller (if any) in the other half; N = warmup_steps."""
  import jax
  import jax.numpy as jnp
  import envs
  n = config.num_envs
  train_env = envs.wrap_for_training(env, n, env.episode_length)
  scripted = getattr(env, "scripted_action", None)

  def step(state, k):
    action = jax.random.uniform(k, (n, env.action_size), minval=-1.0, maxval=1.0)
    if scripted is not None:
      action = jnp.where((jnp.arange(n) < n // 2)[:, None], action, scripted(state.obs))
    state = train_env.step(state, action)
    return state, env.classifier_input(state.info["final_obs"])

  k_reset, k_steps = jax.random.split(key)
  steps = max(1, config.warmup_steps // n)
  _, x = jax.jit(lambda s, ks: jax.lax.scan(step, s, ks))(
      train_env.reset(k_reset), jax.random.split(k_steps, steps))
  return x.reshape(-1, x.shape[-1])


def settings_variants(cpu, paper):
  """{name: meta-NML settings} of the three settings the module docstring names: the cpu
  preset's networks and pool with the paper's threshold and tasks, then calibrated."""
  reference = dataclasses.replace(cpu, kernel_threshold=paper.kernel_threshold, kernel_share=0.0,
                                  num_tasks=paper.num_tasks,
                                  num_positive_tasks=paper.num_positive_tasks)
  half = reference.num_tasks // 2
  return {"reference": reference,
          "calibrated": dataclasses.replace(reference, kernel_share=0.1),
          "calibrated + examples": dataclasses.replace(reference, kernel_share=0.1,
                                                       num_tasks=half, num_positive_tasks=half)}


def cpu_config(task: str, overrides=()):
  """The task's cpu preset with overrides (`field=value`); ValueError if bad."""
  from experiments.configs import task_config
  from mural_jax.config import RunConfig
  config = task_config(task, "cpu")
  for override in overrides:
    cli.apply_override(config, override)
  return RunConfig.of(config)


def probe(task: str, key, overrides=()) -> list[dict]:
  """One row per setting: threshold, median query share and the three probe readings.
  `overrides`: `field=value`s applied to the cpu preset (so to every setting) first."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import envs
  from mural_jax import training
  from mural_jax.classifiers import meta_nml
  from mural_jax.config import RunConfig
  config, paper = cpu_config(task, overrides), RunConfig.for_task(task, "paper")
  env = envs.make(task, **config.env_kwargs)
  k_data, k_pos, k_split, k_fit = jax.random.split(key, 4)
  visited = np.asarray(warm_up_states(env, config, k_data))
  order = np.random.default_rng(0).permutation(len(visited))
  n = training.PROBE_STATES
  held_out, train = jnp.asarray(visited[order[:n]]), visited[order[n:]]
  positives = env.success_examples(k_pos, config.num_success_examples)
  probes = {"visited": held_out, "novel": env.toward_goal(held_out, training.NOVEL_FRACTION),
            "goal": positives}
  rows = []
  for name, settings in settings_variants(config.meta_nml, paper.meta_nml).items():
    clf = meta_nml.Classifier(settings, env.classifier_input_size)
    negatives = train[np.random.default_rng(1).integers(0, len(train), settings.num_negatives)]
    k_init, k_train, k_query = jax.random.split(jax.random.fold_in(k_fit, len(rows)), 3)
    state, metrics = jax.jit(clf.train)(clf.init(k_init), positives, negatives, k_train,
                                        settings.first_passes)
    read = {f"reward_{p}": float(clf.probs(state, x, k).mean())
            for (p, x), k in zip(probes.items(), jax.random.split(k_query, 3))}
    rows.append({"env": task, "setting": name,
                 "kernel_threshold": float(state.kernel_threshold),
                 "query_share": float(metrics["meta_nml_query_share"]),
                 "num_tasks": settings.num_tasks,
                 "num_positive_tasks": settings.num_positive_tasks, **read})
  return rows


def table(rows) -> str:
  lines = ["| task | setting | threshold | query share | visited | novel | goal |",
           "|---|---|---|---|---|---|---|"]
  lines += [f"| {r['env']} | {r['setting']} | {r['kernel_threshold']:.3g} | "
            f"{r['query_share']:.3f} | {r['reward_visited']:.2f} | {r['reward_novel']:.2f} | "
            f"{r['reward_goal']:.2f} |" for r in rows]
  return "\n".join(lines)


def define_flags():
  """This command's flags (defined when it runs: importing the module defines none)."""
  flags.DEFINE_list("envs", ["zigzag_maze", "sawyer_push", "sawyer_door", "pusher_2d"],
                    "Tasks (mural_jax.tasks).")
  flags.DEFINE_integer("seed", 0, "PRNG seed.")
  flags.DEFINE_string("json", None, "Also write the rows as JSON here.")
  cli.define_override_flag("of the cpu preset, for every setting (e.g. "
                           "--config.meta_nml.inner_lr=0.08).")


def main(argv):
  del argv
  import jax
  f = flags.FLAGS
  overrides = cli.overrides()
  try:
    for task in f.envs:
      cpu_config(task, overrides)
  except ValueError as e:
    cli.fail(str(e))
  rows = []
  for i, task in enumerate(f.envs):
    rows += probe(task, jax.random.fold_in(jax.random.key(f.seed), i), overrides)
    print("\n".join(table(rows).splitlines()[-3:]), flush=True)
  print(table(rows))
  if f.json:
    with open(f.json, "w") as out:
      json.dump(rows, out, indent=1)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
